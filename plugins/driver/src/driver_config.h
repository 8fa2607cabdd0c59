// The driver's configuration: the DETAIL string from the agent (keys below), also accepted by
// the 9300 "set filters" task. Value type.
//
//   mode                   auto (eBPF, else the proc connector) | ebpf | proc      [auto]
//   events                 the events to report, replacing the default set: names or
//                          data_types separated by ':' (or ',' in JSON), e.g. execve:connect
//   enable, disable        events added to / removed from the set
//   ring_kb                kernel ring buffer size, a power of two, 64..1048576         [4096]
//   poll_ms                how often the ring is drained (no wakeup per event), 1..1000 [5]
//   heartbeat_s            interval of the 900 heartbeat, 1..3600                       [60]
//   flood_per_minute       events of one exe per minute above which it is quieted for the
//                          rest of the minute, unless it lies in a system directory; 0 = off
//                          [9000]
//   drop_loopback_connect  drop connects to 127.0.0.0/8 and ::1 in the kernel           [false]
//   exe_allowlist          executables whose events are not reported, ':'-separated paths
//   argv_allowlist         exec command lines not reported (exact, space-joined argv),
//                          '|'-separated
//   watch_paths            files whose reads/writes are reported (events read, write),
//                          ':'-separated
//   report_agent           also report the events of the agent that started the driver and
//                          of its other plugins (dropped by default: they would feed back)
//                          [false]
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "libs/common/result.h"
#include "vigil/sdk/plugin_config.h"

namespace vigil::driver {

struct DriverConfig {
    std::string mode = "auto";
    uint64_t enabled = 0;  // bit per vg_slot
    uint32_t ring_bytes = 4u << 20;
    int poll_ms = 5;
    int heartbeat_s = 60;
    uint32_t flood_per_minute = 9000;
    bool drop_loopback_connect = false;
    bool report_agent = false;
    std::vector<std::string> exe_allowlist;
    std::vector<std::string> argv_allowlist;  // NUL-separated argv bytes, as the kernel sees them
    std::vector<std::string> watch_paths;
};

// The default event set (DESIGN.md §4 / issue: on by default).
uint64_t defaultEnabledEvents();

// Parses `detail` over `base` (defaults when null). Errors name the key and the bad value.
Result<DriverConfig> parseDriverConfig(const sdk::PluginConfig& detail,
                                       const DriverConfig* base = nullptr);

// Text of `driver --help`.
std::string driverUsage();

}  // namespace vigil::driver
