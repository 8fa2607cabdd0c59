// The agent's discovery client (agent/transport/discovery.h) against the real vigil-discovery.
#include "agent/transport/discovery.h"

#include <gtest/gtest.h>

#include <set>

#include "server/discovery/discovery_service.h"
#include "server/discovery/test/discovery_test_util.h"

namespace vigil::discovery {
namespace {

using namespace std::chrono_literals;
using testing::postJson;
using testing::registration;

class AgentClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        service_ = std::make_unique<DiscoveryService>(testing::replicaOptions(0), metrics_);
        ASSERT_TRUE(service_->start().ok());
    }
    metrics::Registry metrics_;
    std::unique_ptr<DiscoveryService> service_;
};

TEST_F(AgentClientTest, LeastLoadedCentersFirst) {
    ASSERT_EQ(postJson(service_->port(), "/registry/register",
                       registration("hids_svr_grpc", "10.0.0.3", 6751, 30))
                  .status,
              200);
    ASSERT_EQ(postJson(service_->port(), "/registry/register",
                       registration("hids_svr_grpc", "10.0.0.1", 6751, 10))
                  .status,
              200);
    ASSERT_EQ(postJson(service_->port(), "/registry/register",
                       registration("hids_svr_grpc", "fd00::2", 7000, 20))
                  .status,
              200);
    ASSERT_EQ(
        postJson(service_->port(), "/registry/register", registration("other", "10.0.0.9", 1, 0))
            .status,
        200);
    auto centers = agent::queryDiscovery(service_->address(), "hids_svr_grpc", 10, 2s);
    ASSERT_TRUE(centers.ok()) << centers.message();
    ASSERT_EQ(centers->size(), 3u);
    EXPECT_EQ((*centers)[0].address, "10.0.0.1:6751");
    EXPECT_EQ((*centers)[0].weight, 10);
    EXPECT_EQ((*centers)[1].address, "[fd00::2]:7000");
    EXPECT_EQ((*centers)[2].address, "10.0.0.3:6751");

    auto two = agent::queryDiscovery(service_->address(), "hids_svr_grpc", 2, 2s);
    ASSERT_TRUE(two.ok());
    EXPECT_EQ(two->size(), 2u);
    auto none = agent::queryDiscovery(service_->address(), "no_such_service", 5, 2s);
    ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->empty());
}

TEST_F(AgentClientTest, EqualLoadsAreSpreadOverAgents) {
    ASSERT_EQ(postJson(service_->port(), "/registry/register",
                       registration("hids_svr_grpc", "10.0.0.1", 6751, 5))
                  .status,
              200);
    ASSERT_EQ(postJson(service_->port(), "/registry/register",
                       registration("hids_svr_grpc", "10.0.0.2", 6751, 5))
                  .status,
              200);
    std::set<std::string> first;
    for (int i = 0; i < 60 && first.size() < 2; ++i) {
        auto c = agent::queryDiscovery(service_->address(), "hids_svr_grpc", 1, 2s);
        ASSERT_TRUE(c.ok()) << c.message();
        ASSERT_EQ(c->size(), 1u);
        first.insert((*c)[0].address);
    }
    EXPECT_EQ(first.size(), 2u);
}

}  // namespace
}  // namespace vigil::discovery
