// Pushes each agent's plugin set (a config-sync Command) on its first heartbeat and again
// whenever the source changes, skipping agents whose set did not change.
// Thread-safety: every method is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "libs/common/metrics.h"
#include "server/center/connection_registry.h"
#include "server/center/plugin_config.h"

namespace vigil::center {

class ConfigPusher {
public:
    ConfigPusher(PluginConfigSource* source, ConnectionRegistry& registry, metrics::Registry& metrics);
    // A connection's first heartbeat: always pushes (the agent may have restarted).
    void onFirstHeartbeat(const std::shared_ptr<AgentConnection>& conn);
    // Re-reads the source; on a change pushes to every connected agent whose set changed.
    // Returns the number of agents pushed to, or the source's error.
    Result<size_t> reloadAndPush();
    bool enabled() const { return source_ != nullptr; }

private:
    bool push(const std::shared_ptr<AgentConnection>& conn, bool force);

    PluginConfigSource* source_;
    ConnectionRegistry& registry_;
    std::mutex mu_;
    std::map<const AgentConnection*, std::string> pushed_;  // connection -> digest of its last set
    metrics::Counter* pushes_;
};

}  // namespace vigil::center
