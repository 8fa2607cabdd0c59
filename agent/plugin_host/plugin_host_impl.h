// Internal state of PluginHost shared by plugin_host.cpp (public API, sync) and
// plugin_loop.cpp (the epoll loop: record pipes, exits, restarts, stops). Not a public header.
// Threading: every Plugin is owned and touched only by the loop thread; other threads reach it
// through call()/post(). The worker thread runs restart preparations (verify/fetch).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <spdlog/spdlog.h>

#include "agent/plugin_host/cgroup.h"
#include "agent/plugin_host/plugin_fetcher.h"
#include "agent/plugin_host/plugin_host.h"
#include "agent/plugin_host/record_pipe_reader.h"
#include "libs/common/backoff.h"
#include "libs/wire/buffer.h"

namespace vigil::agent {

using Clock = std::chrono::steady_clock;

struct Plugin;

// epoll_event.data.ptr points at one of these.
struct Watch {
    enum class Kind : uint8_t { kWake, kRecords, kExit, kTaskWritable };
    Kind kind;
    Plugin* plugin;
};

struct PluginMetrics {
    metrics::Counter* records;
    metrics::Counter* bytes;
    metrics::Counter* malformed_record;
    metrics::Counter* malformed_payload;
    metrics::Counter* oversized;
    metrics::Counter* unresyncable;
    metrics::Counter* non_utf8;
    metrics::Counter* restarts;
    metrics::Counter* tasks;
    metrics::Counter* task_drops;
    metrics::Gauge* running;
};

struct Plugin {
    Plugin(PluginSpec s, std::string plugin_dir, const PluginHostOptions& opt,
           metrics::Registry& registry);

    PluginSpec spec;
    std::string dir;
    std::string exe;
    PluginState state = PluginState::kStopped;
    std::string last_error;
    // Bumped whenever the plugin's desired state changes; stale restart preparations see it.
    uint64_t generation = 0;

    // The running process (pid 0 when none).
    pid_t pid = 0;
    int pidfd = -1;
    int task_fd = -1;
    int record_fd = -1;
    int64_t start_time = 0;
    Clock::time_point started_at;
    PluginCgroup cgroup;
    CgroupMode cgroup_mode = CgroupMode::kNone;  // of the current or last process
    Watch record_watch;
    Watch exit_watch;
    Watch task_watch;

    RecordPipeReader reader;
    Clock::time_point last_data;
    bool buffer_idle = true;
    wire::Buffer task_out;  // a task frame the pipe took only part of
    size_t task_out_pos = 0;

    Backoff backoff;
    std::optional<Clock::time_point> restart_at;
    std::optional<Clock::time_point> kill_at;
    bool stop_requested = false;
    bool hold_restarts = false;  // a sync is replacing this plugin
    std::string kill_reason;     // why the host killed it (reported instead of "SIGKILL")
    std::vector<std::function<void()>> stopped_waiters;

    PipeCounts counts;
    uint64_t restarts = 0;
    uint64_t tasks = 0;
    uint64_t task_drops = 0;
    PluginMetrics m;
};

struct PluginHost::Impl {
    Impl(PluginHostOptions options, RecordSink& sink, metrics::Registry& registry);
    ~Impl();

    // --- public API (plugin_host.cpp) ---
    Status start();
    void stop();
    Status sync(const std::vector<PluginSpec>& desired);
    Status restart(const std::string& name);
    Status sendTask(const std::string& plugin, int32_t data_type, const std::string& data,
                    const std::string& token);
    std::vector<PluginStatus> status();

    // --- loop thread (plugin_loop.cpp) ---
    void loopMain();
    int nextTimeoutMs(Clock::time_point now) const;
    void onRecords(Plugin& p);
    void onExit(Plugin& p);
    void onTaskWritable(Plugin& p);
    void runTimers(Clock::time_point now);
    bool runQueue();
    void account(Plugin& p, const PipeCounts& c);
    void handleUnresyncable(Plugin& p);
    Status spawnNow(Plugin& p);
    void beginStop(Plugin& p, std::function<void()> done);
    void beginRestart(Plugin& p);
    void finishRestart(const std::string& name, uint64_t generation, Result<std::string> prepared);
    void scheduleRestart(Plugin& p);
    void killProcess(Plugin& p);
    void closeRecordPipe(Plugin& p);
    void closeTaskPipe(Plugin& p);
    void releaseCgroup(Plugin& p);
    Status writeTask(Plugin& p, int32_t data_type, const std::string& data,
                     const std::string& token);
    void reportError(const std::string& plugin, const std::string& error);
    Plugin* find(const std::string& name);
    Plugin& create(const PluginSpec& spec);
    void erase(const std::string& name);
    std::string pluginDir(const std::string& name) const;
    FetchOptions fetchOptions() const;

    // Runs fn on the loop thread and waits for its result. Runs it inline on the loop thread
    // itself, and (serialised by q_mu_) when the loop is not running.
    template <typename F>
    auto call(F&& fn) -> std::invoke_result_t<F&> {
        using R = std::invoke_result_t<F&>;
        if (std::this_thread::get_id() == loop_tid_.load()) return fn();
        std::unique_lock lock(q_mu_);
        if (!loop_running_) return fn();
        std::promise<R> done;
        auto result = done.get_future();
        queue_.push_back([&] {
            if constexpr (std::is_void_v<R>) {
                fn();
                done.set_value();
            } else {
                done.set_value(fn());
            }
        });
        lock.unlock();
        wake();
        return result.get();
    }
    // Queues fn for the loop thread without waiting; dropped when the loop is not running.
    void post(std::function<void()> fn);
    void wake();
    // Runs fn on the worker thread (restart preparations may fetch for minutes).
    void runOnWorker(std::function<void()> fn);
    void workerMain();

    PluginHostOptions opt_;
    RecordSink& sink_;
    metrics::Registry& registry_;
    std::shared_ptr<spdlog::logger> log_;
    std::unique_ptr<CgroupManager> cgroups_;

    std::mutex sync_mu_;   // serialises sync(), start() and stop()
    std::mutex fetch_mu_;  // one verification/fetch at a time (sync thread vs worker)
    std::atomic<bool> started_{false};
    std::atomic<bool> cancel_fetch_{false};  // set by stop(): running downloads give up

    int epfd_ = -1;
    int wake_fd_ = -1;
    Watch wake_watch_{Watch::Kind::kWake, nullptr};
    std::thread loop_thread_;
    std::atomic<std::thread::id> loop_tid_{};
    std::mutex q_mu_;
    std::deque<std::function<void()>> queue_;
    bool loop_running_ = false;
    bool quit_ = false;  // loop thread only

    std::thread worker_;
    std::mutex w_mu_;
    std::condition_variable w_cv_;
    std::deque<std::function<void()>> w_jobs_;
    bool w_stop_ = false;

    std::mutex cb_mu_;
    std::function<void(const std::string&, const std::string&)> error_cb_;

    // Loop-thread state.
    std::map<std::string, std::unique_ptr<Plugin>> plugins_;
    struct PendingCgroup {
        PluginCgroup cgroup;
        Clock::time_point give_up_at;
    };
    std::vector<PendingCgroup> pending_cgroups_;
};

}  // namespace vigil::agent
