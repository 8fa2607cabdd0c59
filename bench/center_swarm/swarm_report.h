// What the load generator reports: the per-second status line, the measurement window, and
// the JSON document written for scripts (--json at the end, --status-file every second).
// Not thread-safe: used by the reporting thread only.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/center_swarm/swarm.h"
#include "bench/center_swarm/swarm_stats.h"
#include "libs/common/result.h"

namespace vigil::bench {

// A measurement window: it opens `delay_s` after every agent is first connected (or at
// `start_by_s` after the start, whichever comes first) and lasts `length_s`.
struct MeasureWindow {
    enum class Phase { kNone, kPending, kRunning, kDone };
    Phase phase = Phase::kNone;
    double delay_s = 0;
    double length_s = 0;
    double start_by_s = 0;  // 0: only when all agents are connected
    int64_t start_ns = 0;
    int64_t end_ns = 0;
    SwarmSnapshot begin, end;
    int64_t min_connected = 0;

    // Advances the phase; returns true when the window has just closed.
    bool update(const Swarm& swarm, const SwarmSnapshot& now);
};

// Process figures of the generator itself.
struct GeneratorUsage {
    int64_t rss_kb = 0;
    double cpu_s = 0;
    int64_t tls_heap_bytes = 0;
    static GeneratorUsage measure();
};

std::string statusLine(const Swarm& swarm, const SwarmSnapshot& prev, const SwarmSnapshot& cur);
// Everything: configuration, state, totals, errors, latency, window, generator usage.
nlohmann::json reportJson(const Swarm& swarm, const SwarmSnapshot& cur, const MeasureWindow& window,
                          int64_t max_connected, bool final_report);
// The final summary for people (several lines).
std::string summaryText(const Swarm& swarm, const SwarmSnapshot& cur, const MeasureWindow& window,
                        int64_t max_connected);
// Writes `doc` to path.tmp and renames it over `path`.
Status writeJsonAtomic(const std::string& path, const nlohmann::json& doc);

}  // namespace vigil::bench
