// Agent: wires the spool, batcher, center client, plugin host and heartbeat together, runs
// the main loop (signals, batch ticks, heartbeats) and executes Commands from the center:
// config sync (plugins and self-upgrade) and tasks (1050 upload, 1051 metadata, 1060 restart,
// 1061 restart one plugin, anything else forwarded to the named plugin). Slow commands run on a
// worker thread so the stream keeps flowing. Thread-safety: start/run from the main thread;
// onCommand from the transport thread; the accessors are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/app/agent_config.h"
#include "agent/app/error_log_sink.h"
#include "agent/heartbeat/heartbeat.h"
#include "agent/plugin_host/plugin_host.h"
#include "agent/spool/spool.h"
#include "agent/transport/batcher.h"
#include "agent/transport/center_client.h"
#include "libs/common/metrics.h"

namespace vigil::http {
class Server;
}

namespace vigil::agent {

struct AgentRuntime {
    std::string version;               // this build's version
    std::string self_exe;              // for re-exec and self-upgrade
    std::vector<std::string> argv;     // re-exec arguments
    std::string fetch_helper;          // vigil-fetch path
    std::string config_path;           // re-read on SIGHUP (validated before re-executing)
    AgentFlags flags;
};

// Metadata and plugin set the agent keeps across restarts (<work_dir>/state.json).
struct PersistedState {
    std::string idc;
    std::string region;
    bool have_plugins = false;         // false: no config sync seen yet
    std::vector<PluginSpec> plugins;
};
Result<PersistedState> loadPersistedState(const std::string& path);
Status savePersistedState(const std::string& path, const PersistedState& state);

class Agent : public CommandHandler {
public:
    enum class Exit { kStop, kRestart };

    Agent(AgentConfig config, AgentRuntime runtime);
    ~Agent() override;

    // Creates the work directory, resolves the agent id, opens the spool, starts the plugin
    // host (with the last known plugin set), the center client and the metrics endpoint.
    Status start();
    // Runs the main loop until a signal, task 1060 or an upgrade; then shuts down in order.
    Exit run();
    void requestExit(Exit how);

    void onCommand(const wire::AgentCommand& command) override;
    void onConnected(const std::string& center, const std::string& net_mode) override;

    const std::string& agentId() const { return agent_id_; }
    metrics::Registry& metrics() { return metrics_; }

private:
    void post(std::function<void()> job);
    void workerLoop();
    void applyConfigSync(std::vector<PluginSpec> specs);
    void runAgentTask(int32_t data_type, const std::string& data, const std::string& token);
    void taskResult(const std::string& token, bool ok, const std::string& msg);
    void setAbnormal(const std::string& detail);
    void setRunning();
    AgentStateSnapshot stateSnapshot();
    void refreshHeader();
    void shutdown();
    Status startMetricsServer();

    AgentConfig config_;
    AgentRuntime runtime_;
    std::string agent_id_;
    std::string state_path_;
    metrics::Registry metrics_;
    std::shared_ptr<ErrorLogSink> error_sink_;
    std::unique_ptr<Spool> spool_;
    std::unique_ptr<Batcher> batcher_;
    std::unique_ptr<PluginHost> plugins_;
    std::unique_ptr<CenterClient> center_;
    std::unique_ptr<Heartbeat> heartbeat_;
    std::unique_ptr<http::Server> metrics_server_;

    std::mutex state_mu_;
    PersistedState persisted_;
    std::string state_ = "running";
    std::string state_detail_;

    std::mutex jobs_mu_;
    std::condition_variable jobs_cv_;
    std::deque<std::function<void()>> jobs_;
    bool jobs_stop_ = false;
    std::thread worker_;

    std::atomic<int> exit_{-1};
    std::atomic<bool> heartbeat_now_{false};
};

}  // namespace vigil::agent
