// DETAIL parsing of the driver (driver_config.h) and the argv allow-list key shared with the
// kernel (bpf_source.h).
#include <gtest/gtest.h>

#include "plugins/driver/src/bpf_source.h"
#include "plugins/driver/src/driver_config.h"

namespace vigil::driver {
namespace {

Result<DriverConfig> parse(const std::string& detail) {
    auto pc = sdk::PluginConfig::parse(detail);
    if (!pc.ok()) return pc.error();
    return parseDriverConfig(*pc);
}

bool on(const DriverConfig& c, vg_slot slot) {
    return (c.enabled >> slot) & 1;
}

TEST(DriverConfig, DefaultsMatchTheDocumentedSet) {
    auto c = parse("");
    ASSERT_TRUE(c.ok()) << c.message();
    for (vg_slot s : {VG_SLOT_EXECVE, VG_SLOT_CONNECT, VG_SLOT_BIND, VG_SLOT_PTRACE, VG_SLOT_SETSID,
                      VG_SLOT_PRCTL, VG_SLOT_MOUNT, VG_SLOT_MEMFD, VG_SLOT_DNS, VG_SLOT_CREATE,
                      VG_SLOT_RENAME, VG_SLOT_LINK, VG_SLOT_MODULE, VG_SLOT_CRED}) {
        EXPECT_TRUE(on(*c, s)) << s;
    }
    for (vg_slot s : {VG_SLOT_ACCEPT, VG_SLOT_EXIT, VG_SLOT_KILL, VG_SLOT_OPEN, VG_SLOT_UNLINK,
                      VG_SLOT_WRITE, VG_SLOT_READ}) {
        EXPECT_FALSE(on(*c, s)) << s;
    }
    EXPECT_EQ(c->mode, "auto");
    EXPECT_EQ(c->ring_bytes, 4u << 20);
    EXPECT_EQ(c->poll_ms, 5);
    EXPECT_EQ(c->flood_per_minute, 9000u);
    EXPECT_FALSE(c->drop_loopback_connect);
}

TEST(DriverConfig, EventsByNameOrNumberEnableDisable) {
    auto c = parse("events=execve:42,enable=exit,disable=connect");
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_TRUE(on(*c, VG_SLOT_EXECVE));
    EXPECT_FALSE(on(*c, VG_SLOT_CONNECT));
    EXPECT_TRUE(on(*c, VG_SLOT_EXIT));
    EXPECT_FALSE(on(*c, VG_SLOT_BIND));
    auto j = parse(R"({"events": "59,42,601", "ring_kb": 1024, "mode": "ebpf"})");
    ASSERT_TRUE(j.ok()) << j.message();
    EXPECT_TRUE(on(*j, VG_SLOT_DNS));
    EXPECT_EQ(j->ring_bytes, 1024u * 1024u);
    EXPECT_EQ(j->mode, "ebpf");
}

TEST(DriverConfig, BadValuesNameTheKey) {
    struct Case {
        const char* detail;
        const char* needle;
    } cases[] = {
        {"mode=kprobe", "mode"},
        {"ring_kb=1000", "power of two"},
        {"ring_kb=16", "ring_kb"},
        {"poll_ms=0", "poll_ms"},
        {"events=execve:bogus", "unknown event 'bogus'"},
        {"drop_loopback_connect=maybe", "drop_loopback_connect"},
        {"nonsense=1", "unknown key 'nonsense'"},
    };
    for (const auto& c : cases) {
        auto r = parse(c.detail);
        ASSERT_FALSE(r.ok()) << c.detail;
        EXPECT_NE(r.message().find(c.needle), std::string::npos) << c.detail << ": " << r.message();
    }
}

TEST(DriverConfig, ArgvAllowListIsKeyedLikeTheKernel) {
    auto c = parse(R"({"argv_allowlist": "/bin/echo vigil-quiet|sleep 1"})");
    ASSERT_TRUE(c.ok()) << c.message();
    ASSERT_EQ(c->argv_allowlist.size(), 2u);
    EXPECT_EQ(c->argv_allowlist[0], std::string("/bin/echo\0vigil-quiet\0", 22));
    // FNV-1a 64 of "a\0": the kernel computes the same over the argv bytes.
    EXPECT_EQ(argvHash(std::string("a\0", 2)), 0x089be207b544f1e4ULL);
}

TEST(DriverConfig, UsageListsEveryEvent) {
    const std::string u = driverUsage();
    for (const auto& spec : eventSpecs()) {
        EXPECT_NE(u.find(spec.name), std::string::npos) << spec.name;
    }
}

}  // namespace
}  // namespace vigil::driver
