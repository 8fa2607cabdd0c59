// Three vigil-discovery replicas on loopback: registrations and evictions reach every replica,
// a replica started late or restarted catches up, expiry works end to end, syncs are signed.
#include <gtest/gtest.h>
#include <httplib.h>

#include <set>

#include "server/discovery/discovery_service.h"
#include "server/discovery/test/discovery_test_util.h"

namespace vigil::discovery {
namespace {

using namespace std::chrono_literals;
using testing::detailIps;
using testing::postJson;
using testing::registration;
using testing::waitFor;

class ReplicationTest : public ::testing::Test {
protected:
    void SetUp() override {
        for (int& p : ports_) {
            p = vigil::testing::freeLoopbackPort();
            ASSERT_GT(p, 0);
        }
        for (int p : ports_) peers_.push_back("127.0.0.1:" + std::to_string(p));
    }
    void TearDown() override {
        for (auto& r : replicas_)
            if (r) r->stop();
    }

    // Replica i lists every replica, itself included (it must recognise itself).
    void startReplica(int i, std::chrono::milliseconds evict_after = 105s) {
        replicas_[i] = std::make_unique<DiscoveryService>(
            testing::replicaOptions(ports_[i], peers_, evict_after), metrics_[i]);
        ASSERT_TRUE(replicas_[i]->start().ok());
    }

    bool everywhere(const std::string& name, size_t n,
                    std::initializer_list<int> which = {0, 1, 2}) {
        for (int i : which)
            if (detailIps(ports_[i], name).size() != n) return false;
        return true;
    }

    int ports_[3] = {0, 0, 0};
    std::vector<std::string> peers_;
    metrics::Registry metrics_[3];
    std::unique_ptr<DiscoveryService> replicas_[3];
};

TEST_F(ReplicationTest, RegisterAndEvictReachEveryReplica) {
    for (int i = 0; i < 3; ++i) startReplica(i);
    auto r = postJson(ports_[0], "/registry/register",
                      registration("hids_svr_grpc", "10.0.0.1", 6751, 3));
    ASSERT_EQ(r.status, 200) << r.body.dump();
    ASSERT_EQ(postJson(ports_[0], "/registry/register",
                       registration("hids_svr_grpc", "10.0.0.2", 6751, 1))
                  .status,
              200);
    EXPECT_TRUE(waitFor([&] { return everywhere("hids_svr_grpc", 2); }, 5s));
    // Least load first on the replicas that only heard of them through syncs.
    EXPECT_EQ(detailIps(ports_[2], "hids_svr_grpc"),
              (std::vector<std::string>{"10.0.0.2", "10.0.0.1"}));

    // A weight update on another replica wins everywhere.
    ASSERT_EQ(postJson(ports_[1], "/registry/register",
                       registration("hids_svr_grpc", "10.0.0.1", 6751, 0))
                  .status,
              200);
    EXPECT_TRUE(waitFor(
        [&] {
            return detailIps(ports_[0], "hids_svr_grpc").front() == "10.0.0.1" &&
                   detailIps(ports_[2], "hids_svr_grpc").front() == "10.0.0.1";
        },
        5s));

    // Evict on replica 2: gone from 0 and 1 too.
    auto e = postJson(ports_[2], "/registry/evict",
                      {{"name", "hids_svr_grpc"}, {"ip", "10.0.0.2"}, {"port", 6751}});
    ASSERT_EQ(e.status, 200);
    EXPECT_TRUE(waitFor([&] { return everywhere("hids_svr_grpc", 1); }, 5s));
    EXPECT_EQ(detailIps(ports_[0], "hids_svr_grpc"), (std::vector<std::string>{"10.0.0.1"}));

    // Each replica found itself in the peer list and replicates to the two others only.
    EXPECT_TRUE(
        waitFor([&] { return replicas_[0]->peersUp() == 2 && replicas_[1]->peersUp() == 2; }, 5s));
    EXPECT_GT(metrics_[0].counterTotal("vigil_discovery_sync_changes_sent_total"), 0u);
}

TEST_F(ReplicationTest, LateReplicaCatchesUp) {
    startReplica(0);
    startReplica(1);
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(postJson(ports_[i % 2], "/registry/register",
                           registration("svc", "10.0.1." + std::to_string(i), 6751, i))
                      .status,
                  200);
    ASSERT_EQ(postJson(ports_[0], "/registry/evict",
                       {{"name", "svc"}, {"ip", "10.0.1.4"}, {"port", 6751}})
                  .status,
              200);
    EXPECT_TRUE(waitFor([&] { return everywhere("svc", 4, {0, 1}); }, 5s));
    const auto started = std::chrono::steady_clock::now();
    startReplica(2);
    EXPECT_TRUE(waitFor([&] { return detailIps(ports_[2], "svc").size() == 4; }, 5s));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_EQ(detailIps(ports_[2], "svc"),
              (std::vector<std::string>{"10.0.1.0", "10.0.1.1", "10.0.1.2", "10.0.1.3"}));
}

TEST_F(ReplicationTest, RestartedReplicaGetsWhatItMissed) {
    for (int i = 0; i < 3; ++i) startReplica(i);
    ASSERT_EQ(
        postJson(ports_[0], "/registry/register", registration("svc", "10.0.2.1", 6751, 0)).status,
        200);
    ASSERT_TRUE(waitFor([&] { return everywhere("svc", 1); }, 5s));
    replicas_[1]->stop();
    replicas_[1].reset();
    ASSERT_EQ(
        postJson(ports_[2], "/registry/register", registration("svc", "10.0.2.2", 6751, 0)).status,
        200);
    startReplica(1);  // empty state, same port
    EXPECT_TRUE(waitFor([&] { return detailIps(ports_[1], "svc").size() == 2; }, 5s));
    EXPECT_TRUE(waitFor([&] { return everywhere("svc", 2); }, 5s));
}

TEST_F(ReplicationTest, ExpiryLevelsEndToEnd) {
    // Levels at 900/1200/1500/1800 ms, eviction after 2100 ms.
    for (int i = 0; i < 3; ++i) startReplica(i, 2100ms);
    ASSERT_EQ(
        postJson(ports_[0], "/registry/register", registration("svc", "10.0.3.1", 6751, 0)).status,
        200);
    ASSERT_TRUE(waitFor([&] { return everywhere("svc", 1); }, 2s));
    std::set<std::string> seen;
    bool gone = waitFor(
        [&] {
            auto a = testing::getJson(ports_[1], "/registry/detail?name=svc");
            if (a.status != 200 || a.body["data"].empty()) return true;
            seen.insert(a.body["data"][0]["status"].get<std::string>());
            return false;
        },
        5s);
    EXPECT_TRUE(gone);
    EXPECT_TRUE(seen.count("green"));
    EXPECT_TRUE(seen.count("yellow") || seen.count("orange") || seen.count("red"))
        << "levels seen: " << seen.size();
    EXPECT_TRUE(waitFor([&] { return everywhere("svc", 0); }, 2s));
    EXPECT_TRUE(waitFor(
        [&] {
            return metrics_[0].counterValue("vigil_discovery_evictions_total",
                                            {{"cause", "expiry"}}) == 1;
        },
        2s));
}

TEST_F(ReplicationTest, LargeSnapshotsAreSplitUnderTheBodyCap) {
    startReplica(0);
    // 300 instances with 3 KiB of extra each: ~1 MB of state, over the 1 MiB body cap at once.
    nlohmann::json extra = {{"blob", std::string(3000, 'x')}};
    for (int i = 0; i < 300; ++i) {
        auto reg = registration(
            "big", "10.1." + std::to_string(i / 200) + "." + std::to_string(i % 200), 6751, i);
        reg["extra"] = extra;
        ASSERT_EQ(postJson(ports_[0], "/registry/register", reg).status, 200);
    }
    startReplica(1);
    EXPECT_TRUE(waitFor([&] { return replicas_[1]->registry().size() == 300; }, 10s))
        << replicas_[1]->registry().size();
    EXPECT_EQ(metrics_[1].counterValue(
                  "vigil_http_requests_total",
                  {{"server", "discovery"}, {"route", "/registry/sync"}, {"code", "413"}}),
              0u);
}

TEST_F(ReplicationTest, ChangesQueuedAtStopAreSent) {
    startReplica(0);
    startReplica(1);
    ASSERT_EQ(
        postJson(ports_[0], "/registry/register", registration("svc", "10.0.6.1", 6751, 0)).status,
        200);
    ASSERT_TRUE(waitFor([&] { return everywhere("svc", 1, {0, 1}); }, 5s));
    ASSERT_TRUE(waitFor([&] { return replicas_[0]->peersUp() == 1; }, 5s));
    ASSERT_EQ(postJson(ports_[0], "/registry/evict",
                       {{"name", "svc"}, {"ip", "10.0.6.1"}, {"port", 6751}})
                  .status,
              200);
    replicas_[0]->stop();  // before the flush interval is over
    EXPECT_TRUE(detailIps(ports_[1], "svc").empty());
}

TEST_F(ReplicationTest, SyncsMustBeSigned) {
    startReplica(0);
    nlohmann::json sync = {
        {"source", "127.0.0.1:1"},
        {"data", {{{"action", "REGISTER"}, {"registry", registration("svc", "10.0.4.1", 1, 0)}}}}};
    EXPECT_EQ(postJson(ports_[0], "/registry/sync", sync, server::AkSk{}).status, 401);
    EXPECT_EQ(postJson(ports_[0], "/registry/sync", sync,
                       server::AkSk{"test-ak", "wrong-secret-0000000000"})
                  .status,
              401);
    EXPECT_TRUE(detailIps(ports_[0], "svc").empty());
    EXPECT_EQ(postJson(ports_[0], "/registry/sync", sync).status, 200);
    EXPECT_EQ(detailIps(ports_[0], "svc").size(), 1u);
}

TEST_F(ReplicationTest, MalformedRequestsLeaveTheReplicaServing) {
    startReplica(0);
    ASSERT_EQ(
        postJson(ports_[0], "/registry/register", registration("svc", "10.0.5.1", 6751, 0)).status,
        200);
    httplib::Client c("127.0.0.1", ports_[0]);
    auto big = c.Post("/registry/register", std::string(2 << 20, '{'), "application/json");
    ASSERT_TRUE(big);
    EXPECT_EQ(big->status, 413);
    auto garbage = c.Post("/registry/register", "\x01\x02garbage", "application/json");
    ASSERT_TRUE(garbage);
    EXPECT_EQ(garbage->status, 401);  // unsigned: refused before the body is even parsed
    auto bad = postJson(ports_[0], "/registry/register", {{"name", 5}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(bad.body["code"], 400);
    EXPECT_EQ(detailIps(ports_[0], "svc"), (std::vector<std::string>{"10.0.5.1"}));
}

}  // namespace
}  // namespace vigil::discovery
