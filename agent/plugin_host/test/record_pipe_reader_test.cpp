// RecordPipeReader over real pipes: frames split across reads, skipped oversized frames,
// unresynchronisable length prefixes, malformed and non-UTF-8 records, and its throughput.
#include "agent/plugin_host/record_pipe_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>

#include "agent/plugin_host/test/fake_sink.h"
#include "libs/wire/frame.h"
#include "libs/wire/record.h"

namespace vigil::agent {
namespace {

using testing::CountingSink;
using testing::FakeSink;

class Pipe {
public:
    Pipe() {
        int p[2];
        EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
        r = p[0];
        w = p[1];
        ::fcntl(r, F_SETFL, O_NONBLOCK);
    }
    ~Pipe() {
        if (r >= 0) ::close(r);
        closeWriter();
    }
    void closeWriter() {
        if (w >= 0) ::close(w);
        w = -1;
    }
    void write(std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::write(w, data.data(), data.size());
            ASSERT_GT(n, 0);
            data.remove_prefix(static_cast<size_t>(n));
        }
    }
    int r = -1;
    int w = -1;
};

std::string record(int32_t data_type, long seq, const std::string& pad = "") {
    wire::Buffer buf;
    wire::RecordEncoder enc(buf);
    enc.begin(data_type, 1700000000000).field("seq", seq);
    if (!pad.empty()) enc.field("pad", pad);
    enc.end();
    return buf.toString();
}

std::string prefix(uint32_t len) {
    return std::string(reinterpret_cast<const char*>(&len), 4);
}

TEST(RecordPipeReaderTest, FramesSplitAcrossReadsAreReassembled) {
    Pipe pipe;
    RecordPipeReader reader(1 << 20, 64 << 20);
    FakeSink sink;
    PipeCounts counts;
    std::string all = record(7, 0) + record(7, 1, std::string(3000, 'a')) + record(7, 2);
    // Deliver in awkward pieces: inside the prefix, inside the body.
    for (size_t cut : {2ul, 40ul, 1500ul}) {
        pipe.write(all.substr(0, cut));
        all.erase(0, cut);
        EXPECT_EQ(reader.pump(pipe.r, sink, 1 << 20, counts), RecordPipeReader::Result::kDrained);
    }
    pipe.write(all);
    EXPECT_EQ(reader.pump(pipe.r, sink, 1 << 20, counts), RecordPipeReader::Result::kDrained);
    auto recs = sink.ofType(7);
    ASSERT_EQ(recs.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(recs[i].fields["seq"], std::to_string(i));
    EXPECT_EQ(recs[1].fields["pad"].size(), 3000u);
    EXPECT_EQ(counts.records, 3u);
    EXPECT_EQ(counts.drops(), 0u);
    pipe.closeWriter();
    EXPECT_EQ(reader.pump(pipe.r, sink, 1 << 20, counts), RecordPipeReader::Result::kEof);
}

TEST(RecordPipeReaderTest, OversizedFrameIsSkippedAndTheNextAccepted) {
    Pipe pipe;
    RecordPipeReader reader(1024, 1 << 20);
    FakeSink sink;
    PipeCounts counts;
    pipe.write(record(7, 0) + prefix(5000) + std::string(2000, 'x'));
    EXPECT_EQ(reader.pump(pipe.r, sink, 1 << 20, counts), RecordPipeReader::Result::kDrained);
    // The rest of the oversized body arrives later, followed by a good frame.
    pipe.write(std::string(3000, 'y') + record(7, 1));
    EXPECT_EQ(reader.pump(pipe.r, sink, 1 << 20, counts), RecordPipeReader::Result::kDrained);
    auto recs = sink.ofType(7);
    ASSERT_EQ(recs.size(), 2u);
    EXPECT_EQ(recs[1].fields["seq"], "1");
    EXPECT_EQ(counts.oversized, 1u);
    EXPECT_EQ(counts.unresyncable, 0u);
}

TEST(RecordPipeReaderTest, LengthAboveResyncLimitStopsTheStream) {
    Pipe pipe;
    RecordPipeReader reader(4 << 20, 64 << 20);
    FakeSink sink;
    PipeCounts counts;
    pipe.write(record(7, 0) + prefix(1u << 30) + std::string(100, 'g'));
    EXPECT_EQ(reader.pump(pipe.r, sink, 1 << 20, counts), RecordPipeReader::Result::kUnresyncable);
    EXPECT_EQ(reader.unresyncableLength(), 1ull << 30);
    EXPECT_EQ(counts.unresyncable, 1u);
    EXPECT_EQ(sink.ofType(7).size(), 1u);
    // After reset() (a new process) the reader accepts a new stream.
    reader.reset();
    Pipe fresh;
    fresh.write(record(7, 5));
    EXPECT_EQ(reader.pump(fresh.r, sink, 1 << 20, counts), RecordPipeReader::Result::kDrained);
    EXPECT_EQ(sink.ofType(7).size(), 2u);
}

TEST(RecordPipeReaderTest, MalformedRecordsAreCountedNonUtf8Forwarded) {
    Pipe pipe;
    RecordPipeReader reader(1 << 20, 64 << 20);
    FakeSink sink;
    PipeCounts counts;
    wire::Buffer frames;
    wire::appendFrame(frames, std::string_view("\x08\xff\xff", 3));  // truncated varint
    const char bad_payload[] = {0x08, 0x01, 0x1a, 0x04, 0x0a, 0x02, 0x08, 0x01};
    wire::appendFrame(frames, std::string_view(bad_payload, sizeof(bad_payload)));
    wire::Buffer payload;
    wire::encodePayload(payload, {{"k", std::string("\xff", 1)}});
    std::string rec =
        std::string("\x08\x07\x1a", 3) + static_cast<char>(payload.size()) + payload.toString();
    wire::appendFrame(frames, rec);
    pipe.write(frames.view());
    EXPECT_EQ(reader.pump(pipe.r, sink, 1 << 20, counts), RecordPipeReader::Result::kDrained);
    EXPECT_EQ(counts.malformed_record, 1u);
    EXPECT_EQ(counts.malformed_payload, 1u);
    EXPECT_EQ(counts.non_utf8, 1u);
    EXPECT_EQ(counts.records, 1u);
    auto recs = sink.ofType(7);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].payload, payload.toString());  // forwarded byte for byte
}

TEST(RecordPipeReaderTest, BudgetBoundsOneCall) {
    Pipe pipe;
    ::fcntl(pipe.w, F_SETPIPE_SZ, 1 << 20);
    RecordPipeReader reader(1 << 20, 64 << 20, 16 * 1024);
    CountingSink sink;
    PipeCounts counts;
    std::string rec = record(7, 1, std::string(150, 'p'));
    std::string many;
    while (many.size() < 256 * 1024) many += rec;
    pipe.write(many);
    EXPECT_EQ(reader.pump(pipe.r, sink, 32 * 1024, counts), RecordPipeReader::Result::kBudget);
    EXPECT_LT(counts.bytes, 64u * 1024);
    while (reader.pump(pipe.r, sink, 32 * 1024, counts) == RecordPipeReader::Result::kBudget) {
    }
    EXPECT_EQ(sink.count.load(), many.size() / rec.size());
}

// The reader alone, fed by a writer thread: the ceiling of the agent's pipe path on one core.
TEST(RecordPipeReaderTest, ManyRecordsAreAllRead) {
    Pipe pipe;
    ::fcntl(pipe.w, F_SETPIPE_SZ, 1 << 20);
    const std::string rec = record(7, 123456, std::string(156, 'p'));
    ASSERT_NEAR(static_cast<double>(rec.size()), 200.0, 8.0);
    const uint64_t total = 1000000;
    std::thread writer([&] {
        std::string chunk;
        for (int i = 0; i < 1000; ++i) chunk += rec;
        int fd = pipe.w;
        ::fcntl(fd, F_SETFL, 0);
        for (uint64_t sent = 0; sent < total; sent += 1000) {
            const char* p = chunk.data();
            size_t left = chunk.size();
            while (left) {
                ssize_t n = ::write(fd, p, left);
                if (n <= 0) return;
                p += n;
                left -= static_cast<size_t>(n);
            }
        }
        pipe.closeWriter();
    });
    RecordPipeReader reader(4 << 20, 64 << 20);
    CountingSink sink;
    PipeCounts counts;
    for (;;) {
        pollfd pfd{pipe.r, POLLIN, 0};
        ::poll(&pfd, 1, 1000);
        if (reader.pump(pipe.r, sink, 4 << 20, counts) == RecordPipeReader::Result::kEof) break;
    }
    writer.join();
    EXPECT_EQ(sink.count.load(), total);  // speed: bench/run agent_pipe
}

}  // namespace
}  // namespace vigil::agent
