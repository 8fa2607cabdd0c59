// Test doubles for the plugin host's tests: a RecordSink that keeps decoded records
// (thread-safe) and one that only counts (for throughput), plus a bounded wait helper.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/transport/record_sink.h"
#include "libs/wire/record.h"

namespace vigil::agent::testing {

struct SinkRecord {
    int32_t data_type = 0;
    int64_t timestamp = 0;
    std::string payload;
    std::map<std::string, std::string> fields;
};

class FakeSink : public RecordSink {
public:
    void put(int32_t data_type, int64_t timestamp, std::string_view payload) override {
        SinkRecord r{data_type, timestamp, std::string(payload), {}};
        wire::decodePayload(payload, r.fields);
        std::lock_guard lock(mu_);
        records_.push_back(std::move(r));
    }
    std::vector<SinkRecord> records() const {
        std::lock_guard lock(mu_);
        return records_;
    }
    std::vector<SinkRecord> ofType(int32_t data_type) const {
        std::vector<SinkRecord> out;
        std::lock_guard lock(mu_);
        for (const auto& r : records_) {
            if (r.data_type == data_type) out.push_back(r);
        }
        return out;
    }
    // Records of `data_type` whose field `key` equals `value`.
    std::vector<SinkRecord> matching(int32_t data_type, const std::string& key,
                                     const std::string& value) const {
        std::vector<SinkRecord> out;
        for (auto& r : ofType(data_type)) {
            auto it = r.fields.find(key);
            if (it != r.fields.end() && it->second == value) out.push_back(r);
        }
        return out;
    }

private:
    mutable std::mutex mu_;
    std::vector<SinkRecord> records_;
};

class CountingSink : public RecordSink {
public:
    void put(int32_t, int64_t, std::string_view payload) override {
        count.fetch_add(1, std::memory_order_relaxed);
        bytes.fetch_add(payload.size(), std::memory_order_relaxed);
    }
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> bytes{0};
};

// Polls `pred` until it holds or `timeout` passes; returns its last value.
inline bool waitUntil(const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

}  // namespace vigil::agent::testing
