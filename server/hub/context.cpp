// The hub's process-table context.
#include "server/hub/context.h"

#include "server/hub/engine.h"

namespace vigil::hub {

namespace {
constexpr int32_t kExec = 59;
constexpr int32_t kExit = 60;
constexpr int32_t kProcessAsset = 5050;

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

void Context::enrich(Event& event, ContextAdditions& storage) {
    const std::string_view* pe = event.get("parent_exe");
    const std::string_view* pa = event.get("ppid_argv");
    const std::string_view* pt = event.get("pid_tree");
    const bool need_exe = !pe || pe->empty();
    const bool need_argv = !pa || pa->empty();
    const bool need_tree = !pt || pt->empty();
    const bool need_stdin = !event.get("parent_stdin");
    if (!need_exe && !need_argv && !need_tree && !need_stdin) return;
    const ProcessInfo* parent = nearestAncestor(event);
    if (!parent) {
        ++stats_.parent_misses;
        return;
    }
    if (need_exe && !parent->exe.empty()) {
        storage.parent_exe = parent->exe;
        event.set("parent_exe", storage.parent_exe);
    }
    if (need_argv && !parent->argv.empty()) {
        storage.parent_argv = parent->argv;
        event.set("ppid_argv", storage.parent_argv);
    }
    if (need_stdin && !parent->stdin.empty()) {
        storage.parent_stdin = parent->stdin;
        event.set("parent_stdin", storage.parent_stdin);
    }
    if (need_tree) {
        // The driver's form: pid.comm<ppid.comm<... (comm: the exe's base name here).
        for (const auto& n : lineage(event, 12)) {
            if (!storage.pid_tree.empty()) storage.pid_tree += '<';
            const size_t slash = n.exe.rfind('/');
            storage.pid_tree +=
                n.pid + "." + (slash == std::string::npos ? n.exe : n.exe.substr(slash + 1));
        }
        event.set("pid_tree", storage.pid_tree);
    }
    ++stats_.enriched;
}

const ProcessInfo* Context::nearestAncestor(const Event& event, std::string* found_pid) {
    const std::string_view agent = field(event, "agent_id");
    const std::string_view ppid = field(event, "ppid");
    if (!ppid.empty()) {
        if (const ProcessInfo* p = find(agent, ppid)) {
            if (found_pid) found_pid->assign(ppid);
            return p;
        }
    }
    // The parent may be a fork that never exec'd (a subshell): no record of it, but the
    // driver's pid_tree ("pid.comm<ppid.comm<...") names the ancestors; a fork runs its
    // parent's image with its descriptors, so the nearest known one stands for it.
    const std::string_view tree = field(event, "pid_tree");
    size_t pos = tree.find('<');
    for (int depth = 0; pos != std::string_view::npos && depth < 16; ++depth) {
        const size_t start = pos + 1;
        pos = tree.find('<', start);
        std::string_view node =
            tree.substr(start, pos == std::string_view::npos ? pos : pos - start);
        const std::string_view pid = node.substr(0, node.find('.'));
        if (pid.empty() || pid == ppid) continue;
        if (const ProcessInfo* p = find(agent, pid)) {
            if (found_pid) found_pid->assign(pid);
            return p;
        }
    }
    return nullptr;
}

std::vector<LineageNode> Context::lineage(const Event& event, size_t max_depth) {
    std::vector<LineageNode> out;
    const std::string_view agent = field(event, "agent_id");
    std::string pid(field(event, "pid"));
    if (pid.empty() || max_depth == 0) return out;
    out.push_back({pid, std::string(field(event, "exe")), std::string(field(event, "argv"))});
    // The first step may skip forks that never exec'd (nearestAncestor); then the table's ppids.
    std::string ppid;
    if (!nearestAncestor(event, &ppid)) return out;
    while (out.size() < max_depth && !ppid.empty() && ppid != "0" && ppid != pid) {
        const ProcessInfo* p = find(agent, ppid);
        if (!p) break;
        bool loop = false;
        for (const auto& n : out) loop = loop || n.pid == ppid;
        if (loop) break;
        out.push_back({ppid, p->exe, p->argv});
        pid = ppid;
        ppid = p->ppid;
    }
    return out;
}

void Context::observe(const Event& event) {
    if (event.data_type != kExec && event.data_type != kExit && event.data_type != kProcessAsset)
        return;
    const std::string_view pid = field(event, "pid");
    if (pid.empty()) return;
    std::string k = key(field(event, "agent_id"), pid);
    auto it = index_.find(k);
    if (event.data_type == kProcessAsset) {
        // A snapshot: what an exec record said is newer and stays.
        if (it != index_.end()) return;
        ++stats_.assets;
    }
    if (event.data_type == kExit) {
        if (it != index_.end()) {
            lru_.erase(it->second);
            index_.erase(it);
            ++stats_.removed;
        }
        return;
    }
    std::string_view argv = field(event, "argv");
    if (argv.empty()) argv = field(event, "cmdline");  // the collector's name for it
    ProcessInfo info{std::string(field(event, "exe")), std::string(argv),
                     std::string(field(event, "ppid")), std::string(field(event, "stdin"))};
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
