// Per-plugin cgroups with CPU and memory caps: cgroup v2 where a v2 hierarchy offers both the
// cpu and memory controllers, else v1 (cpu + memory hierarchies), else none (with a warning).
// Layout: <hierarchy>/<cgroup_name>/<plugin>. Thread-safe after construction (no mutable state;
// each plugin's cgroup is touched by one thread at a time).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "libs/common/result.h"

namespace vigil::agent {

enum class CgroupMode { kNone, kV1, kV2 };
const char* cgroupModeName(CgroupMode mode);

struct CgroupLimits {
    uint32_t cpu_percent = 0;   // of one core; 0 = no cap
    uint64_t memory_bytes = 0;  // 0 = no cap
};

// One plugin's cgroup directories (one for v2, cpu + memory for v1).
struct PluginCgroup {
    CgroupMode mode = CgroupMode::kNone;
    std::vector<std::string> dirs;
    bool empty() const { return dirs.empty(); }
};

class CgroupManager {
public:
    // Probes `root` (normally /sys/fs/cgroup): a pure v2 mount at root, or a hybrid v2 mount at
    // root/unified, must list cpu and memory in cgroup.controllers; otherwise v1 needs writable
    // root/cpu and root/memory. Creates <hierarchy>/<parent_name> to prove it can.
    // `enabled` false, or nothing usable (e.g. not root), gives kNone and reason().
    CgroupManager(std::string root, std::string parent_name, bool enabled);

    CgroupMode mode() const { return mode_; }
    // Why the mode is kNone, or what was chosen (for the log).
    const std::string& reason() const { return reason_; }

    // Creates the plugin's cgroup and writes its limits. Safe to call again (reuses the dirs).
    Result<PluginCgroup> create(const std::string& plugin, const CgroupLimits& limits) const;
    // Moves `pid` into the cgroup. Async-signal-safe is not needed: the child is held before
    // exec until this returns.
    Status attach(const PluginCgroup& cg, pid_t pid) const;
    // SIGKILLs every process in the cgroup (catches members that left the process group).
    void killAll(const PluginCgroup& cg) const;
    // True when the cgroup has no processes left.
    bool isEmpty(const PluginCgroup& cg) const;
    // Removes the cgroup dirs; false (with errno EBUSY) while processes remain.
    bool remove(const PluginCgroup& cg) const;
    // Removes <hierarchy>/<parent_name> when empty (host shutdown).
    void removeParents() const;

    // Paths for tests and status: the parent directory of every plugin cgroup per hierarchy.
    const std::vector<std::string>& parents() const { return parents_; }

private:
    bool probeV2(const std::string& hierarchy);
    bool probeV1();

    std::string root_;
    std::string parent_name_;
    CgroupMode mode_ = CgroupMode::kNone;
    std::string reason_;
    std::vector<std::string> parents_;  // v2: one; v1: cpu, memory
};

}  // namespace vigil::agent
