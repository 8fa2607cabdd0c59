// Turns a fetch of bus records (MQData, DESIGN.md §3) into one store IngestBatch: agent
// heartbeats (1000) and plugin heartbeats (1001) into host rows, task results (5100) into task
// results. Keeps each host's last known state so that a plugin heartbeat updates the plugin list
// without resetting what the agent heartbeat set.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libs/common/result.h"
#include "server/bus/bus.h"
#include "server/manager/store/store.h"

namespace vigil::manager {

inline constexpr int32_t kAgentHeartbeat = 1000;
inline constexpr int32_t kPluginHeartbeat = 1001;
inline constexpr int32_t kTaskResult = 5100;

// A plugin without a heartbeat for this long before its agent's last heartbeat is dropped from
// the host's plugin list (agents beat every 60 s; a stopped plugin no longer reports).
inline constexpr int64_t kPluginStaleMs = 180 * 1000;

// MQData.agent_time as milliseconds: seconds (Elkeid) or milliseconds (values above 10^11);
// `bus_time_ns` when absent.
int64_t agentTimeMs(int64_t agent_time, int64_t bus_time_ns);

struct DecodeCounts {
    size_t records = 0;  // every delivery seen
    size_t heartbeats = 0;
    size_t plugin_heartbeats = 0;
    size_t task_results = 0;
    size_t skipped = 0;  // other data types
    size_t bad = 0;      // not MQData, a malformed Payload, or a required field missing
};

// Not thread-safe: one per records loop.
class RecordDecoder {
public:
    explicit RecordDecoder(Store& store);
    ~RecordDecoder();

    // Decodes `deliveries` into `out` (cleared first). Reads the state of hosts it has not seen
    // yet from the store; fails (changing nothing) when the store cannot be read. Decoding the
    // same deliveries again gives the same batch (a retry after a failed ingest).
    Status decode(const std::vector<bus::Delivery>& deliveries, IngestBatch& out,
                  DecodeCounts& counts);

    // Hosts whose state is kept in memory.
    size_t hostsKnown() const;

private:
    struct HostEntry;
    Status load(const std::vector<std::string>& agent_ids);

    Store& store_;
    std::map<std::string, std::unique_ptr<HostEntry>, std::less<>> hosts_;
};

}  // namespace vigil::manager
