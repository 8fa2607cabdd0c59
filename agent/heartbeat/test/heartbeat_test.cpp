// Heartbeat records: Elkeid field names, every field declared in the schema, live values.
#include "agent/heartbeat/heartbeat.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <mutex>

#include "libs/schema/schema.h"
#include "libs/wire/record.h"

namespace vigil::agent {
namespace {

struct CapturingSink : RecordSink {
    std::mutex mu;
    std::vector<std::pair<int32_t, std::map<std::string, std::string>>> records;
    void put(int32_t dt, int64_t, std::string_view payload) override {
        std::map<std::string, std::string> f;
        ASSERT_TRUE(wire::decodePayload(payload, f));
        std::lock_guard lock(mu);
        records.emplace_back(dt, std::move(f));
    }
};

HeartbeatSources sources() {
    HeartbeatSources s;
    s.agent_state = [] { return AgentStateSnapshot{"abnormal", "plugin x failed", "dc1", "north"}; };
    s.transport = [] {
        TransportStats t;
        t.net_mode = "sd-private";
        t.center = "127.0.0.1:6751";
        t.records_sent = 10;
        return t;
    };
    s.spool = [] {
        SpoolStats st;
        st.pending_batches = 3;
        st.pending_bytes = 300;
        return st;
    };
    s.plugins = [] {
        PluginStatus p;
        p.spec.name = "example";
        p.spec.version = "1.0";
        p.state = PluginState::kRunning;
        p.pid = ::getpid();
        p.records = 5;
        p.restarts = 2;
        p.cgroup_mode = "v1";
        PluginStatus stopped;
        stopped.spec.name = "gone";
        stopped.state = PluginState::kStopped;
        return std::vector<PluginStatus>{p, stopped};
    };
    s.drops = [] { return std::map<std::string, uint64_t>{{"spool_full", 4}, {"plugin_malformed_record", 1}}; };
    s.work_dir = ::testing::TempDir();
    return s;
}

TEST(Heartbeat, EmitsAgentAndPluginRecordsWithSchemaFields) {
    CapturingSink sink;
    Heartbeat hb(sources(), sink);
    hb.emit();
    ASSERT_EQ(sink.records.size(), 2u);  // the stopped plugin has no heartbeat
    auto& [dt, f] = sink.records[0];
    EXPECT_EQ(dt, 1000);
    EXPECT_EQ(f["state"], "abnormal");
    EXPECT_EQ(f["state_detail"], "plugin x failed");
    EXPECT_EQ(f["idc"], "dc1");
    EXPECT_EQ(f["region"], "north");
    EXPECT_EQ(f["net_mode"], "sd-private");
    EXPECT_EQ(f["pid"], std::to_string(::getpid()));
    EXPECT_GT(std::stoull(f["rss"]), 1000u);
    EXPECT_GT(std::stoll(f["start_time"]), 1600000000);
    EXPECT_FALSE(f["kernel_version"].empty());
    EXPECT_FALSE(f["arch"].empty());
    EXPECT_EQ(f["drops"], "5");
    EXPECT_EQ(f["drops_detail"], "plugin_malformed_record=1,spool_full=4");
    EXPECT_EQ(f["spool_batches"], "3");
    const auto* info = schema::find(1000);
    for (const auto& [k, v] : f) EXPECT_NE(info->field(k), nullptr) << "1000 field not in schema: " << k;

    auto& [dt2, p] = sink.records[1];
    EXPECT_EQ(dt2, 1001);
    EXPECT_EQ(p["name"], "example");
    EXPECT_EQ(p["pversion"], "1.0");
    EXPECT_EQ(p["state"], "running");
    EXPECT_EQ(p["restarts"], "2");
    EXPECT_EQ(p["cgroup"], "v1");
    EXPECT_GT(std::stoull(p["rss"]), 0u);
    const auto* pinfo = schema::find(1001);
    for (const auto& [k, v] : p) EXPECT_NE(pinfo->field(k), nullptr) << "1001 field not in schema: " << k;
}

TEST(HostInfo, ClassifiesAddresses) {
    EXPECT_TRUE(isPrivateIpv4("10.1.2.3"));
    EXPECT_TRUE(isPrivateIpv4("172.16.0.1"));
    EXPECT_TRUE(isPrivateIpv4("172.31.255.1"));
    EXPECT_FALSE(isPrivateIpv4("172.32.0.1"));
    EXPECT_TRUE(isPrivateIpv4("192.168.1.1"));
    EXPECT_TRUE(isPrivateIpv4("100.64.0.1"));
    EXPECT_FALSE(isPrivateIpv4("8.8.8.8"));
    EXPECT_TRUE(isPrivateIpv6("fd00::1"));
    EXPECT_TRUE(isPrivateIpv6("fe80::1"));
    EXPECT_FALSE(isPrivateIpv6("2001:db8::1"));
}

TEST(HostInfo, ParsesResolvConfAndRoutes) {
    std::string dir = ::testing::TempDir();
    {
        FILE* f = std::fopen((dir + "/resolv.conf").c_str(), "w");
        std::fputs("# comment\nnameserver 10.0.0.2\nsearch x\nnameserver 1.1.1.1\n", f);
        std::fclose(f);
        f = std::fopen((dir + "/route").c_str(), "w");
        std::fputs("Iface\tDestination\tGateway\tFlags\n"
                   "eth0\t00000000\t0100000A\t0003\n"
                   "eth0\t0000000A\t00000000\t0001\n", f);
        std::fclose(f);
    }
    EXPECT_EQ(readDnsServers(dir + "/resolv.conf"), (std::vector<std::string>{"10.0.0.2", "1.1.1.1"}));
    EXPECT_EQ(readDefaultGateways(dir + "/route"), (std::vector<std::string>{"10.0.0.1"}));
}

TEST(ProcStats, ReadsSelf) {
    auto s = readProcess(::getpid());
    ASSERT_TRUE(s);
    EXPECT_GT(s->rss_bytes, 0u);
    EXPECT_GE(s->nthreads, 1u);
    EXPECT_GE(s->nfd, 3u);
    EXPECT_FALSE(readProcess(999999999));
}

}  // namespace
}  // namespace vigil::agent
