// PluginHost public API: start/stop, sync to the desired plugin set, tasks and status.
// The loop thread itself lives in plugin_loop.cpp.
#include "agent/plugin_host/plugin_host.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <set>

#include "agent/plugin_host/plugin_host_impl.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"

namespace vigil::agent {
namespace {

// How long sync()/stop() wait beyond the grace period for SIGKILLed plugins to be reaped.
constexpr auto kReapSlack = std::chrono::seconds(10);

PluginMetrics makeMetrics(metrics::Registry& r, const std::string& name) {
    const metrics::Labels l = {{"plugin", name}};
    auto drops = [&](const char* cause) {
        return &r.counter("vigil_agent_plugin_drops_total",
                          "Frames from a plugin that were not forwarded, by cause",
                          {{"plugin", name}, {"cause", cause}});
    };
    PluginMetrics m;
    m.records =
        &r.counter("vigil_agent_plugin_records_total", "Records forwarded from a plugin", l);
    m.bytes = &r.counter("vigil_agent_plugin_bytes_total", "Bytes read from a plugin's pipe", l);
    m.malformed_record = drops("malformed_record");
    m.malformed_payload = drops("malformed_payload");
    m.oversized = drops("oversized");
    m.unresyncable = drops("unresyncable");
    m.non_utf8 = &r.counter("vigil_agent_plugin_non_utf8_total",
                            "Forwarded records with strings that are not UTF-8", l);
    m.restarts = &r.counter("vigil_agent_plugin_restarts_total",
                            "Restarts after a plugin exited or failed to start", l);
    m.tasks = &r.counter("vigil_agent_plugin_tasks_total", "Tasks written to a plugin", l);
    m.task_drops = &r.counter("vigil_agent_plugin_task_drops_total",
                              "Tasks refused because the plugin's task pipe was full", l);
    m.running = &r.gauge("vigil_agent_plugin_running", "1 while the plugin's process runs", l);
    return m;
}

std::string joinErrors(const std::vector<std::string>& errors) {
    std::string out;
    for (const auto& e : errors) {
        if (!out.empty()) out += "; ";
        out += e;
    }
    return out;
}

}  // namespace

const char* pluginStateName(PluginState s) {
    switch (s) {
        case PluginState::kStarting:
            return "starting";
        case PluginState::kRunning:
            return "running";
        case PluginState::kBackoff:
            return "backoff";
        case PluginState::kStopped:
            return "stopped";
        case PluginState::kFailed:
            return "failed";
    }
    return "unknown";
}

std::string defaultFetchHelperPath() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return "vigil-fetch";
    return fs::joinPath(fs::dirName(std::string(buf, static_cast<size_t>(n))), "vigil-fetch");
}

Plugin::Plugin(PluginSpec s, std::string plugin_dir, const PluginHostOptions& opt,
               metrics::Registry& registry)
    : spec(std::move(s)),
      dir(std::move(plugin_dir)),
      exe(fs::joinPath(dir, spec.name)),
      record_watch{Watch::Kind::kRecords, this},
      exit_watch{Watch::Kind::kExit, this},
      task_watch{Watch::Kind::kTaskWritable, this},
      reader(opt.max_frame_bytes, opt.resync_limit_bytes),
      backoff(opt.restart_initial, opt.restart_max),
      m(makeMetrics(registry, spec.name)) {}

PluginHost::Impl::Impl(PluginHostOptions options, RecordSink& sink, metrics::Registry& registry)
    : opt_(std::move(options)), sink_(sink), registry_(registry), log_(log::get("plugin_host")) {}

PluginHost::Impl::~Impl() {
    stop();
}

std::string PluginHost::Impl::pluginDir(const std::string& name) const {
    return fs::joinPath(fs::joinPath(opt_.work_dir, "plugin"), name);
}

FetchOptions PluginHost::Impl::fetchOptions() const {
    return FetchOptions{opt_.fetch_helper, opt_.max_download_bytes, opt_.fetch_timeout,
                        opt_.fetch_ca_file, &cancel_fetch_};
}

Plugin* PluginHost::Impl::find(const std::string& name) {
    auto it = plugins_.find(name);
    return it == plugins_.end() ? nullptr : it->second.get();
}

Plugin& PluginHost::Impl::create(const PluginSpec& spec) {
    auto& slot = plugins_[spec.name];
    if (!slot) slot = std::make_unique<Plugin>(spec, pluginDir(spec.name), opt_, registry_);
    return *slot;
}

void PluginHost::Impl::erase(const std::string& name) {
    Plugin* p = find(name);
    if (!p || p->pid > 0) return;  // a process we could not reap keeps its entry
    closeRecordPipe(*p);
    closeTaskPipe(*p);
    p->m.running->set(0);
    plugins_.erase(name);
}

void PluginHost::Impl::runOnWorker(std::function<void()> fn) {
    {
        std::lock_guard lock(w_mu_);
        if (w_stop_) return;
        w_jobs_.push_back(std::move(fn));
    }
    w_cv_.notify_one();
}

void PluginHost::Impl::workerMain() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(w_mu_);
            w_cv_.wait(lock, [&] { return w_stop_ || !w_jobs_.empty(); });
            if (w_stop_) return;
            job = std::move(w_jobs_.front());
            w_jobs_.pop_front();
        }
        job();
    }
}

Status PluginHost::Impl::start() {
    std::lock_guard sync_lock(sync_mu_);
    if (started_) return okStatus();
    if (opt_.work_dir.empty()) return makeError("plugin host: work_dir is not set");
    std::error_code ec;
    opt_.work_dir = std::filesystem::absolute(opt_.work_dir, ec).lexically_normal().string();
    if (!opt_.work_dir.empty() && opt_.work_dir.size() > 1 && opt_.work_dir.back() == '/') {
        opt_.work_dir.pop_back();
    }
    VIGIL_TRY(fs::makeDirs(fs::joinPath(opt_.work_dir, "plugin")));
    if (opt_.fetch_helper.empty()) opt_.fetch_helper = defaultFetchHelperPath();
    if (opt_.max_frame_bytes == 0) return makeError("plugin host: max_frame_bytes must be > 0");

    if (!opt_.use_pidfd) log_->info("plugin exits are polled (use_pidfd off)");
    cgroups_ =
        std::make_unique<CgroupManager>(opt_.cgroup_root, opt_.cgroup_name, opt_.use_cgroups);
    if (cgroups_->mode() == CgroupMode::kNone) {
        log_->warn("plugins run without cgroups (no CPU/memory caps): {}", cgroups_->reason());
    } else {
        log_->info("plugin cgroups: {}", cgroups_->reason());
    }

    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epfd_ < 0 || wake_fd_ < 0) {
        int e = errno;
        if (epfd_ >= 0) ::close(epfd_);
        if (wake_fd_ >= 0) ::close(wake_fd_);
        epfd_ = wake_fd_ = -1;
        return makeError("plugin host: epoll/eventfd: {}", std::strerror(e));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &wake_watch_;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev);

    quit_ = false;
    cancel_fetch_ = false;
    {
        std::lock_guard lock(q_mu_);
        loop_running_ = true;
    }
    {
        std::lock_guard lock(w_mu_);
        w_stop_ = false;
    }
    loop_thread_ = std::thread([this] { loopMain(); });
    loop_tid_ = loop_thread_.get_id();
    worker_ = std::thread([this] { workerMain(); });
    started_ = true;
    return okStatus();
}

void PluginHost::Impl::stop() {
    cancel_fetch_ = true;  // a sync or restart stuck in a download gives up now
    std::lock_guard sync_lock(sync_mu_);
    if (!started_) return;
    // Stop every plugin at once so the grace periods overlap.
    std::vector<std::shared_ptr<std::promise<void>>> waits;
    call([&] {
        for (auto& [name, p] : plugins_) {
            auto done = std::make_shared<std::promise<void>>();
            waits.push_back(done);
            beginStop(*p, [done] { done->set_value(); });
        }
    });
    auto deadline = Clock::now() + opt_.stop_grace + kReapSlack;
    for (auto& w : waits) {
        if (w->get_future().wait_until(deadline) != std::future_status::ready) {
            log_->error("a plugin did not exit after SIGKILL; leaving it");
        }
    }
    {
        std::lock_guard lock(w_mu_);
        w_stop_ = true;
        w_jobs_.clear();
    }
    w_cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    call([&] { quit_ = true; });
    if (loop_thread_.joinable()) loop_thread_.join();
    loop_tid_ = std::thread::id();

    // Calls that find the loop stopped run inline under q_mu_; keep them out while cleaning.
    std::lock_guard queue_lock(q_mu_);
    for (auto& [name, p] : plugins_) {
        closeRecordPipe(*p);
        closeTaskPipe(*p);
        if (p->pidfd >= 0) ::close(p->pidfd);
        p->pidfd = -1;
        if (!p->cgroup.empty()) cgroups_->remove(p->cgroup);
    }
    plugins_.clear();
    for (const auto& pc : pending_cgroups_) cgroups_->remove(pc.cgroup);
    pending_cgroups_.clear();
    cgroups_->removeParents();
    ::close(epfd_);
    ::close(wake_fd_);
    epfd_ = wake_fd_ = -1;
    started_ = false;
}

Status PluginHost::Impl::sync(const std::vector<PluginSpec>& desired) {
    std::lock_guard sync_lock(sync_mu_);
    if (!started_) return makeError("plugin host is not started");
    std::vector<std::string> errors;

    // 1. Validate. A plugin whose new spec is invalid keeps running as it is.
    std::map<std::string, PluginSpec> want;
    std::set<std::string> keep;
    for (const auto& raw : desired) {
        PluginSpec spec = normalizeSpec(raw);
        Status valid = validateSpec(spec);
        if (!valid.ok()) {
            errors.push_back(fmt::format("plugin {}: {}", raw.name, valid.message()));
            if (isValidPluginName(raw.name)) keep.insert(raw.name);
            continue;
        }
        if (!want.emplace(spec.name, spec).second) {
            errors.push_back(
                fmt::format("plugin {}: listed twice; the first entry is used", spec.name));
        }
    }

    // 2. Compare with what runs.
    struct Current {
        PluginSpec spec;
        PluginState state;
    };
    auto current = call([&] {
        std::map<std::string, Current> out;
        for (const auto& [name, p] : plugins_) out[name] = Current{p->spec, p->state};
        return out;
    });
    std::vector<std::string> removed;
    for (const auto& [name, cur] : current) {
        if (!want.count(name) && !keep.count(name)) removed.push_back(name);
    }
    std::vector<PluginSpec> to_prepare;  // new, changed, or failed before
    for (const auto& [name, spec] : want) {
        auto it = current.find(name);
        if (it == current.end() || !(it->second.spec == spec) ||
            it->second.state == PluginState::kFailed) {
            to_prepare.push_back(spec);
        }
    }

    // 3. Verify or fetch the executables while the old versions keep running.
    std::vector<PluginSpec> ready;
    std::map<std::string, std::string> failed;
    for (const auto& spec : to_prepare) {
        call([&] {
            if (Plugin* p = find(spec.name)) {
                p->hold_restarts = true;  // the old version must not restart onto new files
                ++p->generation;
                p->restart_at.reset();
            }
        });
        std::string dir = pluginDir(spec.name);
        Result<std::string> prepared = [&]() -> Result<std::string> {
            std::lock_guard fetch_lock(fetch_mu_);
            VIGIL_TRY(fs::makeDirs(dir));
            return ensureExecutable(fetchOptions(), spec, dir);
        }();
        if (prepared.ok()) {
            ready.push_back(spec);
        } else {
            failed[spec.name] = prepared.message();
            errors.push_back(fmt::format("plugin {}: {}", spec.name, prepared.message()));
        }
    }

    // 4. Stop removed plugins and the old versions of the ready ones, all at once.
    std::vector<std::string> to_stop = removed;
    for (const auto& spec : ready) {
        if (current.count(spec.name)) to_stop.push_back(spec.name);
    }
    std::vector<std::shared_ptr<std::promise<void>>> waits;
    call([&] {
        for (const auto& name : to_stop) {
            Plugin* p = find(name);
            if (!p) continue;
            auto done = std::make_shared<std::promise<void>>();
            waits.push_back(done);
            beginStop(*p, [done] { done->set_value(); });
        }
    });
    auto deadline = Clock::now() + opt_.stop_grace + kReapSlack;
    for (auto& w : waits) w->get_future().wait_until(deadline);

    // 5. Forget removed plugins and delete their directories.
    for (const auto& name : removed) {
        bool gone = call([&] {
            erase(name);
            return find(name) == nullptr;
        });
        if (!gone) {
            errors.push_back(fmt::format("plugin {}: did not exit; directory kept", name));
            continue;
        }
        std::lock_guard fetch_lock(fetch_mu_);
        Status st = fs::removeAll(pluginDir(name));
        if (!st.ok()) errors.push_back(fmt::format("plugin {}: {}", name, st.message()));
        log_->info("plugin {} removed", name);
    }

    // 6. Start the new versions.
    for (const auto& spec : ready) {
        Status started = call([&]() -> Status {
            Plugin& p = create(spec);
            if (p.pid > 0) {
                p.hold_restarts = false;
                return makeError("the previous process {} did not exit", p.pid);
            }
            p.spec = spec;
            p.hold_restarts = false;
            ++p.generation;
            p.backoff.reset();
            p.restart_at.reset();
            p.last_error.clear();  // a new desired spec starts with a clean slate
            Status st = spawnNow(p);
            if (!st.ok()) {
                p.state = PluginState::kFailed;
                p.last_error = st.message();
                reportError(spec.name, st.message());
            }
            return st;
        });
        if (!started.ok()) {
            errors.push_back(fmt::format("plugin {}: {}", spec.name, started.message()));
        }
    }

    // 7. Record failures. An upgrade that failed leaves the old version running.
    for (const auto& [name, error] : failed) {
        call([&] {
            Plugin* p = find(name);
            const PluginSpec& spec = want.at(name);
            if (!p) {
                Plugin& np = create(spec);
                np.state = PluginState::kFailed;
                np.last_error = error;
            } else if (!(p->spec == spec) && p->state != PluginState::kFailed) {
                p->last_error = "upgrade to version " + spec.version + " failed: " + error;
                p->hold_restarts = false;
                if (p->pid <= 0 && !p->restart_at) scheduleRestart(*p);
            } else {
                p->spec = spec;
                p->hold_restarts = false;
                p->state = PluginState::kFailed;
                p->last_error = error;
            }
            log_->error("plugin {}: not started: {}", name, error);
            reportError(name, error);
        });
    }
    if (errors.empty()) return okStatus();
    return Error{joinErrors(errors)};
}

Status PluginHost::Impl::restart(const std::string& name) {
    std::lock_guard sync_lock(sync_mu_);
    if (!started_) return makeError("plugin host is not started");
    // 1. Hold automatic restarts while the executable is verified and the process stopped.
    bool had_restart = false;  // a restart was pending: put it back if this one fails early
    auto spec = call([&]() -> std::optional<PluginSpec> {
        Plugin* p = find(name);
        if (!p) return std::nullopt;
        had_restart = p->restart_at.has_value();
        p->hold_restarts = true;
        ++p->generation;
        p->restart_at.reset();
        return p->spec;
    });
    if (!spec) return makeError("plugin {}: not configured on this host", name);
    Result<std::string> prepared = [&]() -> Result<std::string> {
        std::lock_guard fetch_lock(fetch_mu_);
        VIGIL_TRY(fs::makeDirs(pluginDir(name)));
        return ensureExecutable(fetchOptions(), *spec, pluginDir(name));
    }();
    if (!prepared.ok()) {
        // The running process (if any) is left alone.
        call([&] {
            if (Plugin* p = find(name)) {
                p->hold_restarts = false;
                const bool waiting = had_restart || p->state == PluginState::kBackoff;
                if (waiting && p->pid <= 0 && !p->restart_at) scheduleRestart(*p);
            }
        });
        return makeError("plugin {}: not restarted: {}", name, prepared.message());
    }
    // 2. Stop it as a sync would.
    auto done = std::make_shared<std::promise<void>>();
    call([&] {
        if (Plugin* p = find(name)) {
            beginStop(*p, [done] { done->set_value(); });
        } else {
            done->set_value();
        }
    });
    done->get_future().wait_until(Clock::now() + opt_.stop_grace + kReapSlack);
    // 3. Start it again at once, with a fresh backoff.
    return call([&]() -> Status {
        Plugin* p = find(name);
        if (!p) return makeError("plugin {}: removed while restarting", name);
        p->hold_restarts = false;
        if (p->pid > 0) return makeError("plugin {}: process {} did not exit", name, p->pid);
        ++p->generation;
        p->backoff.reset();
        p->restart_at.reset();
        Status st = spawnNow(*p);
        if (!st.ok()) {
            p->state = PluginState::kFailed;
            p->last_error = st.message();
            scheduleRestart(*p);
            reportError(name, st.message());
            return makeError("plugin {}: not restarted: {}", name, st.message());
        }
        log_->info("plugin {} restarted on request: pid {}", name, p->pid);
        return okStatus();
    });
}

Status PluginHost::Impl::sendTask(const std::string& plugin, int32_t data_type,
                                  const std::string& data, const std::string& token) {
    if (!started_) return makeError("plugin host is not started");
    return call([&]() -> Status {
        Plugin* p = find(plugin);
        if (!p) return makeError("plugin {}: unknown", plugin);
        return writeTask(*p, data_type, data, token);
    });
}

std::vector<PluginStatus> PluginHost::Impl::status() {
    return call([&] {
        std::vector<PluginStatus> out;
        for (const auto& [name, p] : plugins_) {
            PluginStatus s;
            s.spec = p->spec;
            s.state = p->state;
            s.pid = p->pid;
            s.start_time = p->pid > 0 ? p->start_time : 0;
            s.last_error = p->last_error;
            s.records = p->counts.records;
            s.bytes = p->counts.bytes;
            s.drops = p->counts.drops();
            s.drops_by_cause = {{"malformed_record", p->counts.malformed_record},
                                {"malformed_payload", p->counts.malformed_payload},
                                {"oversized", p->counts.oversized},
                                {"unresyncable", p->counts.unresyncable}};
            s.non_utf8 = p->counts.non_utf8;
            s.restarts = p->restarts;
            s.tasks = p->tasks;
            s.task_drops = p->task_drops;
            s.cgroup_mode = cgroupModeName(p->cgroup_mode);
            out.push_back(std::move(s));
        }
        return out;
    });
}

PluginHost::PluginHost(PluginHostOptions options, RecordSink& sink, metrics::Registry& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), sink, metrics)) {}

PluginHost::~PluginHost() {
    impl_->stop();
}

Status PluginHost::start() {
    return impl_->start();
}

void PluginHost::stop() {
    impl_->stop();
}

Status PluginHost::sync(const std::vector<PluginSpec>& desired) {
    return impl_->sync(desired);
}

Status PluginHost::restart(const std::string& plugin) {
    return impl_->restart(plugin);
}

Status PluginHost::sendTask(const std::string& plugin, int32_t data_type, const std::string& data,
                            const std::string& token) {
    return impl_->sendTask(plugin, data_type, data, token);
}

std::vector<PluginStatus> PluginHost::status() const {
    return impl_->status();
}

void PluginHost::onPluginError(
    std::function<void(const std::string& plugin, const std::string& error)> fn) {
    std::lock_guard lock(impl_->cb_mu_);
    impl_->error_cb_ = std::move(fn);
}

}  // namespace vigil::agent
