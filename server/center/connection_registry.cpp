// Connected-agent table.
#include "server/center/connection_registry.h"

namespace vigil::center {

bool ConnectionRegistry::admit() {
    size_t cur = streams_.load();
    while (cur < max_) {
        if (streams_.compare_exchange_weak(cur, cur + 1)) return true;
    }
    return false;
}

void ConnectionRegistry::release() { streams_.fetch_sub(1); }

Status ConnectionRegistry::bind(const std::string& agent_id, std::shared_ptr<AgentConnection> conn) {
    std::lock_guard lock(mu_);
    auto [it, inserted] = agents_.try_emplace(agent_id, conn);
    if (!inserted) return makeError("agent {} is already connected", agent_id);
    return okStatus();
}

void ConnectionRegistry::unbind(const std::string& agent_id, const AgentConnection* conn) {
    std::lock_guard lock(mu_);
    auto it = agents_.find(agent_id);
    if (it != agents_.end() && it->second.get() == conn) agents_.erase(it);
}

std::shared_ptr<AgentConnection> ConnectionRegistry::find(const std::string& agent_id) const {
    std::lock_guard lock(mu_);
    auto it = agents_.find(agent_id);
    return it == agents_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<AgentConnection>> ConnectionRegistry::all() const {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<AgentConnection>> out;
    out.reserve(agents_.size());
    for (const auto& [id, c] : agents_) out.push_back(c);
    return out;
}

std::vector<std::string> ConnectionRegistry::agentIds() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    out.reserve(agents_.size());
    for (const auto& [id, c] : agents_) out.push_back(id);
    return out;
}

size_t ConnectionRegistry::agents() const {
    std::lock_guard lock(mu_);
    return agents_.size();
}

}  // namespace vigil::center
