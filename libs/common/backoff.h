// Exponential backoff with full jitter, for reconnects and plugin restarts. Not thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace vigil {

class Backoff {
public:
    Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter = 0.2)
        : initial_(initial), max_(max), jitter_(jitter), rng_(std::random_device{}()) {}

    // The delay before the next attempt; grows x2 per failure up to max, +-jitter.
    std::chrono::milliseconds next() {
        int64_t base = initial_.count();
        for (uint32_t i = 0; i < attempts_ && base < max_.count(); ++i) base *= 2;
        base = std::min<int64_t>(base, max_.count());
        ++attempts_;
        if (jitter_ <= 0) return std::chrono::milliseconds(base);
        std::uniform_real_distribution<double> dist(1.0 - jitter_, 1.0 + jitter_);
        return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(base) * dist(rng_)));
    }
    void reset() { attempts_ = 0; }
    uint32_t attempts() const { return attempts_; }

private:
    std::chrono::milliseconds initial_;
    std::chrono::milliseconds max_;
    double jitter_;
    uint32_t attempts_ = 0;
    std::mt19937_64 rng_;
};

}  // namespace vigil
