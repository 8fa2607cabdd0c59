// vigil-hub run end to end: MQData records appended to an embedded bus in a temp dir, the
// service consuming them with the default rule pack, alerts in a JSON lines file and a bus.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "libs/common/fs.h"
#include "libs/wire/buffer.h"
#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "server/bus/bus.h"
#include "server/hub/context.h"
#include "server/hub/hub_api.h"
#include "server/hub/hub_service.h"

namespace vigil::hub {
namespace {

using Fields = std::map<std::string, std::string>;
using nlohmann::json;

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/vigil-hub-test.XXXXXX";
        if (::mkdtemp(tmpl)) path_ = tmpl;
    }
    ~TempDir() {
        if (!path_.empty()) (void)fs::removeAll(path_);
    }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

std::string sourceDir() {
    const char* s = std::getenv("VIGIL_SOURCE_DIR");
    return s ? s : ".";
}

std::string mqData(const std::string& agent, int32_t data_type, int64_t time, const Fields& f) {
    wire::Buffer body;
    wire::encodePayload(body, f);
    vigil::bus::MQData mq;
    mq.set_data_type(data_type);
    mq.set_agent_time(time);
    mq.set_agent_id(agent);
    mq.set_hostname("host-" + agent);
    mq.set_body(std::string(body.data(), body.size()));
    return mq.SerializeAsString();
}

struct Rec {
    std::string agent;
    int32_t data_type;
    Fields fields;
};

void appendRecords(const std::string& dir, const std::vector<Rec>& recs,
                   int64_t time = 1700000000) {
    metrics::Registry reg;
    bus::BusOptions o;
    o.dir = dir;
    o.partitions = 4;
    auto b = bus::Bus::open(o, reg);
    ASSERT_TRUE(b.ok()) << b.message();
    std::vector<std::string> values;
    for (const auto& r : recs) values.push_back(mqData(r.agent, r.data_type, time, r.fields));
    std::vector<bus::Message> msgs;
    for (size_t i = 0; i < recs.size(); ++i) {
        msgs.push_back({recs[i].agent, recs[i].data_type, values[i]});
    }
    auto st = (*b)->producer().append(msgs);
    ASSERT_TRUE(st.ok()) << st.message();
}

std::vector<json> readAlerts(const std::string& path) {
    std::vector<json> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty()) out.push_back(json::parse(line));
    }
    return out;
}

std::vector<json> withRule(const std::vector<json>& alerts, const std::string& id) {
    std::vector<json> out;
    for (const auto& a : alerts) {
        if (a.value("rule_id", "") == id) out.push_back(a);
    }
    return out;
}

HubConfig makeConfig(const TempDir& tmp, const std::string& rules) {
    std::string text = "bus: {dir: " + (tmp / "bus") +
                       ", partitions: 4}\n"
                       "rules: [" +
                       rules +
                       "]\n"
                       "group: hub\n"
                       "poll_timeout: 100ms\n"
                       "alerts: {jsonl: " +
                       (tmp / "out/alerts.jsonl") +
                       ", bus: true, bus_dir: " + (tmp / "alerts-bus") + "}\n";
    auto c = parseHubConfig(text, "test");
    EXPECT_TRUE(c.ok()) << c.message();
    return *c;
}

// Polls until `n` records have been processed (bounded).
void drain(HubService& s, uint64_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (s.stats().records < n && std::chrono::steady_clock::now() < deadline) {
        auto r = s.pollOnce(std::chrono::milliseconds(100));
        ASSERT_TRUE(r.ok()) << r.message();
    }
    ASSERT_EQ(s.stats().records.load(), n);
}

const Fields kSshd{
    {"exe", "/usr/sbin/sshd"}, {"pid", "200"}, {"ppid", "1"}, {"argv", "sshd: root"}};
const Fields kHarmless{{"exe", "/usr/bin/ls"}, {"pid", "100"},          {"ppid", "1"},
                       {"argv", "ls -l"},      {"stdin", "/dev/pts/0"}, {"stdout", "/dev/pts/0"}};
const Fields kReverse{
    {"exe", "/bin/bash"},   {"pid", "201"},          {"ppid", "200"},
    {"argv", "bash -i"},    {"stdin", "socket:[1]"}, {"stdout", "socket:[1]"},
    {"dip", "203.0.113.7"}, {"dport", "4444"},       {"pid_tree", "201.bash<200.sshd<1.systemd"}};

TEST(HubService, ReverseShellAlertInJsonLinesAndBusNoLossOnRestart) {
    TempDir tmp;
    const std::string rules = sourceDir() + "/hub/rules";
    appendRecords(tmp / "bus",
                  {{"agent-1", 59, kHarmless}, {"agent-1", 59, kSshd}, {"agent-1", 59, kReverse}});
    HubConfig cfg = makeConfig(tmp, rules);
    {
        metrics::Registry reg;
        std::string diags;
        auto s = HubService::create(cfg, reg, &diags);
        ASSERT_TRUE(s.ok()) << s.message();
        EXPECT_GT((*s)->ruleCount(), 0u);
        drain(**s, 3);
        EXPECT_EQ((*s)->stats().bad_records.load(), 0u);
    }
    auto alerts = readAlerts(tmp / "out/alerts.jsonl");
    auto rs = withRule(alerts, "reverse_shell_socket_stdio");
    ASSERT_EQ(rs.size(), 1u) << json(alerts).dump(2);
    const json& a = rs[0];
    EXPECT_EQ(a["severity"], "critical");
    EXPECT_EQ(a["agent_id"], "agent-1");
    EXPECT_EQ(a["hostname"], "host-agent-1");
    EXPECT_EQ(a["data_type"], 59);
    EXPECT_EQ(a["time"], 1700000000);
    EXPECT_EQ(a["rule_name"], "Shell with a network socket on stdin");
    EXPECT_EQ(a["mitre"], json::array({"T1059.004"}));
    EXPECT_EQ(a["pid_tree"], "201.bash<200.sshd<1.systemd");
    EXPECT_FALSE(a["alert_id"].get<std::string>().empty());
    EXPECT_GT(a["hub_time"].get<int64_t>(), 0);
    EXPECT_EQ(a["fields"]["exe"], "/bin/bash");
    EXPECT_EQ(a["fields"]["stdin"], "socket:[1]");
    EXPECT_EQ(a["fields"]["dip"], "203.0.113.7");
    EXPECT_EQ(a["fields"]["agent_id"], "agent-1");
    EXPECT_EQ(a["fields"]["parent_exe"], "/usr/sbin/sshd");  // from the context
    EXPECT_EQ(a["fields"]["ppid_argv"], "sshd: root");       // from the context
    // The lineage the hub's process table knows: the shell, then sshd.
    ASSERT_EQ(a["process_tree"].size(), 2u) << a.dump(2);
    EXPECT_EQ(a["process_tree"][0]["pid"], "201");
    EXPECT_EQ(a["process_tree"][0]["exe"], "/bin/bash");
    EXPECT_EQ(a["process_tree"][0]["argv"], "bash -i");
    EXPECT_EQ(a["process_tree"][1]["pid"], "200");
    EXPECT_EQ(a["process_tree"][1]["exe"], "/usr/sbin/sshd");
    for (const auto& other : alerts) {
        EXPECT_NE(other["fields"].value("exe", ""), "/usr/bin/ls") << other.dump();
    }

    // The alerts bus holds the same alert: key agent_id, data_type 9000.
    {
        metrics::Registry reg;
        bus::BusOptions o;
        o.dir = tmp / "alerts-bus";
        o.partitions = 4;
        o.writer = false;
        auto b = bus::Bus::open(o, reg);
        ASSERT_TRUE(b.ok()) << b.message();
        auto c = (*b)->consumer({.group = "check"});
        ASSERT_TRUE(c.ok()) << c.message();
        std::vector<bus::Delivery> got;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (got.size() < alerts.size() && std::chrono::steady_clock::now() < deadline) {
            auto f = (*c)->fetch(100, std::chrono::milliseconds(100));
            ASSERT_TRUE(f.ok()) << f.message();
            got.insert(got.end(), f->begin(), f->end());
        }
        ASSERT_EQ(got.size(), alerts.size());
        size_t reverse = 0;
        for (const auto& d : got) {
            EXPECT_EQ(d.data_type, kAlertDataType);
            EXPECT_EQ(d.key, "agent-1");
            if (json::parse(d.value)["rule_id"] == "reverse_shell_socket_stdio") ++reverse;
        }
        EXPECT_EQ(reverse, 1u);
    }

    // Restart: the group resumes after its commit; the new record alerts, the old ones are
    // not lost (and, after a clean stop, not repeated).
    appendRecords(tmp / "bus", {{"agent-2", 59, kReverse}});
    {
        metrics::Registry reg;
        auto s = HubService::create(cfg, reg);
        ASSERT_TRUE(s.ok()) << s.message();
        (*s)->start();
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while ((*s)->stats().records < 1 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        (*s)->stop();
        EXPECT_EQ((*s)->stats().records.load(), 1u);
    }
    rs = withRule(readAlerts(tmp / "out/alerts.jsonl"), "reverse_shell_socket_stdio");
    ASSERT_EQ(rs.size(), 2u);
    EXPECT_EQ(rs[0]["agent_id"], "agent-1");
    EXPECT_EQ(rs[1]["agent_id"], "agent-2");
    EXPECT_NE(rs[0]["alert_id"], rs[1]["alert_id"]);
}

TEST(HubService, FrequencyRuleThroughTheService) {
    TempDir tmp;
    ASSERT_TRUE(fs::makeDirs(tmp / "rules").ok());
    ASSERT_TRUE(fs::writeFileAtomic(tmp / "rules/freq.yaml", R"(rules:
  - id: curl_burst
    name: Many curl runs
    data_type: 59
    severity: medium
    checks:
      curl: {field: exe, ends_with: /curl}
    frequency: {window: 60s, group_by: [agent_id], count: 3}
)")
                    .ok());
    std::vector<Rec> recs;
    for (int i = 0; i < 7; ++i) {
        recs.push_back(
            {"agent-1", 59, {{"exe", "/usr/bin/curl"}, {"pid", std::to_string(300 + i)}}});
    }
    recs.push_back({"agent-2", 59, {{"exe", "/usr/bin/curl"}, {"pid", "400"}}});
    appendRecords(tmp / "bus", recs);
    HubConfig cfg = makeConfig(tmp, tmp / "rules");
    metrics::Registry reg;
    auto s = HubService::create(cfg, reg);
    ASSERT_TRUE(s.ok()) << s.message();
    drain(**s, 8);
    auto alerts = withRule(readAlerts(tmp / "out/alerts.jsonl"), "curl_burst");
    ASSERT_EQ(alerts.size(), 2u);  // at the 3rd and 6th of agent-1; agent-2 has one
    for (const auto& a : alerts) EXPECT_EQ(a["agent_id"], "agent-1");
}

// Many agents over every partition, evaluated by 1 and by 3 workers: the same alerts (each
// agent's frequency window and process table stay on one worker), in fetch order.
TEST(HubService, PartitionWorkersGiveTheSameAlertsAsOne) {
    std::vector<Rec> recs;
    for (int round = 0; round < 4; ++round) {
        for (int agent = 0; agent < 16; ++agent) {
            const std::string id = "agent-" + std::to_string(agent);
            const std::string pid = std::to_string(1000 + round * 10);
            recs.push_back({id, 59, {{"exe", "/usr/sbin/sshd"}, {"pid", pid}, {"ppid", "1"}}});
            Fields sh = kReverse;
            sh["pid"] = std::to_string(1001 + round * 10);
            sh["ppid"] = pid;
            sh.erase("pid_tree");
            if (agent % 2 == 0) recs.push_back({id, 59, sh});
            recs.push_back({id, 59, {{"exe", "/usr/bin/curl"}, {"pid", "7"}}});
        }
    }
    std::map<size_t, std::vector<std::string>> by_workers;
    for (size_t workers : {size_t{1}, size_t{3}}) {
        TempDir tmp;
        ASSERT_TRUE(fs::makeDirs(tmp / "rules").ok());
        ASSERT_TRUE(fs::writeFileAtomic(tmp / "rules/r.yaml", R"(rules:
  - id: curl_burst
    data_type: 59
    checks: {curl: {field: exe, ends_with: /curl}}
    frequency: {window: 60s, group_by: [agent_id], count: 2}
  - id: shell_under_sshd
    data_type: 59
    checks:
      sh: {field: exe, ends_with: /bash}
      parent: {field: parent_exe, equals: /usr/sbin/sshd}
)")
                        .ok());
        appendRecords(tmp / "bus", recs);
        HubConfig cfg = makeConfig(tmp, tmp / "rules");
        cfg.workers = workers;
        cfg.fetch_max = 50;
        metrics::Registry reg;
        auto s = HubService::create(cfg, reg);
        ASSERT_TRUE(s.ok()) << s.message();
        EXPECT_EQ((*s)->workers(), workers);
        drain(**s, recs.size());
        std::vector<std::string> got;
        for (const auto& a : readAlerts(tmp / "out/alerts.jsonl")) {
            got.push_back(a["alert_id"].get<std::string>());
            if (a["rule_id"] == "shell_under_sshd") {
                EXPECT_EQ(a["fields"]["pid_tree"].get<std::string>().find(
                              a["fields"]["pid"].get<std::string>() + ".bash<"),
                          0u)
                    << a.dump();
            }
        }
        std::sort(got.begin(), got.end());
        by_workers[workers] = got;
    }
    // 16 agents x 2 curl bursts + 8 agents x 4 shells.
    EXPECT_EQ(by_workers[1].size(), 16u * 2 + 8u * 4);
    EXPECT_EQ(by_workers[1], by_workers[3]);
}

TEST(HubService, ReloadSwapsRulesAndRefusesABrokenSet) {
    TempDir tmp;
    ASSERT_TRUE(fs::makeDirs(tmp / "rules").ok());
    const std::string file = tmp / "rules/r.yaml";
    ASSERT_TRUE(fs::writeFileAtomic(file, R"(- id: curl_seen
  data_type: 59
  checks: {c: {field: exe, ends_with: /curl}}
)")
                    .ok());
    appendRecords(tmp / "bus", {{"a", 59, {{"exe", "/usr/bin/wget"}, {"pid", "1"}}}});
    HubConfig cfg = makeConfig(tmp, tmp / "rules");
    metrics::Registry reg;
    auto s = HubService::create(cfg, reg);
    ASSERT_TRUE(s.ok()) << s.message();
    drain(**s, 1);
    EXPECT_TRUE(readAlerts(tmp / "out/alerts.jsonl").empty());

    // A broken file: refused with its diagnostic; the running rule stays.
    ASSERT_TRUE(fs::writeFileAtomic(file, R"(- id: wget_seen
  data_type: 59
  checks: {c: {field: exe, ends_wiht: /wget}}
)")
                    .ok());
    auto st = (*s)->reload();
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("r.yaml:3:"), std::string::npos) << st.message();
    EXPECT_EQ((*s)->stats().reload_failures.load(), 1u);

    ASSERT_TRUE(fs::writeFileAtomic(file, R"(- id: wget_seen
  data_type: 59
  checks: {c: {field: exe, ends_with: /wget}}
)")
                    .ok());
    ASSERT_TRUE((*s)->reload().ok());
    EXPECT_EQ((*s)->stats().reloads.load(), 1u);
    appendRecords(tmp / "bus", {{"a", 59, {{"exe", "/usr/bin/wget"}, {"pid", "2"}}}});
    drain(**s, 2);
    auto alerts = readAlerts(tmp / "out/alerts.jsonl");
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_EQ(alerts[0]["rule_id"], "wget_seen");
}

TEST(HubApi, StatsRulesReloadAndHealth) {
    TempDir tmp;
    ASSERT_TRUE(fs::makeDirs(tmp / "rules").ok());
    ASSERT_TRUE(fs::writeFileAtomic(tmp / "rules/r.yaml", R"(- id: curl_seen
  data_type: 59
  severity: high
  checks: {c: {field: exe, ends_with: /curl}}
)")
                    .ok());
    appendRecords(tmp / "bus", {{"a", 59, {{"exe", "/usr/bin/curl"}, {"pid", "1"}}}});
    HubConfig cfg = makeConfig(tmp, tmp / "rules");
    metrics::Registry reg;
    auto s = HubService::create(cfg, reg);
    ASSERT_TRUE(s.ok()) << s.message();
    drain(**s, 1);

    auto call = [&](bool signed_off, const std::string& method, const std::string& target) {
        server::ApiOptions o;
        o.name = "hub";
        o.auth_disabled = signed_off;
        server::ApiRouter router(o, reg);
        addHubRoutes(router, **s);
        server::HttpRequest req;
        req.method = method;
        req.target = target;
        return router.dispatch(req);
    };
    // Signed routes: refused without a key.
    EXPECT_EQ(call(false, "GET", "/hub/stats").status, 401);
    EXPECT_EQ(call(false, "POST", "/hub/reload").status, 401);
    EXPECT_EQ(call(false, "GET", "/healthz").status, 200);
    auto metrics = call(false, "GET", "/metrics");
    EXPECT_EQ(metrics.status, 200);
    EXPECT_NE(metrics.body.find("vigil_hub_records_total 1"), std::string::npos) << metrics.body;

    auto stats = call(true, "GET", "/hub/stats");
    ASSERT_EQ(stats.status, 200) << stats.body;
    json st = json::parse(stats.body)["data"];
    EXPECT_EQ(st["records"], 1);
    EXPECT_EQ(st["alerts"], 1);
    EXPECT_EQ(st["rules"], 1);
    EXPECT_EQ(st["healthy"], true);
    EXPECT_GE(st["lag_ms"].get<int64_t>(), 0);
    EXPECT_EQ(st["processes"], 1);  // the curl exec
    EXPECT_EQ(st["process_evictions"], 0);
    EXPECT_NE(metrics.body.find("vigil_hub_context_processes 1"), std::string::npos);

    json rules = json::parse(call(true, "GET", "/hub/rules").body)["data"];
    ASSERT_EQ(rules.size(), 1u);
    EXPECT_EQ(rules[0]["id"], "curl_seen");
    EXPECT_EQ(rules[0]["severity"], "high");
    EXPECT_EQ(rules[0]["line"], 1);

    ASSERT_TRUE(fs::writeFileAtomic(tmp / "rules/r.yaml", "- id: x\n  data_type: 59\n").ok());
    auto bad = call(true, "POST", "/hub/reload");
    EXPECT_EQ(bad.status, 422);
    EXPECT_NE(bad.body.find("rule needs checks"), std::string::npos) << bad.body;
    ASSERT_TRUE(fs::writeFileAtomic(tmp / "rules/r.yaml", R"(- id: a
  data_type: 59
  checks: {c: {field: exe, ends_with: /a}}
- id: b
  data_type: 59
  checks: {c: {field: exe, ends_with: /b}}
)")
                    .ok());
    auto good = call(true, "POST", "/hub/reload");
    ASSERT_EQ(good.status, 200) << good.body;
    EXPECT_EQ(json::parse(good.body)["data"]["rules"], 2);
}

TEST(HubContext, CollectorAssetsFillTheTableExecRecordsWin) {
    Context ctx;
    auto observe = [&](int32_t dt, Fields f) {
        Event ev;
        ev.data_type = dt;
        f["agent_id"] = "a";
        for (const auto& [k, v] : f) ev.set(k, v);
        ctx.observe(ev);
    };
    observe(5050, {{"pid", "50"},
                   {"ppid", "1"},
                   {"exe", "/usr/sbin/nginx"},
                   {"cmdline", "nginx: master process"}});
    ASSERT_NE(ctx.find("a", "50"), nullptr);
    EXPECT_EQ(ctx.find("a", "50")->argv, "nginx: master process");
    EXPECT_EQ(ctx.stats().assets, 1u);
    observe(59, {{"pid", "60"}, {"ppid", "50"}, {"exe", "/usr/sbin/php-fpm"}, {"argv", "php"}});
    observe(5050, {{"pid", "60"}, {"ppid", "50"}, {"exe", "/old"}, {"cmdline", "old"}});
    EXPECT_EQ(ctx.find("a", "60")->exe, "/usr/sbin/php-fpm");  // the exec record stays

    const Fields child_fields{
        {"agent_id", "a"}, {"pid", "70"}, {"ppid", "60"}, {"exe", "/bin/sh"}, {"argv", "sh -c id"}};
    Event child;  // views into child_fields
    child.data_type = 59;
    for (const auto& [k, v] : child_fields) child.set(k, v);
    ContextAdditions added;
    ctx.enrich(child, added);
    EXPECT_EQ(*child.get("parent_exe"), "/usr/sbin/php-fpm");
    EXPECT_EQ(*child.get("ppid_argv"), "php");
    EXPECT_EQ(*child.get("pid_tree"), "70.sh<60.php-fpm<50.nginx");
    EXPECT_EQ(child.get("parent_stdin"), nullptr);  // php-fpm's exec record had none
    observe(59, {{"pid", "80"}, {"ppid", "1"}, {"exe", "/bin/bash"}, {"stdin", "socket:[9]"}});
    const Fields grandchild_fields{{"agent_id", "a"}, {"pid", "81"}, {"ppid", "80"}};
    Event grandchild;
    grandchild.data_type = 59;
    for (const auto& [k, v] : grandchild_fields) grandchild.set(k, v);
    ContextAdditions added2;
    ctx.enrich(grandchild, added2);
    ASSERT_NE(grandchild.get("parent_stdin"), nullptr);
    EXPECT_EQ(*grandchild.get("parent_stdin"), "socket:[9]");
    // A subshell (fork, no exec: 82 is unknown) between them: found through pid_tree.
    const Fields sub_fields{{"agent_id", "a"},
                            {"pid", "83"},
                            {"ppid", "82"},
                            {"pid_tree", "83.bash<82.bash<80.bash<1.systemd"}};
    Event sub;
    sub.data_type = 59;
    for (const auto& [k, v] : sub_fields) sub.set(k, v);
    ContextAdditions added3;
    ctx.enrich(sub, added3);
    ASSERT_NE(sub.get("parent_stdin"), nullptr);
    EXPECT_EQ(*sub.get("parent_stdin"), "socket:[9]");
    EXPECT_EQ(*sub.get("parent_exe"), "/bin/bash");
    auto sub_line = ctx.lineage(sub);
    ASSERT_EQ(sub_line.size(), 2u);
    EXPECT_EQ(sub_line[1].pid, "80");
    auto line = ctx.lineage(child);
    ASSERT_EQ(line.size(), 3u);
    EXPECT_EQ(line[2].exe, "/usr/sbin/nginx");
}

TEST(HubContext, ParentExeFromExecRecordsExitRemovesLruBounded) {
    Context ctx(ContextOptions{2});
    auto exec = [&](std::string pid, std::string ppid, std::string exe) {
        Fields f{{"agent_id", "a"}, {"pid", pid}, {"ppid", ppid}, {"exe", exe}};
        Event ev;
        ev.data_type = 59;
        for (const auto& [k, v] : f) ev.set(k, v);
        ContextAdditions storage;
        ctx.enrich(ev, storage);
        ctx.observe(ev);
        const std::string_view* pe = ev.get("parent_exe");
        return pe ? std::string(*pe) : std::string("<none>");
    };
    EXPECT_EQ(exec("10", "1", "/sbin/init2"), "<none>");
    EXPECT_EQ(exec("11", "10", "/bin/sh"), "/sbin/init2");
    Event exit_ev;
    exit_ev.data_type = 60;
    exit_ev.set("agent_id", "a");
    exit_ev.set("pid", "10");
    ctx.observe(exit_ev);
    EXPECT_EQ(ctx.stats().removed, 1u);
    EXPECT_EQ(exec("12", "10", "/bin/true"), "<none>");
    EXPECT_EQ(ctx.size(), 2u);
    exec("13", "12", "/bin/false");  // evicts pid 11 (least recently used)
    EXPECT_EQ(ctx.stats().evicted, 1u);
    EXPECT_EQ(ctx.find("a", "11"), nullptr);
    EXPECT_EQ(ctx.find("b", "12"), nullptr);  // per agent
    ASSERT_NE(ctx.find("a", "12"), nullptr);
}

TEST(HubConfig, ProblemsAreReported) {
    auto c = parseHubConfig("bus: {dir: /x}\nrules: [/r]\nalerts: {bus: true}\n", "t");
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.message().find("alerts.bus_dir"), std::string::npos) << c.message();
    c = parseHubConfig("bus: {dir: /x}\nrules: [/r]\n", "t");
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.message().find("no sink"), std::string::npos) << c.message();
    // An output alone is a sink; its own problems are reported with the others.
    c = parseHubConfig(
        "bus: {dir: /x}\nrules: [/r]\nalerts: {webhook: {url: http://127.0.0.1:9/h}}\n", "t");
    ASSERT_TRUE(c.ok()) << c.message();
    ASSERT_EQ(c->outputs.webhook.size(), 1u);
    c = parseHubConfig(
        "bus: {dir: /x}\nrules: [/r]\nalerts: {syslog: {address: ftp://x}}\n"
        "http: {listen: nowhere}\n",
        "t");
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.message().find("alerts.syslog"), std::string::npos) << c.message();
    EXPECT_NE(c.message().find("http.listen"), std::string::npos) << c.message();
    c = parseHubConfig(exampleHubConfig(), "example");
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_FALSE(c->bus.writer);
    EXPECT_EQ(c->alerts_bus_options.dir, "/var/lib/vigil-hub/alerts-bus");
}

}  // namespace
}  // namespace vigil::hub
