// Logging backend set-up: shared sinks for every named logger.
#include "libs/common/log.h"

#include <chrono>
#include <mutex>
#include <vector>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace vigil::log {
namespace {

struct State {
    std::mutex mu;
    std::vector<spdlog::sink_ptr> sinks;
    spdlog::level::level_enum level = spdlog::level::info;
    bool initialized = false;
};

State& state() {
    static State* s = new State();  // never destroyed: loggers may be used during exit
    return *s;
}

void ensureDefaultSinks(State& s) {
    if (!s.initialized) {
        s.sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
        s.initialized = true;
    }
}

}  // namespace

bool init(const Options& options, std::string* error) {
    auto level = spdlog::level::from_str(options.level);
    if (level == spdlog::level::off && options.level != "off") {
        if (error)
            *error = "unknown log level '" + options.level + "' (trace|debug|info|warn|error|off)";
        return false;
    }
    std::vector<spdlog::sink_ptr> sinks;
    if (options.to_stderr) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    if (!options.file.empty()) {
        try {
            sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
                options.file, options.max_file_bytes, options.max_files));
        } catch (const spdlog::spdlog_ex& e) {
            if (error) *error = "cannot open log file " + options.file + ": " + e.what();
            return false;
        }
    }
    State& s = state();
    std::lock_guard lock(s.mu);
    s.sinks = std::move(sinks);
    s.level = level;
    s.initialized = true;
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
        logger->sinks() = s.sinks;
        logger->set_level(level);
    });
    // Loggers flush at once from warn up; below that a file is flushed every second, so that
    // `tail -f` shows info lines without a long delay.
    if (!options.file.empty()) spdlog::flush_every(std::chrono::seconds(1));
    return true;
}

std::shared_ptr<spdlog::logger> get(std::string_view component) {
    std::string name(component);
    if (auto existing = spdlog::get(name)) return existing;
    State& s = state();
    std::lock_guard lock(s.mu);
    if (auto existing = spdlog::get(name)) return existing;
    ensureDefaultSinks(s);
    auto logger = std::make_shared<spdlog::logger>(name, s.sinks.begin(), s.sinks.end());
    logger->set_level(s.level);
    logger->flush_on(spdlog::level::warn);
    spdlog::register_logger(logger);
    return logger;
}

void addSink(std::shared_ptr<spdlog::sinks::sink> sink) {
    State& s = state();
    std::lock_guard lock(s.mu);
    ensureDefaultSinks(s);
    s.sinks.push_back(sink);
    spdlog::apply_all(
        [&](const std::shared_ptr<spdlog::logger>& logger) { logger->sinks() = s.sinks; });
}

bool RateLimiter::allow() {
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    int64_t start = window_start_ms_.load(std::memory_order_relaxed);
    if (now - start >= 1000) {
        if (window_start_ms_.compare_exchange_strong(start, now, std::memory_order_relaxed)) {
            in_window_.store(0, std::memory_order_relaxed);
        }
    }
    if (in_window_.fetch_add(1, std::memory_order_relaxed) < per_second_) return true;
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

}  // namespace vigil::log
