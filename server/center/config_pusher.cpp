// Plugin config pushes.
#include "server/center/config_pusher.h"

#include "libs/common/log.h"

namespace vigil::center {

ConfigPusher::ConfigPusher(PluginConfigSource* source, ConnectionRegistry& registry, metrics::Registry& metrics)
    : source_(source), registry_(registry) {
    pushes_ = &metrics.counter("vigil_center_config_pushes_total", "Config-sync Commands sent to agents");
}

bool ConfigPusher::push(const std::shared_ptr<AgentConnection>& conn, bool force) {
    if (!source_ || !conn || !source_->loaded()) return false;
    const std::string agent_id = conn->info().agent_id;
    wire::AgentCommand cmd;
    cmd.configs = source_->configFor(agent_id);
    const std::string digest = configDigest(cmd.configs);
    {
        std::lock_guard lock(mu_);
        // Forget connections that are gone.
        if (pushed_.size() > 2 * registry_.agents() + 64) {
            std::map<const AgentConnection*, std::string> live;
            for (const auto& c : registry_.all()) {
                auto it = pushed_.find(c.get());
                if (it != pushed_.end()) live.insert(*it);
            }
            pushed_.swap(live);
        }
        auto it = pushed_.find(conn.get());
        if (!force && it != pushed_.end() && it->second == digest) return false;
        pushed_[conn.get()] = digest;
    }
    if (!conn->sendCommand(cmd)) return false;
    pushes_->inc();
    vigil::log::get("center")->info("pushed {} plugin config entries to agent {}", cmd.configs.size(), agent_id);
    return true;
}

void ConfigPusher::onFirstHeartbeat(const std::shared_ptr<AgentConnection>& conn) { push(conn, true); }

Result<size_t> ConfigPusher::reloadAndPush() {
    if (!source_) return size_t{0};
    auto changed = source_->reload();
    if (!changed.ok()) return changed.error();
    if (!*changed) return size_t{0};
    size_t n = 0;
    for (const auto& c : registry_.all()) n += push(c, false) ? 1 : 0;
    return n;
}

}  // namespace vigil::center
