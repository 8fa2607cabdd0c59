// The manager's bus ingestion end to end: MQData records and hub alerts appended to embedded
// buses in a temp dir (one case on a real nats-server), read into an SQLite store in the same
// temp dir, checked through the store's queries.
#include "server/manager/ingest/ingest.h"

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "libs/wire/buffer.h"
#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "server/bus/bus.h"
#include "server/bus/test/bus_test_env.h"
#include "server/manager/ingest/record_decoder.h"

namespace vigil::manager {
namespace {

using Fields = std::map<std::string, std::string>;
using nlohmann::json;
namespace bt = vigil::bus::testing;
using std::chrono::milliseconds;

constexpr int64_t kT0 = 1700000000;  // agent_time, seconds

struct Rec {
    std::string agent;
    int32_t data_type;
    int64_t time;
    Fields fields;
};

std::string mqData(const Rec& r) {
    wire::Buffer body;
    wire::encodePayload(body, r.fields);
    vigil::bus::MQData mq;
    mq.set_data_type(r.data_type);
    mq.set_agent_time(r.time);
    mq.set_agent_id(r.agent);
    mq.set_hostname("host-" + r.agent);
    mq.set_version("1.2.3");
    mq.set_intranet_ipv4("10.0.0.5,10.0.0.6");
    mq.set_intranet_ipv6("fe80::1");
    mq.set_extranet_ipv4("203.0.113.7");
    mq.set_body(std::string(body.data(), body.size()));
    return mq.SerializeAsString();
}

void append(const bus::BusOptions& options, const std::vector<std::string>& keys,
            const std::vector<int32_t>& types, const std::vector<std::string>& values) {
    metrics::Registry reg;
    bus::BusOptions o = options;
    o.writer = true;
    auto b = bus::Bus::open(o, reg);
    ASSERT_TRUE(b.ok()) << b.message();
    std::vector<bus::Message> msgs;
    for (size_t i = 0; i < values.size(); ++i) msgs.push_back({keys[i], types[i], values[i]});
    auto st = (*b)->producer().append(msgs);
    ASSERT_TRUE(st.ok()) << st.message();
}

void appendRecords(const bus::BusOptions& o, const std::vector<Rec>& recs) {
    std::vector<std::string> keys, values;
    std::vector<int32_t> types;
    for (const auto& r : recs) {
        keys.push_back(r.agent);
        types.push_back(r.data_type);
        values.push_back(mqData(r));
    }
    append(o, keys, types, values);
}

// An alert as the hub writes it (server/hub/hub_service.cpp makeAlert).
std::string hubAlert(const std::string& id, const std::string& agent, int64_t time) {
    json j = {
        {"alert_id", id},
        {"rule_id", "reverse_shell_socket_stdio"},
        {"rule_name", "Shell with a socket on stdin"},
        {"severity", "critical"},
        {"mitre", {"T1059.004"}},
        {"description", "a shell whose stdin is a socket"},
        {"suggestion", "kill the shell"},
        {"data_type", 59},
        {"agent_id", agent},
        {"hostname", "host-" + agent},
        {"time", time},
        {"hub_time", time * 1000 + 5},
        {"fields", {{"exe", "/bin/bash"}, {"argv", "bash -i"}, {"pid", "201"}}},
        {"pid_tree", "201.bash<200.nc<1.systemd"},
        {"process_tree", json::array({{{"pid", "201"}, {"exe", "/bin/bash"}, {"argv", "bash -i"}},
                                      {{"pid", "200"}, {"exe", "/bin/nc"}, {"argv", "nc -e"}}})}};
    return j.dump();
}

void appendAlerts(const bus::BusOptions& o, const std::vector<std::string>& values,
                  const std::string& agent = "agent-1") {
    append(o, std::vector<std::string>(values.size(), agent),
           std::vector<int32_t>(values.size(), 9000), values);
}

// Forwards to a real store; fails the first `fail_ingests` ingest calls.
class FlakyStore : public Store {
public:
    explicit FlakyStore(Store& s) : s_(s) {}
    std::atomic<int> fail_ingests{0};
    std::atomic<int> failed{0};

    std::string_view backend() const override { return s_.backend(); }
    Result<IngestResult> ingest(const IngestBatch& b) override {
        if (fail_ingests > 0) {
            --fail_ingests;
            ++failed;
            return makeError("database is locked (test)");
        }
        return s_.ingest(b);
    }
    Result<Page<Alert>> listAlerts(const AlertQuery& q) override { return s_.listAlerts(q); }
    Result<std::optional<Alert>> getAlert(const std::string& id) override {
        return s_.getAlert(id);
    }
    Result<bool> updateAlertStatus(const AlertStatusUpdate& u) override {
        return s_.updateAlertStatus(u);
    }
    Result<AlertStats> alertStats(const AlertStatsQuery& q) override { return s_.alertStats(q); }
    Result<StatusCounts> alertStatusCounts() override { return s_.alertStatusCounts(); }
    Result<Page<Host>> listHosts(const HostQuery& q) override { return s_.listHosts(q); }
    Result<std::optional<Host>> getHost(const std::string& id) override { return s_.getHost(id); }
    Result<HostCounts> hostCounts() override { return s_.hostCounts(); }
    Result<std::vector<std::string>> deleteOfflineHosts(
        const std::vector<std::string>& ids) override {
        return s_.deleteOfflineHosts(ids);
    }
    Result<bool> createUser(const User& u) override { return s_.createUser(u); }
    Result<std::optional<User>> getUser(const std::string& n) override { return s_.getUser(n); }
    Result<std::vector<User>> listUsers() override { return s_.listUsers(); }
    Result<bool> updateUser(const std::string& n, const UserUpdate& u) override {
        return s_.updateUser(n, u);
    }
    Result<bool> deleteUser(const std::string& n) override { return s_.deleteUser(n); }
    Result<bool> createSession(const Session& x) override { return s_.createSession(x); }
    Result<std::optional<Session>> getSession(const std::string& t) override {
        return s_.getSession(t);
    }
    Result<bool> deleteSession(const std::string& t) override { return s_.deleteSession(t); }
    Result<int64_t> deleteUserSessions(const std::string& n) override {
        return s_.deleteUserSessions(n);
    }
    Result<int64_t> deleteExpiredSessions() override { return s_.deleteExpiredSessions(); }
    Status appendAudit(const AuditEntry& e) override { return s_.appendAudit(e); }
    Result<Page<AuditEntry>> listAudit(const AuditQuery& q) override { return s_.listAudit(q); }
    Result<bool> createTask(const Task& t) override { return s_.createTask(t); }
    Result<std::optional<Task>> getTask(const std::string& id) override { return s_.getTask(id); }
    Result<Page<Task>> listTasks(const TaskQuery& q) override { return s_.listTasks(q); }
    Result<std::vector<TaskResult>> taskResults(const std::string& id) override {
        return s_.taskResults(id);
    }

private:
    Store& s_;
};

class IngestTest : public ::testing::Test {
protected:
    void SetUp() override {
        StoreOptions so;
        so.now_ms = [] { return (kT0 + 60) * 1000; };  // the test's heartbeats are recent
        auto s = openStore("sqlite://" + dir_.path() + "/manager.db", so);
        ASSERT_TRUE(s.ok()) << s.message();
        store_ = std::move(*s);
        config_.records_bus.dir = dir_.path() + "/bus";
        config_.records_bus.partitions = 4;
        config_.alerts_bus.dir = dir_.path() + "/alerts-bus";
        config_.alerts_bus.partitions = 4;
        config_.poll_timeout = milliseconds(50);
        config_.retry_initial = milliseconds(10);
        config_.retry_max = milliseconds(50);
    }

    std::unique_ptr<Ingest> open(Store* store = nullptr) {
        auto in = Ingest::open(store ? *store : *store_, config_, metrics_);
        EXPECT_TRUE(in.ok()) << in.message();
        return in.ok() ? std::move(*in) : nullptr;
    }

    // Polls both loops until neither fetches anything.
    static void drain(Ingest& in) {
        for (int i = 0; i < 100; ++i) {
            auto r = in.pollRecordsOnce(milliseconds(20));
            auto a = in.pollAlertsOnce(milliseconds(20));
            ASSERT_TRUE(r.ok()) << r.message();
            ASSERT_TRUE(a.ok()) << a.message();
            if (*r == 0 && *a == 0) return;
        }
    }

    size_t alertCount() {
        AlertQuery q;
        q.limit = kMaxPageSize;
        auto page = store_->listAlerts(q);
        EXPECT_TRUE(page.ok()) << page.message();
        return page.ok() ? page->items.size() : 0;
    }

    bt::TempDir dir_;
    std::unique_ptr<Store> store_;
    IngestConfig config_;
    metrics::Registry metrics_;
};

Fields heartbeat(const std::string& cpu, const std::string& rss, const std::string& drops) {
    return {{"platform", "debian"},
            {"platform_version", "12"},
            {"kernel_version", "6.1.0-18"},
            {"cpu", cpu},
            {"rss", rss},
            {"drops", drops},
            {"state", "running"}};
}

TEST_F(IngestTest, HeartbeatsBecomeHostsWithTheirPlugins) {
    appendRecords(
        config_.records_bus,
        {{"agent-1", 1000, kT0, heartbeat("0.02", "41943040", "3")},
         {"agent-1",
          1001,
          kT0,
          {{"name", "driver"},
           {"pversion", "1.0.0"},
           {"state", "running"},
           {"pid", "4242"},
           {"cpu", "0.5"},
           {"rss", "1000"},
           {"records", "77"}}},
         {"agent-1", 1001, kT0, {{"name", "collector"}, {"pversion", "0.9"}, {"state", "backoff"}}},
         {"agent-2", 1000, kT0 - 30, heartbeat("0", "1", "0")},
         {"agent-2", 1010, kT0, {{"msg", "x"}}}});
    auto in = open();
    ASSERT_TRUE(in);
    drain(*in);

    HostQuery q;
    auto page = store_->listHosts(q);
    ASSERT_TRUE(page.ok()) << page.message();
    ASSERT_EQ(page->items.size(), 2u);
    const Host& h = page->items[0];
    EXPECT_EQ(h.agent_id, "agent-1");
    EXPECT_EQ(h.hostname, "host-agent-1");
    EXPECT_EQ(h.version, "1.2.3");
    EXPECT_EQ(h.platform, "debian 12 (6.1.0-18)");
    EXPECT_EQ(h.intranet_ips, (std::vector<std::string>{"10.0.0.5", "10.0.0.6", "fe80::1"}));
    EXPECT_EQ(h.extranet_ips, std::vector<std::string>{"203.0.113.7"});
    EXPECT_EQ(h.last_heartbeat_ms, kT0 * 1000);
    EXPECT_DOUBLE_EQ(h.cpu_percent, 2.0);
    EXPECT_EQ(h.rss_bytes, 41943040);
    EXPECT_EQ(h.drops, 3);
    EXPECT_TRUE(h.online);
    json plugins = json::parse(h.plugins_json);
    ASSERT_EQ(plugins.size(), 2u);
    EXPECT_EQ(plugins[0]["name"], "collector");
    EXPECT_EQ(plugins[0]["state"], "backoff");
    EXPECT_EQ(plugins[1]["name"], "driver");
    EXPECT_EQ(plugins[1]["version"], "1.0.0");
    EXPECT_EQ(plugins[1]["pid"], 4242);
    EXPECT_DOUBLE_EQ(plugins[1]["cpu_percent"].get<double>(), 50.0);
    EXPECT_EQ(plugins[1]["rss_bytes"], 1000);
    EXPECT_EQ(plugins[1]["records"], 77);
    EXPECT_EQ(page->items[1].agent_id, "agent-2");
    EXPECT_EQ(page->items[1].plugins_json, "[]");

    // A later plugin heartbeat changes that plugin only; the agent's fields stay.
    appendRecords(config_.records_bus,
                  {{"agent-1", 1001, kT0 + 60, {{"name", "driver"}, {"state", "failed"}}}});
    drain(*in);
    auto h1 = store_->getHost("agent-1");
    ASSERT_TRUE(h1.ok() && h1->has_value());
    EXPECT_EQ((*h1)->rss_bytes, 41943040);
    EXPECT_EQ((*h1)->platform, "debian 12 (6.1.0-18)");
    plugins = json::parse((*h1)->plugins_json);
    ASSERT_EQ(plugins.size(), 2u);
    EXPECT_EQ(plugins[1]["state"], "failed");
    EXPECT_EQ(plugins[0]["state"], "backoff");

    auto st = in->stats();
    EXPECT_EQ(st.heartbeats, 2u);
    EXPECT_EQ(st.plugin_heartbeats, 3u);
    EXPECT_EQ(st.skipped, 1u);  // the 1010
    EXPECT_EQ(st.bad_records, 0u);
}

TEST_F(IngestTest, AStoreRestartKeepsThePluginsOfAHost) {
    appendRecords(config_.records_bus,
                  {{"agent-1", 1000, kT0, heartbeat("0", "5", "0")},
                   {"agent-1", 1001, kT0, {{"name", "driver"}, {"state", "running"}}},
                   {"agent-1", 1001, kT0, {{"name", "collector"}, {"state", "running"}}}});
    {
        auto first = open();
        ASSERT_TRUE(first);
        drain(*first);
    }
    // A new Ingest (a manager restart) knows the host from the store only.
    appendRecords(config_.records_bus,
                  {{"agent-1", 1001, kT0 + 60, {{"name", "driver"}, {"state", "stopped"}}}});
    auto in = open();
    drain(*in);
    auto h = store_->getHost("agent-1");
    ASSERT_TRUE(h.ok() && h->has_value());
    json plugins = json::parse((*h)->plugins_json);
    ASSERT_EQ(plugins.size(), 2u);
    EXPECT_EQ(plugins[0]["name"], "collector");
    EXPECT_EQ(plugins[1]["state"], "stopped");
    EXPECT_EQ((*h)->rss_bytes, 5);
}

TEST_F(IngestTest, OlderHeartbeatsChangeNothingAndSilentPluginsLeave) {
    appendRecords(config_.records_bus,
                  {{"agent-1", 1000, kT0, heartbeat("0", "100", "0")},
                   {"agent-1", 1001, kT0, {{"name", "driver"}, {"state", "running"}}},
                   {"agent-1", 1001, kT0, {{"name", "scanner"}, {"state", "running"}}},
                   // Redelivered from before: neither the agent nor the plugin goes back.
                   {"agent-1", 1000, kT0 - 60, heartbeat("0", "50", "0")},
                   {"agent-1", 1001, kT0 - 60, {{"name", "driver"}, {"state", "starting"}}}});
    auto in = open();
    ASSERT_TRUE(in);
    drain(*in);
    auto h = store_->getHost("agent-1");
    ASSERT_TRUE(h.ok() && h->has_value());
    EXPECT_EQ((*h)->rss_bytes, 100);
    json plugins = json::parse((*h)->plugins_json);
    ASSERT_EQ(plugins.size(), 2u);
    EXPECT_EQ(plugins[0]["state"], "running");

    // The scanner stops reporting; once it is silent for kPluginStaleMs it leaves the list.
    const int64_t later = kT0 + kPluginStaleMs / 1000 + 60;
    appendRecords(config_.records_bus,
                  {{"agent-1", 1000, later, heartbeat("0", "100", "0")},
                   {"agent-1", 1001, later, {{"name", "driver"}, {"state", "running"}}}});
    drain(*in);
    h = store_->getHost("agent-1");
    ASSERT_TRUE(h.ok() && h->has_value());
    plugins = json::parse((*h)->plugins_json);
    ASSERT_EQ(plugins.size(), 1u);
    EXPECT_EQ(plugins[0]["name"], "driver");
}

TEST_F(IngestTest, TaskResultsAreRecorded) {
    Task t;
    t.task_id = "task-1";
    t.agent_ids = {"agent-1", "agent-2"};
    t.data_type = 1060;
    t.object_name = "vigil-agent";
    t.created_at_ms = kT0 * 1000;
    ASSERT_TRUE(store_->createTask(t).ok());
    appendRecords(
        config_.records_bus,
        {{"agent-1", 5100, kT0, {{"token", "task-1"}, {"status", "succeed"}, {"msg", "ok"}}},
         {"agent-2", 5100, kT0, {{"token", "task-1"}, {"status", "failed"}}},
         {"agent-2", 5100, kT0, {{"token", "no-such-task"}, {"status", "failed"}}},
         {"agent-2", 5100, kT0, {{"status", "failed"}}}});  // no token: bad
    auto in = open();
    drain(*in);
    auto results = store_->taskResults("task-1");
    ASSERT_TRUE(results.ok()) << results.message();
    ASSERT_EQ(results->size(), 2u);
    std::map<std::string, TaskResult> by_agent;
    for (const auto& r : *results) by_agent[r.agent_id] = r;
    EXPECT_EQ(by_agent["agent-1"].status, "succeeded");
    EXPECT_EQ(json::parse(by_agent["agent-1"].result_json)["msg"], "ok");
    EXPECT_EQ(by_agent["agent-1"].time_ms, kT0 * 1000);
    EXPECT_EQ(by_agent["agent-2"].status, "failed");
    EXPECT_EQ(in->stats().task_results, 3u);
    EXPECT_EQ(in->stats().bad_records, 1u);
}

TEST_F(IngestTest, AlertsAreStoredOnceWithTheirProcessTree) {
    const std::string a1 = hubAlert("agent-1-0-1-reverse_shell_socket_stdio", "agent-1", kT0);
    appendAlerts(
        config_.alerts_bus,
        {a1, "not json", hubAlert("agent-1-0-2-reverse_shell_socket_stdio", "agent-1", kT0 + 1),
         a1});  // a redelivery
    auto in = open();
    drain(*in);
    EXPECT_EQ(alertCount(), 2u);
    auto a = store_->getAlert("agent-1-0-1-reverse_shell_socket_stdio");
    ASSERT_TRUE(a.ok() && a->has_value());
    EXPECT_EQ((*a)->severity, Severity::kCritical);
    EXPECT_EQ((*a)->hostname, "host-agent-1");
    EXPECT_EQ((*a)->argv, "bash -i");
    EXPECT_EQ((*a)->time_ms, kT0 * 1000);
    json j = json::parse((*a)->json);
    ASSERT_EQ(j["process_tree"].size(), 2u);
    EXPECT_EQ(j["process_tree"][1]["exe"], "/bin/nc");
    auto st = in->stats();
    EXPECT_EQ(st.bad_alerts, 1u);
    EXPECT_EQ(st.alerts_inserted, 2u);
    EXPECT_EQ(st.alerts_duplicate, 1u);
    EXPECT_EQ(metrics_.counterValue("vigil_manager_ingest_bad_messages_total", {{"bus", "alerts"}}),
              1u);

    // The same alert again later (the hub repeating a fetch after a crash): still once.
    appendAlerts(config_.alerts_bus, {a1});
    drain(*in);
    EXPECT_EQ(alertCount(), 2u);
}

TEST_F(IngestTest, ARestartResumesAfterTheCommit) {
    {
        appendAlerts(config_.alerts_bus, {hubAlert("a-1", "agent-1", kT0)});
        auto in = open();
        drain(*in);
        EXPECT_EQ(in->stats().alerts, 1u);
    }
    appendAlerts(config_.alerts_bus, {hubAlert("a-2", "agent-1", kT0 + 1)});
    metrics::Registry fresh;  // the counters of the second run alone
    auto in = Ingest::open(*store_, config_, fresh);
    ASSERT_TRUE(in.ok()) << in.message();
    drain(**in);
    EXPECT_EQ((*in)->stats().alerts, 1u);  // a-2 only: a-1 was committed
    EXPECT_EQ((*in)->stats().alerts_duplicate, 0u);
    EXPECT_EQ(alertCount(), 2u);
}

TEST_F(IngestTest, AFailingStoreIsRetriedAndNothingIsLost) {
    FlakyStore flaky(*store_);
    flaky.fail_ingests = 3;
    appendAlerts(config_.alerts_bus, {hubAlert("a-1", "agent-1", kT0)});
    appendRecords(config_.records_bus, {{"agent-1", 1000, kT0, heartbeat("0", "1", "0")}});
    auto in = open(&flaky);
    in->start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        auto h = store_->getHost("agent-1");
        if (alertCount() == 1 && h.ok() && h->has_value()) break;
        std::this_thread::sleep_for(milliseconds(20));
    }
    in->stop();
    EXPECT_EQ(alertCount(), 1u);
    auto h = store_->getHost("agent-1");
    ASSERT_TRUE(h.ok());
    EXPECT_TRUE(h->has_value());
    EXPECT_EQ(flaky.failed, 3);
    EXPECT_EQ(in->stats().store_errors, 3u);
}

TEST_F(IngestTest, StoppedWhileTheStoreFailsCommitsNothing) {
    FlakyStore flaky(*store_);
    flaky.fail_ingests = 1'000'000;
    appendAlerts(config_.alerts_bus, {hubAlert("a-1", "agent-1", kT0)});
    {
        auto in = open(&flaky);
        in->start();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (flaky.failed < 2 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(milliseconds(10));
        }
        in->stop();
        EXPECT_GE(flaky.failed, 2);
        EXPECT_EQ(in->stats().commits, 0u);
    }
    // The next run (the store back) gets the alert again.
    auto in = open();
    drain(*in);
    EXPECT_EQ(alertCount(), 1u);
}

TEST(IngestConfigTest, ReadsBothBusSections) {
    auto doc = config::Document::loadString(R"(
bus: {backend: embedded, dir: /var/lib/vigil-center/bus, partitions: 16}
alerts_bus: {backend: embedded, dir: /var/lib/vigil-hub/alerts-bus}
ingest: {group: mgr, fetch_max: 200, poll_timeout: 250ms}
)");
    ASSERT_TRUE(doc.ok()) << doc.message();
    IngestConfig c;
    readIngestConfig(doc->root(), c);
    EXPECT_TRUE(doc->ok());
    EXPECT_TRUE(c.read_records);
    EXPECT_TRUE(c.read_alerts);
    EXPECT_EQ(c.records_bus.dir, "/var/lib/vigil-center/bus");
    EXPECT_EQ(c.records_bus.partitions, 16u);
    EXPECT_FALSE(c.records_bus.writer);
    EXPECT_EQ(c.alerts_bus.dir, "/var/lib/vigil-hub/alerts-bus");
    EXPECT_EQ(c.alerts_bus.stream, "VIGIL_ALERTS");
    EXPECT_EQ(c.alerts_bus.nats_subject_prefix, "vigil.alert");
    EXPECT_FALSE(c.alerts_bus.writer);
    EXPECT_EQ(c.group, "mgr");
    EXPECT_EQ(c.fetch_max, 200u);
    EXPECT_EQ(c.poll_timeout, milliseconds(250));

    auto bad = config::Document::loadString(R"(
bus: {dir: /x, colour: red}
alerts_bus: {dir: /x}
ingest: {group: "no spaces"}
)");
    ASSERT_TRUE(bad.ok());
    IngestConfig b;
    readIngestConfig(bad->root(), b);
    EXPECT_EQ(bad->problems().list().size(), 3u) << bad->problems().toString();

    auto only = config::Document::loadString("bus: {dir: /x}\n");
    ASSERT_TRUE(only.ok());
    IngestConfig o;
    readIngestConfig(only->root(), o);
    EXPECT_TRUE(only->ok());
    EXPECT_TRUE(o.read_records);
    EXPECT_FALSE(o.read_alerts);
}

TEST(AgentTimeTest, SecondsMillisecondsOrTheBusTime) {
    EXPECT_EQ(agentTimeMs(1700000000, 5), 1700000000000);
    EXPECT_EQ(agentTimeMs(1700000000123, 5), 1700000000123);
    EXPECT_EQ(agentTimeMs(0, 7'000'000), 7);
}

// The same loops on the NATS JetStream backend: records and alerts streams on one server, a
// restart resuming after the commit.
TEST(IngestNatsTest, ReadsBothStreamsAndResumes) {
    auto url = bt::NatsServer::sharedUrl();
    ASSERT_TRUE(url.ok()) << url.message();
    bt::TempDir dir;
    StoreOptions so;
    so.now_ms = [] { return (kT0 + 60) * 1000; };
    auto store = openStore("sqlite://" + dir.path() + "/manager.db", so);
    ASSERT_TRUE(store.ok()) << store.message();
    IngestConfig c;
    c.records_bus = bt::testOptions("nats", "", *url);
    c.alerts_bus = bt::testOptions("nats", "", *url);
    c.poll_timeout = milliseconds(50);
    metrics::Registry reg;

    appendRecords(c.records_bus, {{"agent-1", 1000, kT0, heartbeat("0.1", "9", "0")}});
    appendAlerts(c.alerts_bus, {hubAlert("a-1", "agent-1", kT0)});
    auto poll = [&](Ingest& in) {
        for (int i = 0; i < 40; ++i) {
            auto r = in.pollRecordsOnce(milliseconds(50));
            auto a = in.pollAlertsOnce(milliseconds(50));
            ASSERT_TRUE(r.ok()) << r.message();
            ASSERT_TRUE(a.ok()) << a.message();
            if (*r == 0 && *a == 0 && i > 2) return;
        }
    };
    {
        auto in = Ingest::open(**store, c, reg);
        ASSERT_TRUE(in.ok()) << in.message();
        poll(**in);
        EXPECT_EQ((*in)->stats().alerts_inserted, 1u);
    }
    appendAlerts(c.alerts_bus, {hubAlert("a-2", "agent-1", kT0 + 1)});
    metrics::Registry reg2;
    auto in = Ingest::open(**store, c, reg2);
    ASSERT_TRUE(in.ok()) << in.message();
    poll(**in);
    EXPECT_EQ((*in)->stats().alerts, 1u);  // a-2 only
    auto h = (*store)->getHost("agent-1");
    ASSERT_TRUE(h.ok() && h->has_value());
    EXPECT_DOUBLE_EQ((*h)->cpu_percent, 10.0);
    AlertQuery q;
    auto page = (*store)->listAlerts(q);
    ASSERT_TRUE(page.ok());
    EXPECT_EQ(page->items.size(), 2u);
    bt::dropNatsStream(c.records_bus);
    bt::dropNatsStream(c.alerts_bus);
}

}  // namespace
}  // namespace vigil::manager
