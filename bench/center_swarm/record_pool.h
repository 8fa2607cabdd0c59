// A read-only pool of realistic record payloads (execve- and connect-like driver events,
// ~200 bytes serialized each) that simulated agents put into their batches in turn, and the
// agent heartbeat record.
// Thread-safety: immutable after construction; shared by all workers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vigil::bench {

struct PooledRecord {
    int32_t data_type = 0;
    std::string payload;  // serialized Payload (map<string,string>)
};

class RecordPool {
public:
    explicit RecordPool(size_t size = 512, uint64_t seed = 1);
    const PooledRecord& at(size_t i) const { return records_[i % records_.size()]; }
    // An agent heartbeat (data_type 1000): the center pushes the plugin config on the first.
    const PooledRecord& heartbeat() const { return heartbeat_; }
    size_t size() const { return records_.size(); }
    double averagePayloadBytes() const;

private:
    std::vector<PooledRecord> records_;
    PooledRecord heartbeat_;
};

}  // namespace vigil::bench
