// server::Registrar against a real vigil-discovery: registers with its load, follows load
// changes, evicts on stop, and survives discovery being down then up.
#include "server/common/registrar.h"

#include <gtest/gtest.h>

#include <atomic>

#include "server/discovery/discovery_service.h"
#include "server/discovery/test/discovery_test_util.h"

namespace vigil::discovery {
namespace {

using namespace std::chrono_literals;
using testing::getJson;
using testing::waitFor;

server::RegistrarOptions registrarOptions(std::vector<std::string> discovery) {
    server::RegistrarOptions o;
    o.discovery = std::move(discovery);
    o.name = "hids_svr_grpc";
    o.ip = "10.9.0.1";
    o.port = 6751;
    o.interval = 300ms;
    o.key = testing::kTestKey;
    o.extra = {{"http_port", "6752"}};
    return o;
}

// The weight discovery reports for the registrar's instance, -1 when absent.
int64_t weightAt(int port) {
    auto a = getJson(port, "/registry/detail?name=hids_svr_grpc");
    if (a.status != 200 || a.body["data"].empty()) return -1;
    return a.body["data"][0]["weight"].get<int64_t>();
}

TEST(RegistrarTest, RegistersFollowsLoadAndEvictsOnStop) {
    metrics::Registry dm, rm;
    DiscoveryService discovery(testing::replicaOptions(0), dm);
    ASSERT_TRUE(discovery.start().ok());
    std::atomic<int> load{7};
    server::Registrar registrar(
        registrarOptions({discovery.address()}), [&] { return load.load(); }, rm);
    registrar.start();
    EXPECT_TRUE(waitFor([&] { return registrar.registeredOnce(); }, 5s));
    EXPECT_TRUE(waitFor([&] { return weightAt(discovery.port()) == 7; }, 5s));
    auto a = getJson(discovery.port(), "/registry/detail?name=hids_svr_grpc");
    EXPECT_EQ(a.body["data"][0]["ip"], "10.9.0.1");
    EXPECT_EQ(a.body["data"][0]["port"], 6751);
    EXPECT_EQ(a.body["data"][0]["extra"]["http_port"], "6752");
    load = 42;
    EXPECT_TRUE(waitFor([&] { return weightAt(discovery.port()) == 42; }, 5s));
    registrar.stop();
    EXPECT_EQ(weightAt(discovery.port()), -1);  // evicted synchronously by stop()
    EXPECT_GE(
        rm.counterValue("vigil_registrar_requests_total", {{"action", "evict"}, {"result", "ok"}}),
        1u);
}

TEST(RegistrarTest, SurvivesDiscoveryDownThenUp) {
    const int port = vigil::testing::freeLoopbackPort();
    ASSERT_GT(port, 0);
    metrics::Registry rm;
    std::atomic<int> load{3};
    server::Registrar registrar(
        registrarOptions({"127.0.0.1:" + std::to_string(port)}), [&] { return load.load(); }, rm);
    registrar.start();  // nothing listens yet
    EXPECT_TRUE(waitFor(
        [&] {
            return rm.counterValue("vigil_registrar_requests_total",
                                   {{"action", "register"}, {"result", "error"}}) >= 2;
        },
        5s));
    EXPECT_FALSE(registrar.registeredOnce());
    {
        metrics::Registry dm;
        DiscoveryService discovery(testing::replicaOptions(port), dm);
        ASSERT_TRUE(discovery.start().ok());
        EXPECT_TRUE(waitFor([&] { return weightAt(port) == 3; }, 5s));
        discovery.stop();
    }
    // Down again, then a fresh (empty) discovery on the same port: registered again.
    load = 4;
    std::this_thread::sleep_for(500ms);
    metrics::Registry dm2;
    DiscoveryService again(testing::replicaOptions(port), dm2);
    ASSERT_TRUE(again.start().ok());
    EXPECT_TRUE(waitFor([&] { return weightAt(port) == 4; }, 5s));
    registrar.stop();
    EXPECT_EQ(weightAt(port), -1);
}

TEST(RegistrarTest, WrongKeyIsRefusedAndCounted) {
    metrics::Registry dm, rm;
    DiscoveryService discovery(testing::replicaOptions(0), dm);
    ASSERT_TRUE(discovery.start().ok());
    auto o = registrarOptions({discovery.address()});
    o.key.secret_key = "not-the-secret-0000000000";
    server::Registrar registrar(
        o, [] { return 1; }, rm);
    registrar.start();
    EXPECT_TRUE(waitFor(
        [&] {
            return rm.counterValue("vigil_registrar_requests_total",
                                   {{"action", "register"}, {"result", "error"}}) >= 1;
        },
        5s));
    EXPECT_FALSE(registrar.registeredOnce());
    EXPECT_EQ(weightAt(discovery.port()), -1);
    EXPECT_GE(dm.counterValue(
                  "vigil_http_requests_total",
                  {{"server", "discovery"}, {"route", "/registry/register"}, {"code", "401"}}),
              1u);
    registrar.stop();
}

TEST(RegistrarTest, RegistersWithEveryReplica) {
    metrics::Registry m1, m2, rm;
    DiscoveryService d1(testing::replicaOptions(0), m1), d2(testing::replicaOptions(0), m2);
    ASSERT_TRUE(d1.start().ok());
    ASSERT_TRUE(d2.start().ok());
    server::Registrar registrar(
        registrarOptions({d1.address(), d2.address(), "bad-address"}), [] { return 5; }, rm);
    registrar.start();
    EXPECT_TRUE(waitFor([&] { return weightAt(d1.port()) == 5 && weightAt(d2.port()) == 5; }, 5s));
    registrar.stop();
    EXPECT_EQ(weightAt(d1.port()), -1);
    EXPECT_EQ(weightAt(d2.port()), -1);
}

}  // namespace
}  // namespace vigil::discovery
