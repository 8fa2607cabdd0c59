// The store suite's fixture: a database per test on the backend of the test's parameter.
#include "server/manager/store/test/store_fixture.h"

#include <cstdlib>

namespace vigil::manager::testing {

void StoreTest::SetUp() {
    url_ = freshUrl();
    if (url_.empty()) FAIL() << "no " << GetParam() << " database for this test (see above)";
    auto s = open();
    ASSERT_TRUE(s.ok()) << s.message();
    store_ = std::move(*s);
}

void StoreTest::TearDown() {
    store_.reset();
    schemas_.clear();  // drops them
    dir_.reset();
}

std::string StoreTest::freshUrl() {
    if (GetParam() == "sqlite") {
        if (!dir_) dir_ = std::make_unique<TempDir>();
        return "sqlite://" + dir_->path() + "/manager-" + std::to_string(databases_++) + ".db";
    }
    auto server = PgServer::sharedUrl();
    if (!server.ok()) {
        ADD_FAILURE() << server.message();
        return "";
    }
    auto schema = PgSchema::create(*server);
    if (!schema.ok()) {
        const char* env = std::getenv("VIGIL_TEST_PG_URL");
        ADD_FAILURE() << schema.message()
                      << (env && *env ? "\nVIGIL_TEST_PG_URL names this server: start it (eval "
                                        "\"$(scripts/pg-test-server.sh start)\"), or unset "
                                        "VIGIL_TEST_PG_URL to let the test start its own"
                                      : "");
        return "";
    }
    schemas_.push_back(std::move(*schema));
    return schemas_.back()->url();
}

Result<std::unique_ptr<Store>> StoreTest::open(const std::string& url) {
    StoreOptions options;
    auto now = now_;
    options.now_ms = [now] { return now->load(); };
    return openStore(url.empty() ? url_ : url, options);
}

std::unique_ptr<sql::Database> StoreTest::raw() {
    auto db = sql::openDatabase(url_, StoreOptions{});
    EXPECT_TRUE(db.ok()) << db.message();
    return db.ok() ? std::move(*db) : nullptr;
}

Alert makeAlert(int i, int rule, int host, Severity severity, int64_t time_ms) {
    Alert a;
    a.alert_id = "alert-" + std::to_string(i);
    a.rule_id = "rule-" + std::to_string(rule);
    a.rule_name = "Rule " + std::to_string(rule);
    a.severity = severity;
    a.mitre = {"T1059.004", "T1071"};
    a.agent_id = "agent-" + std::to_string(host);
    a.hostname = "host-" + std::to_string(host);
    a.data_type = 59;
    a.argv = "bash -c run-" + std::to_string(i);
    a.time_ms = time_ms;
    a.hub_time_ms = time_ms + 5;
    a.json = fmt::format(R"({{"alert_id":"{}","rule_id":"{}"}})", a.alert_id, a.rule_id);
    return a;
}

Host makeHost(int n, const std::string& hostname, int64_t heartbeat_ms) {
    Host h;
    h.agent_id = "agent-" + std::to_string(n);
    h.hostname = hostname;
    h.version = "1.9.0";
    h.platform = "debian 12";
    h.intranet_ips = {"10.0.0." + std::to_string(n % 250), "fd00::" + std::to_string(n)};
    h.extranet_ips = {"203.0.113." + std::to_string(n % 250)};
    h.last_heartbeat_ms = heartbeat_ms;
    h.cpu_percent = 0.25;
    h.rss_bytes = 12 << 20;
    h.drops = n;
    h.plugins_json = R"([{"name":"driver","status":"running"}])";
    return h;
}

std::vector<std::string> listAllAlerts(Store& store, AlertQuery query, size_t page) {
    std::vector<std::string> ids;
    query.limit = page;
    for (int pages = 0; pages < 10000; ++pages) {
        auto got = store.listAlerts(query);
        EXPECT_TRUE(got.ok()) << got.message();
        if (!got.ok()) break;
        EXPECT_LE(got->items.size(), page);
        for (const auto& a : got->items) ids.push_back(a.alert_id);
        if (got->next_cursor.empty()) break;
        query.cursor = got->next_cursor;
    }
    return ids;
}

}  // namespace vigil::manager::testing
