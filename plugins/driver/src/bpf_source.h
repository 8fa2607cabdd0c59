// BpfSource: the driver's kernel side from user space. Loads the CO-RE programs
// (driver.bpf.c, through the generated skeleton), attaches those of the enabled events that this
// kernel offers, runs the start-up process snapshot (BPF task iterator) and drains the ring
// buffer. Records reach `on_record` as raw bytes (layout: bpf/vigil_events.h).
//
// Transport: programs write with BPF_RB_NO_WAKEUP and force a wakeup only when the ring holds
// more than wake_bytes; poll() therefore sleeps up to poll_ms and then drains whatever is there.
// A wakeup per event would cost the traced program ~20 µs of extra latency (BUILD-MACHINE.md).
//
// Thread-safety: poll() from one thread; counters(), setConfig() and the allow-list setters may
// be called from any thread (they only touch BPF maps).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "libs/common/result.h"
#include "plugins/driver/bpf/vigil_events.h"

struct driver_bpf;
struct ring_buffer;
struct bpf_link;

namespace vigil::driver {

// One reportable event type: its data_type, counter slot and the programs that produce it.
struct EventSpec {
    int32_t data_type;
    vg_slot slot;
    const char* name;
    bool default_on;
    std::vector<const char*> programs;  // skeleton program names
};
const std::vector<EventSpec>& eventSpecs();
const EventSpec* findEventSpec(int32_t data_type);
const EventSpec* findEventSpecBySlot(uint32_t slot);

struct SourceOptions {
    uint64_t enabled = 0;            // bit per vg_slot
    uint32_t ring_bytes = 4u << 20;  // power of two, >= page size
    uint32_t wake_bytes = 0;         // 0: ring_bytes / 8
    int poll_ms = 5;
    vg_config config{};       // initial filters (enabled is overwritten)
    std::string cgroup_path;  // cgroup v2 root to attach socket hooks; "" = detect
};

struct SourceCounters {
    uint64_t v[VG_SLOT_COUNT][VG_CNT_KINDS] = {};
};

class BpfSource {
public:
    using RecordFn = std::function<void(std::span<const uint8_t>)>;

    // Fails (with the kernel's reason) when eBPF cannot be used at all; the caller then falls
    // back. Programs of enabled events that this kernel lacks are skipped and listed in
    // missing().
    static Result<std::unique_ptr<BpfSource>> open(const SourceOptions& options,
                                                   RecordFn on_record);
    ~BpfSource();
    BpfSource(const BpfSource&) = delete;
    BpfSource& operator=(const BpfSource&) = delete;

    // Runs the task iterator: one VG_PROC_SNAPSHOT record per process, to on_record. Returns
    // how many.
    Result<size_t> snapshot();
    // Waits up to poll_ms, then hands every record in the ring to on_record. Returns the count
    // or a negative errno.
    int poll();

    SourceCounters counters() const;
    Status setConfig(const vg_config& config);
    vg_config config() const { return config_; }
    // Allow-lists and watches by (device, inode); `dev` is the kernel's s_dev encoding.
    Status allowExe(uint64_t ino, uint32_t dev, bool allow);
    Status allowArgvHash(uint64_t hash, bool allow);
    Status watchFile(uint64_t ino, uint32_t dev, bool watch);
    Status clearAllowLists();
    // Exes under system directories are never quieted for flooding.
    void markSystemExe(uint64_t ino, uint32_t dev);

    // "ebpf" plus the hook kinds in use, e.g. "ebpf(tp_btf,tracepoint,cgroup,iter)".
    std::string hookMode() const { return hook_mode_; }
    const std::vector<std::string>& attached() const { return attached_; }
    const std::vector<std::string>& missing() const { return missing_; }
    uint32_t ringBytes() const { return ring_bytes_; }

private:
    BpfSource() = default;
    static int onRingRecord(void* ctx, void* data, size_t size);

    driver_bpf* skel_ = nullptr;
    ring_buffer* ring_ = nullptr;
    std::vector<::bpf_link*> links_;
    int cgroup_fd_ = -1;
    int poll_ms_ = 5;
    uint32_t ring_bytes_ = 0;
    vg_config config_{};
    RecordFn on_record_;
    std::string hook_mode_;
    std::vector<std::string> attached_;
    std::vector<std::string> missing_;
};

// Sum of the kernel's per-CPU counters of one kind over every slot.
uint64_t totalOf(const SourceCounters& c, vg_counter_kind kind);

// Where the cgroup v2 hierarchy is mounted ("" when it is not), from /proc/self/mounts.
std::string cgroup2Mount();

// FNV-1a 64, as the kernel computes the argv allow-list key over the NUL-separated argv bytes.
uint64_t argvHash(std::string_view argv_nul_separated);

}  // namespace vigil::driver
