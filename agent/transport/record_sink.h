// The one entry point for records inside the agent: plugins (via the plugin host) and the
// agent itself (heartbeats, error logs, task results) hand records to a RecordSink, which
// batches them for the center. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace vigil::agent {

class RecordSink {
public:
    virtual ~RecordSink() = default;
    // `payload` is a serialized vigil.plugin.Payload; it is forwarded byte for byte.
    // Never blocks for long: when the spool is full, telemetry is shed (and counted).
    virtual void put(int32_t data_type, int64_t timestamp, std::string_view payload) = 0;
};

}  // namespace vigil::agent
