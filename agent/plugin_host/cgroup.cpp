// Per-plugin cgroups: probing v2/v1, limits, attaching, killing members, removal.
#include "agent/plugin_host/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "libs/common/fs.h"

namespace vigil::agent {
namespace {

constexpr uint64_t kCpuPeriodUs = 100000;

Status writeText(const std::string& path, const std::string& text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return makeError("cannot open {}: {}", path, std::strerror(errno));
    ssize_t n;
    do {
        n = ::write(fd, text.data(), text.size());
    } while (n < 0 && errno == EINTR);
    int e = errno;
    ::close(fd);
    if (n < 0) return makeError("cannot write '{}' to {}: {}", text, path, std::strerror(e));
    return okStatus();
}

bool hasWord(const std::string& text, const std::string& word) {
    std::istringstream in(text);
    std::string w;
    while (in >> w) {
        if (w == word) return true;
    }
    return false;
}

bool isDir(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status makeDir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return okStatus();
    return makeError("cannot create {}: {}", path, std::strerror(errno));
}

std::vector<pid_t> readPids(const std::string& dir) {
    std::vector<pid_t> pids;
    auto text = fs::readFile(fs::joinPath(dir, "cgroup.procs"), 16 << 20);
    if (!text.ok()) return pids;
    std::istringstream in(*text);
    long pid;
    while (in >> pid) {
        if (pid > 0) pids.push_back(static_cast<pid_t>(pid));
    }
    return pids;
}

}  // namespace

const char* cgroupModeName(CgroupMode mode) {
    switch (mode) {
        case CgroupMode::kNone:
            return "none";
        case CgroupMode::kV1:
            return "v1";
        case CgroupMode::kV2:
            return "v2";
    }
    return "none";
}

CgroupManager::CgroupManager(std::string root, std::string parent_name, bool enabled)
    : root_(std::move(root)), parent_name_(std::move(parent_name)) {
    if (!enabled) {
        reason_ = "cgroups disabled by configuration";
        return;
    }
    if (parent_name_.empty() || parent_name_.find('/') != std::string::npos ||
        parent_name_ == "." || parent_name_ == "..") {
        reason_ = "invalid cgroup_name '" + parent_name_ + "'";
        return;
    }
    std::string v2_reason;
    // A pure v2 system mounts it at the root; a hybrid one at root/unified.
    for (const std::string& h : {root_, fs::joinPath(root_, "unified")}) {
        if (!fs::exists(fs::joinPath(h, "cgroup.controllers"))) continue;
        if (probeV2(h)) {
            mode_ = CgroupMode::kV2;
            reason_ = "cgroup v2 at " + h;
            return;
        }
        v2_reason = reason_;
    }
    if (probeV1()) {
        mode_ = CgroupMode::kV1;
        reason_ = "cgroup v1 at " + root_ + "/{cpu,memory}" +
                  (v2_reason.empty() ? "" : " (" + v2_reason + ")");
        return;
    }
    if (!v2_reason.empty()) reason_ = v2_reason + "; " + reason_;
}

bool CgroupManager::probeV2(const std::string& hierarchy) {
    auto controllers = fs::readFile(fs::joinPath(hierarchy, "cgroup.controllers"));
    if (!controllers.ok()) {
        reason_ = controllers.message();
        return false;
    }
    if (!hasWord(*controllers, "cpu") || !hasWord(*controllers, "memory")) {
        reason_ = "cgroup v2 at " + hierarchy + " lacks the cpu or memory controller";
        return false;
    }
    std::string parent = fs::joinPath(hierarchy, parent_name_);
    // Children of a cgroup can only use the controllers enabled in its subtree_control.
    Status st = writeText(fs::joinPath(hierarchy, "cgroup.subtree_control"), "+cpu +memory");
    if (st.ok()) st = makeDir(parent);
    if (st.ok()) st = writeText(fs::joinPath(parent, "cgroup.subtree_control"), "+cpu +memory");
    if (!st.ok()) {
        reason_ = st.message();
        return false;
    }
    parents_ = {parent};
    return true;
}

bool CgroupManager::probeV1() {
    std::string cpu = fs::joinPath(root_, "cpu");
    std::string mem = fs::joinPath(root_, "memory");
    if (!isDir(cpu) || !isDir(mem)) {
        reason_ = "no cgroup v1 cpu and memory hierarchies under " + root_;
        return false;
    }
    std::string cpu_parent = fs::joinPath(cpu, parent_name_);
    std::string mem_parent = fs::joinPath(mem, parent_name_);
    Status st = makeDir(cpu_parent);
    if (st.ok()) st = makeDir(mem_parent);
    if (!st.ok()) {
        reason_ = st.message();
        return false;
    }
    if (!fs::exists(fs::joinPath(cpu_parent, "cpu.cfs_quota_us")) ||
        !fs::exists(fs::joinPath(mem_parent, "memory.limit_in_bytes"))) {
        reason_ = "cgroup v1 hierarchies under " + root_ + " lack cpu.cfs_quota_us or " +
                  "memory.limit_in_bytes";
        return false;
    }
    parents_ = {cpu_parent, mem_parent};
    return true;
}

Result<PluginCgroup> CgroupManager::create(const std::string& plugin,
                                           const CgroupLimits& limits) const {
    PluginCgroup cg;
    cg.mode = mode_;
    if (mode_ == CgroupMode::kNone) return cg;
    for (const auto& parent : parents_) {
        // Another host instance's shutdown may have removed the shared parent since the probe.
        if (!isDir(parent)) {
            VIGIL_TRY(makeDir(parent));
            if (mode_ == CgroupMode::kV2) {
                VIGIL_TRY(
                    writeText(fs::joinPath(parent, "cgroup.subtree_control"), "+cpu +memory"));
            }
        }
        std::string dir = fs::joinPath(parent, plugin);
        VIGIL_TRY(makeDir(dir));
        cg.dirs.push_back(dir);
    }
    const std::string quota_us = std::to_string(uint64_t{limits.cpu_percent} * kCpuPeriodUs / 100);
    if (mode_ == CgroupMode::kV2) {
        const std::string& dir = cg.dirs[0];
        std::string cpu_max = (limits.cpu_percent ? quota_us : std::string("max")) + " " +
                              std::to_string(kCpuPeriodUs);
        VIGIL_TRY(writeText(fs::joinPath(dir, "cpu.max"), cpu_max));
        VIGIL_TRY(writeText(fs::joinPath(dir, "memory.max"),
                            limits.memory_bytes ? std::to_string(limits.memory_bytes) : "max"));
    } else {
        const std::string& cpu = cg.dirs[0];
        const std::string& mem = cg.dirs[1];
        VIGIL_TRY(writeText(fs::joinPath(cpu, "cpu.cfs_period_us"), std::to_string(kCpuPeriodUs)));
        VIGIL_TRY(
            writeText(fs::joinPath(cpu, "cpu.cfs_quota_us"), limits.cpu_percent ? quota_us : "-1"));
        VIGIL_TRY(writeText(fs::joinPath(mem, "memory.limit_in_bytes"),
                            limits.memory_bytes ? std::to_string(limits.memory_bytes) : "-1"));
    }
    return cg;
}

Status CgroupManager::attach(const PluginCgroup& cg, pid_t pid) const {
    for (const auto& dir : cg.dirs) {
        VIGIL_TRY(writeText(fs::joinPath(dir, "cgroup.procs"), std::to_string(pid)));
    }
    return okStatus();
}

void CgroupManager::killAll(const PluginCgroup& cg) const {
    if (cg.mode == CgroupMode::kV2 && !cg.dirs.empty() &&
        writeText(fs::joinPath(cg.dirs[0], "cgroup.kill"), "1").ok()) {
        return;
    }
    for (const auto& dir : cg.dirs) {
        for (pid_t pid : readPids(dir)) ::kill(pid, SIGKILL);
    }
}

bool CgroupManager::isEmpty(const PluginCgroup& cg) const {
    for (const auto& dir : cg.dirs) {
        if (!readPids(dir).empty()) return false;
    }
    return true;
}

bool CgroupManager::remove(const PluginCgroup& cg) const {
    bool ok = true;
    for (const auto& dir : cg.dirs) {
        if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) ok = false;
    }
    return ok;
}

void CgroupManager::removeParents() const {
    for (const auto& parent : parents_) ::rmdir(parent.c_str());
}

}  // namespace vigil::agent
