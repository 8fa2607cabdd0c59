// The driver plugin: kernel telemetry through eBPF (or the proc connector where eBPF is
// refused), enriched and written as Elkeid-shaped records. Started by vigil-agent as
// <workdir>/plugin/driver/driver with DETAIL=<config>; see docs/driver.md for every key.
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "plugins/driver/src/bpf_source.h"
#include "plugins/driver/src/driver_config.h"
#include "plugins/driver/src/event_format.h"
#include "plugins/driver/src/hook_probe.h"
#include "plugins/driver/src/proc_source.h"
#include "vigil/sdk/client.h"
#include "vigil/sdk/plugin_config.h"

namespace {

using namespace vigil;
using namespace vigil::driver;

constexpr int32_t kTaskSetFilters = 9300;
constexpr int32_t kTaskStatus = 9301;

// The agent that started us (parent process named vigil-agent); 0 when started otherwise
// (by hand, by a test harness).
uint32_t agentPid() {
    const pid_t parent = ::getppid();
    char buf[4096];
    const std::string link = "/proc/" + std::to_string(parent) + "/exe";
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n <= 0) return 0;
    std::string exe(buf, static_cast<size_t>(n));
    const size_t slash = exe.rfind('/');
    const std::string name = slash == std::string::npos ? exe : exe.substr(slash + 1);
    return name == "vigil-agent" ? static_cast<uint32_t>(parent) : 0;
}

std::string kernelRelease() {
    struct utsname u {};
    return ::uname(&u) == 0 ? u.release : "";
}

// Applies the allow-lists and filters of `cfg` to the kernel maps. Paths that do not exist
// are reported back (they cannot be keyed by inode).
Status applyFilters(BpfSource& src, const DriverConfig& cfg, std::string* notes) {
    if (auto st = src.clearAllowLists(); !st.ok()) return st;
    vg_config k = src.config();
    k.flags = 0;
    if (cfg.drop_loopback_connect) k.flags |= VG_CFG_DROP_LOOPBACK_CONNECT;
    if (cfg.flood_per_minute > 0) k.flags |= VG_CFG_QUIET_FLOODS;
    k.flood_per_minute = cfg.flood_per_minute;
    k.self_tgid = static_cast<uint32_t>(::getpid());
    k.agent_tgid = cfg.report_agent ? 0 : agentPid();
    for (const auto& path : cfg.exe_allowlist) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            *notes += "exe_allowlist: " + path + ": " + std::strerror(errno) + "; ";
            continue;
        }
        if (auto s = src.allowExe(st.st_ino, kernelDev(st.st_dev), true); !s.ok()) return s;
        k.flags |= VG_CFG_EXE_ALLOWLIST;
    }
    for (const auto& argv : cfg.argv_allowlist) {
        if (auto s = src.allowArgvHash(argvHash(argv), true); !s.ok()) return s;
        k.flags |= VG_CFG_ARGV_ALLOWLIST;
    }
    for (const auto& path : cfg.watch_paths) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) {
            *notes += "watch_paths: " + path + ": " + std::strerror(errno) + "; ";
            continue;
        }
        if (auto s = src.watchFile(st.st_ino, kernelDev(st.st_dev), true); !s.ok()) return s;
    }
    return src.setConfig(k);
}

std::string slotDetail(const SourceCounters& c, vg_counter_kind kind) {
    std::string out;
    for (uint32_t slot = 0; slot < VG_SLOT_COUNT; ++slot) {
        if (c.v[slot][kind] == 0) continue;
        const EventSpec* spec = findEventSpecBySlot(slot);
        if (!out.empty()) out += ',';
        out += std::string(spec ? spec->name : "?") + "=" + std::to_string(c.v[slot][kind]);
    }
    return out;
}

std::string mapDetail(const std::map<std::string, uint64_t>& m) {
    std::string out;
    for (const auto& [k, v] : m) {
        if (!out.empty()) out += ',';
        out += k + "=" + std::to_string(v);
    }
    return out;
}

std::string joinNames(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ',';
        out += s;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace vigil::sdk;
    if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
        std::printf("%s", driverUsage().c_str());
        return 0;
    }
    if (auto st = installSignalHandlers(); !st.ok()) {
        std::fprintf(stderr, "driver: %s\n", st.message().c_str());
        return 1;
    }
    ClientOptions client_options;
    client_options.log_source = "driver";
    Client client(client_options);

    auto detail = PluginConfig::fromEnvironment();
    Result<DriverConfig> parsed =
        detail.ok() ? parseDriverConfig(*detail) : Result<DriverConfig>(detail.error());
    if (!parsed.ok()) {
        client.logError("bad DETAIL: " + parsed.message());
        client.shutdown();
        return 2;
    }
    DriverConfig cfg = *parsed;

    // The consumer thread owns the formatter; the heartbeat reads its stats under a lock.
    std::mutex mu;
    std::unique_ptr<BpfSource> bpf;
    std::unique_ptr<ProcSource> proc;
    FormatterOptions fopts;
    fopts.on_system_exe = [&bpf](uint64_t ino, uint32_t dev) {
        if (bpf) bpf->markSystemExe(ino, dev);
    };
    EventFormatter formatter(client, fopts);
    auto on_record = [&formatter](std::span<const uint8_t> raw) { formatter.handle(raw); };

    // What this kernel allows, for the heartbeat (the sources below probe what they use).
    const std::string hook_support =
        cfg.mode == "proc" ? std::string() : hookSupportText(probeHookTypes(cgroup2Mount()));
    std::string mode;
    std::string unavailable;
    std::string filter_notes;
    if (cfg.mode != "proc") {
        SourceOptions so;
        so.enabled = cfg.enabled;
        so.ring_bytes = cfg.ring_bytes;
        so.poll_ms = cfg.poll_ms;
        auto opened = BpfSource::open(so, on_record);
        if (opened.ok()) {
            bpf = std::move(*opened);
            if (auto st = applyFilters(*bpf, cfg, &filter_notes); !st.ok()) {
                client.logError(st.message());
            }
            mode = bpf->hookMode();
            for (const auto& m : bpf->missing()) client.log(LogLevel::kWarn, "hook skipped: " + m);
            if (!filter_notes.empty()) client.log(LogLevel::kWarn, filter_notes);
            auto n = bpf->snapshot();
            if (!n.ok()) client.log(LogLevel::kWarn, n.message());
        } else {
            unavailable = opened.message();
        }
    }
    if (!bpf && cfg.mode != "ebpf") {
        auto opened = ProcSource::open(cfg.enabled, cfg.poll_ms, on_record);
        if (opened.ok()) {
            proc = std::move(*opened);
            mode = proc->hookMode();
        } else {
            unavailable += (unavailable.empty() ? "" : "; ") + opened.message();
        }
    }
    if (!bpf) {
        client.record(kDataTypeDriverUnavailable)
            .field("reason", unavailable.empty() ? "eBPF disabled by mode=proc" : unavailable)
            .field("mode", proc ? mode : "none")
            .field("kernel", kernelRelease())
            .send();
        client.logError("eBPF unavailable: " + unavailable +
                        (proc ? "; using the proc connector (exec events only)" : ""));
        if (!proc) {
            client.shutdown();
            return 3;
        }
    }
    client.log(LogLevel::kInfo, "started: mode=" + mode);

    const auto started = std::chrono::steady_clock::now();
    std::thread consumer([&] {
        while (client.running()) {
            std::lock_guard<std::mutex> lock(mu);
            int rc = bpf ? bpf->poll() : proc->poll();
            if (rc < 0 && rc != -EINTR) {
                client.logError(std::string("event source: ") + std::strerror(-rc));
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
            }
        }
    });

    auto heartbeat = [&] {
        SourceCounters k = bpf ? bpf->counters() : SourceCounters{};
        FormatterStats fs;
        size_t processes = 0;
        {
            std::lock_guard<std::mutex> lock(mu);
            fs = formatter.stats();
            processes = formatter.processes().stats().entries;
        }
        auto w = client.record(kDataTypeDriverHeartbeat);
        w.field("mode", mode)
            .field("kernel", kernelRelease())
            .field("hooks", bpf ? joinNames(bpf->attached()) : std::string("proc_connector"))
            .field("missing_hooks", bpf ? joinNames(bpf->missing()) : std::string())
            .field("hook_support", hook_support)
            .field("events", totalOf(k, VG_CNT_EMITTED))
            .field("drops", totalOf(k, VG_CNT_DROPPED))
            .field("drops_detail", slotDetail(k, VG_CNT_DROPPED))
            .field("filtered", totalOf(k, VG_CNT_FILTERED))
            .field("filtered_detail", slotDetail(k, VG_CNT_FILTERED))
            .field("quieted", totalOf(k, VG_CNT_QUIETED))
            .field("quieted_detail", slotDetail(k, VG_CNT_QUIETED))
            .field("records", fs.records)
            .field("bad_records", fs.bad)
            .field("bad_detail", mapDetail(fs.bad_by_cause))
            .field("processes", processes)
            .field("snapshot", fs.snapshot)
            .field("ring_bytes", bpf ? bpf->ringBytes() : 0)
            .field("uptime", std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now() - started)
                                 .count());
        if (proc) {
            auto ps = proc->stats();
            w.field("lost", ps.lost).field("overruns", ps.overruns);
        }
        w.send();
    };

    std::thread ticker([&] {
        heartbeat();  // one at start, with the hook mode
        while (!client.waitForShutdown(std::chrono::seconds(cfg.heartbeat_s))) heartbeat();
    });

    while (client.running()) {
        auto task = client.receiveTask();
        if (!task.ok()) {
            if (!client.running()) break;
            client.logError(task.message());
            continue;
        }
        if (task->data_type == kTaskSetFilters) {
            auto pc = PluginConfig::parse(task->data);
            Result<DriverConfig> next =
                pc.ok() ? parseDriverConfig(*pc, &cfg) : Result<DriverConfig>(pc.error());
            if (!next.ok()) {
                client.sendTaskResult(task->token, false, next.message());
                continue;
            }
            if (!bpf) {
                client.sendTaskResult(task->token, false, "filters need eBPF (mode " + mode + ")");
                continue;
            }
            std::string notes;
            Status st = applyFilters(*bpf, *next, &notes);
            if (st.ok()) cfg = *next;
            client.sendTaskResult(task->token, st.ok(),
                                  st.ok() ? "applied; " + notes : st.message());
        } else if (task->data_type == kTaskStatus) {
            heartbeat();
            client.sendTaskResult(task->token, true, "mode=" + mode);
        } else {
            client.sendTaskResult(task->token, false,
                                  "driver understands tasks 9300 (set filters) and 9301 "
                                  "(status), got " +
                                      std::to_string(task->data_type));
        }
    }
    client.log(LogLevel::kInfo, "stopping: " + client.stopReason());
    consumer.join();
    ticker.join();
    client.shutdown();
    return 0;
}
