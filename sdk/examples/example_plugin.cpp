// The example plugin: emits a periodic record (data_type 9100) and answers tasks with 5100
// results. A template for new plugins; see sdk/README.md.
//
// DETAIL (flat JSON or key=value): interval_ms (tick period, default 1000, 10..3600000).
//   9100 {seq, pid, message}            every interval_ms
//   task 9101 -> 5100 {token, status: "succeed", msg: <task data>}
//   other     -> 5100 {token, status: "failed", msg: "...understands task data_type 9101..."}
// Exits 0, after flushing, on SIGTERM/SIGINT or when the agent closes the task pipe; exits 2
// when DETAIL is invalid (after reporting it as a 1010 error record).
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "vigil/sdk/client.h"
#include "vigil/sdk/plugin_config.h"

namespace {

constexpr int32_t kTickDataType = 9100;
constexpr int32_t kEchoTaskDataType = 9101;

}  // namespace

int main(int argc, char** argv) {
    using namespace vigil::sdk;
    if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::printf(
            "example: the Vigil SDK's example plugin, started by vigil-agent with tasks on fd 3\n"
            "and records on fd 4. Configured by DETAIL (flat JSON or key=value): interval_ms\n"
            "(default 1000, 10..3600000). Emits 9100 {seq, pid, message} every interval_ms and\n"
            "answers task 9101 with 5100 {token, status: succeed, msg: <task data>}.\n");
        return 0;
    }
    // Before the Client exists, so its threads see the handlers from the start.
    if (auto st = installSignalHandlers(); !st.ok()) {
        std::fprintf(stderr, "example: %s\n", st.message().c_str());
        return 1;
    }
    ClientOptions options;
    options.log_source = "example";
    Client client(options);

    int64_t interval_ms = 1000;
    auto config = PluginConfig::fromEnvironment();
    if (config.ok()) {
        auto v = config->getInt("interval_ms", 1000, 10, 3600000);
        if (v.ok()) {
            interval_ms = *v;
        } else {
            config = v.error();
        }
    }
    if (!config.ok()) {
        client.logError("bad DETAIL: " + config.message());
        client.shutdown();
        return 2;
    }
    client.log(LogLevel::kInfo, "started, interval_ms=" + std::to_string(interval_ms));

    // Ticks on their own thread; the main thread serves tasks. waitForShutdown() doubles as an
    // interruptible sleep.
    std::thread ticker([&client, interval_ms] {
        const int pid = static_cast<int>(::getpid());
        uint64_t seq = 0;
        while (!client.waitForShutdown(std::chrono::milliseconds(interval_ms))) {
            ++seq;
            client.record(kTickDataType)
                .field("seq", seq)
                .field("pid", pid)
                .field("message", "tick " + std::to_string(seq))
                .send();
        }
    });

    while (client.running()) {
        auto task = client.receiveTask();
        if (!task.ok()) {
            if (!client.running()) break;     // agent gone, signal, or shutdown
            client.logError(task.message());  // one bad frame; keep serving
            continue;
        }
        if (task->data_type == kEchoTaskDataType) {
            client.sendTaskResult(task->token, true, task->data);
        } else {
            client.sendTaskResult(task->token, false,
                                  "example understands task data_type " +
                                      std::to_string(kEchoTaskDataType) + " only, got " +
                                      std::to_string(task->data_type));
        }
    }

    client.log(LogLevel::kInfo, "stopping: " + client.stopReason());
    ticker.join();
    client.shutdown();  // flushes every buffered record, then closes fd 4
    return 0;
}
