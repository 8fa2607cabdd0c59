// Batcher: the agent's RecordSink. Appends each record's EncodedRecord bytes into an open
// batch (one per spool lane), and seals a batch into the spool when it holds max_records or
// max_bytes, or when it is older than `interval` (tick()). Payload bytes are copied once and
// never re-encoded.
// Thread-safety: put(), setHeader(), tick() and flush() may be called from any thread.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "agent/spool/spool.h"
#include "agent/transport/record_sink.h"
#include "libs/common/metrics.h"
#include "libs/wire/batch.h"

namespace vigil::agent {

struct BatcherOptions {
    uint32_t max_records = 4096;
    uint64_t max_bytes = 1ull << 20;
    std::chrono::milliseconds interval{100};
    // Data types that go to the critical lane (never shed). 5100 (task result) always does.
    std::unordered_set<int32_t> critical_data_types{5100};
};

class Batcher : public RecordSink {
public:
    // `spool` must outlive the Batcher.
    Batcher(BatcherOptions options, Spool& spool, metrics::Registry& metrics);
    ~Batcher() override;

    // One lock and one copy of the payload; seals into the spool (a disk write, without
    // holding the lock other put() callers need) when the batch is full.
    void put(int32_t data_type, int64_t timestamp, std::string_view payload) override;

    // Header stamped on every batch sealed from now on (agent id, IPs, hostname, version...).
    void setHeader(const wire::BatchHeader& header);
    // Seals open batches older than the interval. Call every ~interval/2 from a timer.
    void tick();
    // Seals every open batch now (shutdown, upgrade).
    void flush();

    uint64_t recordsIn() const { return records_in_->value(); }

private:
    struct Open {
        wire::BatchBuilder builder;
        std::chrono::steady_clock::time_point opened;
    };
    // Data types below this are classified by a bitmap instead of a hash lookup per record.
    static constexpr int32_t kCriticalBitmapSize = 16384;

    Lane laneOf(int32_t data_type) const;
    // Moves the lane's open batch out and appends it to the spool; `lock` (on mu_) is released.
    void sealAndUnlock(Lane lane, std::unique_lock<std::mutex>& lock);
    void sealWhere(bool only_old);

    BatcherOptions options_;
    Spool& spool_;
    std::mutex mu_;       // open batches and header
    std::mutex seal_mu_;  // orders appends to the spool
    Open open_[2];
    std::shared_ptr<const std::string> header_;
    std::bitset<kCriticalBitmapSize> critical_bitmap_;
    metrics::Counter* records_in_;
    metrics::Counter* batches_sealed_;
};

}  // namespace vigil::agent
