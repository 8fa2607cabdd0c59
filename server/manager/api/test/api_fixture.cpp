// The manager API route tests' fixture (api_fixture.h).
#include "server/manager/api/test/api_fixture.h"

#include <stdlib.h>

#include <filesystem>

#include "server/manager/store/hub_alert.h"

namespace vigil::manager::api::testing {

using nlohmann::json;

std::string Reply::header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
        if (k == name) return v;
    }
    return {};
}

void ApiFixture::SetUp() {
    char tmpl[] = "/tmp/vigil-manager-api-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    StoreOptions so;
    so.now_ms = [now = now_] { return now->load(); };
    std::string url = "sqlite://" + dir_ + "/manager.db";
    if (GetParam() == "postgresql") {
        auto server = manager::testing::PgServer::sharedUrl();
        ASSERT_TRUE(server.ok()) << server.message();
        auto schema = manager::testing::PgSchema::create(*server);
        ASSERT_TRUE(schema.ok()) << schema.message();
        schema_ = std::move(*schema);
        url = schema_->url();
    }
    auto store = openStore(url, so);
    ASSERT_TRUE(store.ok()) << store.message();
    store_ = std::move(store).value();
    auth::AuthOptions ao;
    ao.hash_cost = auth::HashCost::kMinimum;
    ao.now_ms = so.now_ms;
    auth_ = std::make_unique<auth::Authenticator>(*store_, ao, metrics_);
    server::ApiOptions ro;
    ro.name = "manager";
    router_ = std::make_unique<server::ApiRouter>(ro, metrics_);
    auto boot =
        auth::bootstrapAdmin(*store_, kAdminPassword, auth::HashCost::kMinimum, now_->load());
    ASSERT_TRUE(boot.ok()) << boot.message();
}

void ApiFixture::TearDown() {
    api_.reset();
    router_.reset();
    auth_.reset();
    store_.reset();
    schema_.reset();
    std::filesystem::remove_all(dir_);
}

void ApiFixture::makeApi(ManagerServices services) {
    api_ = std::make_unique<ManagerApi>(*store_, *auth_, *router_, services);
}

Reply ApiFixture::callRaw(const std::string& method, const std::string& target,
                          const std::string& token, const std::string& body,
                          const std::string& remote) {
    server::HttpRequest r;
    r.method = method;
    r.target = target;
    if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
    r.body = body;
    r.remote = remote;
    auto resp = router_->dispatch(r);
    Reply out;
    out.status = resp.status;
    out.headers = resp.headers;
    out.content_type = resp.content_type;
    out.raw = resp.body;
    if (resp.stream) {
        server::StreamSink sink{[&](std::string_view s) {
                                    out.raw += s;
                                    return true;
                                },
                                [] { return true; }};
        EXPECT_TRUE(resp.stream(sink)) << target;
    }
    out.body = json::parse(out.raw, nullptr, false);
    return out;
}

Reply ApiFixture::call(const std::string& method, const std::string& target,
                       const std::string& token, const json& body, const std::string& remote) {
    return callRaw(method, target, token, body.is_null() ? std::string() : body.dump(), remote);
}

std::string ApiFixture::adminToken() {
    auto r = call("POST", "/api/v1/auth/login", "",
                  json{{"username", "admin"}, {"password", kAdminPassword}});
    EXPECT_EQ(r.status, 200) << r.raw;
    return r.data().value("token", std::string());
}

std::string ApiFixture::userToken(const std::string& name, const std::string& role) {
    auto r = call("POST", "/api/v1/users", adminToken(),
                  {{"username", name}, {"password", name + "-password"}, {"role", role}});
    EXPECT_EQ(r.status, 201) << r.raw;
    auto l = call("POST", "/api/v1/auth/login", "",
                  json{{"username", name}, {"password", name + "-password"}});
    EXPECT_EQ(l.status, 200) << l.raw;
    return l.data().value("token", std::string());
}

std::vector<AuditEntry> ApiFixture::audit(const std::string& action) {
    AuditQuery q;
    q.action = action;
    q.limit = kMaxPageSize;
    auto page = store_->listAudit(q);
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->items : std::vector<AuditEntry>{};
}

Alert ApiFixture::hubAlert(int i, const std::string& rule, int host, const std::string& severity,
                           int64_t time_s, const json& fields) {
    json j = {{"alert_id", "alert-" + std::to_string(i)},
              {"rule_id", rule},
              {"rule_name", "Rule " + rule},
              {"severity", severity},
              {"mitre", {"T1059.004"}},
              {"description", "d"},
              {"suggestion", "s"},
              {"data_type", 59},
              {"agent_id", "agent-" + std::to_string(host)},
              {"hostname", "host-" + std::to_string(host)},
              {"time", time_s},
              {"hub_time", time_s * 1000 + 5},
              {"fields", fields}};
    auto a = alertFromHubJson(j.dump());
    EXPECT_TRUE(a.ok()) << a.message();
    return a.ok() ? *a : Alert{};
}

}  // namespace vigil::manager::api::testing
