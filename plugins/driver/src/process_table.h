// The driver's user-side table of live processes: what exec events and the start-up snapshot
// said about each one (exe, argv, creds), filled from /proc for processes it never saw start.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace vigil::driver {

// Bytes of a space-joined argv kept (the kernel copies VG_ARGV_MAX = 1024 bytes at exec).
inline constexpr size_t kArgvMaxBytes = 1024;

// Joins a NUL-separated argv (an exec event's string or /proc/<pid>/cmdline) with spaces,
// drops trailing NULs and caps the result at `max_bytes` without splitting a UTF-8 sequence.
std::string joinArgv(std::string_view nul_separated, size_t max_bytes = kArgvMaxBytes);

// A map bounded to `capacity` entries that evicts the least recently used one. Pointers to
// values stay valid until that entry is erased or evicted. Not thread-safe.
template <typename K, typename V, typename Hash = std::hash<K>>
class LruMap {
public:
    explicit LruMap(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

    // The value for `key`, made the most recently used; nullptr when absent.
    V* find(const K& key) {
        auto it = index_.find(key);
        if (it == index_.end()) return nullptr;
        order_.splice(order_.begin(), order_, it->second);
        return &it->second->second;
    }

    // Inserts or replaces; evicts the least recently used entry when full.
    V* put(const K& key, V value) {
        auto it = index_.find(key);
        if (it != index_.end()) {
            it->second->second = std::move(value);
            order_.splice(order_.begin(), order_, it->second);
            return &it->second->second;
        }
        if (index_.size() >= capacity_) {
            index_.erase(order_.back().first);
            order_.pop_back();
            ++evictions_;
        }
        order_.emplace_front(key, std::move(value));
        index_.emplace(key, order_.begin());
        return &order_.front().second;
    }

    bool erase(const K& key) {
        auto it = index_.find(key);
        if (it == index_.end()) return false;
        order_.erase(it->second);
        index_.erase(it);
        return true;
    }

    void clear() {
        index_.clear();
        order_.clear();
    }

    size_t size() const { return index_.size(); }
    size_t capacity() const { return capacity_; }
    uint64_t evictions() const { return evictions_; }

private:
    using Entry = std::pair<K, V>;
    size_t capacity_;
    uint64_t evictions_ = 0;
    std::list<Entry> order_;  // most recently used first
    std::unordered_map<K, typename std::list<Entry>::iterator, Hash> index_;
};

struct ProcessInfo {
    uint32_t tgid = 0;
    uint32_t ppid = 0;  // 0: unknown (a minimal entry from noteAncestor)
    uint32_t pgid = 0;
    // Group leader's start, ns since boot (as vg_header.start_time). From /proc it has clock
    // tick precision only, so it is compared loosely (see find()).
    uint64_t start_time = 0;
    std::string comm;
    std::string exe;
    std::string argv;  // space-joined, at most kArgvMaxBytes bytes
    // Empty when from /proc: the UTS namespace of another process cannot be read without
    // setns; the driver takes it from Enricher::nodename().
    std::string nodename;
    std::string container_id;
    uint32_t uid = 0;
    uint32_t euid = 0;
    uint64_t exe_ino = 0;
    uint32_t exe_dev = 0;  // kernel encoding (major << 20 | minor), as the BPF side reads s_dev
    bool from_proc = false;
};

struct ProcessTableOptions {
    size_t capacity = 65536;
    // Processes found gone in /proc are not looked up again for this long (bounded count).
    std::chrono::milliseconds negative_ttl{1000};
    size_t negative_capacity = 4096;
    std::string proc_root = "/proc";
};

struct ProcessTableStats {
    size_t entries = 0;
    uint64_t evictions = 0;      // entries dropped to stay within capacity
    uint64_t proc_loads = 0;     // entries read from /proc
    uint64_t proc_misses = 0;    // /proc reads that found no such process
    uint64_t negative_hits = 0;  // lookups answered by the negative cache
    size_t negative_entries = 0;
    uint64_t negative_overflows = 0;  // negative cache emptied because full of unexpired pids
    uint64_t reused_pids = 0;         // entries replaced because the start time differed
};

// Processes by tgid, bounded by an LRU capacity. Only the driver's consumer thread uses it:
// not thread-safe. A pointer returned by find() or findOrLoad() stays valid until the next
// call of a non-const method (which may evict or replace the entry).
class ProcessTable {
public:
    static constexpr size_t kDefaultCapacity = 65536;

    explicit ProcessTable(size_t capacity = kDefaultCapacity);
    explicit ProcessTable(ProcessTableOptions options);

    // Adds or replaces the entry for info.tgid (an exec event or a snapshot record).
    void upsert(ProcessInfo info);
    // Adds a minimal entry {tgid, comm, ppid} when tgid is unknown; fills a known entry's
    // unknown ppid. `ppid` is the next ancestor of an exec event's chain (0: unknown).
    void noteAncestor(uint32_t tgid, std::string_view comm, uint32_t ppid = 0);
    void updateCreds(uint32_t tgid, uint32_t uid, uint32_t euid);
    // The process exited.
    void remove(uint32_t tgid);

    // The entry for tgid whose start time matches (0 = any); nullptr otherwise. Kernel start
    // times must match exactly, a /proc one within two clock ticks.
    const ProcessInfo* find(uint32_t tgid, uint64_t start_time = 0);
    // As find(); on a miss (or a different start time: the pid was reused) reads
    // /proc/<tgid>/{stat,status,cmdline,exe,cgroup} once and caches the result. A process gone
    // from /proc is remembered as such for negative_ttl. With start_time != 0, returns nullptr
    // when the process now in /proc is another one (it is still cached). An entry added by
    // noteAncestor() is returned as it is (comm, perhaps ppid; no exe or argv).
    const ProcessInfo* findOrLoad(uint32_t tgid, uint64_t start_time = 0);

    // "pid.comm<ppid.comm<...", at most max_levels processes (the first is {tgid, comm}), e.g.
    // "4242.bash<4100.sshd<1.systemd". Ancestors come from the table or /proc; the walk stops
    // after pid 1, before pid 0, at a loop or at an unknown parent.
    std::string pidTree(uint32_t tgid, std::string_view comm, uint32_t ppid, int max_levels = 12);

    ProcessTableStats stats() const;
    const ProcessTableOptions& options() const { return options_; }

private:
    using Clock = std::chrono::steady_clock;

    bool negativeHit(uint32_t tgid);
    void noteGone(uint32_t tgid);
    const ProcessInfo* loadFromProc(uint32_t tgid);
    bool ancestor(uint32_t tgid, std::string* comm, uint32_t* ppid);
    bool sameProcess(const ProcessInfo& info, uint64_t start_time) const;

    ProcessTableOptions options_;
    uint64_t tick_ns_;  // ns per /proc clock tick
    LruMap<uint32_t, ProcessInfo> entries_;
    std::unordered_map<uint32_t, Clock::time_point> gone_;  // tgid -> expiry
    ProcessTableStats stats_;
};

// /proc/<pid>/stat fields the table uses (exposed for tests).
struct ProcStat {
    std::string comm;
    char state = 0;
    uint32_t ppid = 0;
    uint32_t pgid = 0;
    uint32_t sid = 0;
    uint32_t tty_nr = 0;  // printed signed; kept as the kernel's dev_t bits
    uint64_t start_ticks = 0;
};
bool parseProcStat(std::string_view text, ProcStat* out);
// "Uid:\t0\t0\t0\t0" (or "Gid:") of /proc/<pid>/status -> real, effective, saved, fs ids.
bool parseStatusIds(std::string_view status, std::string_view key, std::array<uint32_t, 4>* ids);

// The kernel's internal dev_t encoding (MKDEV: major << 20 | minor) of a user-space st_dev.
uint32_t kernelDev(dev_t dev);

}  // namespace vigil::driver
