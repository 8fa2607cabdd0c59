// The plugin host's loop thread: epoll over record pipes, pidfds and the wake eventfd; exits,
// restarts with backoff, graceful stops, task writes, and the timers behind them.
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "agent/plugin_host/plugin_host_impl.h"
#include "agent/plugin_host/plugin_process.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "libs/wire/batch.h"

namespace vigil::agent {
namespace {

constexpr size_t kReadBudget = 4u << 20;  // per plugin per wake-up: others get their turn
constexpr auto kIdleShrink = std::chrono::seconds(2);
constexpr auto kExitPoll = std::chrono::milliseconds(100);  // without pidfds
constexpr auto kCgroupRetry = std::chrono::milliseconds(100);
constexpr auto kCgroupGiveUp = std::chrono::seconds(10);

// A write to a pipe whose reader is gone raises SIGPIPE at this thread; it is blocked here,
// so take it off the pending set instead of letting it linger.
void consumeSigpipe() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    timespec zero{0, 0};
    while (::sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
    }
}

void epollDel(int epfd, int fd) {
    if (fd >= 0) ::epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nullptr);
}

}  // namespace

void PluginHost::Impl::wake() {
    uint64_t one = 1;
    ssize_t n = ::write(wake_fd_, &one, sizeof(one));
    (void)n;  // a full eventfd counter still wakes the loop
}

void PluginHost::Impl::post(std::function<void()> fn) {
    {
        std::lock_guard lock(q_mu_);
        if (!loop_running_) return;
        queue_.push_back(std::move(fn));
    }
    wake();
}

bool PluginHost::Impl::runQueue() {
    std::deque<std::function<void()>> jobs;
    {
        std::lock_guard lock(q_mu_);
        jobs.swap(queue_);
    }
    for (auto& job : jobs) job();
    return quit_;
}

void PluginHost::Impl::loopMain() {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

    epoll_event events[64];
    for (;;) {
        int n = ::epoll_wait(epfd_, events, 64, nextTimeoutMs(Clock::now()));
        if (n < 0 && errno != EINTR) {
            VIGIL_LOG_RATE_LIMITED(log_, spdlog::level::err, "epoll_wait: {}",
                                   std::strerror(errno));
        }
        for (int i = 0; i < n; ++i) {
            auto* w = static_cast<Watch*>(events[i].data.ptr);
            switch (w->kind) {
                case Watch::Kind::kWake: {
                    uint64_t v;
                    ssize_t r = ::read(wake_fd_, &v, sizeof(v));
                    (void)r;
                    break;
                }
                case Watch::Kind::kRecords:
                    onRecords(*w->plugin);
                    break;
                case Watch::Kind::kExit:
                    onExit(*w->plugin);
                    break;
                case Watch::Kind::kTaskWritable:
                    onTaskWritable(*w->plugin);
                    break;
            }
        }
        runTimers(Clock::now());
        // Commands run after the event batch so no event refers to a plugin they erased.
        if (runQueue()) break;
    }
    std::deque<std::function<void()>> rest;
    {
        std::lock_guard lock(q_mu_);
        loop_running_ = false;
        rest.swap(queue_);
    }
    for (auto& job : rest) job();  // waiters of late calls must not hang
}

int PluginHost::Impl::nextTimeoutMs(Clock::time_point now) const {
    std::optional<Clock::time_point> next;
    auto consider = [&](Clock::time_point t) {
        if (!next || t < *next) next = t;
    };
    for (const auto& [name, p] : plugins_) {
        if (p->kill_at) consider(*p->kill_at);
        if (p->restart_at) consider(*p->restart_at);
        if (!p->buffer_idle) consider(p->last_data + kIdleShrink);
        if (p->pid > 0 && p->pidfd < 0) consider(now + kExitPoll);
    }
    if (!pending_cgroups_.empty()) consider(now + kCgroupRetry);
    if (!next) return -1;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(*next - now).count();
    return static_cast<int>(std::clamp<int64_t>(ms, 0, 60000));
}

void PluginHost::Impl::account(Plugin& p, const PipeCounts& c) {
    p.counts += c;
    if (c.records) p.m.records->inc(c.records);
    if (c.bytes) p.m.bytes->inc(c.bytes);
    if (c.non_utf8) p.m.non_utf8->inc(c.non_utf8);
    if (c.drops() == 0) return;
    if (c.malformed_record) p.m.malformed_record->inc(c.malformed_record);
    if (c.malformed_payload) p.m.malformed_payload->inc(c.malformed_payload);
    if (c.oversized) p.m.oversized->inc(c.oversized);
    if (c.unresyncable) p.m.unresyncable->inc(c.unresyncable);
    if (c.drops() == c.unresyncable) return;  // logged with the restart it causes
    VIGIL_LOG_RATE_LIMITED(log_, spdlog::level::warn,
                           "plugin {}: dropped frames (malformed_record {}, malformed_payload {}, "
                           "oversized {}); totals so far {}",
                           p.spec.name, c.malformed_record, c.malformed_payload, c.oversized,
                           p.counts.drops());
}

void PluginHost::Impl::onRecords(Plugin& p) {
    if (p.record_fd < 0) return;
    PipeCounts c;
    auto r = p.reader.pump(p.record_fd, sink_, kReadBudget, c);
    account(p, c);
    p.last_data = Clock::now();
    p.buffer_idle = false;
    switch (r) {
        case RecordPipeReader::Result::kDrained:
        case RecordPipeReader::Result::kBudget:
            break;
        case RecordPipeReader::Result::kEof:
            // The plugin closed fd 4 (or is exiting); its exit, if any, comes through the pidfd.
            closeRecordPipe(p);
            break;
        case RecordPipeReader::Result::kError:
            log_->warn("plugin {}: reading its record pipe failed: {}", p.spec.name,
                       std::strerror(p.reader.lastErrno()));
            closeRecordPipe(p);
            break;
        case RecordPipeReader::Result::kUnresyncable:
            handleUnresyncable(p);
            break;
    }
}

void PluginHost::Impl::handleUnresyncable(Plugin& p) {
    p.kill_reason = fmt::format(
        "unresynchronisable record stream: frame length {} is above the {}-byte resync limit",
        p.reader.unresyncableLength(), opt_.resync_limit_bytes);
    log_->error("plugin {} (pid {}): {}; killing and restarting it", p.spec.name, p.pid,
                p.kill_reason);
    closeRecordPipe(p);
    if (p.pid > 0) killProcess(p);
}

void PluginHost::Impl::killProcess(Plugin& p) {
    signalGroup(p.pid, SIGKILL);
    if (!p.cgroup.empty()) cgroups_->killAll(p.cgroup);
}

void PluginHost::Impl::closeRecordPipe(Plugin& p) {
    if (p.record_fd < 0) return;
    epollDel(epfd_, p.record_fd);
    ::close(p.record_fd);
    p.record_fd = -1;
}

void PluginHost::Impl::closeTaskPipe(Plugin& p) {
    if (p.task_fd < 0) return;
    epollDel(epfd_, p.task_fd);
    ::close(p.task_fd);
    p.task_fd = -1;
    p.task_out.clear();
    p.task_out_pos = 0;
}

void PluginHost::Impl::releaseCgroup(Plugin& p) {
    if (p.cgroup.empty()) return;
    if (!cgroups_->remove(p.cgroup)) {
        // Group members we SIGKILLed may take a moment to go; retry from the timers.
        pending_cgroups_.push_back({p.cgroup, Clock::now() + kCgroupGiveUp});
    }
    p.cgroup = PluginCgroup{};
}

void PluginHost::Impl::onExit(Plugin& p) {
    if (p.pid <= 0) return;
    // The leader is a zombie until reaped, which pins its process-group id: kill what is left
    // of the plugin (children that ignored SIGTERM, or that outlived a crash) while it is safe.
    killProcess(p);
    std::string how = reap(p.pid);
    if (p.record_fd >= 0) {
        // Records written before the exit are still in the pipe.
        PipeCounts c;
        auto r = p.reader.pump(p.record_fd, sink_, kReadBudget, c);
        account(p, c);
        if (r == RecordPipeReader::Result::kUnresyncable && p.kill_reason.empty()) {
            p.kill_reason = fmt::format("unresynchronisable record stream: frame length {}",
                                        p.reader.unresyncableLength());
        }
    }
    closeRecordPipe(p);
    closeTaskPipe(p);
    if (p.pidfd >= 0) {
        epollDel(epfd_, p.pidfd);
        ::close(p.pidfd);
        p.pidfd = -1;
    }
    const pid_t old_pid = p.pid;
    p.pid = 0;
    p.kill_at.reset();
    p.reader.reset();
    p.buffer_idle = true;
    releaseCgroup(p);
    p.m.running->set(0);

    if (p.stop_requested) {
        p.state = PluginState::kStopped;
        log_->info("plugin {} (pid {}) stopped: {}", p.spec.name, old_pid, how);
        auto waiters = std::move(p.stopped_waiters);
        p.stopped_waiters.clear();
        for (auto& w : waiters) w();
        return;
    }
    std::string reason = p.kill_reason.empty() ? how : p.kill_reason + " (" + how + ")";
    p.kill_reason.clear();
    p.last_error = reason;
    ++p.restarts;
    p.m.restarts->inc();
    // A plugin that ran for a while gets a fresh backoff; a crash loop keeps doubling it.
    if (Clock::now() - p.started_at >= opt_.restart_reset_after) p.backoff.reset();
    scheduleRestart(p);
    log_->warn("plugin {} (pid {}) {}; restarting{}", p.spec.name, old_pid, reason,
               p.restart_at
                   ? fmt::format(" in {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  *p.restart_at - Clock::now())
                                                  .count())
                   : std::string(" after the pending sync"));
    reportError(p.spec.name, reason);
}

void PluginHost::Impl::scheduleRestart(Plugin& p) {
    if (p.state != PluginState::kFailed) p.state = PluginState::kBackoff;
    if (!p.hold_restarts) p.restart_at = Clock::now() + p.backoff.next();
}

void PluginHost::Impl::beginRestart(Plugin& p) {
    p.state = PluginState::kStarting;
    const uint64_t generation = p.generation;
    PluginSpec spec = p.spec;
    std::string dir = p.dir;
    runOnWorker([this, generation, spec, dir] {
        std::unique_lock fetch_lock(fetch_mu_);
        // A sync may have replaced or removed the plugin while this job waited.
        bool current = call([&] {
            Plugin* q = find(spec.name);
            return q && q->generation == generation && !q->stop_requested;
        });
        if (!current) return;
        Result<std::string> prepared = ensureExecutable(fetchOptions(), spec, dir);
        fetch_lock.unlock();
        post([this, name = spec.name, generation, prepared = std::move(prepared)]() mutable {
            finishRestart(name, generation, std::move(prepared));
        });
    });
}

void PluginHost::Impl::finishRestart(const std::string& name, uint64_t generation,
                                     Result<std::string> prepared) {
    Plugin* p = find(name);
    if (!p || p->generation != generation || p->stop_requested || p->pid > 0) return;
    Status started = prepared.ok() ? spawnNow(*p) : Status(prepared.error());
    if (started.ok()) return;
    // Not started: failed, retried with the backoff (the executable or its URL may come back).
    p->state = PluginState::kFailed;
    p->last_error = started.message();
    ++p->restarts;
    p->m.restarts->inc();
    scheduleRestart(*p);
    log_->error("plugin {}: restart failed: {}", name, p->last_error);
    reportError(name, p->last_error);
}

Status PluginHost::Impl::spawnNow(Plugin& p) {
    p.stop_requested = false;
    p.kill_reason.clear();
    PluginCgroup cg;
    if (cgroups_->mode() != CgroupMode::kNone) {
        auto created = cgroups_->create(p.spec.name, {opt_.cpu_percent, opt_.memory_bytes});
        if (created.ok()) {
            cg = std::move(*created);
            // A removal still pending for the previous process must not remove the new one.
            std::erase_if(pending_cgroups_,
                          [&](const PendingCgroup& pc) { return pc.cgroup.dirs == cg.dirs; });
        } else {
            VIGIL_LOG_RATE_LIMITED(log_, spdlog::level::warn,
                                   "plugin {}: runs without a cgroup: {}", p.spec.name,
                                   created.message());
        }
    }
    SpawnRequest req{p.exe, p.dir, p.spec.detail, fs::joinPath(p.dir, p.spec.name + ".stderr"),
                     opt_.max_stderr_bytes};
    bool attached = false;
    auto spawned = spawnPlugin(req, [&](pid_t pid) {
        if (cg.empty()) return;
        Status st = cgroups_->attach(cg, pid);
        if (st.ok()) {
            attached = true;
        } else {
            log_->warn("plugin {}: runs without a cgroup: {}", p.spec.name, st.message());
        }
    });
    if (!attached && !cg.empty()) {
        cgroups_->remove(cg);
        cg = PluginCgroup{};
    }
    if (!spawned.ok()) {
        if (!cg.empty()) cgroups_->remove(cg);
        return spawned.error();
    }
    p.pid = spawned->pid;
    p.pidfd = spawned->pidfd;
    if (!opt_.use_pidfd && p.pidfd >= 0) {
        ::close(p.pidfd);
        p.pidfd = -1;
    }
    p.task_fd = spawned->task_fd;
    p.record_fd = spawned->record_fd;
    p.cgroup = std::move(cg);
    p.cgroup_mode = p.cgroup.mode;
    p.reader.reset();
    p.task_out.clear();
    p.task_out_pos = 0;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &p.record_watch;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, p.record_fd, &ev);
    if (p.pidfd >= 0) {
        ev.data.ptr = &p.exit_watch;
        ::epoll_ctl(epfd_, EPOLL_CTL_ADD, p.pidfd, &ev);
    }
    // last_error is kept: after a restart it still says why the plugin was restarted.
    p.state = PluginState::kRunning;
    p.start_time = static_cast<int64_t>(::time(nullptr));
    p.started_at = Clock::now();
    p.m.running->set(1);
    log_->info("plugin {} {} started: pid {}, cgroup {}", p.spec.name, p.spec.version, p.pid,
               cgroupModeName(p.cgroup.mode));
    return okStatus();
}

void PluginHost::Impl::beginStop(Plugin& p, std::function<void()> done) {
    ++p.generation;  // in-flight restart preparations are now stale
    p.stop_requested = true;
    p.restart_at.reset();
    if (p.pid <= 0) {
        p.state = PluginState::kStopped;
        if (done) done();
        return;
    }
    if (done) p.stopped_waiters.push_back(std::move(done));
    if (p.kill_at) return;  // already stopping
    // EOF on fd 3 asks a plugin to finish; SIGTERM insists; SIGKILL after the grace period.
    closeTaskPipe(p);
    signalGroup(p.pid, SIGTERM);
    p.kill_at = Clock::now() + opt_.stop_grace;
}

void PluginHost::Impl::runTimers(Clock::time_point now) {
    for (auto& [name, p] : plugins_) {
        if (p->kill_at && now >= *p->kill_at) {
            p->kill_at.reset();
            if (p->pid > 0) {
                log_->warn("plugin {} (pid {}) did not stop within {} ms; killing its group", name,
                           p->pid, opt_.stop_grace.count());
                killProcess(*p);
            }
        }
        if (p->pid > 0 && p->pidfd < 0 && exitedWithoutReaping(p->pid)) onExit(*p);
        if (p->restart_at && now >= *p->restart_at) {
            p->restart_at.reset();
            beginRestart(*p);
        }
        if (!p->buffer_idle && now - p->last_data >= kIdleShrink) {
            p->reader.shrinkIfIdle();
            p->buffer_idle = true;
        }
    }
    std::erase_if(pending_cgroups_, [&](const PendingCgroup& pc) {
        if (cgroups_->remove(pc.cgroup)) return true;
        if (now < pc.give_up_at) return false;
        log_->warn("cannot remove cgroup {}: processes remain", pc.cgroup.dirs.front());
        return true;
    });
}

Status PluginHost::Impl::writeTask(Plugin& p, int32_t data_type, const std::string& data,
                                   const std::string& token) {
    if (p.stop_requested && p.pid > 0) return makeError("plugin {}: stopping", p.spec.name);
    if (p.state != PluginState::kRunning || p.task_fd < 0) {
        return makeError("plugin {}: not running ({})", p.spec.name, pluginStateName(p.state));
    }
    if (data.size() + token.size() + p.spec.name.size() > opt_.max_frame_bytes) {
        return makeError("plugin {}: task of {} bytes is above the {}-byte frame limit",
                         p.spec.name, data.size() + token.size(), opt_.max_frame_bytes);
    }
    auto refuse = [&](const char* why) -> Status {
        ++p.task_drops;
        p.m.task_drops->inc();
        return makeError("plugin {}: task not sent: {}", p.spec.name, why);
    };
    if (p.task_out_pos < p.task_out.size()) return refuse("task pipe full");
    p.task_out.clear();
    p.task_out_pos = 0;
    wire::appendTaskFrame(p.task_out, data_type, p.spec.name, data, token);
    ssize_t n;
    do {
        n = ::write(p.task_fd, p.task_out.data(), p.task_out.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        p.task_out.clear();
        if (errno == EAGAIN || errno == EWOULDBLOCK) return refuse("task pipe full");
        if (errno == EPIPE) {
            consumeSigpipe();
            closeTaskPipe(p);
            return refuse("the plugin closed its task pipe");
        }
        return makeError("plugin {}: writing the task failed: {}", p.spec.name,
                         std::strerror(errno));
    }
    ++p.tasks;
    p.m.tasks->inc();
    if (static_cast<size_t>(n) == p.task_out.size()) {
        p.task_out.clear();
        return okStatus();
    }
    // The pipe took part of the frame: the rest must follow before any other frame.
    p.task_out_pos = static_cast<size_t>(n);
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.ptr = &p.task_watch;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, p.task_fd, &ev);
    return okStatus();
}

void PluginHost::Impl::onTaskWritable(Plugin& p) {
    if (p.task_fd < 0) return;
    while (p.task_out_pos < p.task_out.size()) {
        ssize_t n = ::write(p.task_fd, p.task_out.data() + p.task_out_pos,
                            p.task_out.size() - p.task_out_pos);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EPIPE) consumeSigpipe();
            closeTaskPipe(p);
            return;
        }
        p.task_out_pos += static_cast<size_t>(n);
    }
    p.task_out.clear();
    p.task_out_pos = 0;
    epollDel(epfd_, p.task_fd);
}

void PluginHost::Impl::reportError(const std::string& plugin, const std::string& error) {
    std::function<void(const std::string&, const std::string&)> cb;
    {
        std::lock_guard lock(cb_mu_);
        cb = error_cb_;
    }
    if (cb) cb(plugin, error);
}

}  // namespace vigil::agent
