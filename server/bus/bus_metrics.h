// What both backends share: the vigil_bus_* metrics (append volume and latency, fsyncs, errors
// by cause, retention, truncation; counters are lock-free, the struct is shared by reference)
// and the marker of threads running append callbacks.
#pragma once

#include <string>

#include "libs/common/metrics.h"

namespace vigil::bus {

struct BusMetrics {
    BusMetrics(metrics::Registry& registry, const std::string& backend);

    metrics::Registry& registry;
    std::string backend;
    metrics::Counter& appended_messages;
    metrics::Counter& appended_bytes;
    metrics::Counter& appends;             // completed append calls (ok)
    metrics::Counter& append_latency_us;   // sum over completed appends, microseconds
    metrics::Counter& failed_appends;
    metrics::Counter& fsyncs;
    metrics::Counter& retention_segments;
    metrics::Counter& retention_bytes;
    metrics::Counter& truncated_bytes;
    metrics::Gauge& pending_bytes;

    // vigil_bus_errors_total{backend,cause}: write, fsync, invalid, corrupt, publish, timeout,
    // disconnected, fetch, commit.
    metrics::Counter& error(const std::string& cause);
    // vigil_bus_consumed_messages_total / vigil_bus_skipped_messages_total{backend,group}.
    metrics::Counter& consumed(const std::string& group);
    metrics::Counter& skipped(const std::string& group);
};

// Set while a thread runs append callbacks. An append made from inside a callback skips the
// wait for room (the thread it would wait for may be this very one); see Producer.
class CallbackScope {
public:
    CallbackScope() { ++depth_; }
    ~CallbackScope() { --depth_; }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;
    static bool active() { return depth_ > 0; }

private:
    static thread_local int depth_;
};

}  // namespace vigil::bus
