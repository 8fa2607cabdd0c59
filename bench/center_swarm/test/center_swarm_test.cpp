// Integration test of the load generator: a swarm of simulated agents against FakeCenter
// (gRPC, mTLS) delivers intact batches (parseable, right agent ids, increasing batch_seq),
// measures acks, resumes TLS sessions after a center restart, and floods within its window.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "bench/center_swarm/swarm.h"
#include "tests/support/fake_center.h"
#include "tests/support/test_pki.h"

namespace vigil::bench {
namespace {

using namespace std::chrono_literals;

SwarmOptions swarmOptions(const testing::TestPki& pki, const testing::FakeCenter& center,
                          uint32_t agents) {
    SwarmOptions o;
    o.host = "127.0.0.1";
    o.port = static_cast<uint16_t>(center.port());
    o.ca_file = pki.caFile();
    o.cert_file = pki.agentCertFile();
    o.key_file = pki.agentKeyFile();
    o.agents = agents;
    o.threads = 2;
    o.connect_rate = 200;
    o.batches_per_s = 5;
    o.records_per_batch = 10;
    o.backoff_initial = 100ms;
    o.backoff_max = 1000ms;
    o.seed = 42;
    return o;
}

bool waitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (cond()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return cond();
}

TEST(CenterSwarm, BatchesArriveIntactAndAcksAreMeasured) {
    testing::TestPki pki;
    ASSERT_TRUE(pki.ok()) << pki.error();
    testing::FakeCenter center(pki.centerOptions());
    ASSERT_TRUE(center.start().ok());

    constexpr uint32_t kAgents = 20;
    Swarm swarm(swarmOptions(pki, center, kAgents));
    ASSERT_TRUE(swarm.start().ok());
    ASSERT_TRUE(waitFor([&] { return swarm.shared().first_all_connected_ns.load() != 0; }, 20s))
        << "connected: " << swarm.snapshot().connected;
    std::this_thread::sleep_for(3s);
    const SwarmSnapshot before_stop = swarm.snapshot();
    swarm.stop();

    EXPECT_EQ(before_stop.connected, kAgents);
    EXPECT_EQ(before_stop.errorTotal(), 0u);
    EXPECT_EQ(before_stop.handshakes_full + before_stop.handshakes_resumed, kAgents);
    EXPECT_GE(before_stop.batches_sent, kAgents * 10u);
    EXPECT_GT(before_stop.batches_acked, 0u);
    EXPECT_GT(before_stop.ack_latency.total, 0u);
    EXPECT_EQ(before_stop.ack_latency.total, before_stop.batches_acked);
    EXPECT_GT(before_stop.ack_latency.percentileMs(0.99), 0.0);
    EXPECT_EQ(before_stop.records_acked, before_stop.batches_acked * 10);

    EXPECT_EQ(center.malformedCount(), 0u);
    const auto batches = center.batches();
    ASSERT_GE(batches.size(), before_stop.batches_acked);
    std::map<std::string, uint64_t> last_seq;
    for (const auto& b : batches) {
        ASSERT_TRUE(b.agent_id.starts_with("swarm-")) << b.agent_id;
        EXPECT_GT(b.batch_seq, last_seq[b.agent_id]) << b.agent_id;
        last_seq[b.agent_id] = b.batch_seq;
        const auto records = b.parseRecords();
        ASSERT_EQ(records.size(), 10u);
        EXPECT_EQ(b.records, 10u);
        for (const auto& r : records) {
            EXPECT_TRUE(r.data_type == 59 || r.data_type == 42 || r.data_type == 1000);
            EXPECT_GT(r.payload.size(), 100u);
            EXPECT_GT(r.timestamp, 1'600'000'000);
        }
        if (b.batch_seq == 1) {
            EXPECT_EQ(records.front().data_type, 1000) << "heartbeat first";
        }
    }
    std::set<std::string> expected;
    for (uint32_t i = 0; i < kAgents; ++i) expected.insert(fmt::format("swarm-{:06}", i));
    std::set<std::string> seen;
    for (const auto& [id, seq] : last_seq) seen.insert(id);
    EXPECT_EQ(seen, expected);
    for (const auto& id : expected) {
        const auto of = center.batchesOf(id);
        ASSERT_FALSE(of.empty()) << id;
        EXPECT_EQ(of.front().batch_seq, 1u) << id;
    }
}

// A center that kicks its agents (same process, same ticket keys) sees them come back with
// resumed sessions; a restarted center (new ticket keys) sees full handshakes, and every agent
// reconnects either way with batch_seq still increasing.
TEST(CenterSwarm, ReconnectsResumingSessionsAndAfterCenterRestart) {
    testing::TestPki pki;
    ASSERT_TRUE(pki.ok()) << pki.error();
    testing::FakeCenter center(pki.centerOptions());
    ASSERT_TRUE(center.start().ok());

    constexpr uint32_t kAgents = 10;
    SwarmOptions o = swarmOptions(pki, center, kAgents);
    o.batches_per_s = 2;
    Swarm swarm(o);
    ASSERT_TRUE(swarm.start().ok());
    ASSERT_TRUE(waitFor([&] { return swarm.shared().first_all_connected_ns.load() != 0; }, 20s));
    std::this_thread::sleep_for(1s);  // tickets arrive after the handshake

    center.disconnectAll();
    const int64_t kicked = monoNs();
    ASSERT_TRUE(waitFor([&] { return swarm.shared().last_all_connected_ns.load() > kicked; }, 30s))
        << "connected: " << swarm.snapshot().connected;
    const SwarmSnapshot after_kick = swarm.snapshot();
    EXPECT_EQ(after_kick.sessions_offered, kAgents);
    EXPECT_EQ(after_kick.handshakes_resumed, kAgents)
        << "full " << after_kick.handshakes_full << ", offered " << after_kick.sessions_offered;
    EXPECT_GE(after_kick.errorTotal(), kAgents) << "every stream was ended by the center";
    std::this_thread::sleep_for(1s);

    ASSERT_TRUE(center.restart().ok());
    const int64_t restarted = monoNs();
    ASSERT_TRUE(waitFor(
        [&] { return swarm.shared().last_all_connected_ns.load() > restarted; }, 30s))
        << "connected: " << swarm.snapshot().connected;
    const SwarmSnapshot s = swarm.snapshot();
    swarm.stop();

    EXPECT_GE(swarm.shared().all_connected_events.load(), 3u);
    EXPECT_EQ(s.handshakes_full + s.handshakes_resumed, 3 * kAgents);
    EXPECT_EQ(s.handshakes_resumed, kAgents) << "a restarted FakeCenter has new ticket keys";
    EXPECT_EQ(center.malformedCount(), 0u);
    for (uint32_t i = 0; i < kAgents; ++i) {
        const auto of = center.batchesOf(fmt::format("swarm-{:06}", i));
        ASSERT_GE(of.size(), 3u);
        for (size_t k = 1; k < of.size(); ++k) EXPECT_GT(of[k].batch_seq, of[k - 1].batch_seq);
    }
}

TEST(CenterSwarm, FloodKeepsWindowOfUnackedBatches) {
    testing::TestPki pki;
    ASSERT_TRUE(pki.ok()) << pki.error();
    testing::FakeCenterOptions co = pki.centerOptions();
    co.store_batches = false;
    testing::FakeCenter center(co);
    ASSERT_TRUE(center.start().ok());

    SwarmOptions o = swarmOptions(pki, center, 4);
    o.flood = true;
    o.window = 4;
    o.records_per_batch = 100;
    Swarm swarm(o);
    ASSERT_TRUE(swarm.start().ok());
    ASSERT_TRUE(waitFor([&] { return swarm.snapshot().records_acked >= 20'000; }, 30s))
        << "acked " << swarm.snapshot().records_acked;
    const SwarmSnapshot s = swarm.snapshot();
    swarm.stop();
    EXPECT_EQ(s.errorTotal(), 0u);
    EXPECT_LE(s.batches_sent - s.batches_acked, 4u * 4u) << "at most the window per agent";
    EXPECT_EQ(center.malformedCount(), 0u);
    EXPECT_GE(center.recordCount(), s.records_acked);
}

}  // namespace
}  // namespace vigil::bench
