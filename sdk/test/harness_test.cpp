// The testkit's PluginHarness driving real plugin processes: the example plugin (periodic
// records, task results, clean stop) and the probe plugin (spawn contract, SIGTERM flush, bad
// frames, SIGKILL escalation).
#include "sdk/testkit/plugin_harness.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <set>

namespace vigil::sdk::testkit {
namespace {

using namespace std::chrono_literals;

const std::string kExample = VIGIL_EXAMPLE_PLUGIN;
const std::string kProbe = VIGIL_PROBE_PLUGIN;

// Each test runs its own copy of the plugin (StagedPlugin), so concurrent runs of this binary
// never share a <name>.stderr file.
class PluginTest : public ::testing::Test {
protected:
    std::string stage(const std::string& executable) {
        auto staged = StagedPlugin::create(executable);
        EXPECT_TRUE(staged.ok()) << staged.message();
        if (!staged.ok()) return "/nonexistent";
        staged_.push_back(std::make_unique<StagedPlugin>(std::move(staged.value())));
        return staged_.back()->path();
    }

private:
    std::vector<std::unique_ptr<StagedPlugin>> staged_;
};
using ExamplePlugin = PluginTest;
using Harness = PluginTest;

bool isResult(const ReceivedRecord& r, const std::string& token) {
    return r.data_type == 5100 && r.field("token") == token;
}

TEST_F(ExamplePlugin, PeriodicRecordsArrive) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kExample), "interval_ms=50").ok());
    ASSERT_TRUE(h.waitFor(
        [](const auto& recs) {
            return std::count_if(recs.begin(), recs.end(),
                                 [](const ReceivedRecord& r) { return r.data_type == 9100; }) >= 3;
        },
        10s));
    const auto ticks = h.records(9100);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(ticks[i].field("seq"), std::to_string(i + 1));
        EXPECT_EQ(ticks[i].field("pid"), std::to_string(h.pid()));
        EXPECT_EQ(ticks[i].field("message"), "tick " + std::to_string(i + 1));
        EXPECT_GT(ticks[i].timestamp, 1600000000);
    }
    EXPECT_TRUE(h.stop().cleanExit());
    EXPECT_EQ(h.counters().malformed_frames, 0u);
}

TEST_F(ExamplePlugin, JsonDetailSetsTheInterval) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kExample), R"({"interval_ms": 20})").ok());
    ASSERT_TRUE(h.waitFor([](const auto& recs) { return recs.size() >= 6; }, 10s));
    EXPECT_TRUE(h.stop().cleanExit());
}

TEST_F(ExamplePlugin, EchoTaskSucceedsWithTheSameToken) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kExample), "interval_ms=60000").ok());
    ASSERT_TRUE(h.sendTask(9101, "example", "hello agent", "tok-42").ok());
    auto result = h.waitForRecord([](const auto& r) { return isResult(r, "tok-42"); }, 5s);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->field("status"), "succeed");
    EXPECT_EQ(result->field("msg"), "hello agent");
    EXPECT_TRUE(h.stop().cleanExit());
}

TEST_F(ExamplePlugin, UnknownTaskFails) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kExample), "interval_ms=60000").ok());
    ASSERT_TRUE(h.sendTask(1234, "example", "x", "tok-bad").ok());
    auto result = h.waitForRecord([](const auto& r) { return isResult(r, "tok-bad"); }, 5s);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->field("status"), "failed");
    EXPECT_NE(result->field("msg").find("9101"), std::string::npos) << result->field("msg");
    EXPECT_NE(result->field("msg").find("1234"), std::string::npos) << result->field("msg");
    EXPECT_TRUE(h.stop().cleanExit());
}

TEST_F(ExamplePlugin, StopExitsCleanlyAndLogsWhy) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kExample), "interval_ms=100").ok());
    ASSERT_TRUE(h.waitForRecord([](const auto& r) { return r.data_type == 9100; }, 5s));
    const ExitStatus st = h.stop(5s);
    EXPECT_TRUE(st.cleanExit()) << st.describe();
    EXPECT_FALSE(st.killed_after_grace);
    // Its last words were flushed before exit: the stop log record (1010) and stderr.
    auto bye = h.waitForRecord(
        [](const auto& r) {
            return r.data_type == 1010 && r.field("msg").find("stopping") != std::string::npos;
        },
        0ms);
    ASSERT_TRUE(bye.has_value());
    EXPECT_EQ(bye->field("source"), "example");
    EXPECT_NE(h.readStderr().find("stopping"), std::string::npos) << h.readStderr();
    EXPECT_EQ(h.stop().describe(), st.describe());  // idempotent
}

TEST_F(ExamplePlugin, ExitsWhenTheAgentClosesTheTaskPipe) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kExample), "interval_ms=60000").ok());
    h.closeTasks();
    ASSERT_TRUE(h.waitForExit(5s));
    auto st = h.exitStatus();
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(st->cleanExit()) << st->describe();
    EXPECT_TRUE(h.stop().cleanExit());
}

TEST_F(ExamplePlugin, BadDetailIsReportedAndExits2) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kExample), "interval_ms=fast").ok());
    ASSERT_TRUE(h.waitForExit(5s));
    EXPECT_EQ(h.stop().code, 2);
    auto err = h.waitForRecord([](const auto& r) { return r.data_type == 1010; }, 0ms);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->field("level"), "error");
    EXPECT_NE(err->field("msg").find("interval_ms"), std::string::npos) << err->field("msg");
}

TEST_F(Harness, StartsPluginsAsTheAgentDoes) {
    // Dispositions and masks of the test process must not leak into the plugin.
    struct sigaction ign {
    }, old_int{}, old_hup{};
    ign.sa_handler = SIG_IGN;
    ::sigaction(SIGINT, &ign, &old_int);
    ::sigaction(SIGHUP, &ign, &old_hup);
    sigset_t usr1, old_mask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &old_mask);
    PluginHarness h;
    const std::string probe = stage(kProbe);
    const Status started = h.start(probe, "mode=report");
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGHUP, &old_hup, nullptr);
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    ASSERT_TRUE(started.ok()) << started.message();
    auto rep = h.waitForRecord([](const auto& r) { return r.data_type == 9900; }, 5s);
    ASSERT_TRUE(rep.has_value());
    const std::string dir = std::filesystem::path(probe).parent_path().string();
    EXPECT_EQ(h.pluginDir(), dir);
    EXPECT_EQ(rep->field("env"), "DETAIL=mode=report");
    EXPECT_EQ(rep->field("env_count"), "1");
    EXPECT_EQ(rep->field("cwd"), std::filesystem::canonical(dir).string());
    EXPECT_EQ(rep->field("fds"), "0,1,2,3,4");
    EXPECT_EQ(rep->field("pid"), std::to_string(h.pid()));
    EXPECT_EQ(rep->field("pgid"), rep->field("pid"));  // its own process group
    EXPECT_EQ(rep->field("stdin"), "/dev/null");
    EXPECT_EQ(rep->field("stdout"), "/dev/null");
    EXPECT_EQ(rep->field("stderr"), std::filesystem::canonical(dir + "/probe.stderr").string());
    // Every signal unblocked and at its default, as after the agent's fork + exec.
    EXPECT_EQ(rep->field("sig_blocked"), "0000000000000000");
    EXPECT_EQ(rep->field("sig_ignored"), "0000000000000000");
    EXPECT_TRUE(h.waitForStderr("probe reported", 5s)) << h.readStderr();
    EXPECT_EQ(h.stderrPath(), dir + "/probe.stderr");
    EXPECT_TRUE(h.stop().cleanExit());
}

TEST_F(Harness, SigtermFlushesBufferedRecords) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kProbe), "mode=burst count=1000").ok());
    ASSERT_TRUE(h.waitForStderr("burst ready", 10s)) << h.readStderr();
    EXPECT_EQ(h.recordCount(), 0u) << "the burst must still sit in the plugin's buffer";
    const ExitStatus st = h.stop(5s);
    EXPECT_TRUE(st.cleanExit()) << st.describe();
    const auto recs = h.records(9901);
    ASSERT_EQ(recs.size(), 1000u);
    for (size_t i = 0; i < recs.size(); ++i) {
        ASSERT_EQ(recs[i].field("seq"), std::to_string(i + 1));
    }
}

TEST_F(Harness, BadFramesAreCountedAndSkipped) {
    HarnessOptions opt;
    opt.max_frame_bytes = 64 * 1024;
    PluginHarness h(opt);
    ASSERT_TRUE(h.start(stage(kProbe), "mode=garbage").ok());
    auto after = h.waitForRecord([](const auto& r) { return r.data_type == 9902; }, 5s);
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(after->field("after"), "garbage");
    const HarnessCounters c = h.counters();
    EXPECT_EQ(c.malformed_frames, 1u);
    EXPECT_EQ(c.oversized_frames, 1u);
    EXPECT_EQ(c.records, 1u);
    EXPECT_EQ(c.frames, 3u);
    h.closeTasks();  // the probe exits on EOF
    ASSERT_TRUE(h.waitForExit(5s));
    EXPECT_TRUE(h.stop().cleanExit());
}

TEST_F(Harness, PluginIgnoringSigtermIsKilledAfterGrace) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kProbe), "mode=ignore_term").ok());
    ASSERT_TRUE(h.waitForStderr("ignoring SIGTERM", 5s));
    const auto begin = std::chrono::steady_clock::now();
    const ExitStatus st = h.stop(300ms);
    EXPECT_GE(std::chrono::steady_clock::now() - begin, 300ms);
    EXPECT_FALSE(st.exited);
    EXPECT_EQ(st.signal, SIGKILL);
    EXPECT_TRUE(st.killed_after_grace);
    EXPECT_FALSE(h.running());
}

TEST_F(Harness, ExitCodeAndTaskPipeOfAnExitedPlugin) {
    PluginHarness h;
    ASSERT_TRUE(h.start(stage(kProbe), "mode=exit code=7").ok());
    ASSERT_TRUE(h.waitForExit(5s));
    EXPECT_EQ(h.exitStatus()->code, 7);
    // Writing to a plugin that is gone is an error, not a SIGPIPE for the test process.
    Status sent = okStatus();
    for (int i = 0; i < 3 && sent.ok(); ++i) sent = h.sendTask(1, "p", "x", "t");
    EXPECT_FALSE(sent.ok());
    // waitFor returns early once the pipe is closed and nothing more can arrive.
    const auto begin = std::chrono::steady_clock::now();
    EXPECT_FALSE(h.waitForCount(1, 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
    EXPECT_EQ(h.stop().code, 7);
}

TEST_F(Harness, StartErrors) {
    PluginHarness h;
    EXPECT_FALSE(h.start("/nonexistent/plugin").ok());
    PluginHarness h2;
    ASSERT_TRUE(h2.start(stage(kProbe), "mode=exit code=0").ok());
    EXPECT_FALSE(h2.start(stage(kProbe)).ok());  // one process per harness
    ASSERT_TRUE(h2.waitForExit(5s));
    EXPECT_TRUE(h2.stop().cleanExit());
    PluginHarness never;
    EXPECT_EQ(never.stop().describe(), "not run");
}

}  // namespace
}  // namespace vigil::sdk::testkit
