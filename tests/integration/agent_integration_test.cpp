// vigil-agent end to end with real processes: the agent binary, the test plugin and a FakeCenter
// over mTLS on loopback. Covers the issue's "must show" list: crash restarts, garbage and 1 GiB
// prefixes, kill -9 with unacknowledged batches, config sync, sha256 mismatch, tasks, upgrade.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <set>
#include <thread>

#include <httplib.h>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "libs/wire/batch.h"
#include "proto/transfer.pb.h"
#include "tests/integration/agent_harness.h"
#include "tests/support/run_command.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;

std::set<long> seqs(const std::vector<DecodedRecord>& rs, int32_t dt = 7000) {
    std::set<long> out;
    for (const auto& r : rs) {
        if (r.data_type == dt && r.fields.count("seq")) out.insert(std::stol(r.get("seq")));
    }
    return out;
}

grpc::Command configCommand(const std::vector<std::tuple<std::string, std::string, std::string, std::string>>& specs) {
    grpc::Command c;
    for (const auto& [name, version, sha, detail] : specs) {
        auto* cfg = c.add_configs();
        cfg->set_name(name);
        cfg->set_type("exec");
        cfg->set_version(version);
        cfg->set_sha256(sha);
        cfg->set_detail(detail);
    }
    return c;
}

grpc::Command taskCommand(const std::string& object, int32_t dt, const std::string& data, const std::string& token) {
    grpc::Command c;
    auto* t = c.mutable_task();
    t->set_object_name(object);
    t->set_data_type(dt);
    t->set_data(data);
    t->set_token(token);
    return c;
}

pid_t helloPid(const AgentHarness& h, const std::string& tag, std::chrono::milliseconds timeout = 15s) {
    DecodedRecord r;
    if (!h.waitRecord(900, [&](const DecodedRecord& d) { return d.get("detail").find(tag) != std::string::npos; },
                      timeout, &r)) {
        return -1;
    }
    return static_cast<pid_t>(std::stol(r.get("pid")));
}

bool waitDead(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!processAlive(pid)) return true;
        std::this_thread::sleep_for(20ms);
    }
    return !processAlive(pid);
}

TEST(AgentIntegration, HeartbeatsAndRecordsFlowOverMtls) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    h.initial_plugins_yaml = h.pluginYaml({"ticker", "mode=tick interval=20"});
    ASSERT_TRUE(h.startAgent());
    DecodedRecord hb;
    // The first heartbeat leaves 1 s after start, connected or not (net_mode "unknown" when the
    // connection is slower); the one sent on connecting carries the mode.
    ASSERT_TRUE(h.waitRecord(
        1000, [](const DecodedRecord& d) { return d.get("net_mode") != "unknown"; }, 15s, &hb))
        << h.agentLog();
    EXPECT_EQ(hb.get("net_mode"), "private");
    EXPECT_EQ(hb.get("pid"), std::to_string(h.agentPid()));
    EXPECT_FALSE(hb.get("kernel_version").empty());
    ASSERT_TRUE(h.waitRecord(1001, [](const DecodedRecord& d) { return d.get("name") == "ticker" &&
                                                                        d.get("state") == "running"; },
                             15s));
    ASSERT_TRUE(h.waitRecords([](const auto& rs) { return seqs(rs).size() >= 50; }, 15s));
    auto s = seqs(h.records());
    // In order, no gaps: 0..n-1.
    EXPECT_EQ(*s.begin(), 0);
    EXPECT_EQ(static_cast<size_t>(*s.rbegin() + 1), s.size());
    uint64_t last = 0;
    for (const auto& b : h.center().batchesOf(h.agentId())) {
        EXPECT_GT(b.batch_seq, last);
        last = b.batch_seq;
    }
    EXPECT_EQ(WEXITSTATUS(h.stopAgent(SIGTERM)), 0);
}

TEST(AgentIntegration, CrashedPluginIsRestartedAndRecordsResume) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    h.initial_plugins_yaml = h.pluginYaml({"crashy", "mode=crash_after n=3 how=exit"});
    ASSERT_TRUE(h.startAgent());
    // Three runs of the plugin: three hellos from different pids, records from each.
    ASSERT_TRUE(h.waitRecords(
        [](const auto& rs) {
            std::set<std::string> pids;
            for (const auto& r : rs) {
                if (r.data_type == 900) pids.insert(r.get("pid"));
            }
            return pids.size() >= 3;
        },
        20s))
        << h.agentLog();
    auto recs = h.recordsOf(7000);
    EXPECT_GE(recs.size(), 9u);
    ASSERT_TRUE(h.waitRecord(1001, [](const DecodedRecord& d) {
        return d.get("name") == "crashy" && std::stoi(d.get("restarts").empty() ? "0" : d.get("restarts")) >= 2;
    }, 15s));
    EXPECT_TRUE(h.agentAlive());
}

TEST(AgentIntegration, GarbageAndHugeLengthPrefixDoNotHurtOthers) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    h.initial_plugins_yaml = h.pluginYaml({"huge", "mode=huge_prefix"}) + h.pluginYaml({"noise", "mode=random_bytes"}) +
                             h.pluginYaml({"good", "mode=tick interval=10"});
    ASSERT_TRUE(h.startAgent());
    // The bad plugins are counted and restarted...
    DecodedRecord huge_hb;
    ASSERT_TRUE(h.waitRecord(1001, [](const DecodedRecord& d) {
        return d.get("name") == "huge" && !d.get("restarts").empty() && std::stoi(d.get("restarts")) >= 1 &&
               std::stoi(d.get("drops")) >= 1;
    }, 20s, &huge_hb)) << h.agentLog();
    ASSERT_TRUE(h.waitRecord(1001, [](const DecodedRecord& d) {
        return d.get("name") == "noise" && !d.get("drops").empty() && std::stoi(d.get("drops")) >= 1;
    }, 20s));
    ASSERT_TRUE(h.waitRecord(1000, [](const DecodedRecord& d) {
        return d.get("drops_detail").find("plugin_") != std::string::npos;
    }, 20s));
    // ...while the good one keeps flowing without a gap and the agent stays up.
    ASSERT_TRUE(h.waitRecords([](const auto& rs) { return seqs(rs).size() >= 300; }, 20s));
    auto s = seqs(h.records());
    long contiguous = 0;
    while (s.count(contiguous)) ++contiguous;
    EXPECT_GE(contiguous, 300);
    EXPECT_TRUE(h.agentAlive());
    EXPECT_EQ(WEXITSTATUS(h.stopAgent(SIGTERM)), 0);
}

TEST(AgentIntegration, KillDashNineThenRestartDeliversEverySpooledRecord) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    constexpr long kCount = 20000;
    h.center().setAckMode(AckMode::kNever);
    h.initial_plugins_yaml = h.pluginYaml({"burst", "mode=emit count=20000 pad=100"});
    ASSERT_TRUE(h.startAgent());
    // Everything was sealed, spooled and sent, but nothing was acknowledged.
    ASSERT_TRUE(h.waitRecords([](const auto& rs) { return seqs(rs).size() == kCount; }, 30s)) << h.agentLog();
    uint64_t last_seq = 0;
    std::set<uint64_t> sent_batches;
    for (const auto& b : h.center().batchesOf(h.agentId())) {
        last_seq = std::max(last_seq, b.batch_seq);
        sent_batches.insert(b.batch_seq);
    }
    h.stopAgent(SIGKILL);
    h.center().clearBatches();
    h.center().setAckMode(AckMode::kImmediate);
    ASSERT_TRUE(h.startAgent());
    // Every batch up to last_seq comes again, with every record of the first run.
    ASSERT_TRUE(h.waitRecords(
        [&](const auto& rs) {
            std::vector<DecodedRecord> old;
            for (const auto& r : rs) {
                if (r.batch_seq <= last_seq) old.push_back(r);
            }
            return seqs(old).size() == kCount;
        },
        30s))
        << h.agentLog();
    std::set<uint64_t> resent;
    for (const auto& b : h.center().batchesOf(h.agentId())) {
        if (b.batch_seq <= last_seq) resent.insert(b.batch_seq);
    }
    EXPECT_EQ(resent, sent_batches);
    // After the acks the spool is empty again, and new batches continue the sequence.
    uint64_t max_after = 0;
    for (const auto& b : h.center().batchesOf(h.agentId())) max_after = std::max(max_after, b.batch_seq);
    ASSERT_TRUE(h.waitRecord(1000, [&](const DecodedRecord& d) { return d.batch_seq > last_seq; }, 15s));
    EXPECT_EQ(WEXITSTATUS(h.stopAgent(SIGTERM)), 0);
}

TEST(AgentIntegration, ConfigSyncStartsUpgradesAndStopsPlugins) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    std::string sha_a = h.installTestPlugin("alpha");
    std::string sha_b = h.installTestPlugin("beta");
    ASSERT_TRUE(h.startAgent());
    ASSERT_TRUE(h.center().waitForAgent(h.agentId(), 15s)) << h.agentLog();

    ASSERT_TRUE(h.center().sendCommand(h.agentId(), configCommand({{"alpha", "1", sha_a, "mode=tick interval=200 tag=a1"}})));
    pid_t a1 = helloPid(h, "tag=a1");
    ASSERT_GT(a1, 0) << h.agentLog();

    ASSERT_TRUE(h.center().sendCommand(h.agentId(), configCommand({{"alpha", "2", sha_a, "mode=tick interval=200 tag=a2"},
                                                                    {"beta", "1", sha_b, "mode=idle tag=b1"}})));
    pid_t a2 = helloPid(h, "tag=a2");
    pid_t b1 = helloPid(h, "tag=b1");
    ASSERT_GT(a2, 0);
    ASSERT_GT(b1, 0);
    EXPECT_NE(a1, a2);
    EXPECT_TRUE(waitDead(a1, 5s)) << "the old version is stopped";
    ASSERT_TRUE(h.waitRecord(1001, [](const DecodedRecord& d) { return d.get("name") == "alpha" && d.get("pversion") == "2"; },
                             10s));

    ASSERT_TRUE(h.center().sendCommand(h.agentId(), configCommand({})));
    EXPECT_TRUE(waitDead(a2, 10s));
    EXPECT_TRUE(waitDead(b1, 10s));
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (fs::exists(h.workDir() + "/plugin/alpha") && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_FALSE(fs::exists(h.workDir() + "/plugin/alpha"));
    EXPECT_FALSE(fs::exists(h.workDir() + "/plugin/beta"));
    EXPECT_TRUE(h.agentAlive());
}

TEST(AgentIntegration, Sha256MismatchIsNotStartedAndReported) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    h.installTestPlugin("tampered");
    ASSERT_TRUE(h.startAgent());
    ASSERT_TRUE(h.center().waitForAgent(h.agentId(), 15s));
    const std::string wrong(64, 'a');
    ASSERT_TRUE(h.center().sendCommand(h.agentId(), configCommand({{"tampered", "1", wrong, "mode=tick interval=50 tag=t"}})));
    DecodedRecord err;
    ASSERT_TRUE(h.waitRecord(1010, [](const DecodedRecord& d) {
        return d.get("msg").find("tampered") != std::string::npos && d.get("msg").find("sha256") != std::string::npos;
    }, 20s, &err)) << h.agentLog();
    EXPECT_EQ(err.get("level"), "error");
    ASSERT_TRUE(h.waitRecord(1000, [](const DecodedRecord& d) {
        return d.get("state") == "abnormal" && d.get("state_detail").find("tampered") != std::string::npos;
    }, 15s));
    EXPECT_LT(helloPid(h, "tag=t", 1s), 0) << "a plugin with a wrong sha256 must not run";
    EXPECT_TRUE(h.agentAlive());
}

TEST(AgentIntegration, AgentAndPluginTasks) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    h.initial_plugins_yaml = h.pluginYaml({"echo", "mode=echo_tasks"});
    ASSERT_TRUE(h.startAgent());
    ASSERT_TRUE(h.center().waitForAgent(h.agentId(), 15s));
    ASSERT_GT(helloPid(h, "echo_tasks"), 0);
    auto result = [&](const std::string& token, DecodedRecord* out) {
        return h.waitRecord(5100, [&](const DecodedRecord& d) { return d.get("token") == token; }, 15s, out);
    };
    DecodedRecord r;

    ASSERT_TRUE(h.center().sendCommand(h.agentId(), taskCommand("vigil-agent", 1051, R"({"idc":"dc-7"})", "t1")));
    ASSERT_TRUE(result("t1", &r));
    EXPECT_EQ(r.get("status"), "succeed") << r.get("msg");
    ASSERT_TRUE(h.waitRecord(1000, [](const DecodedRecord& d) { return d.get("idc") == "dc-7"; }, 15s));

    ASSERT_TRUE(h.center().sendCommand(h.agentId(), taskCommand("vigil-agent", 1051, R"({"region":"atlantis"})", "t1b")));
    ASSERT_TRUE(result("t1b", &r));
    EXPECT_EQ(r.get("status"), "failed");

    ASSERT_TRUE(h.center().sendCommand(h.agentId(), taskCommand("vigil-agent", 4242, "", "t2")));
    ASSERT_TRUE(result("t2", &r));
    EXPECT_EQ(r.get("status"), "failed");
    EXPECT_NE(r.get("msg").find("unknown agent task"), std::string::npos);

    ASSERT_TRUE(h.center().sendCommand(h.agentId(), taskCommand("echo", 77, "hello", "t3")));
    ASSERT_TRUE(result("t3", &r));
    EXPECT_EQ(r.get("data"), "hello");
    EXPECT_EQ(r.get("task_data_type"), "77");

    ASSERT_TRUE(h.center().sendCommand(h.agentId(), taskCommand("nope", 1, "", "t4")));
    ASSERT_TRUE(result("t4", &r));
    EXPECT_EQ(r.get("status"), "failed");

    // 1061 restarts one plugin: a new process (its hello has a new pid), the same config.
    pid_t echo_pid = helloPid(h, "echo_tasks");
    ASSERT_TRUE(h.center().sendCommand(
        h.agentId(), taskCommand("vigil-agent", 1061, R"({"name":"echo"})", "t4r")));
    ASSERT_TRUE(result("t4r", &r));
    EXPECT_EQ(r.get("status"), "succeed") << r.get("msg");
    DecodedRecord hello;
    ASSERT_TRUE(h.waitRecord(
        900,
        [&](const DecodedRecord& d) {
            return d.get("detail").find("echo_tasks") != std::string::npos &&
                   d.get("pid") != std::to_string(echo_pid);
        },
        15s, &hello))
        << h.agentLog();
    EXPECT_TRUE(waitDead(echo_pid, 5s));
    ASSERT_TRUE(h.center().sendCommand(h.agentId(), taskCommand("echo", 78, "again", "t4s")));
    ASSERT_TRUE(result("t4s", &r));
    EXPECT_EQ(r.get("data"), "again");
    ASSERT_TRUE(h.center().sendCommand(
        h.agentId(), taskCommand("vigil-agent", 1061, R"({"name":"nope"})", "t4u")));
    ASSERT_TRUE(result("t4u", &r));
    EXPECT_EQ(r.get("status"), "failed");
    EXPECT_NE(r.get("msg").find("not configured"), std::string::npos) << r.get("msg");
    ASSERT_TRUE(
        h.center().sendCommand(h.agentId(), taskCommand("vigil-agent", 1061, "{bad", "t4b")));
    ASSERT_TRUE(result("t4b", &r));
    EXPECT_EQ(r.get("status"), "failed");
    EXPECT_NE(r.get("msg").find("task 1061"), std::string::npos) << r.get("msg");

    const std::string file = h.workDir() + "/upload-me.txt";
    ASSERT_TRUE(fs::writeFileAtomic(file, std::string(100000, 'u') + "end").ok());
    h.center().expectUploadToken("t5");
    ASSERT_TRUE(h.center().sendCommand(h.agentId(), taskCommand("vigil-agent", 1050, "{\"path\":\"" + file + "\"}", "t5")));
    ASSERT_TRUE(result("t5", &r));
    EXPECT_EQ(r.get("status"), "succeed") << r.get("msg");
    EXPECT_EQ(h.center().uploads()["t5"], std::string(100000, 'u') + "end");

    uint64_t streams = h.center().streamsOpened();
    pid_t pid = h.agentPid();
    ASSERT_TRUE(h.center().sendCommand(h.agentId(), taskCommand("vigil-agent", 1060, "", "t6")));
    ASSERT_TRUE(result("t6", &r));
    EXPECT_EQ(r.get("status"), "succeed");
    ASSERT_TRUE(h.center().waitUntil([&] { return h.center().streamsOpened() > streams; }, 20s)) << h.agentLog();
    EXPECT_EQ(h.agentPid(), pid);
    EXPECT_TRUE(h.agentAlive()) << "1060 re-executes in place";
    // The idc set by 1051 survived the restart.
    size_t before = h.recordsOf(1000).size();
    ASSERT_TRUE(h.waitRecords([&](const auto&) { return h.recordsOf(1000).size() > before + 1; }, 15s));
    EXPECT_EQ(h.recordsOf(1000).back().get("idc"), "dc-7");
}

TEST(AgentIntegration, SelfUpgradeInstallsVerifiesAndReexecs) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    auto next = fs::readFile(VIGIL_AGENT_NEXT, 512ull << 20);
    ASSERT_TRUE(next.ok());
    const std::string next_sha = crypto::sha256Hex(*next);
    httplib::Server http;
    http.Get("/vigil-agent", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(*next, "application/octet-stream");
    });
    int port = http.bind_to_any_port("127.0.0.1");
    std::thread server([&] { http.listen_after_bind(); });
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/vigil-agent";

    ASSERT_TRUE(h.startAgent());
    ASSERT_TRUE(h.center().waitForAgent(h.agentId(), 15s));
    pid_t pid = h.agentPid();

    // A wrong sha256: refused, the agent keeps running its version and says why.
    grpc::Command bad;
    auto* c = bad.add_configs();
    c->set_name("vigil-agent");
    c->set_version(VIGIL_VERSION "-next");
    c->set_sha256(std::string(64, 'b'));
    c->add_download_urls(url);
    ASSERT_TRUE(h.center().sendCommand(h.agentId(), bad));
    ASSERT_TRUE(h.waitRecord(1000, [](const DecodedRecord& d) {
        return d.get("state") == "abnormal" && d.get("state_detail").find("upgrade") != std::string::npos;
    }, 30s)) << h.agentLog();
    EXPECT_TRUE(h.agentAlive());
    EXPECT_NE(*crypto::sha256FileHex(h.agentBinary()), next_sha);

    // The right one: installed over the running binary, re-executed in place.
    grpc::Command good = bad;
    good.mutable_configs(0)->set_sha256(next_sha);
    ASSERT_TRUE(h.center().sendCommand(h.agentId(), good));
    ASSERT_TRUE(h.center().waitUntil(
        [&] {
            for (const auto& b : h.center().batchesOf(h.agentId())) {
                wire::BatchView v;
                if (wire::parseBatch(*b.bytes, v) && v.header.version == VIGIL_VERSION "-next") return true;
            }
            return false;
        },
        60s))
        << h.agentLog();
    EXPECT_EQ(h.agentPid(), pid);
    EXPECT_TRUE(h.agentAlive());
    EXPECT_EQ(*crypto::sha256FileHex(h.agentBinary()), next_sha);
    EXPECT_TRUE(fs::exists(h.agentBinary() + ".old"));
    ASSERT_TRUE(h.waitRecord(1000, [](const DecodedRecord& d) { return d.get("state") == "running"; }, 15s));
    h.stopAgent(SIGTERM);
    http.stop();
    server.join();
}

TEST(AgentIntegration, SighupReloadsOnlyAValidConfiguration) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    ASSERT_TRUE(h.startAgent());
    ASSERT_TRUE(h.center().waitForAgent(h.agentId(), 15s));
    auto good = fs::readFile(h.configPath());
    ASSERT_TRUE(good.ok());
    uint64_t streams = h.center().streamsOpened();
    pid_t pid = h.agentPid();

    ASSERT_TRUE(fs::writeFileAtomic(h.configPath(), *good + "bogus_key: 1\n").ok());
    ::kill(pid, SIGHUP);
    ASSERT_TRUE(h.waitRecord(1010, [](const DecodedRecord& d) {
        return d.get("msg").find("not reloaded") != std::string::npos &&
               d.get("msg").find("bogus_key") != std::string::npos;
    }, 15s)) << h.agentLog();
    EXPECT_TRUE(h.agentAlive());
    EXPECT_EQ(h.center().streamsOpened(), streams);

    ASSERT_TRUE(fs::writeFileAtomic(h.configPath(), *good + "idc: dc-reloaded\n").ok());
    ::kill(pid, SIGHUP);
    ASSERT_TRUE(h.waitRecord(1000, [](const DecodedRecord& d) { return d.get("idc") == "dc-reloaded"; }, 20s))
        << h.agentLog();
    EXPECT_GT(h.center().streamsOpened(), streams);
    EXPECT_EQ(h.agentPid(), pid);
    EXPECT_TRUE(h.agentAlive());
}

TEST(AgentIntegration, BadConfigurationExitsWithCodeTwoNamingTheKey) {
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    const std::string cfg = h.workDir() + "/bad.yaml";
    ASSERT_TRUE(fs::writeFileAtomic(cfg, "work_dir: /tmp/x\ntransport:\n  batch_interval: soon\n").ok());
    std::string cmd = h.agentBinary() + " --config " + cfg + " 2>&1";
    const CommandResult run = runCommand(cmd);
    const std::string& out = run.output;
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_NE(out.find("'transport.batch_interval'"), std::string::npos) << out;
    EXPECT_NE(out.find("bad.yaml:3:"), std::string::npos) << out;
    EXPECT_NE(out.find("'tls.ca'"), std::string::npos) << out;
}

}  // namespace
}  // namespace vigil::testing
