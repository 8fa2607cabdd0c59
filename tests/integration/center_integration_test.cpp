// vigil-center with real processes on loopback: discovery, two centers, real agents with the
// test plugin, and bus consumers (embedded and NATS). Covers the issue's "must show" list: in
// order per agent, center kill -9 -> failover through discovery within 10 s with every record at
// least once and no batch_seq gaps, rogue certificates refused, malformed input isolated.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <grpcpp/impl/codegen/client_context.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "libs/wire/batch.h"
#include "libs/wire/command.h"
#include "libs/wire/record.h"
#include "tests/integration/stack_harness.h"
#include "tests/support/run_command.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;

std::vector<BusRecord> of(const std::vector<BusRecord>& rs, const std::string& agent, int32_t dt = -1) {
    std::vector<BusRecord> out;
    for (const auto& r : rs) {
        if (r.agent_id == agent && (dt < 0 || r.data_type == dt)) out.push_back(r);
    }
    return out;
}

std::set<long> seqs(const std::vector<BusRecord>& rs) {
    std::set<long> s;
    for (const auto& r : rs) {
        if (r.data_type == 7000 && r.fields.count("seq")) s.insert(std::stol(r.get("seq")));
    }
    return s;
}

// A raw Transfer stream with the given client certificate (what a rogue or broken agent sends).
struct RawStream {
    std::shared_ptr<grpc::Channel> channel;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> rw;

    RawStream(const std::string& target, const std::string& ca, const std::string& cert, const std::string& key) {
        grpc::SslCredentialsOptions o;
        o.pem_root_certs = *fs::readFile(ca);
        o.pem_cert_chain = *fs::readFile(cert);
        o.pem_private_key = *fs::readFile(key);
        grpc::ChannelArguments args;
        args.SetSslTargetNameOverride("vigil-center");
        channel = grpc::CreateCustomChannel(target, grpc::SslCredentials(o), args);
        ctx.set_deadline(std::chrono::system_clock::now() + 15s);
        static const grpc::internal::RpcMethod method("/grpc.Transfer/Transfer",
                                                      grpc::internal::RpcMethod::BIDI_STREAMING);
        rw.reset(grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            channel.get(), method, &ctx));
    }
    bool send(const std::string& bytes) {
        grpc::Slice s(bytes.data(), bytes.size());
        grpc::ByteBuffer bb(&s, 1);
        return rw->Write(bb);
    }
    grpc::Status finish() {
        rw->WritesDone();
        grpc::ByteBuffer ignored;
        while (rw->Read(&ignored)) {
        }
        return rw->Finish();
    }
};

std::string packaged(const std::string& agent_id, uint64_t seq, int records) {
    wire::BatchHeader h;
    h.agent_id = agent_id;
    h.hostname = "raw";
    wire::BatchBuilder b;
    for (int i = 0; i < records; ++i) {
        wire::Buffer p;
        wire::encodePayload(p, {{"seq", std::to_string(i)}, {"raw", "1"}});
        b.add(7000, 1, p.view());
    }
    wire::Buffer out;
    b.seal(wire::encodeBatchHeader(h), seq, out);
    return out.toString();
}

class CenterIntegration : public ::testing::TestWithParam<std::string> {};

TEST_P(CenterIntegration, RecordsArriveInOrderPerAgent) {
    StackHarness h(GetParam());
    ASSERT_TRUE(h.ok()) << h.error();
    ASSERT_TRUE(h.startCenter(0)) << h.center(0).process->log();
    StackHarness::AgentOptions a{"order-1", {h.center(0).address()}, false, ""};
    a.plugins_yaml = h.pluginYaml("order-1", "ticker", "mode=tick interval=5");
    StackHarness::AgentOptions b{"order-2", {h.center(0).address()}, false, ""};
    b.plugins_yaml = h.pluginYaml("order-2", "ticker", "mode=tick interval=5");
    ASSERT_TRUE(h.startAgent(a));
    ASSERT_TRUE(h.startAgent(b));
    ASSERT_TRUE(h.waitBus([](const auto& rs) {
        return seqs(of(rs, "order-1")).size() >= 300 && seqs(of(rs, "order-2")).size() >= 300;
    }, 60s)) << h.agent("order-1").log() << h.center(0).process->log();
    for (const char* id : {"order-1", "order-2"}) {
        auto rs = of(h.busRecords(), id);
        // Records of one agent come out of the bus in the order the agent sent them.
        long last_seq = -1;
        uint64_t last_batch = 0;
        uint32_t last_index = 0;
        for (const auto& r : rs) {
            EXPECT_TRUE(r.batch_seq > last_batch || (r.batch_seq == last_batch && r.batch_index > last_index) ||
                        last_batch == 0)
                << id << " batch " << r.batch_seq << "/" << r.batch_index << " after " << last_batch << "/" << last_index;
            last_batch = r.batch_seq;
            last_index = r.batch_index;
            if (r.data_type == 7000) {
                long s = std::stol(r.get("seq"));
                EXPECT_EQ(s, last_seq + 1) << id;
                last_seq = s;
            }
        }
    }
    // Heartbeats reach the bus too, with the agent's header fields.
    auto hb = of(h.busRecords(), "order-1", 1000);
    ASSERT_FALSE(hb.empty());
    EXPECT_EQ(hb.back().get("net_mode"), "private");
}

// `vigilctl bus tail` reads the same bus (from another process) and prints JSON lines.
TEST_P(CenterIntegration, VigilctlBusTailPrintsRecordsAsJson) {
    StackHarness h(GetParam());
    ASSERT_TRUE(h.ok()) << h.error();
    ASSERT_TRUE(h.startCenter(0)) << h.center(0).process->log();
    StackHarness::AgentOptions a{"tail-1", {h.center(0).address()}, false, ""};
    a.plugins_yaml = h.pluginYaml("tail-1", "ticker", "mode=tick interval=5");
    ASSERT_TRUE(h.startAgent(a));
    ASSERT_TRUE(h.waitBus([](const auto& rs) { return seqs(of(rs, "tail-1")).size() >= 50; }, 60s))
        << h.agent("tail-1").log();
    std::string cmd = std::string(VIGIL_BUILD_DIR) + "/bin/vigilctl bus tail";
    for (const auto& arg : h.busTailArgs(0)) cmd += " '" + arg + "'";
    cmd += " --group tail-test --from-start --count 40 --timeout 20s 2>&1";
    const CommandResult tail = runCommand(cmd);
    ASSERT_EQ(tail.exit_code, 0) << cmd << "\n" << tail.output;
    size_t lines = 0, ticks = 0;
    long last_seq = -1;
    std::istringstream in(tail.output);
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        ++lines;
        auto j = nlohmann::json::parse(line, nullptr, false);
        ASSERT_FALSE(j.is_discarded()) << line;
        EXPECT_EQ(j.value("agent_id", ""), "tail-1") << line;
        EXPECT_GT(j.value("batch_seq", 0), 0) << line;
        if (j.value("data_type", 0) == 7000) {
            ++ticks;
            long seq = std::stol(j["fields"]["seq"].get<std::string>());
            EXPECT_EQ(seq, last_seq + 1) << "records out of order: " << line;
            last_seq = seq;
        }
    }
    EXPECT_EQ(lines, 40u) << tail.output;
    EXPECT_GT(ticks, 0u) << tail.output;

    // Bad arguments: a clear error and exit status 2.
    const CommandResult bad = runCommand(std::string(VIGIL_BUILD_DIR) + "/bin/vigilctl bus tail 2>&1");
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.output.find("give either --dir"), std::string::npos) << bad.output;
}

TEST_P(CenterIntegration, CenterKillNineFailsOverThroughDiscoveryWithinTenSeconds) {
    StackHarness h(GetParam());
    ASSERT_TRUE(h.ok()) << h.error();
    ASSERT_TRUE(h.startDiscovery());
    ASSERT_TRUE(h.startCenter(0));
    ASSERT_TRUE(h.startCenter(1));
    StackHarness::AgentOptions a{"failover-1", {}, true, ""};
    a.plugins_yaml = h.pluginYaml("failover-1", "ticker", "mode=tick interval=5");
    // Centers register every second; give discovery both before the agent asks.
    std::this_thread::sleep_for(1500ms);
    ASSERT_TRUE(h.startAgent(a));
    int serving = -1;
    for (int i = 0; i < 300 && serving < 0; ++i) {
        for (int c = 0; c < 2; ++c) {
            auto ids = h.connectedAgents(c);
            if (std::find(ids.begin(), ids.end(), "failover-1") != ids.end()) serving = c;
        }
        if (serving < 0) std::this_thread::sleep_for(50ms);
    }
    ASSERT_GE(serving, 0) << h.agent("failover-1").log();
    const int other = 1 - serving;
    ASSERT_TRUE(h.waitBus([](const auto& rs) { return seqs(of(rs, "failover-1")).size() >= 200; }, 30s));

    h.center(serving).process->stop(SIGKILL);
    auto killed_at = std::chrono::steady_clock::now();
    bool moved = false;
    while (std::chrono::steady_clock::now() - killed_at < 15s) {
        auto ids = h.connectedAgents(other);
        if (std::find(ids.begin(), ids.end(), "failover-1") != ids.end()) {
            moved = true;
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
    ASSERT_TRUE(moved) << h.agent("failover-1").log();
    EXPECT_LE(took.count(), 10000) << "failover took " << took.count() << " ms";
    std::printf("failover after kill -9: %lld ms\n", static_cast<long long>(took.count()));

    // Keep producing a while on the new center, then stop the plugin's source of truth: the
    // agent. Every record up to the last one the bus has must be there (at least once).
    ASSERT_TRUE(h.waitBus([&](const auto& rs) { return seqs(of(rs, "failover-1")).size() >= 600; }, 30s));
    h.agent("failover-1").stop(SIGTERM);
    std::this_thread::sleep_for(500ms);
    auto rs = of(h.busRecords(), "failover-1");
    auto s = seqs(rs);
    ASSERT_FALSE(s.empty());
    long max_seq = *s.rbegin();
    long missing = 0;
    for (long i = 0; i <= max_seq; ++i) missing += s.count(i) ? 0 : 1;
    EXPECT_EQ(missing, 0) << "records lost in the failover";
    std::set<uint64_t> batches;
    for (const auto& r : rs) batches.insert(r.batch_seq);
    uint64_t gaps = 0;
    for (uint64_t b = *batches.begin(); b <= *batches.rbegin(); ++b) gaps += batches.count(b) ? 0 : 1;
    EXPECT_EQ(gaps, 0u) << "batch_seq gaps between " << *batches.begin() << " and " << *batches.rbegin();
}

TEST_P(CenterIntegration, RogueCertificateIsRefusedOthersUnaffected) {
    StackHarness h(GetParam());
    ASSERT_TRUE(h.ok()) << h.error();
    ASSERT_TRUE(h.startCenter(0));
    StackHarness::AgentOptions good{"good-1", {h.center(0).address()}, false, ""};
    good.plugins_yaml = h.pluginYaml("good-1", "ticker", "mode=tick interval=20");
    StackHarness::AgentOptions rogue{"rogue-1", {h.center(0).address()}, false, ""};
    rogue.rogue_certificate = true;
    ASSERT_TRUE(h.startAgent(good));
    ASSERT_TRUE(h.startAgent(rogue));
    ASSERT_TRUE(h.waitBus([](const auto& rs) { return seqs(of(rs, "good-1")).size() >= 50; }, 30s));
    std::this_thread::sleep_for(2s);
    auto ids = h.connectedAgents(0);
    EXPECT_NE(std::find(ids.begin(), ids.end(), "good-1"), ids.end());
    EXPECT_EQ(std::find(ids.begin(), ids.end(), "rogue-1"), ids.end());
    EXPECT_TRUE(of(h.busRecords(), "rogue-1").empty()) << "nothing from the rogue agent reaches the bus";
    EXPECT_TRUE(h.agent("rogue-1").alive());

    // A raw client with the rogue certificate cannot open a stream either.
    RawStream raw("127.0.0.1:" + std::to_string(h.center(0).grpc_port), h.pki().caFile(), h.pki().rogueAgentCertFile(),
                  h.pki().rogueAgentKeyFile());
    raw.send(packaged("rogue-raw", 1, 1));
    EXPECT_NE(raw.finish().error_code(), grpc::StatusCode::OK);
}

TEST_P(CenterIntegration, MalformedInputEndsOnlyThatStream) {
    StackHarness h(GetParam());
    ASSERT_TRUE(h.ok()) << h.error();
    ASSERT_TRUE(h.startCenter(0));
    StackHarness::AgentOptions good{"steady-1", {h.center(0).address()}, false, ""};
    good.plugins_yaml = h.pluginYaml("steady-1", "ticker", "mode=tick interval=10");
    ASSERT_TRUE(h.startAgent(good));
    ASSERT_TRUE(h.waitBus([](const auto& rs) { return seqs(of(rs, "steady-1")).size() >= 20; }, 30s));
    const std::string target = "127.0.0.1:" + std::to_string(h.center(0).grpc_port);

    {  // garbage bytes
        RawStream raw(target, h.pki().caFile(), h.pki().agentCertFile(), h.pki().agentKeyFile());
        raw.send(std::string("\x0a\x10garbage", 9));
        auto st = raw.finish();
        EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
        EXPECT_NE(st.error_message().find("malformed"), std::string::npos);
    }
    {  // a valid batch without an agent id
        RawStream raw(target, h.pki().caFile(), h.pki().agentCertFile(), h.pki().agentKeyFile());
        raw.send(packaged("", 1, 3));
        EXPECT_EQ(raw.finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    }
    {  // a second stream for a connected agent id
        RawStream raw(target, h.pki().caFile(), h.pki().agentCertFile(), h.pki().agentKeyFile());
        raw.send(packaged("steady-1", 999999, 1));
        auto st = raw.finish();
        EXPECT_EQ(st.error_code(), grpc::StatusCode::ALREADY_EXISTS) << st.error_message();
    }
    {  // a well-formed raw stream works and is acknowledged
        RawStream raw(target, h.pki().caFile(), h.pki().agentCertFile(), h.pki().agentKeyFile());
        ASSERT_TRUE(raw.send(packaged("raw-ok", 5, 10)));
        grpc::ByteBuffer reply;
        ASSERT_TRUE(raw.rw->Read(&reply));
        std::vector<grpc::Slice> slices;
        ASSERT_TRUE(reply.Dump(&slices).ok());
        std::string bytes;
        for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
        wire::AgentCommand ack;
        ASSERT_TRUE(wire::parseCommand(bytes, ack));
        EXPECT_EQ(ack.ack_seq, 5u);
        EXPECT_EQ(raw.finish().error_code(), grpc::StatusCode::OK);
    }
    // Malformed admin requests: clear errors.
    auto r = h.centerApi(0, "POST", "/command/", "{not json");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body["msg"].get<std::string>(), "");
    r = h.centerApi(0, "POST", "/command/", R"({"agent_id": 5})");
    EXPECT_EQ(r.status, 400);
    r = h.centerApi(0, "GET", "/conn/list", "", /*sign=*/false);
    EXPECT_EQ(r.status, 401);
    r = h.centerApi(0, "POST", "/command/", R"({"agent_id":"nobody","command":{"task":{"data_type":1,"name":"x"}}})");
    EXPECT_EQ(r.status, 404);

    // The well-behaved agent kept going throughout.
    size_t before = seqs(of(h.busRecords(), "steady-1")).size();
    ASSERT_TRUE(h.waitBus([&](const auto& rs) { return seqs(of(rs, "steady-1")).size() >= before + 50; }, 30s));
    auto ids = h.connectedAgents(0);
    EXPECT_NE(std::find(ids.begin(), ids.end(), "steady-1"), ids.end());
    auto metrics = h.centerApi(0, "GET", "/conn/count");
    EXPECT_EQ(metrics.status, 200);
}

TEST_P(CenterIntegration, ConfigPushTasksAndUpload) {
    StackHarness h(GetParam());
    ASSERT_TRUE(h.ok()) << h.error();
    const std::string sha = h.installTestPlugin("cfg-1", "ticker");
    const std::string plugins = h.dir() + "/plugins.yaml";
    ASSERT_TRUE(fs::writeFileAtomic(plugins, "plugins:\n  - {name: ticker, version: '1', sha256: " + sha +
                                                 ", detail: 'mode=tick interval=100 tag=v1'}\n").ok());
    ASSERT_TRUE(h.startCenter(0, "plugins: {config: " + plugins + ", reload_interval: 200ms}\n"));
    ASSERT_TRUE(h.startAgent({"cfg-1", {h.center(0).address()}, false, ""}));
    auto hello = [&](const std::string& tag) {
        return h.waitBus([&](const auto& rs) {
            for (const auto& r : of(rs, "cfg-1", 900)) {
                if (r.get("detail").find(tag) != std::string::npos) return true;
            }
            return false;
        }, 30s);
    };
    ASSERT_TRUE(hello("tag=v1")) << h.agent("cfg-1").log() << h.center(0).process->log();
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(fs::writeFileAtomic(plugins, "plugins:\n  - {name: ticker, version: '2', sha256: " + sha +
                                                 ", detail: 'mode=tick interval=100 tag=v2'}\n").ok());
    ASSERT_TRUE(hello("tag=v2")) << h.center(0).process->log();

    // Task 1051 (agent) and a plugin task answered by 5100 records on the bus.
    auto r = h.centerApi(0, "POST", "/command/",
                         R"({"agent_id":"cfg-1","command":{"task":{"data_type":1051,"name":"vigil-agent","data":"{\"idc\":\"dc-x\"}","token":"tok-51"}}})");
    ASSERT_EQ(r.status, 200) << r.body.dump();
    ASSERT_TRUE(h.waitBus([](const auto& rs) {
        for (const auto& x : of(rs, "cfg-1", 5100)) {
            if (x.get("token") == "tok-51" && x.get("status") == "succeed") return true;
        }
        return false;
    }, 30s));

    // Task 1050: the agent uploads a file; the center stores it with its sha256.
    const std::string file = h.agentWorkDir("cfg-1") + "/evidence.bin";
    ASSERT_TRUE(fs::writeFileAtomic(file, std::string(300000, 'e')).ok());
    r = h.centerApi(0, "POST", "/command/",
                    R"({"agent_id":"cfg-1","command":{"task":{"data_type":1050,"name":"vigil-agent","data":"{\"path\":\")" +
                        file + R"(\"}","token":"tok-50"}}})");
    ASSERT_EQ(r.status, 200) << r.body.dump();
    ASSERT_TRUE(h.waitBus([](const auto& rs) {
        for (const auto& x : of(rs, "cfg-1", 5100)) {
            if (x.get("token") == "tok-50") return true;
        }
        return false;
    }, 30s));
    auto stored = fs::readFile(h.center(0).data_dir + "/uploads/cfg-1/tok-50");
    ASSERT_TRUE(stored.ok()) << h.center(0).process->log();
    EXPECT_EQ(*stored, std::string(300000, 'e'));
    auto manifest = fs::readFile(h.center(0).data_dir + "/uploads/uploads.jsonl");
    ASSERT_TRUE(manifest.ok());
    EXPECT_NE(manifest->find(crypto::sha256Hex(std::string(300000, 'e'))), std::string::npos);
}

TEST_P(CenterIntegration, SigtermDrainsAndAgentsMoveOn) {
    StackHarness h(GetParam());
    ASSERT_TRUE(h.ok()) << h.error();
    ASSERT_TRUE(h.startCenter(0));
    ASSERT_TRUE(h.startCenter(1));
    StackHarness::AgentOptions a{"drain-1", {h.center(0).address(), h.center(1).address()}, false, ""};
    a.plugins_yaml = h.pluginYaml("drain-1", "ticker", "mode=tick interval=5");
    ASSERT_TRUE(h.startAgent(a));
    ASSERT_TRUE(h.waitBus([](const auto& rs) { return seqs(of(rs, "drain-1")).size() >= 100; }, 30s));
    int status = h.center(0).process->stop(SIGTERM, 20s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << h.center(0).process->log();
    ASSERT_TRUE(h.waitBus([](const auto& rs) { return seqs(of(rs, "drain-1")).size() >= 400; }, 30s));
    auto ids = h.connectedAgents(1);
    EXPECT_NE(std::find(ids.begin(), ids.end(), "drain-1"), ids.end());
    auto s = seqs(of(h.busRecords(), "drain-1"));
    long missing = 0;
    for (long i = 0; i <= *s.rbegin(); ++i) missing += s.count(i) ? 0 : 1;
    EXPECT_EQ(missing, 0);
}

// A restarted center keeps its TLS ticket key: the real agent's reconnect resumes its session.
TEST_P(CenterIntegration, RestartedCenterResumesTheAgentsTlsSession) {
    StackHarness h(GetParam());
    ASSERT_TRUE(h.ok()) << h.error();
    ASSERT_TRUE(h.startCenter(0)) << h.center(0).process->log();
    StackHarness::AgentOptions a{"resume-1", {h.center(0).address()}, false, ""};
    a.plugins_yaml = h.pluginYaml("resume-1", "ticker", "mode=tick interval=5");
    ASSERT_TRUE(h.startAgent(a));
    ASSERT_TRUE(h.waitBus([](const auto& rs) { return seqs(of(rs, "resume-1")).size() >= 50; }, 30s));
    int status = h.center(0).process->stop(SIGTERM, 20s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << h.center(0).process->log();
    const size_t before = seqs(of(h.busRecords(), "resume-1")).size();
    ASSERT_TRUE(h.restartCenter(0)) << h.center(0).process->log();
    ASSERT_TRUE(h.waitBus([&](const auto& rs) { return seqs(of(rs, "resume-1")).size() >= before + 50; }, 30s))
        << h.agent("resume-1").log();
    httplib::Client http("127.0.0.1", h.center(0).http_port);
    auto res = http.Get("/metrics");
    ASSERT_TRUE(res) << "no /metrics";
    const std::string want = "vigil_center_tls_tickets_total{result=\"resumed\"} ";
    const auto at = res->body.find(want);
    ASSERT_NE(at, std::string::npos) << res->body;
    EXPECT_GE(std::stol(res->body.substr(at + want.size())), 1) << res->body;
}

INSTANTIATE_TEST_SUITE_P(Bus, CenterIntegration, ::testing::Values("embedded", "nats"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace vigil::testing
