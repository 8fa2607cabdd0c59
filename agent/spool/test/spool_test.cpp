// Spool unit tests: append/next/ack, lanes, restart recovery, torn tails, shedding, write errors.
#include "agent/spool/spool.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "agent/spool/spool_format.h"
#include "libs/common/fs.h"
#include "libs/wire/batch.h"

namespace vigil::agent {
namespace {

using namespace std::chrono_literals;
namespace sfs = std::filesystem;

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/vigil-spool-XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~TempDir() { (void)fs::removeAll(path_); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

std::string recordPayload(uint64_t batch, uint32_t i, size_t size = 64) {
    std::string s = "b" + std::to_string(batch) + "r" + std::to_string(i) + ":";
    s.resize(size, 'x');
    return s;
}

// Appends a batch of `n` records whose payloads identify (tag, index).
uint64_t appendBatch(Spool& spool, Lane lane, uint32_t n, uint64_t tag = 0,
                     size_t payload_bytes = 64) {
    wire::BatchBuilder b;
    for (uint32_t i = 0; i < n; ++i)
        b.add(lane == Lane::kCritical ? 5100 : 59, 1700000000 + i,
              recordPayload(tag, i, payload_bytes));
    wire::BatchHeader h;
    h.agent_id = "agent-1";
    auto seq = spool.append(lane, b, wire::encodeBatchHeader(h));
    EXPECT_TRUE(seq.ok()) << (seq.ok() ? "" : seq.message());
    EXPECT_TRUE(b.empty());
    return seq.ok() ? *seq : 0;
}

std::unique_ptr<Spool> openSpool(const SpoolOptions& o, metrics::Registry& m) {
    auto s = Spool::open(o, m);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.message());
    return s.ok() ? std::move(*s) : nullptr;
}

std::vector<std::string> segmentFiles(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : sfs::directory_iterator(dir)) {
        if (e.path().extension() == ".seg") out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Runs `fn` with every write beyond `limit` bytes of a file failing with EFBIG (RLIMIT_FSIZE,
// SIGXFSZ ignored), as on a full disk; the limit and the signal's action are restored after.
template <typename F>
void withFileSizeLimit(rlim_t limit, F fn) {
    struct sigaction ignore {
    }, old{};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGXFSZ, &ignore, &old);
    struct rlimit saved {};
    bool limited = ::getrlimit(RLIMIT_FSIZE, &saved) == 0;
    if (limited) {
        struct rlimit small = saved;
        small.rlim_cur = limit;
        limited = ::setrlimit(RLIMIT_FSIZE, &small) == 0;
    }
    const int error = errno;
    if (limited) {
        fn();
        ::setrlimit(RLIMIT_FSIZE, &saved);
    }
    ::sigaction(SIGXFSZ, &old, nullptr);
    ASSERT_TRUE(limited) << "cannot set RLIMIT_FSIZE: " << std::strerror(error);
}

// Checks a spooled batch is a well-formed PackagedData carrying its seq and `records` records.
void expectIntact(const SpooledBatch& b, uint32_t records) {
    ASSERT_TRUE(b.bytes);
    wire::BatchView v;
    ASSERT_TRUE(wire::parseBatch(*b.bytes, v));
    EXPECT_EQ(v.batch_seq, b.seq);
    EXPECT_EQ(v.records.size(), records);
    EXPECT_EQ(b.records, records);
    EXPECT_EQ(v.header.agent_id, "agent-1");
}

TEST(SpoolTest, AppendNextAckInOrder) {
    TempDir dir;
    metrics::Registry m;
    auto spool = openSpool({.dir = dir.path()}, m);
    ASSERT_TRUE(spool);
    EXPECT_EQ(appendBatch(*spool, Lane::kTelemetry, 3), 1u);
    EXPECT_EQ(appendBatch(*spool, Lane::kTelemetry, 4), 2u);
    EXPECT_EQ(appendBatch(*spool, Lane::kTelemetry, 5), 3u);

    SpooledBatch b;
    uint64_t after = 0;
    for (uint32_t want = 3; want <= 5; ++want) {
        ASSERT_TRUE(spool->next(after, b, 1s));
        EXPECT_EQ(b.seq, after + 1);
        expectIntact(b, want);
        after = b.seq;
    }
    EXPECT_FALSE(spool->next(after, b, 20ms));
    EXPECT_EQ(spool->stats().pending_batches, 3u);

    spool->ack(2);
    auto st = spool->stats();
    EXPECT_EQ(st.acked_seq, 2u);
    EXPECT_EQ(st.pending_batches, 1u);
    ASSERT_TRUE(spool->next(0, b, 1s));
    EXPECT_EQ(b.seq, 3u);
    spool->ack(3);
    EXPECT_EQ(spool->stats().pending_batches, 0u);
    EXPECT_EQ(spool->stats().disk_bytes, 0u);
    EXPECT_TRUE(segmentFiles(dir.path()).empty());
}

TEST(SpoolTest, OneProcessPerDirectory) {
    TempDir dir;
    metrics::Registry m;
    auto first = openSpool({.dir = dir.path()}, m);
    ASSERT_TRUE(first);
    auto second = Spool::open({.dir = dir.path()}, m);
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.message().find("in use"), std::string::npos) << second.message();
    first.reset();
    EXPECT_TRUE(Spool::open({.dir = dir.path()}, m).ok());
}

TEST(SpoolTest, LanesMergeInSeqOrder) {
    TempDir dir;
    metrics::Registry m;
    auto spool = openSpool({.dir = dir.path()}, m);
    for (int i = 0; i < 10; ++i)
        appendBatch(*spool, i % 3 == 0 ? Lane::kCritical : Lane::kTelemetry, 1 + i);
    SpooledBatch b;
    uint64_t after = 0;
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(spool->next(after, b, 1s));
        EXPECT_EQ(b.seq, after + 1);
        EXPECT_EQ(b.lane, i % 3 == 0 ? Lane::kCritical : Lane::kTelemetry);
        expectIntact(b, 1 + i);
        after = b.seq;
    }
}

TEST(SpoolTest, NextWaitsForAppendAndCloseWakesIt) {
    TempDir dir;
    metrics::Registry m;
    auto spool = openSpool({.dir = dir.path()}, m);
    std::thread writer([&] {
        std::this_thread::sleep_for(50ms);
        appendBatch(*spool, Lane::kTelemetry, 2);
    });
    SpooledBatch b;
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(spool->next(0, b, 5s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
    EXPECT_EQ(b.seq, 1u);
    writer.join();

    std::thread closer([&] {
        std::this_thread::sleep_for(50ms);
        spool->close();
    });
    t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(spool->next(1, b, 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
    closer.join();
}

class SpoolRestartTest : public ::testing::TestWithParam<bool> {};

TEST_P(SpoolRestartTest, RestartResendsUnackedAndContinuesSeq) {
    TempDir dir;
    SpoolOptions o{.dir = dir.path(), .segment_bytes = 4096, .fsync = GetParam()};
    {
        metrics::Registry m;
        auto spool = openSpool(o, m);
        for (uint32_t i = 1; i <= 6; ++i)
            appendBatch(*spool, i == 4 ? Lane::kCritical : Lane::kTelemetry, i, i, 500);
        spool->ack(2);
    }
    metrics::Registry m;
    auto spool = openSpool(o, m);
    auto st = spool->stats();
    EXPECT_EQ(st.acked_seq, 2u);
    EXPECT_EQ(st.pending_batches, 4u);
    EXPECT_EQ(st.last_seq, 6u);
    SpooledBatch b;
    uint64_t after = st.acked_seq;
    for (uint32_t i = 3; i <= 6; ++i) {
        ASSERT_TRUE(spool->next(after, b, 1s));
        EXPECT_EQ(b.seq, i);
        expectIntact(b, i);
        after = b.seq;
    }
    EXPECT_GT(m.counterValue("vigil_agent_spool_disk_reads_total"), 0u);
    EXPECT_EQ(appendBatch(*spool, Lane::kTelemetry, 1), 7u);
    EXPECT_EQ(spool->stats().write_errors, 0u);
}

INSTANTIATE_TEST_SUITE_P(Fsync, SpoolRestartTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "fsync" : "page_cache"; });

TEST(SpoolTest, SendingRecentBatchesDoesNotReadDisk) {
    TempDir dir;
    metrics::Registry m;
    auto spool = openSpool({.dir = dir.path()}, m);
    SpooledBatch b;
    for (uint64_t i = 1; i <= 20; ++i) {
        appendBatch(*spool, Lane::kTelemetry, 10);
        ASSERT_TRUE(spool->next(i - 1, b, 1s));
        expectIntact(b, 10);
    }
    EXPECT_EQ(m.counterValue("vigil_agent_spool_disk_reads_total"), 0u);
}

TEST(SpoolTest, AckPersistsAcrossReopen) {
    TempDir dir;
    SpoolOptions o{.dir = dir.path()};
    {
        metrics::Registry m;
        auto spool = openSpool(o, m);
        for (int i = 0; i < 3; ++i) appendBatch(*spool, Lane::kTelemetry, 2);
        spool->ack(3);
        EXPECT_TRUE(segmentFiles(dir.path()).empty());
    }
    metrics::Registry m;
    auto spool = openSpool(o, m);
    EXPECT_EQ(spool->stats().acked_seq, 3u);
    EXPECT_EQ(spool->stats().pending_batches, 0u);
    SpooledBatch b;
    EXPECT_FALSE(spool->next(0, b, 20ms));
    EXPECT_EQ(appendBatch(*spool, Lane::kTelemetry, 1), 4u);
}

TEST(SpoolTest, PartialAckOfSegmentPersists) {
    TempDir dir;
    SpoolOptions o{.dir = dir.path()};
    {
        metrics::Registry m;
        auto spool = openSpool(o, m);
        for (int i = 0; i < 5; ++i) appendBatch(*spool, Lane::kTelemetry, 2);
        spool->ack(3);
        spool->ack(1);  // older acks never move the mark back
    }
    metrics::Registry m;
    auto spool = openSpool(o, m);
    EXPECT_EQ(spool->stats().acked_seq, 3u);
    SpooledBatch b;
    ASSERT_TRUE(spool->next(0, b, 1s));
    EXPECT_EQ(b.seq, 4u);
}

TEST(SpoolTest, BogusAckBeyondLastSeqIsClamped) {
    TempDir dir;
    metrics::Registry m;
    auto spool = openSpool({.dir = dir.path()}, m);
    appendBatch(*spool, Lane::kTelemetry, 1);
    spool->ack(1000);
    EXPECT_EQ(spool->stats().acked_seq, 1u);
    EXPECT_EQ(appendBatch(*spool, Lane::kTelemetry, 1), 2u);
    SpooledBatch b;
    ASSERT_TRUE(spool->next(1, b, 1s));
    EXPECT_EQ(b.seq, 2u);
}

void appendRaw(const std::string& path, std::string_view bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
}

TEST(SpoolTest, TornTailIsTruncatedOnOpen) {
    TempDir dir;
    SpoolOptions o{.dir = dir.path()};
    std::string seg;
    uint64_t good_size = 0;
    {
        metrics::Registry m;
        auto spool = openSpool(o, m);
        for (int i = 0; i < 3; ++i) appendBatch(*spool, Lane::kTelemetry, 4);
        auto files = segmentFiles(dir.path());
        ASSERT_EQ(files.size(), 1u);
        seg = files[0];
        good_size = sfs::file_size(seg);
    }
    // A fourth entry whose header made it to disk but whose payload was cut short.
    namespace sf = spool_format;
    std::string payload(1000, 'p');
    sf::EntryHeader h{.length = 1000,
                      .seq = 4,
                      .records = 7,
                      .lane = Lane::kTelemetry,
                      .payload_crc = sf::crc32(payload)};
    char head[sf::kEntryHeaderBytes];
    sf::encodeEntryHeader(h, head);
    appendRaw(seg, std::string_view(head, sizeof(head)));
    appendRaw(seg, std::string_view(payload).substr(0, 300));
    {
        metrics::Registry m;
        auto spool = openSpool(o, m);
        auto st = spool->stats();
        EXPECT_EQ(st.pending_batches, 3u);
        EXPECT_EQ(st.truncated_bytes, sf::kEntryHeaderBytes + 300);
        EXPECT_EQ(sfs::file_size(seg), good_size);
        EXPECT_EQ(st.last_seq, 3u);
        EXPECT_EQ(appendBatch(*spool, Lane::kTelemetry, 5), 4u);
    }
    // Garbage after the entries (a header torn in the middle) is cut as well.
    appendRaw(dir.path() + "/" + sf::segmentFileName(Lane::kTelemetry, 4),
              "\x56\x53\x50\x4c\x01\x02");
    metrics::Registry m;
    auto spool = openSpool(o, m);
    EXPECT_EQ(spool->stats().pending_batches, 4u);
    EXPECT_EQ(spool->stats().truncated_bytes, 6u);
    SpooledBatch b;
    uint64_t after = 0;
    for (uint32_t want : {4u, 4u, 4u, 5u}) {
        ASSERT_TRUE(spool->next(after, b, 1s));
        expectIntact(b, want);
        after = b.seq;
    }
}

TEST(SpoolTest, CorruptPayloadIsNotReplayed) {
    TempDir dir;
    SpoolOptions o{.dir = dir.path()};
    {
        metrics::Registry m;
        auto spool = openSpool(o, m);
        for (int i = 0; i < 3; ++i) appendBatch(*spool, Lane::kTelemetry, 4);
    }
    auto seg = segmentFiles(dir.path()).at(0);
    auto size = sfs::file_size(seg);
    int fd = ::open(seg.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "Z", 1, static_cast<off_t>(size - 10)), 1);  // inside the last payload
    ::close(fd);
    metrics::Registry m;
    auto spool = openSpool(o, m);
    EXPECT_EQ(spool->stats().pending_batches, 2u);
    EXPECT_GT(spool->stats().truncated_bytes, 0u);
}

TEST(SpoolTest, ShedsOldestTelemetryFirstAndKeepsCritical) {
    TempDir dir;
    // ~1.1 KiB batches, 4 KiB segments, 16 KiB cap.
    SpoolOptions o{.dir = dir.path(), .max_bytes = 16 << 10, .segment_bytes = 4 << 10};
    metrics::Registry m;
    auto spool = openSpool(o, m);
    std::vector<uint64_t> critical, telemetry;
    std::map<uint64_t, uint32_t> records_of;
    for (uint32_t i = 0; i < 60; ++i) {
        Lane lane = i % 10 == 0 ? Lane::kCritical : Lane::kTelemetry;
        uint32_t n = 5 + i % 7;
        uint64_t seq = appendBatch(*spool, lane, n, i, 200);
        records_of[seq] = n;
        (lane == Lane::kCritical ? critical : telemetry).push_back(seq);
    }
    auto st = spool->stats();
    EXPECT_GT(st.dropped_batches, 0u);
    // Every critical batch is still there; the telemetry left is the newest.
    std::set<uint64_t> present;
    SpooledBatch b;
    uint64_t after = 0;
    while (spool->next(after, b, 10ms)) {
        present.insert(b.seq);
        after = b.seq;
    }
    for (uint64_t seq : critical)
        EXPECT_TRUE(present.count(seq)) << "critical batch " << seq << " was shed";
    uint64_t dropped_records = 0, dropped_batches = 0;
    bool seen_kept = false;
    for (uint64_t seq : telemetry) {
        if (present.count(seq)) {
            seen_kept = true;
        } else {
            EXPECT_FALSE(seen_kept)
                << "telemetry batch " << seq << " dropped after a newer one was kept";
            dropped_records += records_of[seq];
            ++dropped_batches;
        }
    }
    EXPECT_EQ(st.dropped_batches, dropped_batches);
    EXPECT_EQ(st.dropped_records, dropped_records);
    EXPECT_EQ(m.counterValue("vigil_agent_spool_dropped_records_total", {{"cause", "spool_full"}}),
              dropped_records);
    EXPECT_LE(st.disk_bytes, o.max_bytes + o.segment_bytes);
    EXPECT_LE(fs::diskUsage(dir.path()), o.max_bytes + o.segment_bytes + 1024);

    // The shed seqs are never handed out again, even after a restart.
    uint64_t last = st.last_seq;
    spool.reset();
    metrics::Registry m2;
    auto reopened = openSpool(o, m2);
    EXPECT_EQ(appendBatch(*reopened, Lane::kTelemetry, 1), last + 1);
}

TEST(SpoolTest, CriticalIsKeptEvenOverTheCap) {
    TempDir dir;
    SpoolOptions o{.dir = dir.path(), .max_bytes = 8 << 10, .segment_bytes = 2 << 10};
    metrics::Registry m;
    auto spool = openSpool(o, m);
    for (uint32_t i = 0; i < 30; ++i) appendBatch(*spool, Lane::kCritical, 3, i, 200);
    auto st = spool->stats();
    EXPECT_EQ(st.pending_batches, 30u);
    EXPECT_EQ(st.dropped_records, 0u);
    EXPECT_GT(st.disk_bytes, o.max_bytes);
    // Telemetry arriving now is what gets shed.
    appendBatch(*spool, Lane::kTelemetry, 4, 99, 200);
    st = spool->stats();
    EXPECT_EQ(st.dropped_records, 4u);
    EXPECT_EQ(st.pending_batches, 30u);
}

TEST(SpoolTest, WriteErrorIsCountedAndSpoolStaysUsable) {
    TempDir dir;
    SpoolOptions o{.dir = dir.path()};
    metrics::Registry m;
    auto spool = openSpool(o, m);
    appendBatch(*spool, Lane::kTelemetry, 3);
    auto seg = segmentFiles(dir.path()).at(0);
    uint64_t size = sfs::file_size(seg);

    // The next write fails part-way with EFBIG, like a full disk.
    wire::BatchBuilder big;
    for (int i = 0; i < 20; ++i) big.add(59, 1, recordPayload(0, i, 100));
    Result<uint64_t> r = makeError("not run");
    ASSERT_NO_FATAL_FAILURE(
        withFileSizeLimit(size + 100, [&] { r = spool->append(Lane::kTelemetry, big, ""); }));

    EXPECT_FALSE(r.ok());
    auto st = spool->stats();
    EXPECT_EQ(st.write_errors, 1u);
    EXPECT_EQ(st.failed_records, 20u);
    EXPECT_EQ(m.counterValue("vigil_agent_spool_dropped_records_total", {{"cause", "write_error"}}),
              20u);
    EXPECT_EQ(sfs::file_size(seg), size);  // the partial write was cut off
    EXPECT_EQ(appendBatch(*spool, Lane::kTelemetry, 2), 2u);
    spool.reset();
    metrics::Registry m2;
    auto reopened = openSpool(o, m2);
    EXPECT_EQ(reopened->stats().pending_batches, 2u);
    EXPECT_EQ(reopened->stats().truncated_bytes, 0u);
}

// An ack deletes segments only once the ack state saying so is written. Here the write fails
// (RLIMIT_FSIZE), which leaves the disk as a kill -9 between the two steps would if the order
// were the other way round: the reopened spool must still hold every batch it calls
// unacknowledged and must not reuse their seqs.
TEST(SpoolTest, AckDeletesSegmentsOnlyAfterItsStateIsWritten) {
    TempDir dir;
    SpoolOptions o{.dir = dir.path(), .segment_bytes = 1};  // one batch per segment
    metrics::Registry m;
    auto spool = openSpool(o, m);
    for (uint64_t i = 1; i <= 6; ++i) ASSERT_EQ(appendBatch(*spool, Lane::kTelemetry, 2, i), i);
    ASSERT_EQ(segmentFiles(dir.path()).size(), 6u);

    // The ack state file is still empty; its first write goes to offset 32, beyond the limit.
    ASSERT_NO_FATAL_FAILURE(withFileSizeLimit(1, [&] { spool->ack(6); }));

    EXPECT_EQ(spool->stats().write_errors, 1u);
    EXPECT_EQ(spool->stats().pending_batches, 0u);
    EXPECT_EQ(segmentFiles(dir.path()).size(), 6u) << "segments deleted before the ack was written";
    spool.reset();  // the process dies here: nothing more is written

    metrics::Registry m2;
    auto reopened = openSpool(o, m2);
    auto st = reopened->stats();
    EXPECT_EQ(st.acked_seq, 0u);
    EXPECT_EQ(st.last_seq, 6u) << "seqs already handed out would be reused";
    SpooledBatch b;
    for (uint64_t seq = 1; seq <= 6; ++seq) {
        ASSERT_TRUE(reopened->next(seq - 1, b, 10ms)) << "batch " << seq << " is missing";
        EXPECT_EQ(b.seq, seq);
        expectIntact(b, 2);
    }
    // Degraded only until an ack is recorded: that one frees everything acked so far.
    reopened->ack(6);
    EXPECT_TRUE(segmentFiles(dir.path()).empty());
    EXPECT_EQ(reopened->stats().disk_bytes, 0u);
}

// Speed is measured by bench/run agent_pipe; this checks that large batches go through intact.
TEST(SpoolTest, ManyMegabyteBatchesAreStored) {
    TempDir dir;
    metrics::Registry m;
    auto spool =
        openSpool({.dir = dir.path(), .max_bytes = 1ull << 30, .segment_bytes = 64ull << 20}, m);
    // ~1 MiB batches of 200-byte payloads, acked as they go like a connected agent.
    const std::string payload(200, 'r');
    constexpr int kBatches = 100;
    constexpr int kPerBatch = 4700;
    std::vector<wire::BatchBuilder> builders(kBatches);
    for (auto& b : builders) {
        for (int i = 0; i < kPerBatch; ++i) b.add(59, 1700000000, payload);
    }
    for (auto& b : builders) {
        auto seq = spool->append(Lane::kTelemetry, b, "");
        ASSERT_TRUE(seq.ok());
        if (*seq % 8 == 0) spool->ack(*seq);
    }
    EXPECT_EQ(spool->stats().last_seq, static_cast<uint64_t>(kBatches));
    EXPECT_EQ(m.counterValue("vigil_agent_spool_appended_records_total"),
              static_cast<uint64_t>(kBatches) * kPerBatch);
}

}  // namespace
}  // namespace vigil::agent
