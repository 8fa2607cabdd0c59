// ProcSource: the driver's fallback event source for hosts that refuse eBPF. Listens to the
// kernel's netlink proc connector (exec, exit, uid change, setsid) and turns each event into the
// same raw record the kernel programs write (layout: bpf/vigil_events.h), reading the rest of
// the record from /proc. Records reach `on_record` exactly as BpfSource hands them over, so the
// formatter does not know which source it reads.
//
// What the fallback cannot match: a process that exits before /proc/<pid> is read leaves no exec
// record (counted as `lost`); failed execs, ptrace, connect and file events are not reported;
// start_time has clock-tick (10 ms) resolution; ktime_ns is the connector's timestamp moved to
// CLOCK_BOOTTIME.
//
// Thread-safety: poll() from one thread (on_record runs on it); stats() from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libs/common/result.h"
#include "plugins/driver/bpf/vigil_events.h"
#include "plugins/driver/src/bpf_source.h"

namespace vigil::driver {

class ProcSource {
public:
    struct Stats {
        uint64_t events = 0;        // well-formed connector events received (every kind)
        uint64_t exec = 0;          // VG_EXECVE records emitted
        uint64_t exit = 0;          // VG_EXIT records emitted
        uint64_t lost = 0;          // exec events whose process left /proc before it was read
        uint64_t bad_messages = 0;  // truncated, malformed or not from the kernel
        uint64_t overruns = 0;      // ENOBUFS: the socket buffer overflowed, events were lost
    };

    // Subscribes to the proc connector (NETLINK_CONNECTOR, group CN_IDX_PROC,
    // PROC_CN_MCAST_LISTEN) and waits up to 2 s for the kernel's acknowledgement. Fails with the
    // reason when the kernel refuses: no CAP_NET_ADMIN (kernels before 6.6), outside the initial
    // pid and user namespaces (no answer at all), no CONFIG_PROC_EVENTS. `enabled_slots`: bit
    // per vg_slot; EXECVE, EXIT, CRED and SETSID are the ones this source serves.
    static Result<std::unique_ptr<ProcSource>> open(uint64_t enabled_slots, int poll_ms,
                                                    BpfSource::RecordFn on_record);
    // Sends PROC_CN_MCAST_IGNORE and closes the socket.
    ~ProcSource();
    ProcSource(const ProcSource&) = delete;
    ProcSource& operator=(const ProcSource&) = delete;

    // Waits up to poll_ms for the socket, then handles every message queued (at most a bounded
    // batch, so a flood cannot hold the caller). Returns the records handed to on_record, or a
    // negative errno when the socket fails.
    int poll();

    std::string hookMode() const { return "proc_connector"; }
    Stats stats() const;

private:
    struct Event;
    ProcSource() = default;

    Status subscribe();
    // One datagram: every netlink message in it. Returns the records emitted.
    int handleDatagram(const uint8_t* data, size_t size);
    int handleEvent(const Event& event);
    int handleExec(const Event& event);
    int handleExit(const Event& event);
    int handleIdChange(const Event& event);
    bool enabled(vg_slot slot) const { return (enabled_slots_ >> slot) & 1; }
    void emit(const std::string& record);

    int fd_ = -1;
    int cgroup_root_fd_ = -1;  // cgroup v2 mount, for cgroup ids; -1 when there is none
    uint32_t port_id_ = 0;
    bool listening_ = false;  // the kernel acknowledged PROC_CN_MCAST_LISTEN
    uint32_t self_tgid_ = 0;  // this process: never reported, as the kernel side's self_tgid
    uint32_t self_uts_ns_ = 0;
    uint64_t enabled_slots_ = 0;
    int poll_ms_ = 100;
    uint64_t tick_ns_ = 10000000;
    BpfSource::RecordFn on_record_;
    std::vector<std::string> pending_;  // datagrams that arrived before the subscription ack
    std::vector<uint8_t> buf_;

    std::atomic<uint64_t> events_{0};
    std::atomic<uint64_t> exec_{0};
    std::atomic<uint64_t> exit_{0};
    std::atomic<uint64_t> lost_{0};
    std::atomic<uint64_t> bad_messages_{0};
    std::atomic<uint64_t> overruns_{0};
};

}  // namespace vigil::driver
