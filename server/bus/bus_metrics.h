// The vigil_bus_* metrics both backends report (append volume and latency, fsyncs, errors by
// cause, retention, truncation). Counters are lock-free; the struct is shared by reference.
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

}  // namespace vigil::bus
