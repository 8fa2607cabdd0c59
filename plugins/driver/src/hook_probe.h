// Which eBPF hook types this kernel allows, probed at start (DESIGN.md §4): a trivial program
// of each type (bpf/probe.bpf.c) is loaded and attached, then detached at once. The result is
// reported in the 900 heartbeat (`hook_support`) so that a refused type is visible, with the
// kernel's reason. Takes ~0.1 s; needs the privileges the driver runs with anyway.
#pragma once

#include <string>
#include <vector>

namespace vigil::driver {

struct HookSupport {
    std::string kind;  // tracepoint, raw_tp, tp_btf, kprobe, fentry, lsm, iter, cgroup, uprobe
    bool ok = false;
    std::string why;  // the error when refused
};

// `cgroup_path`: a cgroup v2 directory for the cgroup probe ("" = skip it, reported refused).
std::vector<HookSupport> probeHookTypes(const std::string& cgroup_path);

// "tracepoint=yes,kprobe=no (Operation not supported),..."
std::string hookSupportText(const std::vector<HookSupport>& support);

}  // namespace vigil::driver
