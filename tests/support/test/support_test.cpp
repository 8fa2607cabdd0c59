// Test support self-tests: FakeCenter (mTLS, raw batches, malformed input, restart on the same
// port), FakeDiscovery, and the vigil-testcenter executable end to end.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "agent/spool/spool.h"
#include "agent/transport/batcher.h"
#include "agent/transport/byte_buffer.h"
#include "agent/transport/center_client.h"
#include "libs/common/fs.h"
#include "libs/common/pki.h"
#include "proto/plugin.pb.h"
#include "proto/transfer.pb.h"
#include "tests/support/fake_center.h"
#include "tests/support/fake_discovery.h"
#include "tests/support/test_pki.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;
using RawStream = grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;

std::shared_ptr<grpc::Channel> channelTo(const std::string& address, const TestPki& pki) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pki.ca().cert_pem;
    ssl.pem_cert_chain = pki.agent().cert_pem;
    ssl.pem_private_key = pki.agent().key_pem;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("vigil-center");
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

std::string batchBytes(const std::string& agent_id, uint64_t seq, int records) {
    wire::BatchBuilder b;
    for (int i = 0; i < records; ++i) b.add(59, i, "payload");
    wire::BatchHeader h;
    h.agent_id = agent_id;
    wire::Buffer out;
    b.seal(wire::encodeBatchHeader(h), seq, out);
    return out.toString();
}

TEST(FakeCenterTest, ParsesRawBatchesCountsMalformedAndAcks) {
    TestPki pki("raw-agent");
    ASSERT_TRUE(pki.ok()) << pki.error();
    FakeCenter center(pki.centerOptions());
    ASSERT_TRUE(center.start().ok());
    ASSERT_GT(center.port(), 0);

    auto ch = channelTo(center.address(), pki);
    grpc::ClientContext ctx;
    grpc::internal::RpcMethod method("/grpc.Transfer/Transfer",
                                     grpc::internal::RpcMethod::BIDI_STREAMING, ch);
    std::unique_ptr<RawStream> stream(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            ch.get(), method, &ctx));
    // Before any batch the agent is known by its certificate's CN.
    ASSERT_TRUE(center.waitForAgent("raw-agent", 10s));
    ASSERT_TRUE(stream->Write(
        agent::shareAsByteBuffer(std::make_shared<const std::string>("\xff\xff\xff garbage"))));
    ASSERT_TRUE(stream->Write(agent::shareAsByteBuffer(
        std::make_shared<const std::string>(batchBytes("raw-agent", 7, 3)))));
    grpc::ByteBuffer reply;
    ASSERT_TRUE(stream->Read(&reply));
    grpc::Command ack;
    ASSERT_TRUE(ack.ParseFromString(agent::flattenByteBuffer(reply)));
    EXPECT_EQ(ack.ack_seq(), 7u);
    EXPECT_EQ(center.malformedCount(), 1u);
    EXPECT_EQ(center.batchCount(), 1u);
    EXPECT_EQ(center.recordCount(), 3u);
    auto batches = center.batchesOf("raw-agent");
    ASSERT_EQ(batches.size(), 1u);
    EXPECT_EQ(batches[0].batch_seq, 7u);
    auto records = batches[0].parseRecords();
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[2].timestamp, 2);
    EXPECT_EQ(records[2].payload, "payload");

    grpc::Command cmd;
    cmd.mutable_task()->set_data_type(1060);
    ASSERT_TRUE(center.sendCommand("raw-agent", cmd));
    ASSERT_TRUE(stream->Read(&reply));
    grpc::Command got;
    ASSERT_TRUE(got.ParseFromString(agent::flattenByteBuffer(reply)));
    EXPECT_EQ(got.task().data_type(), 1060);
    ctx.TryCancel();
    (void)stream->Finish();
    EXPECT_TRUE(center.waitUntil([&] { return center.disconnects() == 1; }, 10s));
}

TEST(FakeCenterTest, RestartsOnTheSamePort) {
    TestPki pki;
    ASSERT_TRUE(pki.ok());
    FakeCenter center(pki.centerOptions());
    ASSERT_TRUE(center.start().ok());
    int port = center.port();
    center.stop();
    EXPECT_FALSE(center.running());
    ASSERT_TRUE(center.restart().ok());
    EXPECT_EQ(center.port(), port);
    EXPECT_TRUE(center.running());
    auto ch = channelTo(center.address(), pki);
    EXPECT_TRUE(ch->WaitForConnected(std::chrono::system_clock::now() + 10s));
}

TEST(FakeDiscoveryTest, AnswersElkeidShapedDetail) {
    FakeDiscovery d;
    ASSERT_TRUE(d.start().ok());
    d.setCenters({{"127.0.0.1", 6751, 3}, {"10.0.0.2", 6752, 9}});
    httplib::Client c("127.0.0.1", d.port());
    auto res = c.Get("/registry/detail?name=hids_svr_grpc&count=2");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    auto doc = nlohmann::json::parse(res->body);
    EXPECT_EQ(doc["code"], 0);
    ASSERT_EQ(doc["data"].size(), 2u);
    EXPECT_EQ(doc["data"][1]["ip"], "10.0.0.2");
    EXPECT_EQ(doc["data"][1]["port"], 6752);
    EXPECT_EQ(d.lastName(), "hids_svr_grpc");
    EXPECT_EQ(d.lastCount(), "2");
    EXPECT_EQ(d.requests(), 1u);
    d.stop();
}

TEST(TestPkiTest, WritesVerifiableFiles) {
    std::string dir;
    {
        TestPki pki("agent-x");
        ASSERT_TRUE(pki.ok());
        dir = pki.dir();
        auto agent = pki::readPem(pki.agentCertFile(), pki.agentKeyFile());
        ASSERT_TRUE(agent.ok());
        EXPECT_TRUE(pki::verify(pki.ca().cert_pem, agent->cert_pem).ok());
        auto rogue = pki::readPem(pki.rogueAgentCertFile(), pki.rogueAgentKeyFile());
        ASSERT_TRUE(rogue.ok());
        EXPECT_FALSE(pki::verify(pki.ca().cert_pem, rogue->cert_pem).ok());
        EXPECT_EQ(pki::inspect(rogue->cert_pem)->subject_cn, "agent-x");
    }
    EXPECT_FALSE(fs::exists(dir));  // cleaned up
}

class NullHandler : public agent::CommandHandler {
public:
    void onCommand(const wire::AgentCommand&) override {}
};

// Runs the vigil-testcenter binary and streams records to it with the real transport.
TEST(TestCenterBinaryTest, ReceivesRecordsAndWritesJsonLines) {
    const char* build = std::getenv("VIGIL_BUILD_DIR");
    ASSERT_NE(build, nullptr) << "run through ctest (VIGIL_BUILD_DIR)";
    std::string bin = std::string(build) + "/bin/vigil-testcenter";
    ASSERT_TRUE(fs::exists(bin)) << bin;
    char tmpl[] = "/tmp/vigil-testcenter-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::string out_file = dir + "/records.jsonl", log_file = dir + "/stdout";

    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, 1);
        ::execl(bin.c_str(), bin.c_str(), "--listen", "127.0.0.1:0", "--pki-dir",
                (dir + "/pki").c_str(), "--records-out", out_file.c_str(), nullptr);
        _exit(127);
    }
    // The first line names the chosen port.
    std::string address;
    for (int i = 0; i < 200 && address.empty(); ++i) {
        std::this_thread::sleep_for(50ms);
        std::ifstream f(log_file);
        std::string line;
        if (std::getline(f, line) && line.find("listening on ") != std::string::npos) {
            address = line.substr(line.find("listening on ") + 13);
        }
    }
    ASSERT_FALSE(address.empty()) << "vigil-testcenter did not start";

    metrics::Registry m;
    auto spool = agent::Spool::open({.dir = dir + "/spool"}, m);
    ASSERT_TRUE(spool.ok());
    agent::Batcher batcher({}, **spool, m);
    wire::BatchHeader h;
    h.agent_id = "agent-bin";
    batcher.setHeader(h);
    agent::TransportOptions o;
    o.region = "r";
    o.regions["r"].private_net.centers = {address};
    o.ca_file = dir + "/pki/ca.pem";
    o.cert_file = dir + "/pki/agent.pem";
    o.key_file = dir + "/pki/agent.key";
    NullHandler handler;
    agent::CenterClient client(o, **spool, handler, m);
    ASSERT_TRUE(client.start().ok());
    for (int i = 0; i < 5; ++i) {
        vigil::plugin::Payload p;
        (*p.mutable_fields())["exe"] = "/bin/sh";
        (*p.mutable_fields())["n"] = std::to_string(i);
        batcher.put(59, 1700000000 + i, p.SerializeAsString());
    }
    batcher.flush();

    std::vector<nlohmann::json> lines;
    for (int i = 0; i < 200 && lines.size() < 5; ++i) {
        std::this_thread::sleep_for(50ms);
        lines.clear();
        std::ifstream f(out_file);
        std::string line;
        while (std::getline(f, line)) lines.push_back(nlohmann::json::parse(line));
    }
    client.stop();
    ASSERT_EQ(lines.size(), 5u);
    EXPECT_EQ(lines[3]["agent_id"], "agent-bin");
    EXPECT_EQ(lines[3]["batch_seq"], 1);
    EXPECT_EQ(lines[3]["data_type"], 59);
    EXPECT_EQ(lines[3]["timestamp"], 1700000003);
    EXPECT_EQ(lines[3]["fields"]["exe"], "/bin/sh");
    EXPECT_EQ(lines[3]["fields"]["n"], "3");

    ::kill(pid, SIGTERM);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    std::ifstream f(log_file);
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_NE(all.find("total_records=5"), std::string::npos) << all;
    (void)fs::removeAll(dir);
}

}  // namespace
}  // namespace vigil::testing
