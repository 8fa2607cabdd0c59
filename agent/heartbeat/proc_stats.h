// Per-process resource figures read from /proc (CPU time, RSS, fds, threads, I/O), and rates
// between two samples, for the 1000/1001 heartbeats and the agent_idle benchmark.
// Stateless readers; RateTracker is not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace vigil::agent {

struct ProcessSample {
    uint64_t cpu_ticks = 0;      // utime + stime, clock ticks
    uint64_t rss_bytes = 0;
    int64_t start_time = 0;      // unix seconds
    uint32_t nfd = 0;
    uint32_t nthreads = 0;
    uint64_t read_bytes = 0;     // storage I/O (/proc/pid/io), 0 when not readable
    uint64_t write_bytes = 0;
    std::chrono::steady_clock::time_point at;
};

// nullopt when the process is gone.
std::optional<ProcessSample> readProcess(pid_t pid);
int64_t bootTime();  // unix seconds, from /proc/stat btime

struct ProcessRates {
    double cpu_cores = 0;        // CPU time per wall time (0.01 = 1 % of one core)
    double read_bytes_per_s = 0;
    double write_bytes_per_s = 0;
};

// Rates between consecutive samples of one process.
class RateTracker {
public:
    ProcessRates update(const ProcessSample& sample);

private:
    std::optional<ProcessSample> last_;
};

// Counter to rate: per-second change of a monotonically increasing value.
class CounterRate {
public:
    double update(uint64_t value, std::chrono::steady_clock::time_point now);

private:
    uint64_t last_value_ = 0;
    std::chrono::steady_clock::time_point last_at_{};
    bool primed_ = false;
};

}  // namespace vigil::agent
