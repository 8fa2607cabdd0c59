// CenterClient against FakeCenter over mTLS: ordered delivery, acks, window, commands, upload,
// certificate refusal, prompt stop, throughput.
#include <fstream>

#include "agent/transport/test/transport_fixture.h"

namespace vigil::agent::test {
namespace {


class TransportTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(pki.ok()) << pki.error();
        center = std::make_unique<testing::FakeCenter>(pki.centerOptions());
        ASSERT_TRUE(center->start().ok());
    }
    TransportOptions options() {
        auto o = baseOptions(pki);
        o.regions["test"].private_net.centers = {center->address()};
        return o;
    }

    testing::TestPki pki{"agent-1"};
    std::unique_ptr<testing::FakeCenter> center;
};

TEST_F(TransportTest, RecordsArriveInOrderAndAcksFreeTheSpool) {
    Agent agent(options(), "agent-1", {.max_records = 500});
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));
    EXPECT_EQ(agent.handler.connections()[0],
              std::make_pair(center->address(), std::string("private")));
    agent.putIndexed(0, 10000);
    agent.batcher->flush();
    ASSERT_TRUE(center->waitForRecords(10000, 20s)) << center->recordCount();

    auto batches = center->batchesOf("agent-1");
    uint64_t last_seq = 0;
    for (const auto& b : batches) {
        EXPECT_GT(b.batch_seq, last_seq) << "batch_seq must increase";
        last_seq = b.batch_seq;
    }
    auto idx = receivedIndexes(*center, "agent-1");
    ASSERT_EQ(idx.size(), 10000u);
    for (size_t i = 0; i < idx.size(); ++i) ASSERT_EQ(idx[i], static_cast<int64_t>(i));

    // Acks come back and free the spool (its segments are deleted).
    ASSERT_TRUE(agent.waitUntil([&] { return agent.spool->stats().pending_batches == 0; }, 10s));
    auto st = agent.spool->stats();
    EXPECT_EQ(st.acked_seq, st.last_seq);
    EXPECT_EQ(st.disk_bytes, 0u);
    auto ts = agent.client->stats();
    EXPECT_TRUE(ts.connected);
    EXPECT_EQ(ts.net_mode, "private");
    EXPECT_EQ(ts.center, center->address());
    EXPECT_EQ(ts.records_sent, 10000u);
    EXPECT_EQ(ts.batches_sent, batches.size());
    EXPECT_GT(agent.metrics.counterValue("vigil_agent_transport_acks_total"), 0u);
}

TEST_F(TransportTest, WindowLimitsInFlightBatchesWithoutAcks) {
    center->setAckMode(testing::AckMode::kNever);
    auto o = options();
    o.window_batches = 4;
    Agent agent(o, "agent-1", {.max_records = 10});
    ASSERT_TRUE(agent.client->start().ok());
    agent.putIndexed(0, 200);  // 20 batches
    ASSERT_TRUE(center->waitForBatches(4, 10s));
    // Give the client ample time to (wrongly) send more; it must stop at the window.
    EXPECT_FALSE(center->waitForBatches(5, 500ms));
    EXPECT_EQ(center->batchCount(), 4u);
    EXPECT_EQ(agent.spool->stats().pending_batches, 20u);
    EXPECT_EQ(agent.metrics.gauge("vigil_agent_transport_inflight_batches", "").value(), 4.0);

    center->setAckMode(testing::AckMode::kImmediate);
    ASSERT_TRUE(center->waitForRecords(200, 10s));
    ASSERT_TRUE(agent.waitUntil([&] { return agent.spool->stats().pending_batches == 0; }, 10s));
    EXPECT_EQ(center->batchCount(), 20u);  // nothing resent: the stream never broke
}

TEST_F(TransportTest, AckBeyondWhatWasSentIsClamped) {
    center->setAckMode(testing::AckMode::kNever);
    auto o = options();
    o.window_batches = 2;
    Agent agent(o, "agent-1", {.max_records = 10});
    ASSERT_TRUE(agent.client->start().ok());
    agent.putIndexed(0, 100);  // 10 batches, 2 in flight
    ASSERT_TRUE(center->waitForBatches(2, 10s));
    grpc::Command bogus;
    bogus.set_ack_seq(1000);
    ASSERT_TRUE(center->sendCommand("agent-1", bogus));
    // The ack frees the two batches sent, not the eight the center never saw.
    ASSERT_TRUE(center->waitForBatches(4, 10s));
    EXPECT_EQ(agent.spool->stats().acked_seq, 2u);
    center->setAckMode(testing::AckMode::kImmediate);
    ASSERT_TRUE(center->waitForRecords(100, 10s));
    auto idx = receivedIndexes(*center, "agent-1");
    ASSERT_EQ(idx.size(), 100u);
    for (size_t i = 0; i < idx.size(); ++i) ASSERT_EQ(idx[i], static_cast<int64_t>(i));
}

TEST_F(TransportTest, DelayedAndBatchedAcksStillDrainTheSpool) {
    center->setAckMode(testing::AckMode::kEveryN);  // ack_every = 10 by default
    Agent agent(options(), "agent-1", {.max_records = 10});
    ASSERT_TRUE(agent.client->start().ok());
    agent.putIndexed(0, 1000);  // 100 batches
    ASSERT_TRUE(center->waitForRecords(1000, 10s));
    ASSERT_TRUE(agent.waitUntil([&] { return agent.spool->stats().pending_batches == 0; }, 10s));
    EXPECT_LE(center->acksSent(), 10u);
}

TEST_F(TransportTest, CommandsReachTheHandlerButBareAcksDoNot) {
    Agent agent(options(), "agent-1", {.max_records = 5});
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(center->waitForAgent("agent-1", 10s));
    agent.putIndexed(0, 50);  // 10 batches, 10 acks
    ASSERT_TRUE(center->waitForRecords(50, 10s));
    ASSERT_TRUE(agent.waitUntil([&] { return agent.spool->stats().pending_batches == 0; }, 10s));

    grpc::Command task;
    task.mutable_task()->set_data_type(1050);
    task.mutable_task()->set_object_name("vigil-agent");
    task.mutable_task()->set_data("{\"path\":\"/etc/passwd\"}");
    task.mutable_task()->set_token("tok-1");
    ASSERT_TRUE(center->sendCommand("agent-1", task));
    grpc::Command sync;
    auto* cfg = sync.add_configs();
    cfg->set_name("collector");
    cfg->set_version("1.2.3");
    cfg->set_sha256("ab");
    cfg->add_download_urls("http://127.0.0.1/collector.tgz");
    sync.set_ack_seq(1);  // a config sync may carry an ack too; it is still passed on
    ASSERT_TRUE(center->sendCommand("agent-1", sync));

    ASSERT_TRUE(agent.handler.waitForCommands(2, 10s));
    auto cmds = agent.handler.commands();
    ASSERT_EQ(cmds.size(), 2u);
    ASSERT_TRUE(cmds[0].has_task);
    EXPECT_EQ(cmds[0].task.data_type, 1050);
    EXPECT_EQ(cmds[0].task.object_name, "vigil-agent");
    EXPECT_EQ(cmds[0].task.data, "{\"path\":\"/etc/passwd\"}");
    EXPECT_EQ(cmds[0].task.token, "tok-1");
    EXPECT_TRUE(cmds[0].configs.empty());
    EXPECT_FALSE(cmds[1].has_task);
    EXPECT_EQ(cmds[1].ack_seq, 1u);
    ASSERT_EQ(cmds[1].configs.size(), 1u);
    EXPECT_EQ(cmds[1].configs[0].name, "collector");
    EXPECT_EQ(cmds[1].configs[0].version, "1.2.3");
    EXPECT_EQ(cmds[1].configs[0].sha256, "ab");
    EXPECT_EQ(cmds[1].configs[0].download_urls,
              std::vector<std::string>{"http://127.0.0.1/collector.tgz"});
    EXPECT_EQ(agent.client->stats().commands_received, 2u);
    EXPECT_FALSE(center->sendCommand("agent-unknown", task));
}

TEST_F(TransportTest, UploadFileDeliversTheBytesAndRespectsTheCap) {
    Agent agent(options(), "agent-1");
    std::string path = agent.spool_dir + "/upload.bin";
    std::string content;
    for (int i = 0; i < 150000; ++i) content += static_cast<char>('a' + (i * 7) % 26);
    content += std::string("\0\x01\xff", 3);
    {
        std::ofstream f(path, std::ios::binary);
        f << content;
    }
    // Not connected yet: a clear error, not a hang.
    auto early = agent.client->uploadFile(path, "tok", 1 << 20);
    EXPECT_FALSE(early.ok());

    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));
    auto st = agent.client->uploadFile(path, "tok-upload", 1 << 20, 16 * 1024);
    ASSERT_TRUE(st.ok()) << st.message();
    auto uploads = center->uploads();
    ASSERT_TRUE(uploads.count("tok-upload"));
    EXPECT_EQ(uploads["tok-upload"], content);

    auto over = agent.client->uploadFile(path, "tok-big", 1000);
    ASSERT_FALSE(over.ok());
    EXPECT_NE(over.message().find("limit"), std::string::npos) << over.message();
    EXPECT_FALSE(center->uploads().count("tok-big"));

    // The center refusing the token is reported as a failure.
    center->expectUploadToken("only-this-one");
    EXPECT_FALSE(agent.client->uploadFile(path, "tok-other", 1 << 20).ok());
    EXPECT_TRUE(agent.client->uploadFile(path, "only-this-one", 1 << 20).ok());
    EXPECT_FALSE(agent.client->uploadFile(agent.spool_dir + "/missing", "t", 1 << 20).ok());
    EXPECT_EQ(agent.metrics.counterValue("vigil_agent_transport_uploads_total", {{"result", "ok"}}),
              2u);
}

TEST_F(TransportTest, ClientCertificateFromAnotherCaIsRefused) {
    auto o = options();
    o.cert_file = pki.rogueAgentCertFile();
    o.key_file = pki.rogueAgentKeyFile();
    Agent agent(o, "agent-1");
    agent.putIndexed(0, 10);
    agent.batcher->flush();
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.waitUntil([&] { return agent.client->stats().connect_failures >= 2; }, 15s));
    EXPECT_EQ(center->streamsOpened(), 0u);
    EXPECT_EQ(center->batchCount(), 0u);
    EXPECT_EQ(agent.spool->stats().pending_batches, 1u);  // nothing lost either

    // The same agent with its real certificate gets through.
    Agent good(options(), "agent-1", {}, agent.spool_dir + "-good");
    good.owns_dir = true;
    good.putIndexed(0, 10);
    good.batcher->flush();
    ASSERT_TRUE(good.client->start().ok());
    EXPECT_TRUE(center->waitForRecords(10, 10s));
}

TEST_F(TransportTest, StopIsPrompt) {
    {
        Agent agent(options(), "agent-1");
        ASSERT_TRUE(agent.client->start().ok());
        ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));
        auto t0 = std::chrono::steady_clock::now();
        agent.client->stop();
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
        EXPECT_FALSE(agent.client->stats().connected);
    }
    // While connecting to a black hole (a long connect timeout) and backing off.
    auto o = baseOptions(pki);
    o.regions["test"].private_net.centers = {"127.0.0.1:" + std::to_string(vigil::testing::freeLoopbackPort()),
                                             "10.255.255.1:6751"};
    o.connect_timeout = 10s;
    Agent agent(o, "agent-1");
    ASSERT_TRUE(agent.client->start().ok());
    std::this_thread::sleep_for(300ms);  // let it get into a connection attempt
    auto t0 = std::chrono::steady_clock::now();
    agent.client->stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);
}

TEST_F(TransportTest, StartRejectsBadConfiguration) {
    metrics::Registry m;
    char tmpl[] = "/tmp/vigil-agent-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    auto spool = Spool::open({.dir = dir}, m);
    ASSERT_TRUE(spool.ok());
    RecordingHandler handler;
    auto o = options();
    o.key_file = dir + "/missing.key";
    EXPECT_FALSE(CenterClient(o, **spool, handler, m).start().ok());
    o = options();
    o.region = "nowhere";
    EXPECT_FALSE(CenterClient(o, **spool, handler, m).start().ok());
    o = options();
    o.network_order = {"private", "dark"};
    EXPECT_FALSE(CenterClient(o, **spool, handler, m).start().ok());
    o = options();
    o.regions["test"] = {};
    EXPECT_FALSE(CenterClient(o, **spool, handler, m).start().ok());
    CenterClient ok(options(), **spool, handler, m);
    EXPECT_TRUE(ok.start().ok());
    EXPECT_FALSE(ok.setRegion("nowhere"));
    EXPECT_TRUE(ok.setRegion("test"));
    ok.stop();
    spool->reset();
    (void)fs::removeAll(dir);
}

// Volume from put() through batcher, disk spool and the gRPC mTLS stream to the FakeCenter; the
// speed of this path is measured by bench/run agent_e2e.
TEST(TransportVolumeTest, ManyRecordsAllArriveOverMtls) {
    testing::TestPki pki("agent-bench");
    ASSERT_TRUE(pki.ok());
    auto co = pki.centerOptions();
    co.store_batches = false;
    testing::FakeCenter center(co);
    ASSERT_TRUE(center.start().ok());
    auto o = baseOptions(pki);
    o.regions["test"].private_net.centers = {center.address()};
    Agent agent(o, "agent-bench");
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));

    constexpr uint64_t kRecords = 300000;
    // A ~200-byte execve-like Payload.
    const std::string payload = [] {
        vigil::plugin::Payload p;
        auto& f = *p.mutable_fields();
        f["exe"] = "/usr/bin/python3.11";
        f["argv"] = "python3 -c import os; os.system('id')";
        f["pid"] = "123456";
        f["ppid"] = "1";
        f["uid"] = "0";
        f["comm"] = "python3";
        f["nodename"] = "bench-host";
        f["pid_tree"] = "123456.python3<1.systemd";
        size_t base = p.ByteSizeLong();
        f["pad"] = std::string(base < 190 ? 190 - base : 0, 'x');
        return p.SerializeAsString();
    }();
    std::atomic<bool> producing{true};
    std::thread ticker([&] {
        while (producing.load()) {
            agent.batcher->tick();
            std::this_thread::sleep_for(50ms);
        }
    });
    for (uint64_t i = 0; i < kRecords; ++i) agent.batcher->put(59, 1700000000, payload);
    agent.batcher->flush();
    bool all = center.waitForRecords(kRecords, 120s);
    producing = false;
    ticker.join();
    ASSERT_TRUE(all) << center.recordCount();
    EXPECT_EQ(center.malformedCount(), 0u);
}

}  // namespace
}  // namespace vigil::agent::test
