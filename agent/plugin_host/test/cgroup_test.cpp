// Per-plugin cgroups: the real hierarchy (root label; skipped with a reason when not root or no
// usable cgroups), and the v2/v1/none choice on fake trees.
#include "agent/plugin_host/cgroup.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "agent/plugin_host/plugin_host.h"
#include "agent/plugin_host/test/fake_sink.h"
#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::agent {
namespace {

using namespace std::chrono_literals;
using testing::FakeSink;
using testing::waitUntil;

std::string readText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

void touch(const std::string& path, const std::string& text = "") {
    std::filesystem::create_directories(fs::dirName(path));
    std::ofstream(path) << text;
}

// The cgroup paths of `pid` per controller ("cpu", "memory", "" for v2).
std::map<std::string, std::string> cgroupsOf(pid_t pid) {
    std::map<std::string, std::string> out;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    for (std::string line; std::getline(in, line);) {
        auto a = line.find(':');
        auto b = line.find(':', a + 1);
        std::stringstream ctrls(line.substr(a + 1, b - a - 1));
        for (std::string c; std::getline(ctrls, c, ',');) out[c] = line.substr(b + 1);
        if (a + 1 == b) out[""] = line.substr(b + 1);
    }
    return out;
}

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/vigil-cg-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { (void)fs::removeAll(path); }
    std::string path;
};

TEST(CgroupTest, CapsAreAppliedToThePluginAndItsChildrenAndRemovedAfterStop) {
    if (::geteuid() != 0) {
        GTEST_SKIP() << "needs root to create cgroups (running as uid " << ::geteuid() << ")";
    }
    const std::string parent = "vigil-test-" + std::to_string(::getpid());
    {
        CgroupManager probe("/sys/fs/cgroup", parent, true);
        if (probe.mode() == CgroupMode::kNone) {
            GTEST_SKIP() << "no usable cgroup hierarchy here: " << probe.reason();
        }
        probe.removeParents();
    }
    TempDir work;
    const std::string dir = work.path + "/plugin/capped";
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(VIGIL_TEST_PLUGIN, dir + "/capped");
    ::chmod((dir + "/capped").c_str(), 0755);

    PluginHostOptions o;
    o.work_dir = work.path;
    o.cpu_percent = 50;
    o.memory_bytes = 64ull << 20;
    o.cgroup_name = parent;
    o.stop_grace = 1s;
    FakeSink sink;
    metrics::Registry registry;
    PluginHost host(o, sink, registry);
    ASSERT_TRUE(host.start().ok());
    PluginSpec spec;
    spec.name = "capped";
    spec.type = "exec";
    spec.version = "1";
    spec.sha256 = *crypto::sha256FileHex(VIGIL_TEST_PLUGIN);
    spec.detail = "mode=spawn_child";
    ASSERT_TRUE(host.sync({spec}).ok());
    ASSERT_TRUE(waitUntil([&] { return !sink.ofType(902).empty(); }));
    auto info = sink.ofType(902).front().fields;
    pid_t pid = std::stoi(info["pid"]);
    pid_t child = std::stoi(info["child"]);

    auto st = host.status();
    ASSERT_EQ(st.size(), 1u);
    const std::string mode = st[0].cgroup_mode;
    std::printf("cgroup mode in use: %s\n", mode.c_str());
    ASSERT_TRUE(mode == "v1" || mode == "v2") << mode;
    const std::string rel = "/" + parent + "/capped";
    std::vector<std::string> dirs;
    for (pid_t p : {pid, child}) {
        auto cg = cgroupsOf(p);
        if (mode == "v1") {
            EXPECT_EQ(cg["cpu"], rel) << "pid " << p;
            EXPECT_EQ(cg["memory"], rel) << "pid " << p;
        } else {
            EXPECT_EQ(cg[""], rel) << "pid " << p;
        }
    }
    if (mode == "v1") {
        std::string cpu = "/sys/fs/cgroup/cpu" + rel;
        std::string mem = "/sys/fs/cgroup/memory" + rel;
        EXPECT_EQ(readText(cpu + "/cpu.cfs_period_us"), "100000");
        EXPECT_EQ(readText(cpu + "/cpu.cfs_quota_us"), "50000");
        EXPECT_EQ(readText(mem + "/memory.limit_in_bytes"), std::to_string(64ull << 20));
        dirs = {cpu, mem};
    } else {
        std::string base = fs::exists("/sys/fs/cgroup/cgroup.controllers")
                               ? "/sys/fs/cgroup"
                               : "/sys/fs/cgroup/unified";
        EXPECT_EQ(readText(base + rel + "/cpu.max"), "50000 100000");
        EXPECT_EQ(readText(base + rel + "/memory.max"), std::to_string(64ull << 20));
        dirs = {base + rel};
    }

    // Removed from the desired set: processes gone, cgroup removed.
    ASSERT_TRUE(host.sync({}).ok());
    EXPECT_TRUE(waitUntil(
        [&] {
            for (const auto& d : dirs) {
                if (fs::exists(d)) return false;
            }
            return true;
        },
        5s));
    host.stop();
    for (const auto& d : dirs) EXPECT_FALSE(fs::exists(fs::dirName(d))) << fs::dirName(d);
}

TEST(CgroupTest, HybridWithoutV2ControllersUsesV1) {
    TempDir root;
    // This machine's layout: v2 at unified/ without cpu/memory, v1 cpu and memory hierarchies.
    touch(root.path + "/unified/cgroup.controllers", "pids\n");
    touch(root.path + "/cpu/vig/cpu.cfs_quota_us", "-1");
    touch(root.path + "/memory/vig/memory.limit_in_bytes", "9223372036854771712");
    CgroupManager cg(root.path, "vig", true);
    ASSERT_EQ(cg.mode(), CgroupMode::kV1) << cg.reason();
    EXPECT_NE(cg.reason().find("lacks the cpu or memory controller"), std::string::npos)
        << cg.reason();
    for (const char* f : {"cpu/vig/p/cpu.cfs_period_us", "cpu/vig/p/cpu.cfs_quota_us",
                          "memory/vig/p/memory.limit_in_bytes", "cpu/vig/p/cgroup.procs",
                          "memory/vig/p/cgroup.procs"}) {
        touch(root.path + "/" + f);
    }
    auto created = cg.create("p", {25, 1 << 20});
    ASSERT_TRUE(created.ok()) << created.message();
    EXPECT_EQ(created->mode, CgroupMode::kV1);
    EXPECT_EQ(readText(root.path + "/cpu/vig/p/cpu.cfs_quota_us"), "25000");
    EXPECT_EQ(readText(root.path + "/cpu/vig/p/cpu.cfs_period_us"), "100000");
    EXPECT_EQ(readText(root.path + "/memory/vig/p/memory.limit_in_bytes"), "1048576");
    ASSERT_TRUE(cg.attach(*created, 4242).ok());
    EXPECT_EQ(readText(root.path + "/memory/vig/p/cgroup.procs"), "4242");
    // No cap: the v1 "unlimited" values.
    ASSERT_TRUE(cg.create("p", {0, 0}).ok());
    EXPECT_EQ(readText(root.path + "/cpu/vig/p/cpu.cfs_quota_us"), "-1");
    EXPECT_EQ(readText(root.path + "/memory/vig/p/memory.limit_in_bytes"), "-1");
}

TEST(CgroupTest, V2WithCpuAndMemoryIsPreferred) {
    TempDir root;
    touch(root.path + "/cgroup.controllers", "cpuset cpu io memory pids\n");
    touch(root.path + "/cgroup.subtree_control");
    touch(root.path + "/vig/cgroup.subtree_control");
    for (const char* f : {"vig/p/cpu.max", "vig/p/memory.max", "vig/p/cgroup.procs"}) {
        touch(root.path + "/" + f);
    }
    CgroupManager cg(root.path, "vig", true);
    ASSERT_EQ(cg.mode(), CgroupMode::kV2) << cg.reason();
    // Controllers are enabled for the children of the root and of the parent.
    EXPECT_EQ(readText(root.path + "/cgroup.subtree_control"), "+cpu +memory");
    EXPECT_EQ(readText(root.path + "/vig/cgroup.subtree_control"), "+cpu +memory");
    auto created = cg.create("p", {150, 256ull << 20});
    ASSERT_TRUE(created.ok()) << created.message();
    EXPECT_EQ(readText(root.path + "/vig/p/cpu.max"), "150000 100000");
    EXPECT_EQ(readText(root.path + "/vig/p/memory.max"), std::to_string(256ull << 20));
    ASSERT_TRUE(cg.create("p", {0, 0}).ok());
    EXPECT_EQ(readText(root.path + "/vig/p/cpu.max"), "max 100000");
    EXPECT_EQ(readText(root.path + "/vig/p/memory.max"), "max");
}

TEST(CgroupTest, NothingUsableMeansNone) {
    TempDir root;
    CgroupManager cg(root.path, "vig", true);
    EXPECT_EQ(cg.mode(), CgroupMode::kNone);
    EXPECT_FALSE(cg.reason().empty());
    auto created = cg.create("p", {50, 1 << 20});
    ASSERT_TRUE(created.ok());
    EXPECT_TRUE(created->empty());
    CgroupManager off("/sys/fs/cgroup", "vig", false);
    EXPECT_EQ(off.mode(), CgroupMode::kNone);
    EXPECT_NE(off.reason().find("disabled"), std::string::npos);
}

}  // namespace
}  // namespace vigil::agent
