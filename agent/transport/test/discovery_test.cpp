// Discovery answer parsing and address splitting (no network).
#include "agent/transport/discovery.h"

#include <gtest/gtest.h>

namespace vigil::agent {
namespace {

TEST(DiscoveryTest, ParsesElkeidAnswerLeastLoadedFirst) {
    auto r = parseDiscoveryDetail(R"({"code":0,"msg":"ok","data":[
        {"ip":"10.0.0.1","port":6751,"weight":40},
        {"ip":"10.0.0.2","port":6751,"weight":3},
        {"ip":"fd00::5","port":6752,"weight":3},
        {"ip":"10.0.0.4","port":6751}]})");
    ASSERT_TRUE(r.ok()) << r.message();
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ((*r)[0].address, "10.0.0.4:6751");  // no weight reads as 0
    EXPECT_EQ((*r)[1].address, "10.0.0.2:6751");  // ties keep the discovery's order
    EXPECT_EQ((*r)[2].address, "[fd00::5]:6752");
    EXPECT_EQ((*r)[3].address, "10.0.0.1:6751");
}

TEST(DiscoveryTest, SkipsBadEntriesAndRejectsBadDocuments) {
    auto r = parseDiscoveryDetail(R"({"code":0,"data":[{"ip":"","port":1},{"ip":"a","port":0},
        {"ip":"b","port":70000},{"ip":"c","port":"6751"},{"port":6751},"junk",{"ip":"d","port":1}]})");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].address, "d:1");

    auto coded = parseDiscoveryDetail(R"({"code":1,"msg":"no such service","data":[]})");
    ASSERT_FALSE(coded.ok());
    EXPECT_NE(coded.message().find("no such service"), std::string::npos);
    EXPECT_FALSE(parseDiscoveryDetail("not json").ok());
    EXPECT_FALSE(parseDiscoveryDetail("[]").ok());
    EXPECT_FALSE(parseDiscoveryDetail(R"({"code":0})").ok());
    EXPECT_FALSE(parseDiscoveryDetail(R"({"code":0,"data":{}})").ok());
    auto empty = parseDiscoveryDetail(R"({"code":0,"data":[]})");
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty());
}

TEST(DiscoveryTest, SplitsHostAndPort) {
    std::string host;
    int port = 0;
    ASSERT_TRUE(splitHostPort("127.0.0.1:8088", host, port));
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 8088);
    ASSERT_TRUE(splitHostPort("[::1]:6751", host, port));
    EXPECT_EQ(host, "::1");
    EXPECT_EQ(port, 6751);
    ASSERT_TRUE(splitHostPort("discovery.local:80", host, port));
    EXPECT_EQ(host, "discovery.local");
    for (const char* bad : {"nohost", ":80", "h:", "h:0", "h:65536", "h:12x", "[::1]", "[::1]80"}) {
        EXPECT_FALSE(splitHostPort(bad, host, port)) << bad;
    }
}

TEST(DiscoveryTest, UnreachableDiscoveryFailsFast) {
    auto t0 = std::chrono::steady_clock::now();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    auto r = queryDiscovery("127.0.0.1:1", "hids_svr_grpc", 5, std::chrono::milliseconds(500));
    EXPECT_FALSE(r.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(DiscoveryTest, UnhealthyCentersGoLast) {
    auto r = parseDiscoveryDetail(R"({"code":0,"msg":"ok","data":[
        {"ip":"10.0.0.1","port":1,"weight":0,"status":"red"},
        {"ip":"10.0.0.2","port":1,"weight":9,"status":"green"},
        {"ip":"10.0.0.3","port":1,"weight":1,"status":4},
        {"ip":"10.0.0.4","port":1,"weight":5,"status":0}]})");
    ASSERT_TRUE(r.ok()) << r.message();
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ((*r)[0].address, "10.0.0.4:1");
    EXPECT_EQ((*r)[1].address, "10.0.0.2:1");
    EXPECT_EQ((*r)[2].address, "10.0.0.1:1");
    EXPECT_EQ((*r)[3].address, "10.0.0.3:1");
}

}  // namespace
}  // namespace vigil::agent
