// The manager's task, host group and services routes against a real cluster in this process, on
// loopback: a vigil-discovery replica (DiscoveryService), a center's admin API with its
// connection registry and config pusher polling the manager (ManagerPluginConfig), and agents
// connected to it (the registry's AgentConnection, recording the Commands the center sends).
// Over both store backends (SQLite in a temp dir, a PostgreSQL schema of its own).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "libs/common/fs.h"
#include "libs/wire/buffer.h"
#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "server/bus/bus.h"
#include "server/center/admin_api.h"
#include "server/center/config_pusher.h"
#include "server/center/connection_registry.h"
#include "server/center/manager_plugin_config.h"
#include "server/common/api_server.h"
#include "server/discovery/discovery_service.h"
#include "server/hub/hub_api.h"
#include "server/hub/hub_service.h"
#include "server/manager/api/manager_api.h"
#include "server/manager/manager_config.h"
#include "server/manager/store/test/pg_test_server.h"
#include "tests/support/free_port.h"

namespace vigil::manager::api {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAdminPassword = "admin-password-1";
const server::AkSk kKey{"test-ak", "test-secret-0123456789abcdef"};
const std::string kSha(64, 'a');

struct Reply {
    int status = 0;
    json body;
    json data() const { return body.value("data", json()); }
    std::string msg() const { return body.value("msg", std::string()); }
};

// One agent's stream as the center's registry sees it: records what the center sends.
class TestAgent : public center::AgentConnection {
public:
    explicit TestAgent(std::string id, bool closing = false)
        : id_(std::move(id)), closing_(closing) {}
    bool sendCommand(const wire::AgentCommand& command) override {
        std::lock_guard lock(mu_);
        if (closing_) return false;
        commands_.push_back(command);
        return true;
    }
    void reset(const std::string&) override {
        std::lock_guard lock(mu_);
        resets_++;
    }
    Info info() const override {
        Info i;
        i.agent_id = id_;
        return i;
    }
    std::vector<wire::AgentCommand> commands() const {
        std::lock_guard lock(mu_);
        return commands_;
    }
    // The plugin names of the last config-sync Command; empty optional when none came.
    std::optional<std::vector<std::string>> lastConfig() const {
        std::lock_guard lock(mu_);
        for (auto it = commands_.rbegin(); it != commands_.rend(); ++it) {
            if (it->has_task) continue;
            std::vector<std::string> names;
            for (const auto& c : it->configs) names.push_back(c.name);
            return names;
        }
        return std::nullopt;
    }
    size_t configCount() const {
        std::lock_guard lock(mu_);
        size_t n = 0;
        for (const auto& c : commands_) n += c.has_task ? 0 : 1;
        return n;
    }
    int resets() const {
        std::lock_guard lock(mu_);
        return resets_;
    }

private:
    std::string id_;
    bool closing_;
    mutable std::mutex mu_;
    std::vector<wire::AgentCommand> commands_;
    int resets_ = 0;
};

server::ApiServerOptions signedServer(const std::string& name) {
    server::ApiServerOptions o;
    o.name = name;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 4;
    o.keep_alive_timeout = std::chrono::seconds(1);
    o.verifier = std::make_shared<const server::RequestVerifier>(
        std::map<std::string, std::string>{{kKey.access_key, kKey.secret_key}});
    return o;
}

// A hub in this process: one exec rule over a bus in `dir`, its signed API on loopback.
struct TestHub {
    explicit TestHub(std::string d) : dir(std::move(d)) {}

    std::string dir;
    metrics::Registry metrics;
    std::unique_ptr<hub::HubService> service;
    std::unique_ptr<server::ApiServer> http;

    // Appends an exec record of /usr/bin/curl to the hub's bus and lets the hub process it.
    void feed() {
        metrics::Registry reg;
        bus::BusOptions o;
        o.dir = dir + "/bus";
        o.partitions = 1;
        auto b = bus::Bus::open(o, reg);
        ASSERT_TRUE(b.ok()) << b.message();
        wire::Buffer body;
        wire::encodePayload(body, {{"exe", "/usr/bin/curl"}});
        vigil::bus::MQData mq;
        mq.set_data_type(59);
        mq.set_agent_time(1700000000);
        mq.set_agent_id("agent-1");
        mq.set_body(std::string(body.data(), body.size()));
        const std::vector<bus::Message> msgs{{"agent-1", 59, mq.SerializeAsString()}};
        ASSERT_TRUE((*b)->producer().append(msgs).ok());
        if (!service) return;
        const uint64_t want = service->stats().records.load() + 1;
        for (int i = 0; i < 100 && service->stats().records.load() < want; ++i) {
            ASSERT_TRUE(service->pollOnce(std::chrono::milliseconds(100)).ok());
        }
        ASSERT_EQ(service->stats().records.load(), want);
    }
    void start() {
        ASSERT_TRUE(fs::makeDirs(dir + "/rules").ok());
        ASSERT_TRUE(fs::writeFileAtomic(dir + "/rules/base.yaml",
                                        "rules:\n  - id: curl_seen\n    name: curl ran\n"
                                        "    data_type: 59\n    severity: high\n"
                                        "    checks: {c: {field: exe, ends_with: /curl}}\n")
                        .ok());
        feed();  // creates the bus
        auto cfg = hub::parseHubConfig("bus: {dir: " + dir + "/bus, partitions: 1}\nrules: [" +
                                           dir + "/rules]\ngroup: hub\nalerts: {jsonl: " + dir +
                                           "/alerts.jsonl}\n",
                                       "hub.yaml");
        ASSERT_TRUE(cfg.ok()) << cfg.message();
        auto created = hub::HubService::create(*cfg, metrics);
        ASSERT_TRUE(created.ok()) << created.message();
        service = std::move(*created);
        for (int i = 0; i < 100 && service->stats().records.load() < 1; ++i) {
            ASSERT_TRUE(service->pollOnce(std::chrono::milliseconds(100)).ok());
        }
        http = std::make_unique<server::ApiServer>(signedServer("hub"), metrics);
        hub::addHubRoutes(http->router(), *service);
        ASSERT_TRUE(http->start().ok());
    }
    ~TestHub() {
        if (http) http->stop();
    }
};

class OpsRoutesTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vigil-manager-ops-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        std::string url = "sqlite://" + dir_ + "/manager.db";
        if (GetParam() == "postgresql") {
            auto server = manager::testing::PgServer::sharedUrl();
            ASSERT_TRUE(server.ok()) << server.message();
            auto schema = manager::testing::PgSchema::create(*server);
            ASSERT_TRUE(schema.ok()) << schema.message();
            schema_ = std::move(*schema);
            url = schema_->url();
        }
        auto store = openStore(url);
        ASSERT_TRUE(store.ok()) << store.message();
        store_ = std::move(store).value();

        // Discovery.
        discovery::DiscoveryOptions d;
        d.api = signedServer("discovery");
        d.api.port = vigil::testing::freeLoopbackPort();
        d.check_interval = 100ms;
        discovery_ = std::make_unique<discovery::DiscoveryService>(d, metrics_);
        ASSERT_TRUE(discovery_->start().ok());

        // The manager, its cluster client finding everything through discovery.
        cluster::ClusterOptions co;
        co.discovery = {discovery_->address()};
        co.key = kKey;
        co.keys = {{kKey.access_key, kKey.secret_key}};
        co.timeout = 2000ms;
        cluster_ = std::make_unique<cluster::ClusterClient>(co, &metrics_);
        auth::AuthOptions ao;
        ao.hash_cost = auth::HashCost::kMinimum;
        auth_ = std::make_unique<auth::Authenticator>(*store_, ao, metrics_);
        manager_http_ = std::make_unique<server::ApiServer>(signedServer("manager"), metrics_);
        ManagerServices services;
        services.cluster = cluster_.get();
        api_ = std::make_unique<ManagerApi>(*store_, *auth_, manager_http_->router(), services);
        ASSERT_TRUE(manager_http_->start().ok());
        ASSERT_TRUE(
            auth::bootstrapAdmin(*store_, kAdminPassword, auth::HashCost::kMinimum, 0).ok());
        admin_ = tokenOf("admin", kAdminPassword);

        // A center whose plugin sets come from the manager.
        registry_ = std::make_unique<center::ConnectionRegistry>(100);
        center::ManagerPluginConfigOptions mo;
        mo.url = "http://" + manager_http_->address();
        mo.key = kKey;
        source_ = std::make_unique<center::ManagerPluginConfig>(mo);
        pusher_ = std::make_unique<center::ConfigPusher>(source_.get(), *registry_, metrics_);
        center_http_ = std::make_unique<server::ApiServer>(signedServer("center"), metrics_);
        center::addAdminRoutes(
            center_http_->router(),
            center::AdminApiContext{registry_.get(), nullptr, pusher_.get(), "vigil-agent"});
        ASSERT_TRUE(center_http_->start().ok());
        registerService("hids_svr_grpc", 6751,
                        {{"http_port", std::to_string(center_http_->port())}});
    }
    void TearDown() override {
        if (center_http_) center_http_->stop();
        if (manager_http_) manager_http_->stop();
        if (discovery_) discovery_->stop();
        api_.reset();
        auth_.reset();
        store_.reset();
        schema_.reset();
        std::filesystem::remove_all(dir_);
    }

    void registerService(const std::string& name, int port, json extra = json::object()) {
        json body = {
            {"name", name}, {"ip", "127.0.0.1"}, {"port", port}, {"weight", 0}, {"extra", extra}};
        auto r = cluster_->call(discovery_->address(), "POST", "/registry/register", body.dump());
        ASSERT_TRUE(r.ok()) << r.message();
    }

    std::shared_ptr<TestAgent> connect(const std::string& id, bool closing = false) {
        auto a = std::make_shared<TestAgent>(id, closing);
        EXPECT_TRUE(registry_->admit());
        EXPECT_TRUE(registry_->bind(id, a).ok());
        pusher_->onFirstHeartbeat(a);
        return a;
    }

    Reply call(const std::string& method, const std::string& target, const std::string& token,
               const json& body = nullptr) {
        server::HttpRequest r;
        r.method = method;
        r.target = target;
        if (!token.empty()) r.headers.emplace_back("Authorization", "Bearer " + token);
        if (!body.is_null()) r.body = body.dump();
        r.remote = "127.0.0.1:40000";
        auto resp = manager_http_->router().dispatch(r);
        return Reply{resp.status, json::parse(resp.body, nullptr, false)};
    }
    std::string tokenOf(const std::string& user, const std::string& password) {
        auto r = call("POST", "/api/v1/auth/login", "",
                      json{{"username", user}, {"password", password}});
        EXPECT_EQ(r.status, 200) << r.body.dump();
        return r.data().value("token", std::string());
    }
    std::string userToken(const std::string& name, const std::string& role) {
        auto r = call("POST", "/api/v1/users", admin_,
                      {{"username", name}, {"password", name + "-password"}, {"role", role}});
        EXPECT_EQ(r.status, 201) << r.body.dump();
        return tokenOf(name, name + "-password");
    }
    std::vector<AuditEntry> audit(const std::string& action) {
        AuditQuery q;
        q.action = action;
        auto page = store_->listAudit(q);
        EXPECT_TRUE(page.ok());
        return page.ok() ? page->items : std::vector<AuditEntry>{};
    }
    static json plugin(const std::string& name, const std::string& version = "1.0.0") {
        return {{"name", name},
                {"version", version},
                {"sha256", kSha},
                {"download_urls", {"https://repo.example/" + name}},
                {"detail", "{}"}};
    }
    std::map<std::string, json> resultsByAgent(const json& task) {
        std::map<std::string, json> out;
        for (const auto& r : task["results"]) out[r["agent_id"]] = r;
        return out;
    }

    std::string dir_;
    std::unique_ptr<manager::testing::PgSchema> schema_;
    metrics::Registry metrics_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<discovery::DiscoveryService> discovery_;
    std::unique_ptr<cluster::ClusterClient> cluster_;
    std::unique_ptr<auth::Authenticator> auth_;
    std::unique_ptr<server::ApiServer> manager_http_;
    std::unique_ptr<ManagerApi> api_;
    std::string admin_;
    std::unique_ptr<center::ConnectionRegistry> registry_;
    std::unique_ptr<center::ManagerPluginConfig> source_;
    std::unique_ptr<center::ConfigPusher> pusher_;
    std::unique_ptr<server::ApiServer> center_http_;
};

TEST_P(OpsRoutesTest, TaskGoesThroughTheAgentsCenterAndResultsComplete) {
    auto a1 = connect("agent-1");
    auto a2 = connect("agent-2");
    auto gone = connect("agent-closing", true);  // its stream is closing: the center refuses
    const std::string op = userToken("op", "operator");
    auto r = call("POST", "/api/v1/tasks", op,
                  {{"agent_ids", {"agent-1", "agent-2", "agent-9", "agent-closing"}},
                   {"name", "collector"},
                   {"data_type", 5050},
                   {"data", "{\"scan\":true}"},
                   {"comment", "inventory now"}});
    ASSERT_EQ(r.status, 201) << r.body.dump();
    const std::string id = r.data()["task_id"];
    ASSERT_EQ(id.size(), 32u);
    auto results = resultsByAgent(r.data());
    EXPECT_EQ(results["agent-1"]["status"], "sent");
    EXPECT_EQ(results["agent-2"]["status"], "sent");
    EXPECT_EQ(results["agent-9"]["status"], "unreachable");
    EXPECT_EQ(results["agent-closing"]["status"], "send_failed");
    EXPECT_NE(results["agent-closing"]["result"]["msg"].get<std::string>().find("disconnecting"),
              std::string::npos)
        << results["agent-closing"].dump();

    // The agents got the task with the task id as its token (what their 5100 result carries).
    auto cmds = a1->commands();
    ASSERT_EQ(cmds.size(), 1u);
    EXPECT_TRUE(cmds[0].has_task);
    EXPECT_EQ(cmds[0].task.data_type, 5050);
    EXPECT_EQ(cmds[0].task.object_name, "collector");
    EXPECT_EQ(cmds[0].task.data, "{\"scan\":true}");
    EXPECT_EQ(cmds[0].task.token, id);
    EXPECT_EQ(a2->commands().size(), 1u);

    // A 5100 result, as the ingest records it, completes the host's result.
    IngestBatch b;
    b.task_results.push_back(TaskResult{id, "agent-1", "succeeded", R"({"msg":"done"})", 5});
    Host host;
    host.agent_id = "agent-1";
    host.hostname = "web-1";
    host.last_heartbeat_ms = 5;
    b.hosts.push_back(host);
    ASSERT_TRUE(store_->ingest(b).ok());
    auto detail = call("GET", "/api/v1/tasks/" + id, admin_);
    ASSERT_EQ(detail.status, 200);
    EXPECT_EQ(resultsByAgent(detail.data())["agent-1"]["status"], "succeeded");
    // Results name their host when the store knows it.
    EXPECT_EQ(resultsByAgent(detail.data())["agent-1"]["hostname"], "web-1");
    EXPECT_FALSE(resultsByAgent(detail.data())["agent-9"].contains("hostname"));
    EXPECT_EQ(resultsByAgent(detail.data())["agent-1"]["result"]["msg"], "done");
    EXPECT_EQ(detail.data()["status_counts"]["sent"], 1);
    EXPECT_EQ(detail.data()["created_by"], "op");

    auto list = call("GET", "/api/v1/tasks?limit=1", admin_);
    ASSERT_EQ(list.status, 200);
    ASSERT_EQ(list.data()["items"].size(), 1u);
    EXPECT_EQ(list.data()["items"][0]["task_id"], id);
    EXPECT_EQ(call("GET", "/api/v1/tasks/nope", admin_).status, 404);

    auto logged = audit("task.create");
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_EQ(logged[0].target, id);
    auto d = json::parse(logged[0].detail_json);
    EXPECT_EQ(d["comment"], "inventory now");
    EXPECT_EQ(d["sent"], 2);
    EXPECT_EQ(d["unreachable"], 1);
    EXPECT_EQ(d["send_failed"], 1);

    // Agent restart: task 1060 for vigil-agent.
    auto restart = call("POST", "/api/v1/tasks/agent-restart", op, {{"agent_ids", {"agent-2"}}});
    ASSERT_EQ(restart.status, 201) << restart.body.dump();
    cmds = a2->commands();
    ASSERT_EQ(cmds.size(), 2u);
    EXPECT_EQ(cmds[1].task.data_type, 1060);
    EXPECT_EQ(cmds[1].task.object_name, "vigil-agent");

    // Plugin restart: task 1061 {"name": plugin} for vigil-agent, on each host, audited.
    auto plugin = call(
        "POST", "/api/v1/tasks/plugin-restart", op,
        {{"agent_ids", {"agent-1", "agent-9"}}, {"plugin", "collector"}, {"comment", "stuck"}});
    ASSERT_EQ(plugin.status, 201) << plugin.body.dump();
    EXPECT_EQ(plugin.data()["data_type"], 1061);
    EXPECT_EQ(plugin.data()["name"], "vigil-agent");
    EXPECT_EQ(resultsByAgent(plugin.data())["agent-1"]["status"], "sent");
    EXPECT_EQ(resultsByAgent(plugin.data())["agent-9"]["status"], "unreachable");
    cmds = a1->commands();
    ASSERT_EQ(cmds.size(), 2u);
    EXPECT_EQ(cmds[1].task.data_type, 1061);
    EXPECT_EQ(cmds[1].task.object_name, "vigil-agent");
    EXPECT_EQ(json::parse(cmds[1].task.data), json({{"name", "collector"}}));
    EXPECT_EQ(cmds[1].task.token, plugin.data()["task_id"]);
    logged = audit("task.create");
    ASSERT_EQ(logged.size(), 3u);
    bool audited = false;
    for (const auto& e : logged) {
        if (e.target != plugin.data()["task_id"]) continue;
        auto pd = json::parse(e.detail_json);
        audited = pd["data_type"] == 1061 && pd["comment"] == "stuck" && pd["sent"] == 1;
    }
    EXPECT_TRUE(audited);
    // The plugin name is required and checked; read-only users may not restart.
    EXPECT_EQ(call("POST", "/api/v1/tasks/plugin-restart", op, {{"agent_ids", {"agent-1"}}}).status,
              400);
    auto bad = call("POST", "/api/v1/tasks/plugin-restart", op,
                    {{"agent_ids", {"agent-1"}}, {"plugin", "../x"}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.msg().find("plugin"), std::string::npos) << bad.msg();
    EXPECT_EQ(call("POST", "/api/v1/tasks/plugin-restart", userToken("viewer2", "read_only"),
                   {{"agent_ids", {"agent-1"}}, {"plugin", "collector"}})
                  .status,
              403);
    EXPECT_EQ(a1->commands().size(), 2u);
}

TEST_P(OpsRoutesTest, TaskInputAndRolesAreChecked) {
    const std::string ro = userToken("viewer", "read_only");
    json good = {{"agent_ids", {"agent-1"}}, {"name", "collector"}, {"data_type", 5050}};
    EXPECT_EQ(call("POST", "/api/v1/tasks", ro, good).status, 403);
    EXPECT_EQ(call("POST", "/api/v1/tasks", "", good).status, 401);
    auto bad = call("POST", "/api/v1/tasks", admin_,
                    {{"agent_ids", json::array()}, {"name", "x"}, {"data_type", 1}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.msg().find("agent_ids"), std::string::npos) << bad.msg();
    bad = call("POST", "/api/v1/tasks", admin_,
               {{"agent_ids", {1, 2}}, {"name", "x"}, {"data_type", 1}});
    EXPECT_EQ(bad.status, 400);
    bad = call("POST", "/api/v1/tasks", admin_, {{"agent_ids", {"a"}}, {"name", "x"}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.msg().find("data_type"), std::string::npos) << bad.msg();
    bad = call("POST", "/api/v1/tasks", admin_,
               {{"agent_ids", {"a"}}, {"name", "x"}, {"data_type", "five"}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(call("GET", "/api/v1/tasks?limit=0", admin_).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/tasks?cursor=garbage", admin_).status, 400);
    EXPECT_TRUE(audit("task.create").empty());

    // Without a cluster: 503, nothing stored.
    server::ApiRouter bare({}, metrics_);
    ManagerApi without(*store_, *auth_, bare);
    server::HttpRequest req;
    req.method = "POST";
    req.target = "/api/v1/tasks";
    req.headers.emplace_back("Authorization", "Bearer " + admin_);
    req.body = good.dump();
    auto resp = bare.dispatch(req);
    EXPECT_EQ(resp.status, 503) << resp.body;
    EXPECT_NE(resp.body.find("no cluster configured"), std::string::npos);
    req.method = "GET";
    req.target = "/api/v1/services";
    req.body.clear();
    EXPECT_EQ(bare.dispatch(req).status, 503);
    auto tasks = store_->listTasks(TaskQuery{});
    ASSERT_TRUE(tasks.ok());
    EXPECT_TRUE(tasks->items.empty());
}

TEST_P(OpsRoutesTest, GroupChangeReachesConnectedAgentsAsConfigCommands) {
    // No group yet: the manager has no plugin config, the center pushes nothing (an empty set
    // would stop every plugin).
    auto a1 = connect("agent-1");
    auto a2 = connect("agent-2");
    EXPECT_FALSE(source_->loaded());
    EXPECT_EQ(a1->configCount(), 0u);
    auto groups = call("GET", "/api/v1/groups", admin_);
    ASSERT_EQ(groups.status, 200);
    ASSERT_EQ(groups.data()["items"].size(), 1u);
    EXPECT_EQ(groups.data()["items"][0]["name"], "default");

    // The default group's set reaches both agents.
    const std::string op = userToken("op", "operator");
    auto r = call("PUT", "/api/v1/groups/default", op,
                  {{"description", "every host"}, {"plugins", {plugin("collector")}}});
    ASSERT_EQ(r.status, 201) << r.body.dump();
    ASSERT_EQ(r.data()["centers"].size(), 1u);
    EXPECT_EQ(r.data()["centers"][0]["pushed"], 2) << r.body.dump();
    ASSERT_TRUE(a1->lastConfig());
    EXPECT_EQ(*a1->lastConfig(), std::vector<std::string>{"collector"});
    EXPECT_EQ(*a2->lastConfig(), std::vector<std::string>{"collector"});
    auto sent = a1->commands().back().configs.at(0);
    EXPECT_EQ(sent.version, "1.0.0");
    EXPECT_EQ(sent.sha256, kSha);
    EXPECT_EQ(sent.download_urls, std::vector<std::string>{"https://repo.example/collector"});

    // A group for agent-2 only: agent-2 gets its set, agent-1's did not change (no push).
    r = call("PUT", "/api/v1/groups/web", op,
             {{"plugins", {plugin("collector"), plugin("scanner")}}, {"agent_ids", {"agent-2"}}});
    ASSERT_EQ(r.status, 201) << r.body.dump();
    EXPECT_EQ(r.data()["centers"][0]["pushed"], 1);
    EXPECT_EQ(*a2->lastConfig(), (std::vector<std::string>{"collector", "scanner"}));
    EXPECT_EQ(a1->configCount(), 1u);

    // Replacing the group (200) with a new version; a newly connected agent in it gets it on its
    // first heartbeat.
    r = call("PUT", "/api/v1/groups/web", op,
             {{"plugins", {plugin("scanner", "2.0.0")}}, {"agent_ids", {"agent-2", "agent-3"}}});
    ASSERT_EQ(r.status, 200) << r.body.dump();
    EXPECT_EQ(r.data()["agent_ids"], json({"agent-2", "agent-3"}));
    EXPECT_EQ(a2->commands().back().configs.at(0).version, "2.0.0");
    auto a3 = connect("agent-3");
    EXPECT_EQ(*a3->lastConfig(), std::vector<std::string>{"scanner"});

    groups = call("GET", "/api/v1/groups", admin_);
    ASSERT_EQ(groups.data()["items"].size(), 2u);
    EXPECT_EQ(groups.data()["items"][1]["name"], "web");
    EXPECT_EQ(groups.data()["items"][1]["updated_by"], "op");

    // Deleting the group puts its hosts back on the default set.
    auto del = call("DELETE", "/api/v1/groups/web", op);
    ASSERT_EQ(del.status, 200) << del.body.dump();
    EXPECT_EQ(*a2->lastConfig(), std::vector<std::string>{"collector"});
    EXPECT_EQ(call("DELETE", "/api/v1/groups/web", op).status, 404);
    EXPECT_EQ(audit("group.put").size(), 3u);
    EXPECT_EQ(audit("group.delete").size(), 1u);

    // The center's poll (no reload call) picks up a change too.
    ASSERT_EQ(store_
                  ->putHostGroup(HostGroup{
                      "default", "", json::array({plugin("baseline")}).dump(), {}, "test", 1})
                  .ok(),
              true);
    auto pushed = pusher_->reloadAndPush();
    ASSERT_TRUE(pushed.ok()) << pushed.message();
    EXPECT_EQ(*a1->lastConfig(), std::vector<std::string>{"baseline"});
}

TEST_P(OpsRoutesTest, GroupInputIsChecked) {
    const std::string ro = userToken("viewer", "read_only");
    json ok_body = {{"plugins", {plugin("collector")}}};
    EXPECT_EQ(call("PUT", "/api/v1/groups/g", ro, ok_body).status, 403);
    auto bad_entry = [&](json p, const std::string& says) {
        auto r = call("PUT", "/api/v1/groups/g", admin_, {{"plugins", {p}}});
        EXPECT_EQ(r.status, 400) << p.dump();
        EXPECT_NE(r.msg().find(says), std::string::npos) << r.msg();
    };
    json p = plugin("collector");
    p["sha256"] = "abc";
    bad_entry(p, "sha256");
    p = plugin("bad name!");
    bad_entry(p, "name");
    p = plugin("collector");
    p["download_urls"] = {"ftp://x"};
    bad_entry(p, "download_urls");
    p = plugin("collector");
    p.erase("version");
    bad_entry(p, "version");
    auto twice = call("PUT", "/api/v1/groups/g", admin_,
                      {{"plugins", {plugin("collector"), plugin("collector")}}});
    EXPECT_EQ(twice.status, 400);
    EXPECT_NE(twice.msg().find("twice"), std::string::npos);
    EXPECT_EQ(call("PUT", "/api/v1/groups/g", admin_, json{{"description", "x"}}).status, 400);
    EXPECT_EQ(call("PUT", "/api/v1/groups/bad%20name", admin_, ok_body).status, 400);
    auto members = call("PUT", "/api/v1/groups/default", admin_,
                        {{"plugins", json::array()}, {"agent_ids", {"a"}}});
    EXPECT_EQ(members.status, 400);
    EXPECT_TRUE(audit("group.put").empty());

    // The centers' route is signed.
    server::HttpRequest req;
    req.method = "GET";
    req.target = "/internal/v1/plugin-config";
    EXPECT_EQ(manager_http_->router().dispatch(req).status, 401);
    auto internal = cluster_->call(manager_http_->address(), "GET", "/internal/v1/plugin-config");
    EXPECT_FALSE(internal.ok());  // 404: no group yet
    ASSERT_EQ(call("PUT", "/api/v1/groups/g", admin_,
                   {{"plugins", {plugin("collector")}}, {"agent_ids", {"x1"}}})
                  .status,
              201);
    internal = cluster_->call(manager_http_->address(), "GET", "/internal/v1/plugin-config");
    ASSERT_TRUE(internal.ok()) << internal.message();
    EXPECT_EQ((*internal)["plugins"], json::array());
    EXPECT_EQ((*internal)["agents"]["x1"]["plugins"][0]["name"], "collector");
}

TEST_P(OpsRoutesTest, ServicesListEveryServiceWithHealthAndRebalance) {
    auto a1 = connect("agent-1");
    auto a2 = connect("agent-2");
    registerService("vigil_hub", vigil::testing::freeLoopbackPort());  // nothing listens there
    TestHub hub(dir_ + "/hub");
    ASSERT_NO_FATAL_FAILURE(hub.start());
    registerService("vigil_hub", hub.http->port());
    registerService("vigil_manager", manager_http_->port());
    const std::string ro = userToken("viewer", "read_only");
    auto r = call("GET", "/api/v1/services", ro);
    ASSERT_EQ(r.status, 200) << r.body.dump();
    auto data = r.data();
    ASSERT_EQ(data["discovery"].size(), 1u);
    EXPECT_EQ(data["discovery"][0]["healthy"], true);
    ASSERT_EQ(data["centers"].size(), 1u);
    EXPECT_EQ(data["centers"][0]["address"], center_http_->address());
    EXPECT_EQ(data["centers"][0]["healthy"], true);
    EXPECT_EQ(data["centers"][0]["agents"], 2);
    EXPECT_TRUE(data["centers"][0]["records_per_s"].is_null());  // first look
    ASSERT_EQ(data["hubs"].size(), 2u);
    json live, dead;
    for (const auto& h : data["hubs"]) (h["address"] == hub.http->address() ? live : dead) = h;
    EXPECT_EQ(dead["healthy"], false);
    EXPECT_TRUE(dead.contains("error"));
    EXPECT_EQ(live["healthy"], true) << live.dump();
    EXPECT_EQ(live["records_total"], 1);
    EXPECT_TRUE(live["alerts_total"].is_number()) << live.dump();
    EXPECT_EQ(live["rules"], 1);
    EXPECT_TRUE(live["events_per_s"].is_null());
    ASSERT_EQ(data["managers"].size(), 1u);
    EXPECT_EQ(data["managers"][0]["healthy"], true);
    std::this_thread::sleep_for(600ms);
    hub.feed();
    hub.feed();
    r = call("GET", "/api/v1/services", ro);
    EXPECT_EQ(r.data()["centers"][0]["records_per_s"], 0.0) << r.body.dump();
    for (const auto& h : r.data()["hubs"]) {
        if (h["address"] != hub.http->address()) continue;
        EXPECT_EQ(h["records_total"], 3);
        // 2 records and 2 alerts in 0.6 s or a little more.
        EXPECT_GT(h["events_per_s"].get<double>(), 1.0) << h.dump();
        EXPECT_LT(h["events_per_s"].get<double>(), 3.4) << h.dump();
        EXPECT_TRUE(h["alerts_per_s"].is_number()) << h.dump();
    }

    // Rebalance: admin only, known centers only.
    const std::string op = userToken("op", "operator");
    json body = {{"center", center_http_->address()}, {"count", 1}};
    EXPECT_EQ(call("POST", "/api/v1/services/centers/rebalance", op, body).status, 403);
    auto reset = call("POST", "/api/v1/services/centers/rebalance", admin_, body);
    ASSERT_EQ(reset.status, 200) << reset.body.dump();
    EXPECT_EQ(reset.data()["reset"].size(), 1u);
    EXPECT_EQ(a1->resets() + a2->resets(), 1);
    reset = call("POST", "/api/v1/services/centers/rebalance", admin_,
                 {{"center", center_http_->address()}, {"agent_ids", {"agent-2", "agent-7"}}});
    ASSERT_EQ(reset.status, 200) << reset.body.dump();
    EXPECT_EQ(reset.data()["reset"], json({"agent-2"}));
    EXPECT_EQ(reset.data()["not_found"], json({"agent-7"}));
    EXPECT_EQ(call("POST", "/api/v1/services/centers/rebalance", admin_,
                   {{"center", "127.0.0.1:1"}, {"count", 1}})
                  .status,
              404);
    EXPECT_EQ(call("POST", "/api/v1/services/centers/rebalance", admin_,
                   {{"center", center_http_->address()}, {"count", 0}})
                  .status,
              400);
    EXPECT_EQ(audit("center.rebalance").size(), 2u);
    // Every call is counted; the dead hub's among the errors.
    EXPECT_GT(metrics_.counterValue("vigil_manager_cluster_requests_total", {{"result", "ok"}}),
              5u);
    EXPECT_GE(metrics_.counterValue("vigil_manager_cluster_requests_total", {{"result", "error"}}),
              2u);
}

// The `cluster:` section: keys from a file or inline, addresses checked, keys required.
TEST(ClusterConfig, ReadAndChecked) {
    char tmpl[] = "/tmp/vigil-cluster-config-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string keys = std::string(tmpl) + "/keys.yaml";
    { std::ofstream(keys) << "k1: secret-one-0123456789\nk2: secret-two-0123456789\n"; }
    ::chmod(keys.c_str(), 0600);
    auto c =
        parseManagerConfig("cluster: {discovery: [\"127.0.0.1:8088\"], keys_file: " + keys +
                               ", access_key: k2, timeout: 1s, advertise: \"10.0.0.5:8080\"}\n",
                           "m.yaml", {});
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->cluster.discovery, std::vector<std::string>{"127.0.0.1:8088"});
    EXPECT_EQ(c->cluster.key.access_key, "k2");
    EXPECT_EQ(c->cluster.keys.size(), 2u);
    EXPECT_EQ(c->cluster.timeout, 1000ms);
    EXPECT_TRUE(c->cluster.configured());
    auto none = parseManagerConfig("", "m.yaml", {});
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->cluster.configured());

    auto bad = parseManagerConfig(
        "cluster: {discovery: [nope], centers: [\"127.0.0.1:6752\"], advertise: x, color: red}\n",
        "m.yaml", {});
    ASSERT_FALSE(bad.ok());
    for (const char* k :
         {"'cluster.discovery'", "'cluster.keys_file'", "'cluster.advertise'", "color"}) {
        EXPECT_NE(bad.message().find(k), std::string::npos) << k << " in " << bad.message();
    }
    std::filesystem::remove_all(tmpl);
}

INSTANTIATE_TEST_SUITE_P(Backends, OpsRoutesTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace vigil::manager::api
