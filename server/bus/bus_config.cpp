#include "server/bus/bus_config.h"

#include <cstdint>

namespace vigil::bus {

void readBusOptions(config::Node b, BusOptions& out) {
    b.allowOnly({"backend", "dir", "partitions", "segment_size", "retention_size", "retention_age",
                 "fsync_interval", "nats_url", "stream", "nats_max_age", "nats_max_bytes",
                 "nats_replicas", "nats_subject_prefix", "nats_timeout"});
    out.backend = b.oneOf("backend", "embedded", {"embedded", "nats"});
    out.dir = b.str("dir");
    out.partitions = static_cast<uint32_t>(b.integer("partitions", 8, 1, 1024));
    out.segment_bytes = b.size("segment_size", out.segment_bytes, 1 << 20);
    out.retention_bytes = b.size("retention_size", out.retention_bytes, 1 << 20);
    out.retention_age = std::chrono::duration_cast<std::chrono::seconds>(
        b.duration("retention_age", out.retention_age, std::chrono::seconds(60)));
    out.fsync_interval = b.duration("fsync_interval", out.fsync_interval);
    out.nats_url = b.str("nats_url", out.nats_url);
    out.stream = b.str("stream", out.stream);
    out.nats_max_age = std::chrono::duration_cast<std::chrono::seconds>(
        b.duration("nats_max_age", out.nats_max_age, std::chrono::seconds(60)));
    out.nats_max_bytes = b.integer("nats_max_bytes", -1, -1, INT64_MAX);
    out.nats_replicas = static_cast<int>(b.integer("nats_replicas", 1, 1, 5));
    out.nats_subject_prefix = b.str("nats_subject_prefix", out.nats_subject_prefix);
    out.nats_timeout = b.duration("nats_timeout", out.nats_timeout, std::chrono::seconds(1));
}

}  // namespace vigil::bus
