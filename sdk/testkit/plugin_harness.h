// PluginHarness: runs a plugin binary exactly as vigil-agent does (DESIGN.md §3) and plays the
// agent: sends tasks on the plugin's fd 3, decodes the records it writes on fd 4. Every plugin's
// tests use it:
//
//   PluginHarness h;
//   ASSERT_TRUE(h.start(path_to_plugin, "interval_ms=50").ok());
//   auto rec = h.waitForRecord([](const ReceivedRecord& r) { return r.data_type == 9100; }, 5s);
//   ASSERT_TRUE(h.sendTask(9101, "example", "hello", "tok-1").ok());
//   EXPECT_TRUE(h.stop().cleanExit());
//
// How the plugin is started (the same as the agent): `<dir>/<name>` executed with cwd = <dir>,
// in its own process group, environment empty except DETAIL=<detail>, fd 3 = read end of the
// task pipe, fd 4 = write end of the record pipe, stdin and stdout on /dev/null, stderr to
// <dir>/<name>.stderr (truncated at start, so a test reads only its own run; the agent appends),
// every other descriptor closed, every signal at its default disposition and unblocked
// (whatever the test process set).
//
// Records are read by a background thread with FrameDecoder + parseRecord; malformed and
// oversized frames are counted and skipped (never fatal), like the agent does.
//
// Thread-safety: the query and wait methods (records, waitFor..., counters, readStderr) may be
// called from any thread at any time; start(), sendTask(), closeTasks() and stop() are meant for
// the test's own thread. One harness runs one plugin process once. The destructor stops a
// plugin still running (1 s grace), so no process outlives its test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "libs/common/result.h"
#include "libs/wire/frame.h"

namespace vigil::sdk::testkit {

struct ReceivedRecord {
    int32_t data_type = 0;
    int64_t timestamp = 0;
    std::map<std::string, std::string> fields;

    // The value of `key`, or "" when absent.
    std::string field(const std::string& key) const;
};

struct ExitStatus {
    bool exited = false;  // the process called exit(); `code` is valid
    int code = -1;
    int signal = 0;                   // the signal that killed it, when !exited
    bool killed_after_grace = false;  // stop() had to SIGKILL the group

    bool cleanExit() const { return exited && code == 0; }
    std::string describe() const;  // "exit 0", "killed by signal 9 (after grace)", ...
};

struct HarnessOptions {
    // Frames above this are counted as oversized and skipped (the agent's default limit).
    uint32_t max_frame_bytes = wire::kDefaultMaxFrameBytes;
    // How long sendTask() waits for room in a full task pipe.
    std::chrono::milliseconds task_write_timeout{5000};
};

struct HarnessCounters {
    uint64_t bytes = 0;                 // read from the record pipe
    uint64_t frames = 0;                // complete frames seen (valid or not)
    uint64_t records = 0;               // frames decoded as records
    uint64_t malformed_frames = 0;      // not a valid Record (or its Payload is not a valid map)
    uint64_t oversized_frames = 0;      // length prefix above max_frame_bytes
    uint64_t invalid_utf8_records = 0;  // decoded, but a key or value is not valid UTF-8
};

// A private copy of a plugin executable, laid out as the agent does (<tmp>/<name>/<name>) in a
// fresh temporary directory that is removed on destruction. Tests that run concurrently (ctest
// -j, --repeat, several build trees) then never share a <name>.stderr file or working directory.
class StagedPlugin {
public:
    // Copies `executable` (keeping its name) into a new directory under $TMPDIR or /tmp.
    static Result<StagedPlugin> create(const std::string& executable);
    StagedPlugin(StagedPlugin&& other) noexcept;
    StagedPlugin& operator=(StagedPlugin&&) = delete;
    StagedPlugin(const StagedPlugin&) = delete;
    ~StagedPlugin();

    const std::string& path() const { return path_; }  // pass this to PluginHarness::start()
    const std::string& dir() const { return dir_; }    // the plugin's working directory

private:
    StagedPlugin() = default;
    std::string root_;
    std::string dir_;
    std::string path_;
};

class PluginHarness {
public:
    using Clock = std::chrono::steady_clock;
    using RecordsPredicate = std::function<bool(const std::vector<ReceivedRecord>&)>;
    using RecordMatch = std::function<bool(const ReceivedRecord&)>;

    explicit PluginHarness(HarnessOptions options = {});
    ~PluginHarness();
    PluginHarness(const PluginHarness&) = delete;
    PluginHarness& operator=(const PluginHarness&) = delete;

    // Starts the plugin executable at `path` with DETAIL=`detail`. Errors: already started,
    // not an executable file, pipe or spawn failures.
    Status start(const std::string& path, const std::string& detail = "");

    // Writes one Task frame to the plugin's fd 3.
    Status sendTask(int32_t data_type, std::string_view object_name, std::string_view data,
                    std::string_view token);
    // Writes arbitrary bytes to the plugin's fd 3 (tests of a plugin's handling of bad input).
    Status sendRaw(std::string_view bytes);
    // Closes the task pipe: the plugin reads EOF on fd 3, as when the agent goes away.
    void closeTasks();

    // Records received so far, in arrival order (a copy).
    std::vector<ReceivedRecord> records() const;
    std::vector<ReceivedRecord> records(int32_t data_type) const;
    size_t recordCount() const;
    void clearRecords();

    // Waits until `pred` holds over the records received so far. False on timeout, or early
    // once the record pipe is closed and `pred` still fails (nothing more can arrive).
    bool waitFor(const RecordsPredicate& pred, std::chrono::milliseconds timeout);
    bool waitForCount(size_t n, std::chrono::milliseconds timeout);
    // The first record (already received or arriving within `timeout`) that matches.
    std::optional<ReceivedRecord> waitForRecord(const RecordMatch& match,
                                                std::chrono::milliseconds timeout);

    // Waits for the plugin process to exit (it is reaped by stop() or the destructor).
    bool waitForExit(std::chrono::milliseconds timeout);
    // The exit status once the process has exited; nullopt while it runs or before start().
    std::optional<ExitStatus> exitStatus();
    bool running() { return started_ && !exitStatus().has_value(); }

    // Stops the plugin as the agent does: closes the task pipe, SIGTERM to the process group,
    // SIGKILL to the group after `grace`; then kills what is left of the group, reaps the
    // process and collects the last records. Idempotent: later calls return the same status.
    ExitStatus stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

    // The plugin's stderr file so far.
    std::string readStderr() const;
    // Polls the stderr file (every 10 ms) until it contains `needle`.
    bool waitForStderr(std::string_view needle, std::chrono::milliseconds timeout) const;

    HarnessCounters counters() const;
    // True once the record pipe reached EOF (every writer of fd 4 has exited or closed it).
    bool recordPipeClosed() const;
    pid_t pid() const { return pid_; }
    const std::string& pluginDir() const { return dir_; }
    const std::string& stderrPath() const { return stderr_path_; }

private:
    void readerLoop();
    void handleFrame(std::string_view frame, std::vector<ReceivedRecord>& out);
    bool waitExitNoReap(std::chrono::milliseconds timeout);
    std::optional<ExitStatus> peekExit();
    void stopReader(std::chrono::milliseconds drain_timeout);

    HarnessOptions options_;
    bool started_ = false;
    bool stopped_ = false;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    int task_fd_ = -1;    // write end of the task pipe
    int record_fd_ = -1;  // read end of the record pipe
    int wake_fd_ = -1;    // eventfd: stops the reader thread
    std::string dir_;
    std::string stderr_path_;
    ExitStatus final_status_;

    std::mutex exit_mu_;
    std::optional<ExitStatus> exit_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::vector<ReceivedRecord> records_;
    HarnessCounters counters_;
    bool pipe_closed_ = false;

    wire::FrameDecoder decoder_;  // reader thread only
    std::string scratch_;         // reader thread only
    std::thread reader_;
};

}  // namespace vigil::sdk::testkit
