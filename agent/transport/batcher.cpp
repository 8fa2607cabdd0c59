// Batcher: records into per-lane open batches, sealed into the spool by size, count or age.
#include "agent/transport/batcher.h"

#include <utility>

namespace vigil::agent {
namespace {

// EncodedRecord framing around a payload: tags, lengths and the two varints (at most).
constexpr uint64_t kRecordOverhead = 32;

}  // namespace

Batcher::Batcher(BatcherOptions options, Spool& spool, metrics::Registry& metrics)
    : options_(std::move(options)),
      spool_(spool),
      header_(std::make_shared<const std::string>()),
      records_in_(
          &metrics.counter("vigil_agent_batcher_records_total", "Records put into batches")),
      batches_sealed_(
          &metrics.counter("vigil_agent_batcher_batches_total", "Batches sealed into the spool")) {
    options_.critical_data_types.insert(
        5100);  // task results are never shed, whatever the config says
    if (options_.max_records == 0) options_.max_records = 1;
    for (int32_t dt : options_.critical_data_types) {
        if (dt >= 0 && dt < kCriticalBitmapSize) critical_bitmap_[static_cast<size_t>(dt)] = true;
    }
}

Batcher::~Batcher() = default;

Lane Batcher::laneOf(int32_t data_type) const {
    if (data_type >= 0 && data_type < kCriticalBitmapSize) {
        return critical_bitmap_[static_cast<size_t>(data_type)] ? Lane::kCritical
                                                                : Lane::kTelemetry;
    }
    return options_.critical_data_types.count(data_type) ? Lane::kCritical : Lane::kTelemetry;
}

void Batcher::put(int32_t data_type, int64_t timestamp, std::string_view payload) {
    const Lane lane = laneOf(data_type);
    Open& open = open_[static_cast<int>(lane)];
    std::unique_lock lock(mu_);
    // Seal first when this record would push the batch over max_bytes, so batches stay under
    // the gRPC message limit (a single oversized record still goes alone).
    if (!open.builder.empty() &&
        open.builder.bytes() + payload.size() + kRecordOverhead > options_.max_bytes) {
        sealAndUnlock(lane, lock);
        lock.lock();
    }
    if (open.builder.empty()) open.opened = std::chrono::steady_clock::now();
    open.builder.add(data_type, timestamp, payload);
    records_in_->inc();
    if (open.builder.records() >= options_.max_records ||
        open.builder.bytes() >= options_.max_bytes) {
        sealAndUnlock(lane, lock);
    }
}

void Batcher::sealAndUnlock(Lane lane, std::unique_lock<std::mutex>& lock) {
    Open& open = open_[static_cast<int>(lane)];
    wire::BatchBuilder builder = std::exchange(open.builder, wire::BatchBuilder());
    std::shared_ptr<const std::string> header = header_;
    // Taking seal_mu_ before releasing mu_ keeps batches entering the spool in the order their
    // records were put, while other threads go on filling the next batch during the disk write.
    std::unique_lock seal_lock(seal_mu_);
    lock.unlock();
    auto seq = spool_.append(lane, builder, *header);
    // A failed append is counted and logged by the spool (vigil_agent_spool_dropped_records_total).
    if (seq.ok()) batches_sealed_->inc();
}

void Batcher::setHeader(const wire::BatchHeader& header) {
    auto encoded = std::make_shared<const std::string>(wire::encodeBatchHeader(header));
    std::lock_guard lock(mu_);
    header_ = std::move(encoded);
}

void Batcher::sealWhere(bool only_old) {
    const auto now = std::chrono::steady_clock::now();
    for (Lane lane : {Lane::kCritical, Lane::kTelemetry}) {
        std::unique_lock lock(mu_);
        Open& open = open_[static_cast<int>(lane)];
        if (open.builder.empty()) continue;
        if (only_old && now - open.opened < options_.interval) continue;
        sealAndUnlock(lane, lock);
    }
}

void Batcher::tick() {
    sealWhere(true);
}

void Batcher::flush() {
    sealWhere(false);
}

}  // namespace vigil::agent
