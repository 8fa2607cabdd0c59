// The driver under the real vigil-agent (label root): kernel events travel driver -> pipe ->
// agent -> mTLS gRPC -> FakeCenter, and the agent's own housekeeping (a spool file per batch)
// is not reported back (it would feed back forever).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/agent_harness.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;

TEST(AgentDriver, KernelEventsReachTheCenterWithoutTheAgentsOwnNoise) {
    if (::geteuid() != 0) GTEST_SKIP() << "the driver needs root (eBPF)";
    AgentHarness h;
    ASSERT_TRUE(h.ok());
    h.initial_plugins_yaml = h.pluginYaml({"driver", "heartbeat_s=3600"}, VIGIL_DRIVER_PLUGIN);
    ASSERT_TRUE(h.startAgent());
    DecodedRecord hb;
    ASSERT_TRUE(h.waitRecord(
        900, [](const DecodedRecord&) { return true; }, 60s, &hb))
        << h.agentLog();
    if (hb.get("mode").rfind("ebpf", 0) != 0) GTEST_SKIP() << "eBPF refused: " << hb.get("mode");

    pid_t child = ::fork();
    if (child == 0) {
        ::execl("/bin/true", "/bin/true", "vigil-agent-driver-test", nullptr);
        ::_exit(127);
    }
    int st = 0;
    ::waitpid(child, &st, 0);
    DecodedRecord exec;
    ASSERT_TRUE(h.waitRecord(
        59, [&](const DecodedRecord& r) { return r.get("pid") == std::to_string(child); }, 20s,
        &exec));
    EXPECT_EQ(exec.get("argv"), "/bin/true vigil-agent-driver-test");
    EXPECT_EQ(exec.get("ppid"), std::to_string(::getpid()));

    // Several batches later, nothing the agent or its plugins did was reported.
    ASSERT_TRUE(h.waitRecords([](const auto& rs) { return rs.size() >= 20; }, 20s));
    std::this_thread::sleep_for(1s);
    const std::string agent = std::to_string(h.agentPid());
    for (const auto& r : h.records()) {
        if (r.data_type >= 900) continue;
        EXPECT_NE(r.get("pid"), agent) << "data_type " << r.data_type << " " << r.get("file_path");
        EXPECT_NE(r.get("ppid"), agent) << "data_type " << r.data_type << " " << r.get("exe");
    }
    EXPECT_EQ(WEXITSTATUS(h.stopAgent(SIGTERM)), 0);
}

}  // namespace
}  // namespace vigil::testing
