// Turns the agent's own warnings and errors into 1010 records (DESIGN.md §4), so the server
// sees what went wrong on the host. Rate-limited; never recurses into itself.
#pragma once

#include <atomic>
#include <mutex>

#include <spdlog/sinks/base_sink.h>

#include "agent/transport/record_sink.h"
#include "libs/common/log.h"

namespace vigil::agent {

class ErrorLogSink : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit ErrorLogSink(uint32_t per_second = 20) : limiter_(per_second) {}
    // Set once the batcher exists; until then (and after detach) messages only go to the log.
    void attach(RecordSink* sink) { sink_.store(sink); }
    uint64_t suppressed() const { return limiter_.suppressed(); }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override {}

private:
    std::atomic<RecordSink*> sink_{nullptr};
    log::RateLimiter limiter_;
};

}  // namespace vigil::agent
