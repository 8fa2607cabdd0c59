// Client record path: wire compatibility with libprotobuf, concurrent senders, flush timing,
// back-pressure, shutdown, and the ways a client stops.
#include "vigil/sdk/client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "proto/plugin.pb.h"
#include "sdk/test/test_pipes.h"

namespace vigil::sdk {
namespace {

using namespace std::chrono_literals;
using test::FrameCollector;
using test::Pipe;

// A client on fresh pipes with a collector on the record pipe. The test keeps the task pipe's
// write end (closing it is how the agent says goodbye).
struct Fixture {
    explicit Fixture(ClientOptions options = {}) {
        options.task_fd = tasks.releaseRead();
        options.record_fd = records.releaseWrite();
        options.stderr_fd = -1;
        client = std::make_unique<Client>(options);
        collector = std::make_unique<FrameCollector>(records.releaseRead());
    }
    Pipe tasks;
    Pipe records;
    std::unique_ptr<Client> client;
    std::unique_ptr<FrameCollector> collector;
};

bool readable(int fd, int timeout_ms) {
    pollfd pfd{fd, POLLIN, 0};
    return ::poll(&pfd, 1, timeout_ms) == 1;
}

TEST(Client, RecordsParseWithLibprotobufAndParseRecord) {
    Fixture f;
    f.client->record(59, 1700000000)
        .field("exe", "/usr/bin/bash")
        .field("argv", "bash -c 'echo hi'")
        .field("pid", 4242)
        .field("ppid", int64_t{-1})
        .field("empty", "")
        .send();
    EXPECT_TRUE(f.client->sendRecord(42, 1700000001, {{"dip", "10.0.0.1"}, {"dport", "443"}}));
    ASSERT_TRUE(f.client->flush());
    ASSERT_TRUE(f.collector->waitForFrames(2, 5s));
    const auto frames = f.collector->frames();

    plugin::Record rec;
    ASSERT_TRUE(rec.ParseFromString(frames[0]));
    EXPECT_EQ(rec.data_type(), 59);
    EXPECT_EQ(rec.timestamp(), 1700000000);
    EXPECT_EQ(rec.data().fields().at("exe"), "/usr/bin/bash");
    EXPECT_EQ(rec.data().fields().at("argv"), "bash -c 'echo hi'");
    EXPECT_EQ(rec.data().fields().at("pid"), "4242");
    EXPECT_EQ(rec.data().fields().at("ppid"), "-1");
    EXPECT_EQ(rec.data().fields().at("empty"), "");
    EXPECT_EQ(rec.data().fields().size(), 5u);

    ASSERT_TRUE(rec.ParseFromString(frames[1]));
    EXPECT_EQ(rec.data_type(), 42);
    EXPECT_EQ(rec.data().fields().at("dport"), "443");

    size_t bad = 0;
    const auto decoded = f.collector->records(&bad);
    EXPECT_EQ(bad, 0u);
    ASSERT_EQ(decoded.size(), 2u);
    EXPECT_EQ(decoded[0].fields.at("pid"), "4242");
    EXPECT_EQ(decoded[1].timestamp, 1700000001);
    EXPECT_EQ(f.client->stats().records, 2u);
}

TEST(Client, DefaultTimestampIsNowInSeconds) {
    Fixture f;
    const int64_t before = Client::now();
    f.client->record(7).field("k", "v").send();
    ASSERT_TRUE(f.client->flush());
    ASSERT_TRUE(f.collector->waitForFrames(1, 5s));
    const auto recs = f.collector->records();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_GE(recs[0].timestamp, before);
    EXPECT_LE(recs[0].timestamp, Client::now());
}

TEST(Client, CancelledRecordIsNotSent) {
    Fixture f;
    auto w = f.client->record(1);
    w.field("a", "1");
    w.cancel();
    EXPECT_FALSE(w.send());  // already finished
    f.client->record(2).field("b", "2").send();
    ASSERT_TRUE(f.client->flush());
    ASSERT_TRUE(f.collector->waitForFrames(1, 5s));
    const auto recs = f.collector->records();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].data_type, 2);
}

TEST(Client, ConcurrentSendersProduceIntactFrames) {
    ClientOptions opt;
    opt.buffer_bytes = 16 * 1024;  // many swaps and back-pressure waits
    Fixture f(opt);
    constexpr int kThreads = 8;
    constexpr int kPerThread = 5000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            const std::string pad(static_cast<size_t>(t * 13), 'x');
            for (int i = 0; i < kPerThread; ++i) {
                f.client->record(100 + t, i)
                    .field("thread", t)
                    .field("seq", i)
                    .field("pad", pad)
                    .send();
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_TRUE(f.client->flush());
    ASSERT_TRUE(f.collector->waitForFrames(kThreads * kPerThread, 20s));
    size_t bad = 0;
    const auto recs = f.collector->records(&bad);
    EXPECT_EQ(bad, 0u);
    ASSERT_EQ(recs.size(), static_cast<size_t>(kThreads * kPerThread));
    // Each thread's records arrive complete and in its own order.
    std::vector<int> next(kThreads, 0);
    for (const auto& r : recs) {
        const int t = std::stoi(r.fields.at("thread"));
        ASSERT_EQ(r.data_type, 100 + t);
        ASSERT_EQ(std::stoi(r.fields.at("seq")), next[t]);
        ASSERT_EQ(r.timestamp, next[t]);
        ASSERT_EQ(r.fields.at("pad").size(), static_cast<size_t>(t * 13));
        ++next[t];
    }
    EXPECT_EQ(f.client->stats().records_dropped, 0u);
}

TEST(Client, PeriodicFlushWithoutFurtherWrites) {
    ClientOptions opt;
    opt.flush_interval = 200ms;
    Fixture f(opt);
    const auto sent = std::chrono::steady_clock::now();
    f.client->record(1).field("k", "v").send();
    // No flush(), no more records: the timer alone must write it out.
    ASSERT_TRUE(f.collector->waitForFrames(1, 3s));
    const auto waited = std::chrono::steady_clock::now() - sent;
    EXPECT_GE(waited, 150ms) << "flushed before the interval: not buffered";
    EXPECT_LT(waited, 2s);
    ASSERT_TRUE(f.client->flush());  // already settled: returns at once, stats are final
    EXPECT_EQ(f.client->stats().flushes, 1u);
}

TEST(Client, FullBufferFlushesBeforeInterval) {
    ClientOptions opt;
    opt.flush_interval = std::chrono::minutes(10);
    opt.buffer_bytes = 4096;
    Fixture f(opt);
    const std::string value(100, 'v');
    int sent = 0;
    while (f.client->stats().bytes_written == 0 && f.client->stats().buffered_bytes < 4096) {
        f.client->record(1).field("v", value).send();
        ++sent;
    }
    // The buffer reached its size: it is written without waiting for the 10 min timer.
    EXPECT_TRUE(f.collector->waitForFrames(static_cast<size_t>(sent), 5s));
    EXPECT_GE(f.collector->bytes(), 4096u);
}

TEST(Client, BlockedPipeBackPressuresSenders) {
    ClientOptions opt;
    opt.buffer_bytes = 4096;
    Pipe tasks, records;
    ASSERT_GE(::fcntl(records.write_fd, F_SETPIPE_SZ, 4096), 4096);
    opt.task_fd = tasks.releaseRead();
    opt.record_fd = records.releaseWrite();
    opt.stderr_fd = -1;
    Client client(opt);

    // ~200 KB of records: far more than the pipe (4 KiB) plus both buffers can hold.
    constexpr int kRecords = 2000;
    std::atomic<int> sent{0};
    std::thread sender([&] {
        const std::string value(90, 'p');
        for (int i = 0; i < kRecords; ++i) {
            client.record(1).field("seq", i).field("v", value).send();
            sent.fetch_add(1);
        }
    });
    // Nobody reads: the sender must end up waiting for buffer space.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (client.stats().backpressure_waits == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    EXPECT_GT(client.stats().backpressure_waits, 0u);
    EXPECT_LT(sent.load(), kRecords);
    EXPECT_LE(client.stats().buffered_bytes, 4096u + 200u);  // bounded memory

    // The agent starts reading: everything arrives, nothing is lost.
    FrameCollector collector(records.releaseRead());
    sender.join();
    ASSERT_TRUE(client.flush());
    ASSERT_TRUE(collector.waitForFrames(kRecords, 10s));
    size_t bad = 0;
    const auto recs = collector.records(&bad);
    EXPECT_EQ(bad, 0u);
    ASSERT_EQ(recs.size(), static_cast<size_t>(kRecords));
    for (int i = 0; i < kRecords; ++i) ASSERT_EQ(recs[i].fields.at("seq"), std::to_string(i));
    EXPECT_EQ(client.stats().records_dropped, 0u);
}

TEST(Client, OversizedRecordIsDroppedAndCounted) {
    ClientOptions opt;
    opt.max_record_bytes = 1000;
    Fixture f(opt);
    EXPECT_FALSE(f.client->record(1).field("big", std::string(2000, 'b')).send());
    EXPECT_TRUE(f.client->record(2).field("small", "s").send());
    ASSERT_TRUE(f.client->flush());
    ASSERT_TRUE(f.collector->waitForFrames(1, 5s));
    const auto recs = f.collector->records();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].data_type, 2);
    EXPECT_EQ(f.client->stats().records_dropped, 1u);
}

TEST(Client, ShutdownFlushesAndClosesRecordFd) {
    ClientOptions opt;
    opt.flush_interval = std::chrono::minutes(10);
    Fixture f(opt);
    for (int i = 0; i < 100; ++i) f.client->record(1).field("seq", i).send();
    EXPECT_EQ(f.collector->frames().size(), 0u);  // still buffered (timer is 10 min)
    f.client->shutdown();
    EXPECT_FALSE(f.client->running());
    EXPECT_EQ(f.client->stopReason(), "shutdown");
    ASSERT_TRUE(f.collector->waitForEof(5s));  // fd 4 closed
    EXPECT_EQ(f.collector->frames().size(), 100u);
    // After shutdown records are dropped, not written to a closed descriptor.
    EXPECT_FALSE(f.client->record(1).field("late", "x").send());
    EXPECT_EQ(f.client->stats().records_dropped, 1u);
    f.client->shutdown();  // idempotent
}

TEST(Client, ShutdownGivesUpOnPipeNobodyReads) {
    ClientOptions opt;
    opt.shutdown_timeout = 300ms;
    Pipe tasks, records;
    ASSERT_GE(::fcntl(records.write_fd, F_SETPIPE_SZ, 4096), 4096);
    opt.task_fd = tasks.releaseRead();
    opt.record_fd = records.releaseWrite();
    opt.stderr_fd = -1;
    Client client(opt);
    for (int i = 0; i < 1000; ++i) client.record(1).field("v", std::string(100, 'x')).send();
    const auto start = std::chrono::steady_clock::now();
    client.shutdown();
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, 3s);
    EXPECT_GT(client.stats().records_dropped, 0u);
}

TEST(Client, ClosedRecordPipeStopsClient) {
    Pipe tasks, records;
    Client client(tasks.releaseRead(), records.releaseWrite());
    records.closeRead();  // the agent went away
    ASSERT_TRUE(client.running());
    client.record(1).field("k", "v").send();
    client.flush(5s);  // the write fails with EPIPE (no SIGPIPE kills this test)
    EXPECT_TRUE(client.waitForShutdown(5s));
    EXPECT_FALSE(client.running());
    EXPECT_EQ(client.stopReason(), "agent closed the record pipe");
    EXPECT_FALSE(client.record(1).field("k", "v").send());
    EXPECT_GE(client.stats().records_dropped, 2u);
}

TEST(Client, EofOnTaskPipeStopsClientWithoutReceiveTask) {
    Fixture f;
    EXPECT_FALSE(f.client->waitForShutdown(50ms));
    f.tasks.closeWrite();
    EXPECT_TRUE(f.client->waitForShutdown(5s));
    EXPECT_EQ(f.client->stopReason(), "agent closed the task pipe");
    // Stopped is not closed: the plugin can still send its last records, shutdown() flushes.
    EXPECT_TRUE(f.client->record(1).field("last", "words").send());
    f.client->shutdown();
    ASSERT_TRUE(f.collector->waitForEof(5s));
    EXPECT_EQ(f.collector->frames().size(), 1u);
}

TEST(Client, RequestStopWakesWaiters) {
    Fixture f;
    std::thread t([&] { f.client->requestStop("plugin decided"); });
    EXPECT_TRUE(f.client->waitForShutdown(5s));
    t.join();
    EXPECT_EQ(f.client->stopReason(), "plugin decided");
}

TEST(Client, UnusableRecordFdStopsClient) {
    ClientOptions opt;
    opt.task_fd = -1;
    opt.record_fd = -1;
    opt.stderr_fd = -1;
    Client client(opt);
    EXPECT_FALSE(client.running());
    EXPECT_NE(client.stopReason().find("not usable"), std::string::npos);
    EXPECT_FALSE(client.record(1).field("k", "v").send());
}

TEST(Client, LogSendsRecordAndStderrLine) {
    Pipe err;
    ClientOptions opt;
    opt.log_source = "unit";
    Fixture f(opt);  // silences stderr; a second client below checks the stderr lines
    f.client->logError("disk on fire");
    f.client->log(LogLevel::kWarn, "disk warm");
    ASSERT_TRUE(f.client->flush());
    ASSERT_TRUE(f.collector->waitForFrames(2, 5s));
    const auto recs = f.collector->records();
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[0].data_type, kDataTypeLog);
    EXPECT_EQ(recs[0].fields.at("level"), "error");
    EXPECT_EQ(recs[0].fields.at("msg"), "disk on fire");
    EXPECT_EQ(recs[0].fields.at("source"), "unit");
    EXPECT_EQ(recs[0].fields.at("timestamp"), std::to_string(recs[0].timestamp));
    EXPECT_EQ(recs[1].fields.at("level"), "warn");

    Pipe tasks, records;
    ClientOptions o2;
    o2.task_fd = tasks.releaseRead();
    o2.record_fd = records.releaseWrite();
    o2.stderr_fd = err.write_fd;
    o2.log_source = "unit";
    Client c2(o2);
    c2.log(LogLevel::kDebug, "only on stderr");
    c2.logError("on both");
    ASSERT_TRUE(readable(err.read_fd, 5000));
    char buf[512];
    const ssize_t n = ::read(err.read_fd, buf, sizeof(buf));
    ASSERT_GT(n, 0);
    const std::string text(buf, static_cast<size_t>(n));
    EXPECT_NE(text.find("debug unit: only on stderr\n"), std::string::npos) << text;
    EXPECT_NE(text.find("error unit: on both\n"), std::string::npos) << text;
    c2.shutdown();
    FrameCollector col(records.releaseRead());
    ASSERT_TRUE(col.waitForEof(5s));
    const auto recs2 = col.records();
    ASSERT_EQ(recs2.size(), 1u);  // debug is below min_record_level (info)
    EXPECT_EQ(recs2[0].fields.at("msg"), "on both");
}

TEST(Client, LogWithoutSourceOmitsTheField) {
    Fixture f;
    f.client->log(LogLevel::kInfo, "hello");
    ASSERT_TRUE(f.client->flush());
    ASSERT_TRUE(f.collector->waitForFrames(1, 5s));
    const auto recs = f.collector->records();
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].fields.count("source"), 0u);
    EXPECT_EQ(recs[0].fields.at("level"), "info");
}

TEST(Client, TaskResultRecords) {
    Fixture f;
    EXPECT_TRUE(f.client->sendTaskResult("tok-1", true, "done"));
    EXPECT_TRUE(f.client->sendTaskResult("tok-2", false, "no such thing"));
    ASSERT_TRUE(f.client->flush());
    ASSERT_TRUE(f.collector->waitForFrames(2, 5s));
    const auto recs = f.collector->records();
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[0].data_type, kDataTypeTaskResult);
    EXPECT_EQ(recs[0].fields, (std::map<std::string, std::string>{
                                  {"token", "tok-1"}, {"status", "succeed"}, {"msg", "done"}}));
    EXPECT_EQ(recs[1].fields.at("status"), "failed");
    EXPECT_EQ(recs[1].fields.at("token"), "tok-2");
}

TEST(Client, FlushWritesEverythingCommitted) {
    ClientOptions opt;
    opt.flush_interval = std::chrono::minutes(10);
    Fixture f(opt);
    for (int round = 1; round <= 3; ++round) {
        for (int i = 0; i < 10; ++i) f.client->record(round).field("i", i).send();
        ASSERT_TRUE(f.client->flush());
        ASSERT_TRUE(f.collector->waitForFrames(static_cast<size_t>(round * 10), 5s));
    }
    EXPECT_EQ(f.client->stats().flushes, 3u);
    EXPECT_TRUE(f.client->flush());  // nothing pending: returns at once
}

}  // namespace
}  // namespace vigil::sdk
