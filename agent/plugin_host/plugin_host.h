// PluginHost: runs the agent's plugins as child processes (DESIGN.md §3) and moves their
// records into a RecordSink.
//  - spawn: <work_dir>/plugin/<name>/<name>, own process group, cwd = the plugin directory,
//    environment empty except DETAIL=<detail>, fd 3 = tasks (agent -> plugin), fd 4 = records
//    (plugin -> agent), stderr -> <name>.stderr in the plugin directory;
//  - verify the executable's sha256 before every start; fetch it (vigil-fetch helper: HTTP/HTTPS
//    with a size cap, sha256, tar.gz with path-traversal rejection) when missing or different;
//  - restart a plugin that exits with exponential backoff (restart() on request: at once); stop =
//    close its task pipe, SIGTERM to the group, SIGKILL to the group after the grace period;
//  - per-plugin cgroup (v2 where its cpu and memory controllers are available, else v1) with
//    CPU and memory caps;
//  - frames: oversized or malformed frames are counted per plugin and skipped; a plugin whose
//    stream cannot be resynchronised (length prefix above the hard limit) is restarted. A bad
//    plugin never affects the agent or other plugins.
// One internal thread runs an epoll loop over every plugin's record pipe; a second one runs the
// verification/download before a restart, so a slow download never stalls the records.
// Thread-safety: every public method is thread-safe. The host reaps only its own children by
// pid; the agent must not set SIGCHLD to SIG_IGN or reap with waitpid(-1).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/transport/record_sink.h"
#include "libs/common/metrics.h"
#include "libs/common/result.h"

namespace vigil::agent {

// One desired plugin, as in a config-sync Command's Config entry.
struct PluginSpec {
    std::string name;  // [A-Za-z0-9_-]+; the directory and executable name
    std::string type;  // "exec" (the download is the executable) or "tar.gz"
    std::string version;
    std::string sha256;     // of the download (the executable for "exec", the archive for "tar.gz")
    std::string signature;  // sha256 of the executable; defaults to sha256 for "exec"
    std::vector<std::string> download_urls;
    std::string detail;  // passed as DETAIL

    bool operator==(const PluginSpec&) const = default;
};

struct PluginHostOptions {
    std::string work_dir;      // plugins live in <work_dir>/plugin/<name>/
    std::string fetch_helper;  // path of the vigil-fetch executable
    uint64_t max_download_bytes = 256ull << 20;
    uint32_t max_frame_bytes = 4u << 20;        // larger frames are skipped and counted
    uint64_t resync_limit_bytes = 64ull << 20;  // above this the plugin is restarted instead
    std::chrono::milliseconds restart_initial{1000};
    std::chrono::milliseconds restart_max{60000};
    std::chrono::milliseconds stop_grace{5000};
    // Caps per plugin; 0 = no cap. cpu_percent is of one core (100 = one full core).
    uint32_t cpu_percent = 0;
    uint64_t memory_bytes = 0;
    std::string cgroup_name = "vigil";  // parent cgroup created under each hierarchy

    // Additions (all optional; defaults keep the behaviour described above).
    // A plugin that ran at least this long before exiting restarts after restart_initial again.
    std::chrono::milliseconds restart_reset_after{60000};
    // Wall-clock limit for one run of the fetch helper (all URLs together).
    std::chrono::milliseconds fetch_timeout{300000};
    std::string fetch_ca_file;  // CA bundle for HTTPS downloads; empty = system
    // Where the cgroup hierarchies are mounted; false disables cgroups (cgroup_mode "none").
    std::string cgroup_root = "/sys/fs/cgroup";
    bool use_cgroups = true;
    // <name>.stderr is appended to across restarts and truncated at a start when above this.
    uint64_t max_stderr_bytes = 4ull << 20;
    // Exits are watched with pidfds; false (or a kernel without pidfd_open) polls waitid()
    // every 100 ms instead.
    bool use_pidfd = true;
};

// <directory of /proc/self/exe>/vigil-fetch; used when PluginHostOptions::fetch_helper is empty.
std::string defaultFetchHelperPath();

// kStarting: verifying/fetching before a (re)start; kBackoff: exited, restart pending;
// kFailed: could not be verified or started (a restart-time failure is retried with the backoff).
enum class PluginState { kStarting, kRunning, kBackoff, kStopped, kFailed };
const char* pluginStateName(PluginState s);

struct PluginStatus {
    PluginSpec spec;
    PluginState state = PluginState::kStopped;
    int pid = 0;
    int64_t start_time = 0;  // unix seconds of the current process start
    std::string last_error;  // why the plugin is failed or was restarted
    uint64_t records = 0;    // records forwarded
    uint64_t bytes = 0;      // record bytes read from the pipe
    uint64_t drops = 0;      // bad, oversized or non-forwardable frames
    // drops by cause: malformed_record, malformed_payload, oversized, unresyncable (a length
    // prefix above resync_limit_bytes; the plugin was restarted).
    std::map<std::string, uint64_t> drops_by_cause;
    uint64_t non_utf8 = 0;  // records with non-UTF-8 strings (forwarded, not drops)
    uint64_t restarts = 0;
    uint64_t tasks = 0;       // tasks written to the plugin
    uint64_t task_drops = 0;  // tasks refused because the task pipe was full
    std::string cgroup_mode;  // "v2", "v1" or "none"
};

class PluginHost {
public:
    PluginHost(PluginHostOptions options, RecordSink& sink, metrics::Registry& metrics);
    ~PluginHost();
    PluginHost(const PluginHost&) = delete;
    PluginHost& operator=(const PluginHost&) = delete;

    Status start();
    // Stops every plugin (grace period, then SIGKILL of the group) and the loop thread.
    void stop();

    // Makes the running set equal `desired`: starts new plugins, restarts plugins whose version,
    // sha256/signature or detail changed (after fetching the new executable), stops and
    // removes the ones not listed. Returns once every change is applied; the Status carries
    // every per-plugin failure (e.g. "plugin x: sha256 mismatch: want .., got ..").
    // Details: an invalid entry (bad name, no sha256 and no signature, unknown type) is refused
    // and a running plugin of that name is left alone; a plugin whose executable cannot be
    // verified is kFailed (and retried by the next sync listing it); an upgrade that cannot be
    // verified leaves the old version running, with last_error saying why. For a tar.gz without
    // signature the extracted executable's hash is kept in <plugin dir>/.vigil-manifest.json.
    // Fails before start(). Concurrent calls run one after the other.
    Status sync(const std::vector<PluginSpec>& desired);

    // Writes a Task frame (object_name = the plugin's name) to the plugin's fd 3. Fails when
    // unknown, not running or stopping, or when its task pipe is full (counted in task_drops;
    // a frame the pipe took only in part is completed before any other).
    Status sendTask(const std::string& plugin, int32_t data_type, const std::string& data,
                    const std::string& token);

    // Restarts one configured plugin now, keeping its spec: verifies (or fetches) its executable
    // while it runs, stops it as a sync would (task pipe closed, SIGTERM, SIGKILL after
    // stop_grace) and starts it again at once with a fresh backoff. Returns once it runs again;
    // fails for a plugin that is not configured, or when it could not be verified or started
    // (then it is left as a failed start would leave it). Runs after a pending sync.
    Status restart(const std::string& plugin);

    std::vector<PluginStatus> status() const;

    // Called (on the loop thread) when a plugin fails to start or exits unexpectedly, so the
    // agent can report it as an error record. The callback may call status() and sendTask()
    // but not sync() or stop().
    void onPluginError(std::function<void(const std::string& plugin, const std::string& error)> fn);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::agent
