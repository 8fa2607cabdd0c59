// Where the hub's alerts go (docs/hub.md "Running"). An alert is one JSON object; a sink writes
// a batch and returns once the batch is durable (the service commits its bus position only
// after every sink has), so an alert is never lost, possibly repeated after a crash (at least
// once; alert_id is stable across repeats). Sinks: JSON lines file, the bus. Later: syslog,
// webhook, Kafka. Not thread-safe: one service thread writes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/bus/bus.h"
#include "server/hub/rule.h"

namespace vigil::hub {

// One alert ready to be written.
struct Alert {
    std::string agent_id;  // the bus key
    std::string json;      // one line, no newline
    std::string rule_id;   // the rule that fired (syslog MSGID and structured data)
    Severity severity = Severity::kMedium;
};

// Data type of alert messages on the bus (value = the alert JSON, key = agent_id).
inline constexpr int32_t kAlertDataType = 9000;

class AlertSink {
public:
    virtual ~AlertSink() = default;
    virtual const char* name() const = 0;
    // Writes `alerts` durably; ok means they survive a crash.
    virtual Status write(const std::vector<Alert>& alerts) = 0;
};

// Appends one JSON object per line to `path` (created 0640, parent directories made), then
// fdatasyncs. A torn last line after a crash is completed by the next write's newline check.
Result<std::unique_ptr<AlertSink>> openJsonLinesSink(const std::string& path);

// Appends to a bus (opened as a writer by this sink); key agent_id, data_type 9000.
Result<std::unique_ptr<AlertSink>> openBusSink(const bus::BusOptions& options,
                                               metrics::Registry& metrics);

}  // namespace vigil::hub
