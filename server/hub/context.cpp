// The hub's process-table context.
#include "server/hub/context.h"

#include "server/hub/engine.h"

namespace vigil::hub {

namespace {
constexpr int32_t kExec = 59;
constexpr int32_t kExit = 60;

std::string_view field(const Event& event, std::string_view name) {
    const std::string_view* v = event.get(name);
    return v ? *v : std::string_view{};
}
}  // namespace

std::string Context::key(std::string_view agent_id, std::string_view pid) {
    std::string k;
    k.reserve(agent_id.size() + pid.size() + 1);
    k.append(agent_id).push_back('\0');
    k.append(pid);
    return k;
}

const ProcessInfo* Context::find(std::string_view agent_id, std::string_view pid) {
    auto it = index_.find(key(agent_id, pid));
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->second;
}

void Context::enrich(Event& event, std::string& storage) {
    const std::string_view* pe = event.get("parent_exe");
    if (pe && !pe->empty()) return;
    const std::string_view ppid = field(event, "ppid");
    if (ppid.empty()) return;
    const ProcessInfo* parent = find(field(event, "agent_id"), ppid);
    if (!parent) {
        ++stats_.parent_misses;
        return;
    }
    storage = parent->exe;
    event.set("parent_exe", storage);
    ++stats_.enriched;
}

void Context::observe(const Event& event) {
    if (event.data_type != kExec && event.data_type != kExit) return;
    const std::string_view pid = field(event, "pid");
    if (pid.empty()) return;
    std::string k = key(field(event, "agent_id"), pid);
    auto it = index_.find(k);
    if (event.data_type == kExit) {
        if (it != index_.end()) {
            lru_.erase(it->second);
            index_.erase(it);
            ++stats_.removed;
        }
        return;
    }
    ProcessInfo info{std::string(field(event, "exe")), std::string(field(event, "argv")),
                     std::string(field(event, "ppid"))};
    if (it != index_.end()) {  // exec over an existing pid: the new image replaces the old
        it->second->second = std::move(info);
        lru_.splice(lru_.begin(), lru_, it->second);
        return;
    }
    if (options_.max_processes > 0 && index_.size() >= options_.max_processes && !lru_.empty()) {
        index_.erase(lru_.back().first);
        lru_.pop_back();
        ++stats_.evicted;
    }
    lru_.emplace_front(std::move(k), std::move(info));
    index_.emplace(lru_.front().first, lru_.begin());
    ++stats_.inserted;
}

}  // namespace vigil::hub
