// Agent lifecycle: start-up, main loop, orderly shutdown.
#include "agent/app/agent.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

#include "agent/app/agent_id.h"
#include "agent/heartbeat/host_info.h"
#include "libs/common/fs.h"
#include "libs/common/http.h"
#include "libs/common/log.h"
#include "libs/wire/batch.h"

namespace vigil::agent {
namespace {

nlohmann::json specToJson(const PluginSpec& p) {
    return {{"name", p.name},     {"type", p.type},           {"version", p.version},
            {"sha256", p.sha256}, {"signature", p.signature}, {"download_urls", p.download_urls},
            {"detail", p.detail}};
}

PluginSpec specFromJson(const nlohmann::json& j) {
    PluginSpec p;
    p.name = j.value("name", "");
    p.type = j.value("type", "exec");
    p.version = j.value("version", "");
    p.sha256 = j.value("sha256", "");
    p.signature = j.value("signature", "");
    p.download_urls = j.value("download_urls", std::vector<std::string>{});
    p.detail = j.value("detail", "");
    return p;
}

}  // namespace

Result<PersistedState> loadPersistedState(const std::string& path) {
    PersistedState s;
    if (!fs::exists(path)) return s;
    auto text = fs::readFile(path, 4 << 20);
    if (!text.ok()) return text.error();
    try {
        auto j = nlohmann::json::parse(*text);
        s.idc = j.value("idc", "");
        s.region = j.value("region", "");
        if (j.contains("plugins")) {
            s.have_plugins = true;
            for (const auto& p : j["plugins"]) s.plugins.push_back(specFromJson(p));
        }
    } catch (const nlohmann::json::exception& e) {
        return makeError("{} is not valid JSON ({}); delete it to reset the agent's saved state", path, e.what());
    }
    return s;
}

Status savePersistedState(const std::string& path, const PersistedState& s) {
    nlohmann::json j{{"idc", s.idc}, {"region", s.region}};
    if (s.have_plugins) {
        j["plugins"] = nlohmann::json::array();
        for (const auto& p : s.plugins) j["plugins"].push_back(specToJson(p));
    }
    return fs::writeFileAtomic(path, j.dump(2) + "\n", 0600);
}

Agent::Agent(AgentConfig config, AgentRuntime runtime)
    : config_(std::move(config)), runtime_(std::move(runtime)) {}

Agent::~Agent() { shutdown(); }

Status Agent::start() {
    auto log = vigil::log::get("agent");
    VIGIL_TRY(fs::makeDirs(config_.work_dir, 0700));
    VIGIL_TRY(fs::makeDirs(fs::joinPath(config_.work_dir, "plugin"), 0700));
    auto id = resolveAgentId(config_.work_dir, config_.agent_id);
    if (!id.ok()) return id.error();
    agent_id_ = *id;

    state_path_ = fs::joinPath(config_.work_dir, "state.json");
    auto st = loadPersistedState(state_path_);
    if (!st.ok()) {
        log->warn("{}", st.message());
    } else {
        persisted_ = *st;
    }
    if (persisted_.idc.empty()) persisted_.idc = config_.idc;
    if (!persisted_.region.empty() && config_.transport.regions.count(persisted_.region)) {
        config_.transport.region = persisted_.region;
    }
    persisted_.region = config_.transport.region;

    auto spool = Spool::open(config_.spool, metrics_);
    if (!spool.ok()) return makeError("cannot open the spool in {}: {}", config_.spool.dir, spool.message());
    spool_ = std::move(*spool);
    batcher_ = std::make_unique<Batcher>(config_.batcher, *spool_, metrics_);
    refreshHeader();

    error_sink_ = std::make_shared<ErrorLogSink>();
    error_sink_->attach(batcher_.get());
    vigil::log::addSink(error_sink_);

    PluginHostOptions popts = config_.plugins;
    popts.fetch_helper = runtime_.fetch_helper;
    plugins_ = std::make_unique<PluginHost>(popts, *batcher_, metrics_);
    plugins_->onPluginError([this](const std::string& plugin, const std::string& error) {
        vigil::log::get("plugin_host")->error("plugin {}: {}", plugin, error);
        setAbnormal("plugin " + plugin + ": " + error);
    });
    VIGIL_TRY(plugins_->start());

    HeartbeatSources hs;
    hs.agent_state = [this] { return stateSnapshot(); };
    hs.transport = [this] { return center_ ? center_->stats() : TransportStats{}; };
    hs.spool = [this] { return spool_->stats(); };
    hs.plugins = [this] { return plugins_->status(); };
    hs.drops = [this] {
        std::map<std::string, uint64_t> d;
        SpoolStats s = spool_->stats();
        d["spool_full"] = s.dropped_records;
        d["spool_write_error"] = s.failed_records;
        for (const auto& p : plugins_->status()) {
            for (const auto& [cause, n] : p.drops_by_cause) d["plugin_" + cause] += n;
            d["plugin_task_pipe_full"] += p.task_drops;
        }
        return d;
    };
    hs.work_dir = config_.work_dir;
    heartbeat_ = std::make_unique<Heartbeat>(hs, *batcher_);

    worker_ = std::thread([this] { workerLoop(); });

    // Plugins from the last config sync (or the configured initial set) start right away, so
    // the host is covered while the center is unreachable.
    std::vector<PluginSpec> boot = persisted_.have_plugins ? persisted_.plugins : config_.initial_plugins;
    if (!boot.empty()) post([this, boot] { applyConfigSync(boot); });

    center_ = std::make_unique<CenterClient>(config_.transport, *spool_, *this, metrics_);
    VIGIL_TRY(center_->start());
    VIGIL_TRY(startMetricsServer());
    log->info("vigil-agent {} started: id {}, work dir {}, region {}", runtime_.version, agent_id_, config_.work_dir,
              config_.transport.region);
    return okStatus();
}

Status Agent::startMetricsServer() {
    if (config_.metrics_listen.empty()) return okStatus();
    auto colon = config_.metrics_listen.rfind(':');
    std::string host = config_.metrics_listen.substr(0, colon);
    int port = std::stoi(config_.metrics_listen.substr(colon + 1));
    metrics_server_ = std::make_unique<http::Server>();
    metrics_server_->handle("/metrics", [this] {
        return http::Reply{200, "text/plain; version=0.0.4", metrics_.renderPrometheus()};
    });
    metrics_server_->handle("/healthz", [this] {
        auto s = stateSnapshot();
        return http::Reply{200, "application/json",
                           nlohmann::json{{"agent_id", agent_id_}, {"state", s.state}, {"detail", s.state_detail}}.dump()};
    });
    if (Status st = metrics_server_->listen(host, port); !st.ok()) {
        return makeError("metrics.listen {}: {}", config_.metrics_listen, st.message());
    }
    metrics_server_->start();
    return okStatus();
}

void Agent::refreshHeader() {
    HostIdentity id = readHostIdentity();
    HostAddresses addrs = readHostAddresses();
    wire::BatchHeader h;
    h.agent_id = agent_id_;
    h.intranet_ipv4 = addrs.intranet_ipv4;
    h.extranet_ipv4 = addrs.extranet_ipv4;
    h.intranet_ipv6 = addrs.intranet_ipv6;
    h.extranet_ipv6 = addrs.extranet_ipv6;
    h.hostname = id.hostname;
    h.version = runtime_.version;
    h.product = config_.product;
    batcher_->setHeader(h);
}

Agent::Exit Agent::run() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    auto log = vigil::log::get("agent");
    const auto tick = std::max<std::chrono::milliseconds>(config_.batcher.interval / 2, std::chrono::milliseconds(5));
    auto next_heartbeat = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    auto next_header = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (exit_.load() < 0) {
        timespec ts{static_cast<time_t>(tick.count() / 1000), static_cast<long>((tick.count() % 1000) * 1000000)};
        int sig = ::sigtimedwait(&set, nullptr, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log->info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            requestExit(Exit::kStop);
            break;
        }
        if (sig == SIGHUP) {
            // Reload = re-execute with the same arguments, but only with a valid configuration.
            auto next = loadAgentConfig(runtime_.config_path, runtime_.flags);
            if (next.ok()) {
                log->info("SIGHUP: configuration is valid, restarting to apply it");
                requestExit(Exit::kRestart);
                break;
            }
            log->error("SIGHUP: configuration not reloaded, the running one stays: {}", next.message());
        }
        batcher_->tick();
        auto now = std::chrono::steady_clock::now();
        if (now >= next_heartbeat || heartbeat_now_.exchange(false)) {
            heartbeat_->emit();
            next_heartbeat = now + config_.heartbeat_interval;
        }
        if (now >= next_header) {
            refreshHeader();
            next_header = now + std::chrono::minutes(5);
        }
    }
    Exit how = static_cast<Exit>(exit_.load());
    shutdown();
    return how;
}

void Agent::requestExit(Exit how) {
    int expected = -1;
    exit_.compare_exchange_strong(expected, static_cast<int>(how));
}

void Agent::shutdown() {
    auto log = vigil::log::get("agent");
    {
        std::lock_guard lock(jobs_mu_);
        if (jobs_stop_ && !worker_.joinable() && !plugins_) return;
        jobs_stop_ = true;
    }
    jobs_cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (plugins_) plugins_->stop();  // plugins flush on SIGTERM; their records still reach the batcher
    if (batcher_) batcher_->flush();
    if (center_ && spool_) {
        // Give the stream a moment to deliver what is spooled; the spool keeps the rest.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (center_->stats().connected && spool_->stats().pending_batches > 0 &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    if (error_sink_) error_sink_->attach(nullptr);
    if (center_) center_->stop();
    if (spool_) spool_->close();
    if (metrics_server_) metrics_server_->stop();
    center_.reset();
    plugins_.reset();
    if (batcher_) log->info("agent stopped; {} records batched since start", batcher_->recordsIn());
}

void Agent::post(std::function<void()> job) {
    {
        std::lock_guard lock(jobs_mu_);
        if (jobs_stop_) return;
        jobs_.push_back(std::move(job));
    }
    jobs_cv_.notify_one();
}

void Agent::workerLoop() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(jobs_mu_);
            jobs_cv_.wait(lock, [&] { return jobs_stop_ || !jobs_.empty(); });
            if (jobs_stop_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

AgentStateSnapshot Agent::stateSnapshot() {
    std::lock_guard lock(state_mu_);
    return AgentStateSnapshot{state_, state_detail_, persisted_.idc, persisted_.region};
}

void Agent::setAbnormal(const std::string& detail) {
    std::lock_guard lock(state_mu_);
    state_ = "abnormal";
    state_detail_ = detail;
}

void Agent::setRunning() {
    std::lock_guard lock(state_mu_);
    state_ = "running";
    state_detail_.clear();
}

void Agent::onConnected(const std::string& center, const std::string& net_mode) {
    vigil::log::get("agent")->info("connected to center {} ({})", center, net_mode);
    heartbeat_now_ = true;
}

}  // namespace vigil::agent
