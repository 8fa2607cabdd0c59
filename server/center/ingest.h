// Ingest: turns one PackagedData received from an agent into bus messages (Elkeid MQData, one
// per record, keyed by agent_id, server-time stamped) without re-encoding the records' Payload
// bytes. Pure functions over bytes, so they are unit-tested and fuzzed without gRPC.
// Not thread-safe per BatchIngest object; use one per stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/wire/batch.h"
#include "server/bus/bus.h"

namespace vigil::center {

struct IngestLimits {
    uint32_t max_records = 200000;           // per batch
    uint32_t max_record_bytes = 4u << 20;    // per record payload
    size_t max_agent_id_bytes = 128;
};

enum class IngestError : uint8_t {
    kNone = 0,
    kMalformed,       // not a valid PackagedData
    kNoAgentId,       // agent_id missing or not printable
    kTooManyRecords,
};
const char* ingestErrorName(IngestError e);

struct BatchIngest {
    std::string agent_id;
    uint64_t batch_seq = 0;
    wire::BatchHeader header;
    uint32_t records = 0;          // records turned into messages
    uint32_t dropped = 0;          // records dropped: malformed Payload or over max_record_bytes
    bool has_agent_heartbeat = false;  // a 1000 record is in the batch
    std::string encoded;           // the MQData messages, back to back
    std::vector<bus::Message> messages;  // views into `encoded`

    void clear();
};

// Decodes `bytes` (a serialized PackagedData) into `out`. svr_time is unix seconds.
IngestError ingestBatch(std::string_view bytes, int64_t svr_time, const IngestLimits& limits, BatchIngest& out);

}  // namespace vigil::center
