// Batcher tests: sealing by count, size and age; lanes; header; order under concurrent put();
// put() throughput.
#include "agent/transport/batcher.h"

#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "libs/common/fs.h"

namespace vigil::agent {
namespace {


using namespace std::chrono_literals;

// Keeps sealed batches in memory (or only counts them), to test the Batcher alone.
class MemorySpool : public Spool {
public:
    explicit MemorySpool(bool keep = true) : keep_(keep) {}
    Result<uint64_t> append(Lane lane, wire::BatchBuilder& builder,
                            std::string_view header) override {
        std::lock_guard lock(mu_);
        uint64_t seq = ++seq_;
        records_ += builder.records();
        wire::Buffer buf;
        builder.seal(header, seq, buf);
        if (keep_) {
            SpooledBatch b;
            b.seq = seq;
            b.lane = lane;
            b.records = 0;
            b.bytes = std::make_shared<const std::string>(buf.toString());
            batches_.push_back(b);
        }
        return seq;
    }
    bool next(uint64_t, SpooledBatch&, std::chrono::milliseconds) override { return false; }
    void ack(uint64_t) override {}
    SpoolStats stats() const override { return {}; }
    void close() override {}

    std::vector<SpooledBatch> batches() {
        std::lock_guard lock(mu_);
        return batches_;
    }
    uint64_t records() {
        std::lock_guard lock(mu_);
        return records_;
    }

private:
    bool keep_;
    std::mutex mu_;
    uint64_t seq_ = 0;
    uint64_t records_ = 0;
    std::vector<SpooledBatch> batches_;
};

wire::BatchView parse(const SpooledBatch& b) {
    wire::BatchView v;
    EXPECT_TRUE(wire::parseBatch(*b.bytes, v));
    return v;
}

TEST(BatcherTest, SealsOnMaxRecordsAndFlush) {
    MemorySpool spool;
    metrics::Registry m;
    Batcher batcher({.max_records = 10, .interval = 1h}, spool, m);
    for (int i = 0; i < 25; ++i) batcher.put(59, i, "p" + std::to_string(i));
    auto sealed = spool.batches();
    ASSERT_EQ(sealed.size(), 2u);
    batcher.flush();
    sealed = spool.batches();
    ASSERT_EQ(sealed.size(), 3u);
    int next = 0;
    for (const auto& b : sealed) {
        auto v = parse(b);
        EXPECT_EQ(v.batch_seq, b.seq);
        for (const auto& r : v.records) {
            EXPECT_EQ(r.data, "p" + std::to_string(next));
            EXPECT_EQ(r.timestamp, next);
            EXPECT_EQ(r.data_type, 59);
            ++next;
        }
    }
    EXPECT_EQ(next, 25);
    EXPECT_EQ(batcher.recordsIn(), 25u);
    batcher.flush();  // nothing open: no empty batch
    EXPECT_EQ(spool.batches().size(), 3u);
}

TEST(BatcherTest, BatchesStayUnderMaxBytes) {
    MemorySpool spool;
    metrics::Registry m;
    Batcher batcher({.max_records = 100000, .max_bytes = 1000, .interval = 1h}, spool, m);
    std::string payload(100, 'x');
    for (int i = 0; i < 100; ++i) batcher.put(59, 1, payload);
    batcher.flush();
    uint64_t total = 0;
    for (const auto& b : spool.batches()) {
        EXPECT_LE(b.bytes->size(), 1000u);
        total += parse(b).records.size();
    }
    EXPECT_EQ(total, 100u);
    EXPECT_GE(spool.batches().size(), 10u);
    // A record larger than max_bytes still goes, alone.
    batcher.put(59, 1, std::string(5000, 'y'));
    batcher.flush();
    EXPECT_EQ(parse(spool.batches().back()).records.size(), 1u);
}

TEST(BatcherTest, TickSealsOnlyBatchesOlderThanTheInterval) {
    MemorySpool spool;
    metrics::Registry m;
    Batcher batcher({.max_records = 1000, .interval = 100ms}, spool, m);
    const auto put_at = std::chrono::steady_clock::now();
    batcher.put(59, 1, "a");
    batcher.put(59, 2, "b");
    batcher.tick();
    if (std::chrono::steady_clock::now() - put_at < 100ms) {
        EXPECT_TRUE(spool.batches().empty());
    }
    // Tick as a timer would until the batch is sealed (bounded).
    const auto deadline = put_at + 5s;
    while (spool.batches().empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
        batcher.tick();
    }
    ASSERT_EQ(spool.batches().size(), 1u);
    EXPECT_GE(std::chrono::steady_clock::now() - put_at, 100ms);
    EXPECT_EQ(parse(spool.batches()[0]).records.size(), 2u);
}

TEST(BatcherTest, CriticalDataTypesGoToTheCriticalLane) {
    MemorySpool spool;
    metrics::Registry m;
    BatcherOptions o{.max_records = 1000, .interval = 1h, .critical_data_types = {6001, 100000}};
    Batcher batcher(o, spool, m);
    batcher.put(59, 1, "telemetry");
    batcher.put(5100, 1, "task result");  // always critical, even when not configured
    batcher.put(6001, 1, "alert");
    batcher.put(100000, 1, "big type");
    batcher.put(-5, 1, "negative");
    batcher.flush();
    auto sealed = spool.batches();
    ASSERT_EQ(sealed.size(), 2u);
    std::map<Lane, std::vector<int32_t>> types;
    for (const auto& b : sealed) {
        for (const auto& r : parse(b).records) types[b.lane].push_back(r.data_type);
    }
    EXPECT_EQ(types[Lane::kCritical], (std::vector<int32_t>{5100, 6001, 100000}));
    EXPECT_EQ(types[Lane::kTelemetry], (std::vector<int32_t>{59, -5}));
}

TEST(BatcherTest, HeaderIsStampedOnSealedBatches) {
    MemorySpool spool;
    metrics::Registry m;
    Batcher batcher({.max_records = 2, .interval = 1h}, spool, m);
    batcher.put(59, 1, "x");
    batcher.put(59, 1, "y");  // sealed without a header
    wire::BatchHeader h;
    h.agent_id = "agent-7";
    h.hostname = "web-1";
    h.intranet_ipv4 = {"10.1.2.3"};
    h.version = "0.1.0";
    h.product = "vigil-agent";
    batcher.setHeader(h);
    batcher.put(59, 1, "z");
    batcher.flush();
    auto sealed = spool.batches();
    ASSERT_EQ(sealed.size(), 2u);
    EXPECT_EQ(parse(sealed[0]).header.agent_id, "");
    auto v = parse(sealed[1]);
    EXPECT_EQ(v.header.agent_id, "agent-7");
    EXPECT_EQ(v.header.hostname, "web-1");
    EXPECT_EQ(v.header.intranet_ipv4, std::vector<std::string>{"10.1.2.3"});
    EXPECT_EQ(v.header.product, "vigil-agent");
}

TEST(BatcherTest, ConcurrentPutsKeepEachProducersOrder) {
    MemorySpool spool;
    metrics::Registry m;
    Batcher batcher({.max_records = 257, .interval = 1h}, spool, m);
    constexpr int kThreads = 4;
    constexpr int kPerThread = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i)
                batcher.put(t == 3 ? 5100 : 59, i, std::to_string(t) + ":" + std::to_string(i));
        });
    }
    std::thread ticker([&] {
        for (int i = 0; i < 50; ++i) {
            batcher.tick();
            std::this_thread::sleep_for(1ms);
        }
    });
    for (auto& th : threads) th.join();
    ticker.join();
    batcher.flush();
    auto sealed = spool.batches();
    std::vector<int> next(kThreads, 0);
    for (const auto& b : sealed) {  // in seq order
        for (const auto& r : parse(b).records) {
            std::string s(r.data);
            int t = std::stoi(s.substr(0, s.find(':')));
            int i = std::stoi(s.substr(s.find(':') + 1));
            ASSERT_EQ(i, next[t]) << "producer " << t << " out of order";
            ++next[t];
        }
    }
    for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kPerThread);
}

// Speed is measured by bench/run agent_pipe; these check that volume goes through intact.
TEST(BatcherTest, ManyRecordsAllReachTheSpool) {
    MemorySpool spool(/*keep=*/false);
    metrics::Registry m;
    Batcher batcher({}, spool, m);
    const std::string payload(200, 'r');
    constexpr int kRecords = 1000000;
    for (int i = 0; i < kRecords; ++i) batcher.put(59, 1700000000, payload);
    batcher.flush();
    EXPECT_EQ(spool.records(), static_cast<uint64_t>(kRecords));
}

TEST(BatcherTest, ManyRecordsThroughTheDiskSpoolAllArrive) {
    char tmpl[] = "/tmp/vigil-batcher-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    metrics::Registry m;
    auto spool =
        Spool::open({.dir = dir, .max_bytes = 2ull << 30, .segment_bytes = 64ull << 20}, m);
    ASSERT_TRUE(spool.ok());
    // A consumer that acks what it sees, like a connected transport.
    std::atomic<bool> done{false};
    std::thread consumer([&] {
        SpooledBatch b;
        uint64_t after = 0;
        while (!done.load() || (*spool)->next(after, b, 0ms)) {
            if ((*spool)->next(after, b, 20ms)) {
                after = b.seq;
                (*spool)->ack(b.seq);
            }
        }
    });
    Batcher batcher({}, **spool, m);
    const std::string payload(200, 'r');
    constexpr int kRecords = 500000;
    for (int i = 0; i < kRecords; ++i) batcher.put(59, 1700000000, payload);
    batcher.flush();
    done = true;
    consumer.join();
    EXPECT_EQ(m.counterValue("vigil_agent_spool_appended_records_total"),
              static_cast<uint64_t>(kRecords));
    spool->reset();
    (void)fs::removeAll(dir);
}

}  // namespace
}  // namespace vigil::agent
