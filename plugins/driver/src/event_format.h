// EventFormatter: turns the driver's raw kernel records (bpf/vigil_events.h) into Elkeid-shaped
// records (DESIGN.md §4; fields in libs/schema/data_types.yaml) written through a
// RecordSink: decode, enrich from the process table and caches, encode.
//
// Every driver record carries the common fields uid exe pid ppid pgid tgid sid comm nodename
// sessionid pns root_pns, and the enrichment argv ppid_argv pgid_argv username pid_tree
// exe_hash container_id. Per process they are computed once and cached until the process
// execs, changes parent, name or credentials.
//
// Credentials: every successful set*uid call arrives as VG_CRED_CHANGE. One that makes a
// non-root process root is reported as 604. Any other event whose credentials are root while
// the driver last saw the process as non-root, with no set*uid call seen in between, is a
// privilege escalation by other means (a kernel exploit) and reported as 611; so is an exec
// that starts as root a program that is not setuid/setgid while the process, or for a process
// not seen before its parent, was last seen non-root.
//
// Bad records (a decoding error) are counted by cause and skipped. Single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "plugins/driver/src/enrich.h"
#include "plugins/driver/src/event_decoder.h"
#include "plugins/driver/src/process_table.h"
#include "vigil/sdk/client.h"

namespace vigil::driver {

// Data types the driver writes beyond the kernel's event types.
constexpr int32_t kDataTypePrivilegeEscalation = 611;
constexpr int32_t kDataTypeDriverHeartbeat = 900;
constexpr int32_t kDataTypeDriverUnavailable = 901;

struct FormatterStats {
    uint64_t records = 0;   // records written
    uint64_t snapshot = 0;  // processes learnt from the start-up snapshot
    uint64_t bad = 0;       // raw records that failed to decode
    std::map<std::string, uint64_t> bad_by_cause;
    uint64_t escalations = 0;  // 611 written
    uint64_t cache_hits = 0;   // common fields served from the per-process cache
    uint64_t cache_misses = 0;
};

struct FormatterOptions {
    size_t process_capacity = 65536;
    // Called for each exec with the exe's (inode, device) when it lies under a system
    // directory (never quieted for flooding).
    std::function<void(uint64_t ino, uint32_t dev)> on_system_exe;
};

class EventFormatter {
public:
    EventFormatter(sdk::Client& client, FormatterOptions options = {});

    // One raw record from the ring or the snapshot.
    void handle(std::span<const uint8_t> raw);

    const FormatterStats& stats() const { return stats_; }
    ProcessTable& processes() { return processes_; }
    Enricher& enricher() { return enricher_; }

private:
    struct Common {
        uint64_t start_time = 0;
        uint64_t generation = 0;  // exec count of the process when computed
        uint32_t ppid = 0, pgid = 0, uid = 0;
        std::string comm;
        std::string exe, argv, ppid_argv, pgid_argv, username, pid_tree, exe_hash, container_id,
            nodename;
    };

    const Common& common(const DecodedEvent& ev);
    void writeCommon(sdk::RecordWriter& w, const DecodedEvent& ev, const Common& c);
    void onExec(const DecodedEvent& ev);
    void onSnapshot(const DecodedEvent& ev);
    void onCred(const DecodedEvent& ev);
    void checkEscalation(const DecodedEvent& ev);
    // 611: `seen_pid` was last seen with (old_uid, old_euid), the event's process is root.
    void writeEscalation(const DecodedEvent& ev, uint32_t seen_pid, uint32_t old_uid,
                         uint32_t old_euid);
    void writeEvent(const DecodedEvent& ev);

    sdk::Client& client_;
    FormatterOptions options_;
    ProcessTable processes_;
    Enricher enricher_;
    LruMap<uint32_t, Common> commons_;
    // Container id by (cgroup v2 id, pid namespace): one /proc read per container, not per
    // process. On hybrid cgroup hosts a container sharing the host's pid namespace and v2
    // cgroup is not told apart from the host.
    struct CgroupKey {
        uint64_t cgroup_id;
        uint32_t pns;
        bool operator==(const CgroupKey&) const = default;
    };
    struct CgroupKeyHash {
        size_t operator()(const CgroupKey& k) const {
            return std::hash<uint64_t>()(k.cgroup_id * 0x9e3779b97f4a7c15ULL ^ k.pns);
        }
    };
    LruMap<CgroupKey, std::string, CgroupKeyHash> containers_{4096};
    // Exec generation per tgid (bumped on every exec; invalidates the Common cache).
    LruMap<uint32_t, uint64_t> generations_;
    uint64_t next_generation_ = 1;
    FormatterStats stats_;
};

// Text forms used in records.
std::string ipText(uint16_t family, const uint8_t* addr);
uint16_t portHost(uint16_t net_port);
// "uid|euid|suid|fsuid|gid|egid|sgid|fsgid" (611's p_cred/c_cred, as Elkeid).
std::string credText(const vg_header& h);
// The value of NAME in an environment excerpt (NUL-separated NAME=value strings); "" if absent.
std::string envValue(std::string_view env, std::string_view name);

}  // namespace vigil::driver
