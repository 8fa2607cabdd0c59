// Log-linear latency histogram (16 buckets per power of two, ~6 % resolution, microseconds)
// that one thread records into while any thread takes snapshots; snapshots subtract, so a
// window's distribution is the difference of two snapshots.
// Thread-safety: record() from one thread only; snapshotInto() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vigil::bench {

class LatencyHistogram {
public:
    static constexpr size_t kBuckets = 32 + 36 * 16;

    struct Snapshot {
        std::array<uint64_t, kBuckets> counts{};
        uint64_t total = 0;
        uint64_t sum_us = 0;

        void add(const Snapshot& other);
        Snapshot minus(const Snapshot& earlier) const;
        // q in [0, 1]; 0 when empty. Values are bucket midpoints.
        double percentileMs(double q) const;
        double maxMs() const;
        double meanMs() const;
    };

    void record(uint64_t micros) {
        auto& c = counts_[bucketOf(micros)];
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        sum_us_.store(sum_us_.load(std::memory_order_relaxed) + micros, std::memory_order_relaxed);
    }
    // Adds this histogram's counts to `out`.
    void snapshotInto(Snapshot& out) const;

    static size_t bucketOf(uint64_t micros);
    static double bucketMidpointUs(size_t bucket);

private:
    std::array<std::atomic<uint64_t>, kBuckets> counts_{};
    std::atomic<uint64_t> sum_us_{0};
};

}  // namespace vigil::bench
