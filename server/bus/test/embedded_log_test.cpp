// Embedded log specifics and the formats: checksums, entry and batch framing, families and
// partitions, torn-tail truncation, reads bounded by the durable heads, retention with a
// lagging consumer, the writer lock and the per-partition consumer locks.
#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "libs/common/fs.h"
#include "server/bus/bus.h"
#include "server/bus/crc32c.h"
#include "server/bus/log_format.h"
#include "server/bus/nats_framing.h"
#include "server/bus/test/bus_suite.h"
#include "server/bus/test/bus_test_env.h"

namespace vigil::bus::testing {
namespace {

using namespace std::chrono_literals;

TEST(BusFormat, Crc32cMatchesTheStandardCheckValue) {
    const std::string check = "123456789";
    EXPECT_EQ(crc32c(0, check.data(), check.size()), 0xE3069283u);
    EXPECT_EQ(crc32cPortable(0, check.data(), check.size()), 0xE3069283u);
    std::string data(100000, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + 7);
    for (size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 4096u, 100000u}) {
        EXPECT_EQ(crc32c(0, data.data(), n), crc32cPortable(0, data.data(), n)) << n;
    }
    // Continuation equals one pass.
    EXPECT_EQ(crc32c(crc32c(0, data.data(), 1000), data.data() + 1000, 5000),
              crc32c(0, data.data(), 6000));
}

TEST(BusFormat, FamiliesFollowElkeidRanges) {
    EXPECT_EQ(familyOf(59), Family::kDriver);
    EXPECT_EQ(familyOf(900), Family::kDriver);
    EXPECT_EQ(familyOf(901), Family::kDriver);
    EXPECT_EQ(familyOf(1000), Family::kAgent);
    EXPECT_EQ(familyOf(1010), Family::kAgent);
    EXPECT_EQ(familyOf(4001), Family::kJournal);
    EXPECT_EQ(familyOf(5050), Family::kCollector);
    EXPECT_EQ(familyOf(5100), Family::kCollector);
    EXPECT_EQ(familyOf(6003), Family::kScanner);
    EXPECT_EQ(familyOf(8010), Family::kBaseline);
    EXPECT_EQ(familyOf(0), Family::kOther);
    EXPECT_EQ(familyOf(3000), Family::kOther);
    EXPECT_EQ(familyOf(-5), Family::kOther);
    EXPECT_STREQ(familyName(Family::kCollector), "collector");
}

TEST(BusFormat, PartitionIsFnv1aOfTheAgentId) {
    // FNV-1a 32 of "" is 2166136261, of "a" is 0xE40C292C.
    EXPECT_EQ(partitionOf("", 1000), 2166136261u % 1000);
    EXPECT_EQ(partitionOf("a", 1u << 31), 0xE40C292Cu % (1u << 31));
    EXPECT_EQ(partitionOf("agent-1", 8), partitionOf(std::string("agent-1"), 8));
    EXPECT_LT(partitionOf("whatever", 8), 8u);
}

TEST(BusFormat, EntryRoundTripAndCorruption) {
    logfmt::EntryHeader h;
    const std::string key = "agent", value = "payload-bytes";
    logfmt::encodeEntryHeader(h, 1234567, 5100, key, value);
    std::string entry(h.bytes, sizeof(h.bytes));
    entry += key + value;
    logfmt::EntryView e;
    ASSERT_EQ(logfmt::parseEntry(entry, e), logfmt::ParseStatus::kOk);
    EXPECT_EQ(e.size, entry.size());
    EXPECT_EQ(e.bus_time_ns, 1234567);
    EXPECT_EQ(e.data_type, 5100);
    EXPECT_EQ(e.key, key);
    EXPECT_EQ(e.value, value);
    size_t need = 0;
    EXPECT_EQ(logfmt::parseEntry(std::string_view(entry).substr(0, 30), e, &need),
              logfmt::ParseStatus::kNeedMore);
    EXPECT_EQ(need, entry.size());
    std::string flipped = entry;
    flipped.back() ^= 1;
    EXPECT_EQ(logfmt::parseEntry(flipped, e), logfmt::ParseStatus::kCorrupt);
    EXPECT_EQ(logfmt::parseEntry(std::string(40, '\0'), e), logfmt::ParseStatus::kCorrupt);
}

TEST(BusFormat, NatsBatchRoundTripAndMalformedInput) {
    natsfmt::BatchBuilder b;
    b.reset(Family::kCollector);
    b.add({"k1", 5100, "v1"});
    b.add({"key-two", 5050, std::string(1000, 'z')});
    std::string payload(b.finish(42));
    natsfmt::DecodedBatch d;
    ASSERT_TRUE(natsfmt::decodeBatch(payload, d).ok());
    EXPECT_EQ(d.family, Family::kCollector);
    EXPECT_EQ(d.bus_time_ns, 42);
    ASSERT_EQ(d.entries.size(), 2u);
    EXPECT_EQ(d.entries[1].key, "key-two");
    EXPECT_EQ(d.entries[1].data_type, 5050);
    EXPECT_EQ(d.entries[1].value.size(), 1000u);
    for (size_t cut = 0; cut < payload.size(); cut += 7) {
        EXPECT_FALSE(natsfmt::decodeBatch(std::string_view(payload).substr(0, cut), d).ok()) << cut;
    }
    EXPECT_FALSE(natsfmt::decodeBatch(payload + "x", d).ok());
}

class EmbeddedLog : public ::testing::Test {
protected:
    BusOptions options() {
        BusOptions o = testOptions("embedded", dir_.path(), "");
        o.partitions = 1;
        return o;
    }
    std::unique_ptr<Bus> open(const BusOptions& o) {
        auto b = Bus::open(o, metrics_);
        EXPECT_TRUE(b.ok()) << b.message();
        return b.ok() ? std::move(*b) : nullptr;
    }
    static void appendN(Bus& bus, int from, int n, size_t size = 100) {
        std::vector<std::string> values;
        const std::string k = agentKey(1);
        for (int i = 0; i < n; ++i) values.push_back(valueFor(k, from + i, size));
        std::vector<Message> m;
        for (const auto& v : values) m.push_back({k, 59, v});
        ASSERT_TRUE(bus.producer().append(m).ok());
    }
    std::string segmentPath(const BusOptions& o, uint64_t base) {
        return o.dir + "/p000/" + logfmt::segmentName(base);
    }

    TempDir dir_;
    metrics::Registry metrics_;
};

TEST_F(EmbeddedLog, TornTailIsTruncatedOnOpen) {
    BusOptions o = options();
    {
        auto bus = open(o);
        ASSERT_TRUE(bus);
        appendN(*bus, 0, 100);
    }
    const std::string seg = segmentPath(o, 0);
    const uint64_t good = fs::diskUsage(seg);
    {
        // A crash mid-write: a complete entry whose checksum is wrong, then half an entry.
        logfmt::EntryHeader h;
        const std::string key = agentKey(1), value = valueFor(key, 100);
        logfmt::encodeEntryHeader(h, 1, 59, key, value);
        std::string torn(h.bytes, sizeof(h.bytes));
        torn += key + value;
        torn[30] ^= 0x40;
        std::string half(h.bytes, sizeof(h.bytes));
        half += key;
        int fd = ::open(seg.c_str(), O_WRONLY | O_APPEND);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, torn.data(), torn.size()), static_cast<ssize_t>(torn.size()));
        ASSERT_EQ(::write(fd, half.data(), half.size()), static_cast<ssize_t>(half.size()));
        ::close(fd);
    }
    auto bus = open(o);
    ASSERT_TRUE(bus);
    EXPECT_EQ(fs::diskUsage(seg), good);
    EXPECT_GT(metrics_.counterTotal("vigil_bus_fsyncs_total"), 0u);
    EXPECT_GT(metrics_.counterTotal("vigil_bus_truncated_bytes_total"), 0u);
    appendN(*bus, 100, 10);
    auto c = bus->consumer({.group = "g"});
    ASSERT_TRUE(c.ok());
    auto got = fetchAtLeast(**c, 110, 10s);
    ASSERT_EQ(got.size(), 110u);
    for (int i = 0; i < 110; ++i) {
        EXPECT_EQ(seqOf(got[i].value), i);
        EXPECT_EQ(got[i].offset, static_cast<uint64_t>(i));
    }
}

TEST_F(EmbeddedLog, ReadersStopAtTheDurableHead) {
    BusOptions o = options();
    auto bus = open(o);
    ASSERT_TRUE(bus);
    appendN(*bus, 0, 10);
    {
        // Bytes in the segment that the writer has not published (written, not yet synced).
        logfmt::EntryHeader h;
        const std::string key = agentKey(1), value = valueFor(key, 10);
        logfmt::encodeEntryHeader(h, 1, 59, key, value);
        std::string entry(h.bytes, sizeof(h.bytes));
        entry += key + value;
        int fd = ::open(segmentPath(o, 0).c_str(), O_WRONLY | O_APPEND);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, entry.data(), entry.size()), static_cast<ssize_t>(entry.size()));
        ::close(fd);
    }
    auto c = bus->consumer({.group = "g"});
    ASSERT_TRUE(c.ok());
    auto got = fetchAtLeast(**c, 11, 1s);
    EXPECT_EQ(got.size(), 10u);
}

TEST_F(EmbeddedLog, RetentionDeletesOldSegmentsAndALaggingConsumerSkipsWithACount) {
    BusOptions o = options();
    o.segment_bytes = 4096;
    o.retention_bytes = 16384;
    auto bus = open(o);
    ASSERT_TRUE(bus);
    appendN(*bus, 0, 10, 200);
    {
        auto c = bus->consumer({.group = "slow"});
        ASSERT_TRUE(c.ok());
        auto first = fetchAtLeast(**c, 10, 5s);
        ASSERT_EQ(first.size(), 10u);
        ASSERT_TRUE((*c)->commit(first).ok());
    }
    // ~80 KB more, in appends small enough to roll often; retention keeps ~16 KB. (A consumer
    // that has a deleted segment open would finish reading it: this one is stopped meanwhile.)
    for (int i = 0; i < 30; ++i) appendN(*bus, 10 + i * 10, 10, 200);
    appendN(*bus, 310, 1, 200);
    // Retention runs right after the cycle that acknowledged the last append.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (logfmt::listSegments(o.dir + "/p000").size() > 5 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_GT(metrics_.counterTotal("vigil_bus_retention_deleted_segments_total"), 0u);
    const auto kept = logfmt::listSegments(o.dir + "/p000");
    ASSERT_FALSE(kept.empty());
    EXPECT_GT(kept.front(), 10u);
    uint64_t bytes = 0;
    for (uint64_t base : kept) bytes += fs::diskUsage(segmentPath(o, base));
    EXPECT_LE(bytes, o.retention_bytes + 2 * o.segment_bytes);

    auto c = bus->consumer({.group = "slow"});
    ASSERT_TRUE(c.ok());
    auto rest = fetchAtLeast(**c, 311 - kept.front(), 5s);
    ASSERT_FALSE(rest.empty());
    EXPECT_EQ(rest.front().offset, kept.front());
    EXPECT_EQ(rest.back().offset, 310u);
    EXPECT_EQ((*c)->skipped(), kept.front() - 10);
    EXPECT_EQ(metrics_.counterTotal("vigil_bus_skipped_messages_total"), kept.front() - 10);
}

TEST_F(EmbeddedLog, RetentionByAge) {
    BusOptions o = options();
    o.segment_bytes = 2048;
    o.retention_age = std::chrono::seconds(1);
    auto bus = open(o);
    ASSERT_TRUE(bus);
    for (int i = 0; i < 10; ++i) appendN(*bus, i * 10, 10, 200);
    ASSERT_GT(logfmt::listSegments(o.dir + "/p000").size(), 3u);
    // The writer checks every second when idle; the active segment always stays.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (logfmt::listSegments(o.dir + "/p000").size() > 1 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(logfmt::listSegments(o.dir + "/p000").size(), 1u);
}

TEST_F(EmbeddedLog, SecondWriterGetsAnErrorNamingTheHolder) {
    BusOptions o = options();
    auto first = open(o);
    ASSERT_TRUE(first);
    auto second = Bus::open(o, metrics_);
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.message().find("pid " + std::to_string(::getpid())), std::string::npos)
        << second.message();
    first.reset();
    EXPECT_TRUE(Bus::open(o, metrics_).ok()) << "the lock goes with the writer";
}

TEST_F(EmbeddedLog, OneConsumerPerGroupAndPartition) {
    BusOptions o = options();
    o.partitions = 4;
    auto bus = open(o);
    ASSERT_TRUE(bus);
    auto all = bus->consumer({.group = "hub"});
    ASSERT_TRUE(all.ok());
    auto clash = bus->consumer({.group = "hub", .partitions = {2}});
    ASSERT_FALSE(clash.ok());
    EXPECT_NE(clash.message().find("partition 2"), std::string::npos) << clash.message();
    EXPECT_NE(clash.message().find("in use"), std::string::npos) << clash.message();
    all->reset();
    auto a = bus->consumer({.group = "hub", .partitions = {0, 1}});
    auto b = bus->consumer({.group = "hub", .partitions = {2, 3}});
    EXPECT_TRUE(a.ok() && b.ok());
}

TEST_F(EmbeddedLog, PartitionCountIsFixed) {
    BusOptions o = options();
    o.partitions = 4;
    { ASSERT_TRUE(open(o)); }
    BusOptions other = o;
    other.partitions = 8;
    auto clash = Bus::open(other, metrics_);
    ASSERT_FALSE(clash.ok());
    EXPECT_NE(clash.message().find("4 partitions"), std::string::npos) << clash.message();
    other.writer = false;  // a reader follows the directory
    auto reader = Bus::open(other, metrics_);
    ASSERT_TRUE(reader.ok()) << reader.message();
    EXPECT_EQ((*reader)->partitions(), 4u);
}

TEST_F(EmbeddedLog, SegmentsRollAndOffsetsContinueAcrossThem) {
    BusOptions o = options();
    o.segment_bytes = 1024;
    auto bus = open(o);
    ASSERT_TRUE(bus);
    for (int i = 0; i < 20; ++i) appendN(*bus, i * 5, 5, 150);
    EXPECT_GT(logfmt::listSegments(o.dir + "/p000").size(), 5u);
    bus.reset();
    bus = open(o);  // recovery finds the next offset in the last segment
    ASSERT_TRUE(bus);
    appendN(*bus, 100, 5, 150);
    auto c = bus->consumer({.group = "g"});
    ASSERT_TRUE(c.ok());
    auto got = fetchAtLeast(**c, 105, 10s, 7);
    ASSERT_EQ(got.size(), 105u);
    for (int i = 0; i < 105; ++i) {
        EXPECT_EQ(got[i].offset, static_cast<uint64_t>(i));
        EXPECT_EQ(seqOf(got[i].value), i);
    }
}

}  // namespace
}  // namespace vigil::bus::testing
