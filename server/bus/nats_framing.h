// How the NATS backend packs bus messages into NATS messages. One NATS message on subject
// <prefix>.<partition>.<family> carries a batch of bus messages of that partition and family
// (one NATS message per message would cost a JetStream round trip and stored record each).
// Payload (little-endian):
//   u8  version     1
//   u8  family      Family as a number
//   u16 reserved    0
//   u32 count       1..65535
//   i64 bus_time    ns since the epoch, when the producer sealed the batch
//   count x { u32 value_len, i32 data_type, u16 key_len, key, value }
// A Delivery's offset is stream_sequence * 65536 + index within the batch.
// Not thread-safe; value types.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "libs/common/result.h"
#include "libs/wire/buffer.h"
#include "server/bus/bus.h"

namespace vigil::bus::natsfmt {

inline constexpr size_t kBatchHeaderBytes = 16;
inline constexpr size_t kEntryHeaderBytes = 10;
inline constexpr uint32_t kMaxBatchCount = 65535;

inline size_t entryBytes(const Message& m) {
    return kEntryHeaderBytes + m.key.size() + m.value.size();
}

class BatchBuilder {
public:
    void reset(Family family);
    void add(const Message& m);
    uint32_t count() const { return count_; }
    size_t size() const { return buf_.size(); }
    // Stamps the count and time; the view is valid until the next reset().
    std::string_view finish(int64_t bus_time_ns);

private:
    wire::Buffer buf_;
    uint32_t count_ = 0;
};

struct BatchEntry {
    int32_t data_type = 0;
    std::string_view key;
    std::string_view value;
};

struct DecodedBatch {
    Family family = Family::kOther;
    int64_t bus_time_ns = 0;
    std::vector<BatchEntry> entries;  // views into the payload
};

// Every length is checked against the payload; a malformed batch is an error, never a crash.
Status decodeBatch(std::string_view payload, DecodedBatch& out);

}  // namespace vigil::bus::natsfmt
