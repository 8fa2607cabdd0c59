// Enrichment lookups for driver records (Elkeid's username, exe_hash, container_id, nodename,
// root_pns), each behind a bounded cache so that the event path rarely makes a syscall.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "plugins/driver/src/process_table.h"

namespace vigil::driver {

// The container id named by a /proc/<pid>/cgroup text: the last run of exactly 64 lowercase hex
// digits in the first line that has one ("/docker/<id>", "docker-<id>.scope",
// "cri-containerd-<id>.scope", "crio-<id>.scope", "libpod-<id>.scope", ".../kubepods/.../<id>");
// "" when none (a host process).
std::string containerIdFromCgroupText(std::string_view cgroup_text);

struct EnricherOptions {
    size_t user_capacity = 4096;
    // How often username() checks /etc/passwd for a change (0: every call).
    std::chrono::milliseconds passwd_check_interval{1000};
    std::string passwd_path = "/etc/passwd";
    size_t exe_hash_capacity = 8192;
    // Larger executables are not hashed (exe_hash "-"): hashing runs on the consumer thread.
    uint64_t exe_hash_max_bytes = 64ull * 1024 * 1024;
    size_t container_capacity = 16384;
    size_t nodename_capacity = 1024;
    std::string proc_root = "/proc";
};

struct EnricherStats {
    uint64_t user_hits = 0;
    uint64_t user_misses = 0;
    uint64_t user_errors = 0;     // getpwuid_r failed (not "no such user"); not cached
    uint64_t passwd_reloads = 0;  // user cache emptied because /etc/passwd changed
    uint64_t exe_hash_hits = 0;
    uint64_t exe_hash_misses = 0;
    uint64_t exe_hash_too_large = 0;
    uint64_t exe_hash_unreadable = 0;  // "-" returned and not cached
    uint64_t container_hits = 0;
    uint64_t container_misses = 0;
    uint64_t nodename_hits = 0;
    uint64_t nodename_fallbacks = 0;  // unknown UTS namespace: our own hostname returned
    uint64_t evictions = 0;           // all caches
};

// Bounded caches over the passwd database, executables, cgroups and UTS namespaces. Only the
// driver's consumer thread uses it: not thread-safe.
class Enricher {
public:
    explicit Enricher(EnricherOptions options = {});

    // The user name of uid; "" for a uid without one (cached too). The cache is emptied when
    // /etc/passwd changes (mtime, size or inode; checked at most every passwd_check_interval),
    // so that a user added later resolves.
    std::string username(uint32_t uid);

    // SHA-256 (hex) of an executable, read through /proc/<tgid>/exe first (which still works
    // when the file was deleted or replaced while the process lives), else through `path`; a
    // file whose inode is not `ino` is not hashed. Cached by (dev, ino, mtime, size); ino 0
    // takes them from the opened file. "-" for a file over exe_hash_max_bytes (cached) or one
    // that cannot be read (not cached).
    std::string exeHash(std::string_view path, uint64_t ino, uint32_t dev, int64_t mtime,
                        uint64_t size, uint32_t tgid);

    // The container id from /proc/<tgid>/cgroup ("" for a host process or a gone one). Cached
    // by (tgid, start_time, cgroup_id): cgroup_id (vg_header.cgroup_id, cgroup v2) changes when
    // the process moves, e.g. runc's init joining the container before its exec. With
    // start_time 0 the process is not identified and nothing is cached.
    std::string containerId(uint32_t tgid, uint64_t start_time = 0, uint64_t cgroup_id = 0);

    // Inode number of /proc/1/ns/pid (the host's pid namespace), read once; 0 if unreadable.
    uint32_t rootPns();

    // The nodename of a UTS namespace. Our own namespace: uname(). Another one cannot be read
    // without setns (its /proc/<pid>/root/etc/hostname need not be what uname says), so until
    // an exec event in it supplies the name through noteNodename(), our own hostname is
    // returned (not cached). uts_ns_inum 0: taken from /proc/<tgid>/ns/uts.
    std::string nodename(uint32_t uts_ns_inum, uint32_t tgid);
    void noteNodename(uint32_t uts_ns_inum, std::string_view name);

    EnricherStats stats() const;

private:
    struct ExeKey {
        uint64_t dev;
        uint64_t ino;
        int64_t mtime;
        uint64_t size;
        bool operator==(const ExeKey&) const = default;
    };
    struct ExeKeyHash {
        size_t operator()(const ExeKey& k) const;
    };
    struct ProcKey {
        uint32_t tgid;
        uint64_t start_time;
        uint64_t cgroup_id;
        bool operator==(const ProcKey&) const = default;
    };
    struct ProcKeyHash {
        size_t operator()(const ProcKey& k) const;
    };
    struct PasswdState {
        bool known = false;
        int64_t mtime_ns = 0;
        uint64_t size = 0;
        uint64_t ino = 0;
    };
    enum class HashOutcome { kHashed, kTooLarge, kWrongFile, kUnreadable };

    void checkPasswd();
    HashOutcome hashFile(const std::string& path, uint64_t ino, std::string* hex, ExeKey* key);
    static std::string ownHostname();

    EnricherOptions options_;
    LruMap<uint32_t, std::string> users_;
    PasswdState passwd_;
    std::chrono::steady_clock::time_point passwd_checked_{};
    LruMap<ExeKey, std::string, ExeKeyHash> exe_hashes_;
    LruMap<ProcKey, std::string, ProcKeyHash> containers_;
    LruMap<uint32_t, std::string> nodenames_;
    bool root_pns_read_ = false;
    uint32_t root_pns_ = 0;
    bool own_uts_read_ = false;
    uint32_t own_uts_ = 0;
    EnricherStats stats_;
};

}  // namespace vigil::driver
