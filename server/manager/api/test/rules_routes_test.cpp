// The manager's rule routes over each backend, with a real hub: the managed rules directory
// loaded by an in-process HubService whose signed HTTP API (POST /hub/reload) is served on
// loopback, and `vigil-hub check` run as a child process. Rules listed and filtered, a rule
// disabled (the hub stops alerting on it), builtin rules (rules.hub_paths) listed and disabled,
// packs installed (bad ones refused with positions) and removed, reloads per hub, a whitelist
// made from an alert.
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "libs/common/fs.h"
#include "libs/wire/buffer.h"
#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "server/bus/bus.h"
#include "server/common/api_server.h"
#include "server/hub/engine.h"
#include "server/hub/hub_api.h"
#include "server/hub/hub_service.h"
#include "server/hub/rule_loader.h"
#include "server/manager/api/test/api_fixture.h"

namespace vigil::manager::api::testing {
namespace {

using nlohmann::json;
using Fields = std::map<std::string, std::string>;

const server::AkSk kKey{"manager", "secret-0123456789abcdef"};

constexpr const char* kBase = R"(rules:
  - id: curl_seen
    name: curl ran
    data_type: 59
    severity: high
    mitre: [T1105]
    description: a download tool ran
    checks: {c: {field: exe, ends_with: /curl}}
  - id: nc_listen
    name: netcat listening
    data_type: 59
    severity: critical
    checks: {n: {field: argv, contains: "nc -l"}}
  - id: ls_seen
    name: ls ran
    data_type: 59
    severity: low
    checks: {l: {field: exe, ends_with: /ls}}
)";

constexpr const char* kSigma = R"(title: Whoami Run
id: 5d3ef2a0-0000-4000-8000-000000000001
status: test
logsource: {category: process_creation, product: linux}
detection:
  sel: {Image|endswith: /whoami}
  condition: sel
level: medium
)";

std::string hubBin() {
    const char* dir = std::getenv("VIGIL_BUILD_DIR");
    return std::string(dir ? dir : "build") + "/bin/vigil-hub";
}

std::string mqData(int32_t data_type, const Fields& f) {
    wire::Buffer body;
    wire::encodePayload(body, f);
    vigil::bus::MQData mq;
    mq.set_data_type(data_type);
    mq.set_agent_time(1700000000);
    mq.set_agent_id("agent-1");
    mq.set_hostname("host-1");
    mq.set_body(std::string(body.data(), body.size()));
    return mq.SerializeAsString();
}

class RulesRoutesTest : public ApiFixture {
protected:
    void SetUp() override {
        ApiFixture::SetUp();
        if (HasFatalFailure()) return;
        rules_dir_ = dir_ + "/rules";
        builtin_dir_ = dir_ + "/builtin";  // the default pack's place: empty until a test fills it
        ASSERT_TRUE(fs::makeDirs(rules_dir_).ok());
        ASSERT_TRUE(fs::makeDirs(builtin_dir_).ok());
        ASSERT_TRUE(fs::writeFileAtomic(rules_dir_ + "/base.yaml", kBase).ok());
        ASSERT_TRUE(fs::writeFileAtomic(rules_dir_ + "/sigma.yml", kSigma).ok());
        appendRecord({{"exe", "/usr/bin/true"}});  // creates the hub's bus

        // The hub: its rules are the builtin directory and the managed one (as vigilctl up).
        std::string text = "bus: {dir: " + dir_ + "/bus, partitions: 1}\nrules: [" + builtin_dir_ +
                           ", " + rules_dir_ + "]\ngroup: hub\nalerts: {jsonl: " + dir_ +
                           "/alerts.jsonl}\n";
        auto cfg = hub::parseHubConfig(text, "test");
        ASSERT_TRUE(cfg.ok()) << cfg.message();
        auto hub = hub::HubService::create(*cfg, hub_metrics_);
        ASSERT_TRUE(hub.ok()) << hub.message();
        hub_ = std::move(*hub);
        for (int i = 0; i < 100 && hub_->stats().records.load() < 1; ++i)
            ASSERT_TRUE(hub_->pollOnce(std::chrono::milliseconds(100)).ok());
        ASSERT_EQ(hub_->stats().records.load(), 1u);
        server::ApiServerOptions o;
        o.name = "hub";
        o.verifier = std::make_shared<server::RequestVerifier>(
            std::map<std::string, std::string>{{kKey.access_key, kKey.secret_key}});
        hub_http_ = std::make_unique<server::ApiServer>(o, hub_metrics_);
        hub::addHubRoutes(hub_http_->router(), *hub_);
        ASSERT_TRUE(hub_http_->start().ok());

        rules::RulesConfig rc;
        rc.dir = rules_dir_;
        rc.hub_bin = hubBin();
        rc.hub_paths = {builtin_dir_};
        library_ = std::make_unique<rules::RuleLibrary>(rc);
        hubs_ = {hub_http_->address()};
        reloader_ = std::make_unique<rules::HubReloader>([this] { return hubs_; }, kKey,
                                                         std::chrono::seconds(5));
        ManagerServices services;
        services.rules = library_.get();
        services.hubs = reloader_.get();
        makeApi(services);
        admin_ = adminToken();
    }
    void TearDown() override {
        if (hub_http_) hub_http_->stop();
        hub_http_.reset();
        hub_.reset();
        ApiFixture::TearDown();
    }

    void appendRecord(const Fields& f) {
        metrics::Registry reg;
        bus::BusOptions o;
        o.dir = dir_ + "/bus";
        o.partitions = 1;
        auto b = bus::Bus::open(o, reg);
        ASSERT_TRUE(b.ok()) << b.message();
        const std::string value = mqData(59, f);
        const std::vector<bus::Message> msgs{{"agent-1", 59, value}};
        ASSERT_TRUE((*b)->producer().append(msgs).ok());
    }
    // Appends an exec record and lets the hub process it: the alerts it raised.
    uint64_t alertsFor(const Fields& f) {
        const uint64_t before = hub_->stats().alerts.load();
        const uint64_t records = hub_->stats().records.load() + 1;
        appendRecord(f);
        for (int i = 0; i < 100 && hub_->stats().records.load() < records; ++i) {
            auto r = hub_->pollOnce(std::chrono::milliseconds(100));
            EXPECT_TRUE(r.ok()) << r.message();
        }
        EXPECT_EQ(hub_->stats().records.load(), records);
        return hub_->stats().alerts.load() - before;
    }
    json hubRule(const std::string& id) {
        for (const auto& r : hub_->rulesJson()) {
            if (r["id"] == id) return r;
        }
        return nullptr;
    }
    std::vector<std::string> ids(const Reply& r) {
        std::vector<std::string> out;
        const json items = r.data().value("items", json::array());
        for (const auto& i : items) out.push_back(i["id"]);
        return out;
    }

    std::string rules_dir_;
    std::string builtin_dir_;
    metrics::Registry hub_metrics_;
    std::unique_ptr<hub::HubService> hub_;
    std::unique_ptr<server::ApiServer> hub_http_;
    std::unique_ptr<rules::RuleLibrary> library_;
    std::vector<std::string> hubs_;
    std::unique_ptr<rules::HubReloader> reloader_;
    std::string admin_;
};

TEST_P(RulesRoutesTest, ListFiltersAndPages) {
    const std::string reader = userToken("reader", "read_only");
    auto r = call("GET", "/api/v1/rules", reader);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.data()["total"], 4);
    EXPECT_EQ(ids(r), (std::vector<std::string>{"curl_seen", "nc_listen", "ls_seen",
                                                "5d3ef2a0-0000-4000-8000-000000000001"}));
    const json curl = r.data()["items"][0];
    EXPECT_EQ(curl["name"], "curl ran");
    EXPECT_EQ(curl["kind"], "vigil");
    EXPECT_EQ(curl["source"], "managed");
    EXPECT_EQ(curl["severity"], "high");
    EXPECT_EQ(curl["data_types"], json::array({59}));
    EXPECT_EQ(curl["file"], "base.yaml");
    EXPECT_EQ(curl["enabled"], true);
    EXPECT_EQ(curl["description"], "a download tool ran");
    EXPECT_EQ(curl["mitre"], json::array({"T1105"}));
    EXPECT_EQ(r.data()["items"][3]["kind"], "sigma");
    EXPECT_EQ(r.data()["items"][3]["name"], "Whoami Run");
    EXPECT_EQ(r.data()["items"][3]["file"], "sigma.yml");
    EXPECT_EQ(r.data()["packs"], json::array({"base", "sigma"}));

    EXPECT_EQ(ids(call("GET", "/api/v1/rules?kind=sigma", reader)).size(), 1u);
    EXPECT_EQ(ids(call("GET", "/api/v1/rules?severity=high,critical", reader)),
              (std::vector<std::string>{"curl_seen", "nc_listen"}));
    EXPECT_EQ(ids(call("GET", "/api/v1/rules?q=DOWNLOAD", reader)),
              (std::vector<std::string>{"curl_seen"}));
    EXPECT_TRUE(ids(call("GET", "/api/v1/rules?enabled=false", reader)).empty());
    auto p1 = call("GET", "/api/v1/rules?limit=3", reader);
    EXPECT_EQ(ids(p1).size(), 3u);
    const std::string cursor = p1.data()["next_cursor"];
    ASSERT_FALSE(cursor.empty());
    auto p2 = call("GET", "/api/v1/rules?limit=3&cursor=" + cursor, reader);
    EXPECT_EQ(ids(p2), (std::vector<std::string>{"5d3ef2a0-0000-4000-8000-000000000001"}));
    EXPECT_EQ(p2.data()["next_cursor"], "");
    // Sorted by id either way (default: the hub's order).
    auto sorted = ids(call("GET", "/api/v1/rules?sort=id", reader));
    EXPECT_TRUE(std::is_sorted(sorted.begin(), sorted.end()));
    EXPECT_EQ(sorted.size(), 4u);
    auto reversed = ids(call("GET", "/api/v1/rules?sort=-id", reader));
    EXPECT_EQ(reversed, std::vector<std::string>(sorted.rbegin(), sorted.rend()));
    EXPECT_EQ(call("GET", "/api/v1/rules?sort=severity", reader).status, 400);

    EXPECT_EQ(call("GET", "/api/v1/rules?kind=yara", reader).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/rules?enabled=maybe", reader).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/rules?severity=huge", reader).status, 400);
    EXPECT_EQ(call("GET", "/api/v1/rules", "").status, 401);
}

TEST_P(RulesRoutesTest, WithoutRulesConfiguredTheRoutesAnswer503) {
    api_.reset();
    router_ = std::make_unique<server::ApiRouter>(server::ApiOptions{}, metrics_);
    makeApi();
    const std::string admin = adminToken();
    EXPECT_EQ(call("GET", "/api/v1/rules", admin).status, 503);
    EXPECT_EQ(call("PATCH", "/api/v1/rules/x", admin, {{"enabled", false}}).status, 503);
    EXPECT_EQ(callRaw("POST", "/api/v1/rules/packs?name=a", admin, "- id: x").status, 503);
    auto reload = call("POST", "/api/v1/rules/reload", admin);
    EXPECT_EQ(reload.status, 200);
    EXPECT_TRUE(reload.data()["hubs"].empty());
}

TEST_P(RulesRoutesTest, DisablingARuleStopsTheHubEvaluatingIt) {
    ASSERT_EQ(alertsFor({{"exe", "/usr/bin/curl"}}), 1u);
    const std::string op = userToken("op", "operator");
    const std::string reader = userToken("reader", "read_only");
    EXPECT_EQ(call("PATCH", "/api/v1/rules/curl_seen", reader, {{"enabled", false}}).status, 403);
    EXPECT_EQ(call("PATCH", "/api/v1/rules/curl_seen", op, {{"enabled", "no"}}).status, 400);
    EXPECT_EQ(call("PATCH", "/api/v1/rules/no_such", op, {{"enabled", false}}).status, 404);
    EXPECT_EQ(call("PATCH", "/api/v1/rules/a%23b", op, {{"enabled", false}}).status, 400);

    auto r = call("PATCH", "/api/v1/rules/curl_seen", op, {{"enabled", false}});
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.data()["changed"], true);
    ASSERT_EQ(r.data()["hubs"].size(), 1u);
    EXPECT_EQ(r.data()["hubs"][0]["ok"], true) << r.raw;
    EXPECT_EQ(r.data()["hubs"][0]["rules"], 4);
    EXPECT_EQ(hub_->stats().reloads.load(), 1u);
    EXPECT_EQ(hubRule("curl_seen")["enabled"], false);
    auto text = fs::readFile(rules_dir_ + "/.disabled");
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(hub::parseDisabledList(*text), std::vector<std::string>{"curl_seen"});
    EXPECT_EQ(ids(call("GET", "/api/v1/rules?enabled=false", reader)),
              std::vector<std::string>{"curl_seen"});
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/curl"}}), 0u);
    EXPECT_EQ(alertsFor({{"exe", "/bin/ls"}}), 1u);  // the others still run

    // Again: nothing changes, no reload.
    r = call("PATCH", "/api/v1/rules/curl_seen", op, {{"enabled", false}});
    EXPECT_EQ(r.data()["changed"], false);
    EXPECT_EQ(hub_->stats().reloads.load(), 1u);

    r = call("PATCH", "/api/v1/rules/curl_seen", op, {{"enabled", true}});
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.data()["changed"], true);
    EXPECT_EQ(hubRule("curl_seen")["enabled"], true);
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/curl"}}), 1u);

    auto disabled = audit("rule.disable");
    ASSERT_EQ(disabled.size(), 1u);
    EXPECT_EQ(disabled[0].username, "op");
    EXPECT_EQ(disabled[0].target, "curl_seen");
    EXPECT_EQ(audit("rule.enable").size(), 1u);
}

TEST_P(RulesRoutesTest, BuiltinRulesAreListedAndDisabledLikeManagedOnes) {
    ASSERT_TRUE(fs::writeFileAtomic(builtin_dir_ + "/default.yaml",
                                    "- id: nmap_builtin\n  data_type: 59\n  severity: medium\n"
                                    "  checks: {n: {field: exe, ends_with: /nmap}}\n")
                    .ok());
    const std::string op = userToken("op", "operator");
    auto r = call("POST", "/api/v1/rules/reload", op);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.data()["hubs"][0]["rules"], 5) << r.raw;
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/nmap"}}), 1u);

    r = call("GET", "/api/v1/rules", op);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.data()["total"], 5);
    const json builtin = r.data()["items"][4];
    EXPECT_EQ(builtin["id"], "nmap_builtin");
    EXPECT_EQ(builtin["source"], "builtin");
    EXPECT_EQ(builtin["file"], builtin_dir_ + "/default.yaml");
    EXPECT_EQ(builtin["enabled"], true);
    EXPECT_EQ(r.data()["packs"], json::array({"base", "sigma"}));  // packs are managed only
    EXPECT_EQ(ids(call("GET", "/api/v1/rules?source=builtin", op)),
              std::vector<std::string>{"nmap_builtin"});
    EXPECT_EQ(ids(call("GET", "/api/v1/rules?source=managed", op)).size(), 4u);
    EXPECT_EQ(call("GET", "/api/v1/rules?source=other", op).status, 400);

    // Disabled through the managed directory's list: the hub stops evaluating it.
    r = call("PATCH", "/api/v1/rules/nmap_builtin", op, {{"enabled", false}});
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.data()["changed"], true);
    EXPECT_EQ(r.data()["hubs"][0]["ok"], true) << r.raw;
    EXPECT_EQ(r.data()["hubs"][0]["rules"], 5);
    EXPECT_EQ(hubRule("nmap_builtin")["enabled"], false);
    auto text = fs::readFile(rules_dir_ + "/.disabled");
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(hub::parseDisabledList(*text), std::vector<std::string>{"nmap_builtin"});
    EXPECT_FALSE(fs::exists(builtin_dir_ + "/.disabled"));
    EXPECT_EQ(ids(call("GET", "/api/v1/rules?enabled=false", op)),
              std::vector<std::string>{"nmap_builtin"});
    EXPECT_TRUE(call("GET", "/api/v1/rules", op).data()["diagnostics"].empty());
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/nmap"}}), 0u);
    EXPECT_EQ(alertsFor({{"exe", "/bin/ls"}}), 1u);

    // vigil-hub check with hub_paths still passes, without a warning about the list.
    r = callRaw("POST", "/api/v1/rules/packs?name=more", admin_,
                "- id: more_rule\n  data_type: 59\n  checks: {m: {field: exe, ends_with: /x}}\n");
    ASSERT_EQ(r.status, 201) << r.raw;
    EXPECT_EQ(r.data()["check"], "6 loaded, 0 failed");
    EXPECT_TRUE(r.data()["warnings"].empty()) << r.raw;
    // A pack repeating a builtin id is refused.
    r = callRaw("POST", "/api/v1/rules/packs?name=dup", admin_,
                "- id: nmap_builtin\n  data_type: 59\n  checks: {m: {field: exe, equals: /y}}\n");
    EXPECT_EQ(r.status, 400) << r.raw;
    // Builtin rules are not packs: they cannot be removed.
    EXPECT_EQ(call("DELETE", "/api/v1/rules/packs/default", admin_).status, 404);
    EXPECT_TRUE(fs::exists(builtin_dir_ + "/default.yaml"));

    r = call("PATCH", "/api/v1/rules/nmap_builtin", op, {{"enabled", true}});
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.data()["changed"], true);
    EXPECT_EQ(hubRule("nmap_builtin")["enabled"], true);
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/nmap"}}), 1u);
    EXPECT_EQ(audit("rule.disable").size(), 1u);
    EXPECT_EQ(audit("rule.enable").size(), 1u);

    // Disabled by the builtin directory's own list: the manager cannot enable it (409).
    ASSERT_TRUE(fs::writeFileAtomic(builtin_dir_ + "/.disabled", "nmap_builtin\n").ok());
    EXPECT_EQ(ids(call("GET", "/api/v1/rules?enabled=false", op)),
              std::vector<std::string>{"nmap_builtin"});
    r = call("PATCH", "/api/v1/rules/nmap_builtin", op, {{"enabled", true}});
    EXPECT_EQ(r.status, 409) << r.raw;
    EXPECT_NE(r.msg().find("hub_paths"), std::string::npos) << r.msg();
}

TEST_P(RulesRoutesTest, PacksAreCheckedInstalledAndRemoved) {
    const std::string op = userToken("op", "operator");
    const std::string pack = R"(- id: whoami_vigil
  data_type: 59
  severity: medium
  checks: {w: {field: exe, ends_with: /whoami}}
- id: after_curl
  data_type: 59
  checks: {s: {field: exe, ends_with: /sh}}
  after: {rule: curl_seen, within: 1m, same: [agent_id]}
)";
    EXPECT_EQ(callRaw("POST", "/api/v1/rules/packs?name=extra", op, pack).status, 403);
    EXPECT_EQ(callRaw("POST", "/api/v1/rules/packs?name=../x", admin_, pack).status, 400);
    EXPECT_EQ(callRaw("POST", "/api/v1/rules/packs?name=extra", admin_, "").status, 400);

    auto r = callRaw("POST", "/api/v1/rules/packs?name=extra.yaml", admin_, pack);
    ASSERT_EQ(r.status, 201) << r.raw;
    EXPECT_EQ(r.data()["name"], "extra");
    EXPECT_EQ(r.data()["check"], "6 loaded, 0 failed");
    EXPECT_EQ(r.data()["hubs"][0]["ok"], true);
    EXPECT_EQ(r.data()["hubs"][0]["rules"], 6);
    EXPECT_TRUE(fs::exists(rules_dir_ + "/extra.yaml"));
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/whoami"}}), 2u);  // the Sigma rule and the pack's

    // A bad pack: refused with every diagnostic and its position; nothing installed.
    const std::string bad =
        "- id: broken\n  data_type: 59\n  checks: {b: {field: exe, "
        "equalz: /x}}\n- id: curl_seen\n  data_type: 59\n  checks: {c: "
        "{field: exe, equals: /y}}\n";
    r = callRaw("POST", "/api/v1/rules/packs?name=bad", admin_, bad);
    ASSERT_EQ(r.status, 400) << r.raw;
    const json diags = r.data()["diagnostics"];
    ASSERT_EQ(diags.size(), 2u) << r.raw;
    EXPECT_EQ(diags[0].get<std::string>().rfind("bad.yaml:3:", 0), 0u) << diags[0];
    EXPECT_NE(diags[0].get<std::string>().find("unknown key 'equalz'"), std::string::npos);
    EXPECT_NE(diags[1].get<std::string>().find("duplicate rule id curl_seen"), std::string::npos);
    EXPECT_NE(r.msg().find("bad.yaml:3:"), std::string::npos) << r.msg();
    EXPECT_FALSE(fs::exists(rules_dir_ + "/bad.yaml"));
    EXPECT_NE(metrics_.renderPrometheus().find("vigil_manager_rule_changes_refused_total 1"),
              std::string::npos);
    EXPECT_EQ(hub_->stats().reloads.load(), 1u);
    // No staging directory left behind.
    for (const auto& e : std::filesystem::directory_iterator(rules_dir_))
        EXPECT_FALSE(e.is_directory()) << e.path();

    // base.yaml holds curl_seen, which extra's after_curl needs.
    r = call("DELETE", "/api/v1/rules/packs/base", admin_);
    EXPECT_EQ(r.status, 409) << r.raw;
    EXPECT_TRUE(fs::exists(rules_dir_ + "/base.yaml"));
    EXPECT_EQ(call("DELETE", "/api/v1/rules/packs/nothing", admin_).status, 404);
    r = call("DELETE", "/api/v1/rules/packs/extra", admin_);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_FALSE(fs::exists(rules_dir_ + "/extra.yaml"));
    EXPECT_EQ(r.data()["hubs"][0]["rules"], 4);
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/whoami"}}), 1u);

    auto installs = audit("rule.pack_install");
    ASSERT_EQ(installs.size(), 1u);
    EXPECT_EQ(installs[0].target, "extra");
    EXPECT_NE(installs[0].detail_json.find("sha256"), std::string::npos);
    EXPECT_EQ(audit("rule.pack_delete").size(), 1u);
}

TEST_P(RulesRoutesTest, TarGzPacks) {
    // Built with tar(1) from a tree of rule files (a Vigil list and a Sigma rule in subfolders).
    const std::string src = dir_ + "/pack-src";
    ASSERT_TRUE(fs::makeDirs(src + "/vigil").ok());
    ASSERT_TRUE(fs::makeDirs(src + "/sigma").ok());
    ASSERT_TRUE(fs::writeFileAtomic(src + "/vigil/a.yaml",
                                    "- id: tar_whoami\n  data_type: 59\n  checks: {w: {field: "
                                    "exe, ends_with: /whoami}}\n")
                    .ok());
    ASSERT_TRUE(fs::writeFileAtomic(src + "/sigma/b.yml",
                                    "title: Tar Id Run\nid: tar-sigma-1\nlogsource: {category: "
                                    "process_creation, product: linux}\ndetection:\n  sel: "
                                    "{Image|endswith: /id}\n  condition: sel\n")
                    .ok());
    ASSERT_TRUE(fs::writeFileAtomic(src + "/README.md", "not a rule\n").ok());
    auto pack = [&](const std::string& name) {
        const std::string cmd =
            "tar -czf " + dir_ + "/" + name + " -C " + src + " vigil sigma README.md";
        EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
        auto bytes = fs::readFile(dir_ + "/" + name);
        EXPECT_TRUE(bytes.ok());
        return bytes.ok() ? *bytes : std::string();
    };
    auto r = callRaw("POST", "/api/v1/rules/packs?name=tarred", admin_, pack("good.tar.gz"));
    ASSERT_EQ(r.status, 201) << r.raw;
    EXPECT_EQ(r.data()["check"], "6 loaded, 0 failed");
    EXPECT_EQ(r.data()["hubs"][0]["rules"], 6);
    auto listed = call("GET", "/api/v1/rules?q=tar", admin_);
    ASSERT_EQ(ids(listed), (std::vector<std::string>{"tar-sigma-1", "tar_whoami"}));
    EXPECT_EQ(listed.data()["items"][0]["file"], "tarred.yaml");
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/id"}}), 1u);

    // An error in the second file: named by its path in the archive and its own line.
    ASSERT_TRUE(fs::writeFileAtomic(src + "/vigil/a.yaml",
                                    "- id: tar_whoami\n  data_type: 59\n  checks: {w: {field: "
                                    "exe, endz_with: /whoami}}\n")
                    .ok());
    r = callRaw("POST", "/api/v1/rules/packs?name=tarred", admin_, pack("bad.tar.gz"));
    ASSERT_EQ(r.status, 400) << r.raw;
    ASSERT_EQ(r.data()["diagnostics"].size(), 1u) << r.raw;
    EXPECT_EQ(
        r.data()["diagnostics"][0].get<std::string>().rfind("tarred.tar.gz/vigil/a.yaml:3:", 0), 0u)
        << r.raw;
    EXPECT_EQ(ids(call("GET", "/api/v1/rules?q=tar", admin_)).size(), 2u);  // the old one stays
    // Not an archive at all (gzip magic, then garbage).
    r = callRaw("POST", "/api/v1/rules/packs?name=junk", admin_, std::string("\x1f\x8bjunk", 6));
    EXPECT_EQ(r.status, 400) << r.raw;
    EXPECT_FALSE(fs::exists(rules_dir_ + "/junk.yaml"));
}

TEST_P(RulesRoutesTest, ReloadReportsEachHub) {
    hubs_.push_back("127.0.0.1:1");  // nothing listens there
    const std::string op = userToken("op", "operator");
    EXPECT_EQ(call("POST", "/api/v1/rules/reload", userToken("r", "read_only")).status, 403);
    auto r = call("POST", "/api/v1/rules/reload", op);
    ASSERT_EQ(r.status, 200) << r.raw;
    const json hubs = r.data()["hubs"];
    ASSERT_EQ(hubs.size(), 2u);
    EXPECT_EQ(hubs[0]["hub"], hub_http_->address());
    EXPECT_EQ(hubs[0]["ok"], true);
    EXPECT_EQ(hubs[1]["ok"], false);
    EXPECT_EQ(hubs[1]["status"], 0);
    EXPECT_FALSE(hubs[1]["message"].get<std::string>().empty());
    EXPECT_EQ(audit("rule.reload").size(), 1u);

    // A file written behind the manager's back that does not load: the hub refuses the reload
    // (422) with its diagnostic and keeps its rules.
    ASSERT_TRUE(
        fs::writeFileAtomic(rules_dir_ + "/manual.yaml", "- id: m\n  data_type: 59\n").ok());
    r = call("POST", "/api/v1/rules/reload", op);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.data()["hubs"][0]["ok"], false);
    EXPECT_EQ(r.data()["hubs"][0]["status"], 422);
    EXPECT_NE(r.data()["hubs"][0]["message"].get<std::string>().find("manual.yaml:1:"),
              std::string::npos)
        << r.raw;
    EXPECT_EQ(hub_->ruleCount(), 4u);
    ASSERT_TRUE(fs::removeAll(rules_dir_ + "/manual.yaml").ok());

    // A hub that refuses the signature answers 401: reported, not hidden.
    rules::HubReloader wrong([this] { return hubs_; }, {"manager", "not-the-secret"},
                             std::chrono::seconds(5));
    auto results = wrong.reloadAll();
    ASSERT_EQ(results.size(), 2u);
    EXPECT_FALSE(results[0].ok);
    EXPECT_EQ(results[0].status, 401);
}

TEST_P(RulesRoutesTest, WhitelistFromAlertSilencesThatRecordOnly) {
    const json fields = {{"exe", "/usr/bin/curl"},
                         {"argv", "curl -s http://203.0.113.9/x.sh \"quoted\" 'single'"},
                         {"pid", "4242"},
                         {"username", ""}};
    ASSERT_TRUE(
        store_->insertAlerts({hubAlert(1, "curl_seen", 1, "high", 1700000000, fields)}).ok());
    const std::string op = userToken("op", "operator");
    EXPECT_EQ(call("POST", "/api/v1/alerts/alert-1/whitelist", userToken("r", "read_only"),
                   {{"fields", {"exe"}}})
                  .status,
              403);
    EXPECT_EQ(call("POST", "/api/v1/alerts/nope/whitelist", op, {{"fields", {"exe"}}}).status, 404);
    auto bad = call("POST", "/api/v1/alerts/alert-1/whitelist", op, {{"fields", {"dport"}}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.msg().find("dport"), std::string::npos) << bad.msg();
    EXPECT_EQ(
        call("POST", "/api/v1/alerts/alert-1/whitelist", op, {{"fields", json::array()}}).status,
        400);

    auto r = call("POST", "/api/v1/alerts/alert-1/whitelist", op,
                  {{"fields", {"exe", "argv", "username"}}, {"comment", "the nightly build job"}});
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_EQ(r.data()["alert"]["status"], "false_positive");
    EXPECT_EQ(r.data()["alert"]["status_comment"], "the nightly build job");
    EXPECT_EQ(r.data()["alert"]["updated_by"], "op");
    EXPECT_EQ(r.data()["hubs"][0]["ok"], true) << r.raw;
    const std::string file = r.data()["whitelist"]["file"];
    ASSERT_TRUE(fs::exists(rules_dir_ + "/" + file)) << file;

    // The hub's engine on the managed rules: the same record raises nothing, another does.
    hub::LoadResult loaded = hub::loadRules({rules_dir_});
    ASSERT_EQ(loaded.failed, 0u);
    hub::Engine engine(std::move(loaded.rules));
    auto fire = [&](const std::string& argv) {
        hub::Event ev;
        ev.data_type = 59;
        const std::string exe = fields["exe"];
        ev.set("exe", exe);
        ev.set("argv", argv);
        ev.set("pid", "1");
        std::vector<std::string> out;
        for (const auto* rule : engine.evaluate(ev, nullptr)) out.push_back(rule->id);
        return out;
    };
    EXPECT_TRUE(fire(fields["argv"]).empty());
    EXPECT_EQ(fire("curl -s http://203.0.113.9/other.sh"), std::vector<std::string>{"curl_seen"});
    // And the running hub, reloaded by the route.
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/curl"}, {"argv", fields["argv"]}}), 0u);
    EXPECT_EQ(alertsFor({{"exe", "/usr/bin/curl"}, {"argv", "curl other"}}), 1u);

    auto wl = audit("alert.whitelist");
    ASSERT_EQ(wl.size(), 1u);
    EXPECT_EQ(wl[0].target, "alert-1");
    const json detail = json::parse(wl[0].detail_json);
    EXPECT_EQ(detail["rule_id"], "curl_seen");
    EXPECT_EQ(detail["fields"], json::array({"exe", "argv", "username"}));
    EXPECT_EQ(audit("alert.status").size(), 1u);
    // It is a pack like the others: listed, removable.
    auto listed = call("GET", "/api/v1/rules?q=whitelist", op);
    ASSERT_EQ(ids(listed).size(), 1u);
    EXPECT_EQ(listed.data()["items"][0]["whitelist"], true);
    EXPECT_EQ(listed.data()["items"][0]["applies_to"], json::array({"curl_seen"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, RulesRoutesTest, backends());

}  // namespace
}  // namespace vigil::manager::api::testing
