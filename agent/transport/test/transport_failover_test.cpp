// CenterClient endpoint selection and recovery: center restart (at-least-once, no gaps),
// discovery (least-loaded first), fallback to configured centers and to the public network,
// and an agent restart with unacknowledged batches in its spool.
#include <set>

#include "agent/transport/test/transport_fixture.h"

namespace vigil::agent::test {
namespace {

class FailoverTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(pki.ok()) << pki.error(); }
    std::unique_ptr<testing::FakeCenter> startCenter() {
        auto c = std::make_unique<testing::FakeCenter>(pki.centerOptions());
        EXPECT_TRUE(c->start().ok());
        return c;
    }
    static std::string deadAddress() { return "127.0.0.1:" + std::to_string(vigil::testing::freeLoopbackPort()); }

    testing::TestPki pki{"agent-1"};
};

// Checks every index in [0, n) arrived and batch_seqs 1..max all arrived (no gaps).
void expectCompleteDelivery(const testing::FakeCenter& center, const std::string& agent_id,
                            int64_t n) {
    auto idx = receivedIndexes(center, agent_id);
    std::set<int64_t> unique(idx.begin(), idx.end());
    EXPECT_EQ(unique.size(), static_cast<size_t>(n));
    EXPECT_EQ(*unique.begin(), 0);
    EXPECT_EQ(*unique.rbegin(), n - 1);
    std::set<uint64_t> seqs;
    for (const auto& b : center.batchesOf(agent_id)) seqs.insert(b.batch_seq);
    ASSERT_FALSE(seqs.empty());
    EXPECT_EQ(*seqs.begin(), 1u);
    EXPECT_EQ(seqs.size(), *seqs.rbegin()) << "a gap in batch_seq";
}

TEST_F(FailoverTest, CenterRestartReconnectsAndEveryRecordArrives) {
    auto center = startCenter();
    center->setAckMode(testing::AckMode::kDelayed);  // unacked batches in flight when it dies
    auto o = baseOptions(pki);
    o.regions["test"].private_net.centers = {center->address()};
    Agent agent(o, "agent-1", {.max_records = 50});
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));

    constexpr int64_t kTotal = 20000;
    std::atomic<int64_t> produced{0};
    std::thread producer([&] {
        for (int64_t i = 0; i < kTotal; i += 100) {
            agent.putIndexed(static_cast<uint64_t>(i), static_cast<uint64_t>(i + 100));
            produced = i + 100;
            std::this_thread::sleep_for(2ms);
        }
        agent.batcher->flush();
    });
    ASSERT_TRUE(center->waitForRecords(3000, 20s));
    center->stop();
    ASSERT_TRUE(agent.waitUntil([&] { return !agent.client->stats().connected; }, 10s));
    // Down for a while: the agent fails to reconnect, backs off, and keeps spooling.
    ASSERT_TRUE(agent.waitUntil([&] { return agent.client->stats().connect_failures >= 2; }, 10s));
    const auto received_before = center->recordCount();
    ASSERT_TRUE(center->restart().ok());
    producer.join();
    ASSERT_TRUE(center->waitForRecords(static_cast<uint64_t>(kTotal), 30s));
    ASSERT_TRUE(agent.waitUntil([&] { return agent.spool->stats().pending_batches == 0; }, 20s));
    expectCompleteDelivery(*center, "agent-1", kTotal);
    EXPECT_GE(center->streamsOpened(), 2u);
    EXPECT_GE(agent.client->stats().reconnects, 1u);
    EXPECT_GT(received_before, 0u);
    std::printf("received %lu records for %ld produced (%lu resent after the restart)\n",
                static_cast<unsigned long>(center->recordCount()), static_cast<long>(kTotal),
                static_cast<unsigned long>(center->recordCount() - kTotal));
}

TEST_F(FailoverTest, DroppedStreamReconnectsWithTlsSessionResumption) {
    auto center = startCenter();
    auto o = baseOptions(pki);
    o.regions["test"].private_net.centers = {center->address()};
    Agent agent(o, "agent-1", {.max_records = 10});
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));
    EXPECT_FALSE(agent.client->stats().tls_session_reused);
    agent.putIndexed(0, 100);
    ASSERT_TRUE(center->waitForRecords(100, 10s));
    ASSERT_TRUE(agent.waitUntil([&] { return agent.spool->stats().pending_batches == 0; }, 10s));

    center->disconnectAll();
    ASSERT_TRUE(agent.handler.waitForConnections(2, 10s));
    EXPECT_TRUE(agent.client->stats().tls_session_reused);
    EXPECT_EQ(agent.metrics.counterValue("vigil_agent_transport_tls_resumptions_total"), 1u);
    agent.putIndexed(100, 200);
    ASSERT_TRUE(center->waitForRecords(200, 10s));
    expectCompleteDelivery(*center, "agent-1", 200);
}

TEST_F(FailoverTest, DiscoveryPicksTheLeastLoadedCenter) {
    auto busy = startCenter();
    auto idle = startCenter();
    testing::FakeDiscovery discovery;
    ASSERT_TRUE(discovery.start().ok());
    discovery.setCenters({{"127.0.0.1", busy->port(), 120}, {"127.0.0.1", idle->port(), 4}});
    auto o = baseOptions(pki);
    o.discovery_service = "vigil_center_grpc";
    o.regions["test"].private_net.discovery = {deadAddress(), discovery.address()};
    o.regions["test"].private_net.centers = {busy->address()};
    Agent agent(o, "agent-1");
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));
    EXPECT_EQ(agent.handler.connections()[0],
              std::make_pair(idle->address(), std::string("sd-private")));
    auto st = agent.client->stats();
    EXPECT_EQ(st.net_mode, "sd-private");
    EXPECT_EQ(st.center, idle->address());
    EXPECT_EQ(discovery.lastName(), "vigil_center_grpc");
    EXPECT_FALSE(discovery.lastCount().empty());
    // The dead discovery replica was tried first and counted.
    EXPECT_GE(agent.metrics.counterValue("vigil_agent_transport_connect_failures_total",
                                         {{"cause", "discovery"}}),
              1u);
    agent.putIndexed(0, 100);
    agent.batcher->flush();
    ASSERT_TRUE(idle->waitForRecords(100, 10s));
    EXPECT_EQ(busy->batchCount(), 0u);
}

TEST_F(FailoverTest, DiscoveredCentersThatAreDownAreSkipped) {
    auto center = startCenter();
    testing::FakeDiscovery discovery;
    ASSERT_TRUE(discovery.start().ok());
    int dead = vigil::testing::freeLoopbackPort();
    discovery.setCenters({{"127.0.0.1", dead, 0}, {"127.0.0.1", center->port(), 10}});
    auto o = baseOptions(pki);
    o.connect_timeout = 500ms;
    o.regions["test"].private_net.discovery = {discovery.address()};
    Agent agent(o, "agent-1");
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));
    EXPECT_EQ(agent.client->stats().center, center->address());
    EXPECT_EQ(agent.client->stats().net_mode, "sd-private");
    EXPECT_GE(agent.metrics.counterValue("vigil_agent_transport_connect_failures_total",
                                         {{"cause", "unreachable"}}),
              1u);
}

TEST_F(FailoverTest, FallsBackToConfiguredCentersWhenDiscoveryIsDown) {
    auto center = startCenter();
    testing::FakeDiscovery broken;
    ASSERT_TRUE(broken.start().ok());
    broken.setRawAnswer(500, "oops");
    auto o = baseOptions(pki);
    o.regions["test"].private_net.discovery = {deadAddress(), broken.address()};
    o.regions["test"].private_net.centers = {center->address()};
    Agent agent(o, "agent-1");
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));
    EXPECT_EQ(agent.client->stats().net_mode, "private");
    EXPECT_EQ(agent.client->stats().center, center->address());
    EXPECT_GE(broken.requests(), 1u);
    EXPECT_GE(agent.metrics.counterValue("vigil_agent_transport_connect_failures_total",
                                         {{"cause", "discovery"}}),
              2u);
}

TEST_F(FailoverTest, FallsBackToThePublicNetwork) {
    auto center = startCenter();
    auto o = baseOptions(pki);
    o.connect_timeout = 500ms;
    o.regions["test"].private_net.discovery = {deadAddress()};
    o.regions["test"].private_net.centers = {deadAddress()};
    o.regions["test"].public_net.centers = {center->address()};
    Agent agent(o, "agent-1");
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));
    EXPECT_EQ(agent.client->stats().net_mode, "public");
    agent.putIndexed(0, 10);
    agent.batcher->flush();
    ASSERT_TRUE(center->waitForRecords(10, 10s));
}

TEST_F(FailoverTest, PublicDiscoveryIsUsedAfterThePrivateNetwork) {
    auto center = startCenter();
    testing::FakeDiscovery discovery;
    ASSERT_TRUE(discovery.start().ok());
    discovery.setCenters({{"127.0.0.1", center->port(), 1}});
    auto o = baseOptions(pki);
    o.connect_timeout = 500ms;
    o.regions["test"].private_net.centers = {deadAddress()};
    o.regions["test"].public_net.discovery = {discovery.address()};
    Agent agent(o, "agent-1");
    ASSERT_TRUE(agent.client->start().ok());
    ASSERT_TRUE(agent.handler.waitForConnections(1, 10s));
    EXPECT_EQ(agent.client->stats().net_mode, "sd-public");

    // With the order reversed, the public network is tried first.
    auto o2 = o;
    o2.network_order = {"public", "private"};
    o2.regions["test"].private_net.centers = {center->address()};
    Agent agent2(o2, "agent-2");
    ASSERT_TRUE(agent2.client->start().ok());
    ASSERT_TRUE(agent2.handler.waitForConnections(1, 10s));
    EXPECT_EQ(agent2.client->stats().net_mode, "sd-public");
}

TEST_F(FailoverTest, AgentRestartResendsUnackedBatches) {
    auto center = startCenter();
    center->setAckMode(testing::AckMode::kNever);
    auto o = baseOptions(pki);
    o.regions["test"].private_net.centers = {center->address()};
    char tmpl[] = "/tmp/vigil-agent-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    {
        Agent agent(o, "agent-1", {.max_records = 100}, dir);
        ASSERT_TRUE(agent.client->start().ok());
        agent.putIndexed(0, 1000);
        agent.batcher->flush();
        ASSERT_TRUE(center->waitForRecords(1000, 10s));
    }  // the agent goes away with 10 unacked batches in its spool
    center->clearBatches();
    center->setAckMode(testing::AckMode::kImmediate);
    {
        Agent agent(o, "agent-1", {.max_records = 100}, dir);
        EXPECT_EQ(agent.spool->stats().pending_batches, 10u);
        ASSERT_TRUE(agent.client->start().ok());
        agent.putIndexed(1000, 1500);
        agent.batcher->flush();
        ASSERT_TRUE(center->waitForRecords(2500, 10s));
        ASSERT_TRUE(
            agent.waitUntil([&] { return agent.spool->stats().pending_batches == 0; }, 10s));
        expectCompleteDelivery(*center, "agent-1", 1500);
    }
    // Everything acked: a third start sends nothing again.
    center->clearBatches();
    {
        Agent agent(o, "agent-1", {.max_records = 100}, dir);
        EXPECT_EQ(agent.spool->stats().pending_batches, 0u);
        EXPECT_EQ(agent.spool->stats().last_seq, 15u);
    }
    (void)fs::removeAll(dir);
}

}  // namespace
}  // namespace vigil::agent::test
