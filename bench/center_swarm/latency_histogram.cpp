// LatencyHistogram: bucket arithmetic and percentiles over snapshots.
#include "bench/center_swarm/latency_histogram.h"

#include <bit>
#include <cmath>

namespace vigil::bench {

size_t LatencyHistogram::bucketOf(uint64_t micros) {
    if (micros < 32) return static_cast<size_t>(micros);
    const int msb = 63 - std::countl_zero(micros);  // >= 5
    const size_t sub = static_cast<size_t>(micros >> (msb - 4)) & 15;
    const size_t idx = 32 + static_cast<size_t>(msb - 5) * 16 + sub;
    return idx < kBuckets ? idx : kBuckets - 1;
}

double LatencyHistogram::bucketMidpointUs(size_t bucket) {
    if (bucket < 32) return static_cast<double>(bucket);
    const size_t octave = (bucket - 32) / 16;  // msb - 5
    const size_t sub = (bucket - 32) % 16;
    const double width = std::ldexp(1.0, static_cast<int>(octave) + 1);  // 2^(msb-4)
    return (16.0 + static_cast<double>(sub)) * width + width / 2;
}

void LatencyHistogram::snapshotInto(Snapshot& out) const {
    for (size_t i = 0; i < kBuckets; ++i) {
        const uint64_t c = counts_[i].load(std::memory_order_relaxed);
        out.counts[i] += c;
        out.total += c;
    }
    out.sum_us += sum_us_.load(std::memory_order_relaxed);
}

void LatencyHistogram::Snapshot::add(const Snapshot& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts[i] += other.counts[i];
    total += other.total;
    sum_us += other.sum_us;
}

LatencyHistogram::Snapshot LatencyHistogram::Snapshot::minus(const Snapshot& earlier) const {
    Snapshot d;
    for (size_t i = 0; i < kBuckets; ++i) {
        d.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0;
        d.total += d.counts[i];
    }
    d.sum_us = sum_us >= earlier.sum_us ? sum_us - earlier.sum_us : 0;
    return d;
}

double LatencyHistogram::Snapshot::percentileMs(double q) const {
    if (total == 0) return 0;
    // The rank of the q-quantile, 1-based: the smallest value with at least q of the samples
    // at or below it.
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
        seen += counts[i];
        if (seen >= rank) return bucketMidpointUs(i) / 1000.0;
    }
    return bucketMidpointUs(kBuckets - 1) / 1000.0;
}

double LatencyHistogram::Snapshot::maxMs() const {
    for (size_t i = kBuckets; i-- > 0;) {
        if (counts[i]) return bucketMidpointUs(i) / 1000.0;
    }
    return 0;
}

double LatencyHistogram::Snapshot::meanMs() const {
    return total ? static_cast<double>(sum_us) / static_cast<double>(total) / 1000.0 : 0;
}

}  // namespace vigil::bench
