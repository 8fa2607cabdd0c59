// Process table: LRU of processes by tgid, /proc fallback with a short negative cache, pid_tree.
#include "plugins/driver/src/process_table.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <vector>

#include "libs/common/fs.h"
#include "plugins/driver/src/enrich.h"

namespace vigil::driver {
namespace {

constexpr uint64_t kSmallProcFileMax = 64ull * 1024;  // stat, status, cgroup

// The first max_bytes of a file (/proc/<pid>/cmdline can be megabytes; only the head is kept).
bool readHead(const std::string& path, size_t max_bytes, std::string* out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    out->resize(max_bytes);
    size_t got = 0;
    while (got < max_bytes) {
        ssize_t n = ::read(fd, out->data() + got, max_bytes - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
    }
    ::close(fd);
    out->resize(got);
    return true;
}

template <typename T>
bool parseNumber(std::string_view s, T* out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size();
}

void appendNode(std::string* out, uint32_t tgid, std::string_view comm) {
    char buf[16];
    auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), tgid);
    out->append(buf, p);
    out->push_back('.');
    out->append(comm);
}

}  // namespace

std::string joinArgv(std::string_view nul_separated, size_t max_bytes) {
    while (!nul_separated.empty() && nul_separated.back() == '\0') nul_separated.remove_suffix(1);
    if (nul_separated.size() > max_bytes) {
        size_t cut = max_bytes;
        // Back off over UTF-8 continuation bytes (10xxxxxx) so the cut lands on a boundary.
        for (int i = 0; i < 3 && cut > 0; ++i) {
            if ((static_cast<unsigned char>(nul_separated[cut]) & 0xC0) != 0x80) break;
            --cut;
        }
        if ((static_cast<unsigned char>(nul_separated[cut]) & 0xC0) == 0x80) cut = max_bytes;
        nul_separated = nul_separated.substr(0, cut);
    }
    std::string out(nul_separated);
    std::replace(out.begin(), out.end(), '\0', ' ');
    return out;
}

bool parseStatusIds(std::string_view status, std::string_view key, std::array<uint32_t, 4>* ids) {
    size_t pos = 0;
    while (pos < status.size()) {
        size_t eol = status.find('\n', pos);
        if (eol == std::string_view::npos) eol = status.size();
        std::string_view line = status.substr(pos, eol - pos);
        pos = eol + 1;
        if (line.substr(0, key.size()) != key) continue;
        line.remove_prefix(key.size());
        for (uint32_t& id : *ids) {
            size_t start = line.find_first_not_of(" \t");
            if (start == std::string_view::npos) return false;
            line.remove_prefix(start);
            size_t end = std::min(line.find_first_of(" \t"), line.size());
            if (!parseNumber(line.substr(0, end), &id)) return false;
            line.remove_prefix(end);
        }
        return true;
    }
    return false;
}

bool parseProcStat(std::string_view text, ProcStat* out) {
    // "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
    // stime cutime cstime priority nice num_threads itrealvalue starttime ...": comm may hold
    // spaces and parentheses, so it ends at the last ')'.
    size_t open = text.find('(');
    size_t close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
        return false;
    }
    out->comm = std::string(text.substr(open + 1, close - open - 1));
    std::string_view rest = text.substr(close + 1);
    constexpr int kStartTimeField = 19;  // fields counted from `state` = 0
    for (int field = 0; field <= kStartTimeField; ++field) {
        size_t start = rest.find_first_not_of(' ');
        if (start == std::string_view::npos) return false;
        rest.remove_prefix(start);
        size_t end = std::min(rest.find_first_of(" \n"), rest.size());
        std::string_view token = rest.substr(0, end);
        rest.remove_prefix(end);
        bool ok = true;
        switch (field) {
            case 0:
                out->state = token.empty() ? 0 : token[0];
                break;
            case 1:
                ok = parseNumber(token, &out->ppid);
                break;
            case 2:
                ok = parseNumber(token, &out->pgid);
                break;
            case 3:
                ok = parseNumber(token, &out->sid);
                break;
            case 4: {  // printed as a signed int
                int32_t signed_value = 0;
                ok = parseNumber(token, &signed_value);
                out->tty_nr = static_cast<uint32_t>(signed_value);
                break;
            }
            case kStartTimeField:
                ok = parseNumber(token, &out->start_ticks);
                break;
            default:
                break;
        }
        if (!ok) return false;
    }
    return true;
}

uint32_t kernelDev(dev_t dev) {
    return static_cast<uint32_t>((major(dev) << 20) | (minor(dev) & 0xFFFFF));
}

ProcessTable::ProcessTable(size_t capacity)
    : ProcessTable(ProcessTableOptions{.capacity = capacity}) {}

ProcessTable::ProcessTable(ProcessTableOptions options)
    : options_(std::move(options)), entries_(options_.capacity) {
    long ticks = ::sysconf(_SC_CLK_TCK);
    tick_ns_ = 1000000000ull / static_cast<uint64_t>(ticks > 0 ? ticks : 100);
}

void ProcessTable::upsert(ProcessInfo info) {
    gone_.erase(info.tgid);
    uint32_t tgid = info.tgid;
    entries_.put(tgid, std::move(info));
}

void ProcessTable::noteAncestor(uint32_t tgid, std::string_view comm, uint32_t ppid) {
    if (tgid == 0) return;
    if (ProcessInfo* known = entries_.find(tgid)) {
        if (known->ppid == 0 && tgid != 1) known->ppid = ppid;
        return;
    }
    ProcessInfo info;
    info.tgid = tgid;
    info.ppid = ppid;
    info.comm = std::string(comm);
    upsert(std::move(info));
}

void ProcessTable::updateCreds(uint32_t tgid, uint32_t uid, uint32_t euid) {
    if (ProcessInfo* known = entries_.find(tgid)) {
        known->uid = uid;
        known->euid = euid;
    }
}

void ProcessTable::remove(uint32_t tgid) {
    entries_.erase(tgid);
}

bool ProcessTable::sameProcess(const ProcessInfo& info, uint64_t start_time) const {
    if (start_time == 0 || info.start_time == 0) return true;
    if (!info.from_proc) return info.start_time == start_time;
    // /proc truncates to clock ticks: the kernel's value lies within a tick above it.
    uint64_t diff =
        info.start_time > start_time ? info.start_time - start_time : start_time - info.start_time;
    return diff < 2 * tick_ns_;
}

const ProcessInfo* ProcessTable::find(uint32_t tgid, uint64_t start_time) {
    const ProcessInfo* info = entries_.find(tgid);
    if (info == nullptr || !sameProcess(*info, start_time)) return nullptr;
    return info;
}

const ProcessInfo* ProcessTable::findOrLoad(uint32_t tgid, uint64_t start_time) {
    if (const ProcessInfo* info = entries_.find(tgid)) {
        if (sameProcess(*info, start_time)) return info;
        // The pid was reused and the old process's exit was missed (or dropped).
        entries_.erase(tgid);
        ++stats_.reused_pids;
    }
    if (negativeHit(tgid)) return nullptr;
    const ProcessInfo* loaded = loadFromProc(tgid);
    if (loaded == nullptr || !sameProcess(*loaded, start_time)) return nullptr;
    return loaded;
}

bool ProcessTable::negativeHit(uint32_t tgid) {
    auto it = gone_.find(tgid);
    if (it == gone_.end()) return false;
    if (Clock::now() >= it->second) {
        gone_.erase(it);
        return false;
    }
    ++stats_.negative_hits;
    return true;
}

void ProcessTable::noteGone(uint32_t tgid) {
    if (gone_.size() >= options_.negative_capacity) {
        Clock::time_point now = Clock::now();
        std::erase_if(gone_, [now](const auto& entry) { return now >= entry.second; });
        if (gone_.size() >= options_.negative_capacity) {
            gone_.clear();
            ++stats_.negative_overflows;
        }
    }
    if (options_.negative_capacity > 0) gone_[tgid] = Clock::now() + options_.negative_ttl;
}

const ProcessInfo* ProcessTable::loadFromProc(uint32_t tgid) {
    if (tgid == 0) return nullptr;
    const std::string dir = options_.proc_root + "/" + std::to_string(tgid);
    ProcStat stat;
    auto stat_text = fs::readFile(dir + "/stat", kSmallProcFileMax);
    if (!stat_text.ok() || !parseProcStat(*stat_text, &stat)) {
        ++stats_.proc_misses;
        noteGone(tgid);
        return nullptr;
    }
    ProcessInfo info;
    info.tgid = tgid;
    info.ppid = stat.ppid;
    info.pgid = stat.pgid;
    info.start_time = stat.start_ticks * tick_ns_;
    info.comm = std::move(stat.comm);
    info.from_proc = true;

    if (auto status = fs::readFile(dir + "/status", kSmallProcFileMax); status.ok()) {
        uint32_t status_tgid = 0;
        // /proc/<tid> of a non-leader thread resolves too; it is not a process.
        size_t pos = status->find("\nTgid:");
        if (pos != std::string::npos) {
            std::string_view line(status->data() + pos + 6);
            line = line.substr(0, line.find('\n'));
            size_t start = line.find_first_not_of(" \t");
            if (start != std::string_view::npos) {
                (void)parseNumber(line.substr(start), &status_tgid);
            }
        }
        if (status_tgid != 0 && status_tgid != tgid) {
            ++stats_.proc_misses;
            noteGone(tgid);
            return nullptr;
        }
        std::array<uint32_t, 4> ids{};
        if (parseStatusIds(*status, "Uid:", &ids)) {
            info.uid = ids[0];
            info.euid = ids[1];
        }
    }

    std::string cmdline;
    // One byte more than kept so that a cut argv is still cut by joinArgv, on a UTF-8 boundary.
    if (readHead(dir + "/cmdline", kArgvMaxBytes + 4, &cmdline)) info.argv = joinArgv(cmdline);

    // Kernel threads and zombies have no exe; other users' processes need privileges.
    char exe[4096];
    ssize_t n = ::readlink((dir + "/exe").c_str(), exe, sizeof(exe));
    if (n > 0) {
        info.exe.assign(exe, static_cast<size_t>(n));
        struct stat st {};
        if (::stat((dir + "/exe").c_str(), &st) == 0) {
            info.exe_ino = st.st_ino;
            info.exe_dev = kernelDev(st.st_dev);
        }
    }

    if (auto cgroup = fs::readFile(dir + "/cgroup", kSmallProcFileMax); cgroup.ok()) {
        info.container_id = containerIdFromCgroupText(*cgroup);
    }

    ++stats_.proc_loads;
    gone_.erase(tgid);
    return entries_.put(tgid, std::move(info));
}

// An ancestor for pidTree: its comm and parent. A minimal entry (noteAncestor without a parent)
// is completed from /proc when the process there still has the same comm; when it is gone or
// another process holds the pid, the entry keeps what the exec event said and the walk ends.
bool ProcessTable::ancestor(uint32_t tgid, std::string* comm, uint32_t* ppid) {
    const ProcessInfo* info = findOrLoad(tgid);
    if (info == nullptr) return false;
    *comm = info->comm;
    *ppid = info->ppid;
    if (info->ppid != 0 || info->from_proc || tgid == 1 || negativeHit(tgid)) return true;
    ProcessInfo minimal = *info;
    const ProcessInfo* loaded = loadFromProc(tgid);
    if (loaded != nullptr && loaded->comm == minimal.comm) {
        *ppid = loaded->ppid;
    } else if (loaded == nullptr) {
        entries_.put(tgid, std::move(minimal));  // the pid stays negatively cached for a while
    }
    return true;
}

std::string ProcessTable::pidTree(uint32_t tgid, std::string_view comm, uint32_t ppid,
                                  int max_levels) {
    std::string out;
    if (max_levels <= 0) return out;
    appendNode(&out, tgid, comm);
    if (tgid == 1) return out;
    std::vector<uint32_t> seen;
    seen.reserve(static_cast<size_t>(max_levels));
    seen.push_back(tgid);
    std::string parent_comm;
    uint32_t parent_ppid = 0;
    uint32_t next = ppid;
    for (int level = 1; level < max_levels && next != 0; ++level) {
        if (std::find(seen.begin(), seen.end(), next) != seen.end()) break;  // loop
        if (!ancestor(next, &parent_comm, &parent_ppid)) break;
        out.push_back('<');
        appendNode(&out, next, parent_comm);
        if (next == 1) break;
        seen.push_back(next);
        next = parent_ppid;
    }
    return out;
}

ProcessTableStats ProcessTable::stats() const {
    ProcessTableStats s = stats_;
    s.entries = entries_.size();
    s.evictions = entries_.evictions();
    s.negative_entries = gone_.size();
    return s;
}

}  // namespace vigil::driver
