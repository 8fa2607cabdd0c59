// Logging: one spdlog backend with named per-component loggers and rate limiting for hot paths.
// Libraries never print to stdout. init() once at start-up; get() is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace vigil::log {

struct Options {
    std::string level = "info";  // trace, debug, info, warn, error, off
    std::string file;            // empty: stderr only
    size_t max_file_bytes = 10 * 1024 * 1024;
    size_t max_files = 3;
    bool to_stderr = true;
};

// Configures the default sinks for every logger created afterwards (and re-points existing
// ones). Returns false with `error` set when the file cannot be opened or the level is unknown.
bool init(const Options& options, std::string* error = nullptr);

// The logger for one component ("agent", "plugin_host", ...); created on first use.
std::shared_ptr<spdlog::logger> get(std::string_view component);

// Adds a sink to every current and future logger (used by the agent to turn error logs into
// 1010 records). Thread-safe.
void addSink(std::shared_ptr<spdlog::sinks::sink> sink);

// Allows at most `per_second` events per second, with a burst of the same size; counts the rest.
// Lock-free; one instance per call site.
class RateLimiter {
public:
    explicit RateLimiter(uint32_t per_second = 5) : per_second_(per_second) {}
    bool allow();
    uint64_t suppressed() const { return suppressed_.load(std::memory_order_relaxed); }

private:
    uint32_t per_second_;
    std::atomic<int64_t> window_start_ms_{0};
    std::atomic<uint32_t> in_window_{0};
    std::atomic<uint64_t> suppressed_{0};
};

}  // namespace vigil::log

// Logs at most a few times a second from one call site (hot paths: bad frames, drops).
#define VIGIL_LOG_RATE_LIMITED(logger, level, ...)                 \
    do {                                                           \
        static ::vigil::log::RateLimiter vigil_rl_{5};             \
        if (vigil_rl_.allow()) (logger)->log(level, __VA_ARGS__);  \
    } while (0)
