// Frame decoder: splitting, oversized frames, zero-length frames.
#include "libs/wire/frame.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "libs/wire/batch.h"
#include "libs/wire/record.h"

namespace vigil::wire {
namespace {

std::string frameOf(std::string_view body) {
    Buffer b;
    appendFrame(b, body);
    return b.toString();
}

std::vector<std::string> drain(FrameDecoder& d) {
    std::vector<std::string> out;
    std::string_view f;
    while (d.next(f) == FrameDecoder::Next::kFrame) out.emplace_back(f);
    return out;
}

TEST(FrameDecoder, DecodesFramesFedOneByteAtATime) {
    std::string stream = frameOf("hello") + frameOf("") + frameOf(std::string(1000, 'x'));
    FrameDecoder d(1 << 20, 16);
    std::vector<std::string> got;
    for (char c : stream) {
        d.feed(std::string_view(&c, 1));
        auto fs = drain(d);
        got.insert(got.end(), fs.begin(), fs.end());
    }
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], "hello");
    EXPECT_EQ(got[1], "");
    EXPECT_EQ(got[2], std::string(1000, 'x'));
    EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameDecoder, ReadAreaHoldsAWholeLargeFrame) {
    std::string body(300000, 'a');
    std::string stream = frameOf(body);
    FrameDecoder d(1 << 20, 4096);
    size_t off = 0;
    std::vector<std::string> got;
    while (off < stream.size()) {
        size_t cap;
        char* p = d.readArea(&cap);
        ASSERT_GE(cap, 4096u);
        size_t n = std::min(cap, stream.size() - off);
        std::memcpy(p, stream.data() + off, n);
        d.commit(n);
        off += n;
        auto fs = drain(d);
        got.insert(got.end(), fs.begin(), fs.end());
    }
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], body);
}

TEST(FrameDecoder, OversizedFrameIsReportedAndCanBeSkipped) {
    FrameDecoder d(100, 64);
    std::string big(500, 'z');
    d.feed(frameOf(big) + frameOf("after"));
    std::string_view f;
    ASSERT_EQ(d.next(f), FrameDecoder::Next::kOversized);
    EXPECT_EQ(d.oversizedLength(), 500u);
    // Until skipped, the decoder keeps reporting it.
    ASSERT_EQ(d.next(f), FrameDecoder::Next::kOversized);
    d.skipOversized();
    ASSERT_EQ(d.next(f), FrameDecoder::Next::kFrame);
    EXPECT_EQ(f, "after");
}

TEST(FrameDecoder, HugeLengthPrefixDoesNotAllocate) {
    FrameDecoder d(4u << 20, 64);
    uint32_t len = 1u << 30;  // 1 GiB
    std::string prefix(reinterpret_cast<char*>(&len), 4);
    d.feed(prefix + "garbage");
    std::string_view f;
    ASSERT_EQ(d.next(f), FrameDecoder::Next::kOversized);
    EXPECT_EQ(d.oversizedLength(), 1u << 30);
    size_t cap;
    d.readArea(&cap);
    EXPECT_LT(cap, 1u << 20);  // the read area did not grow to the declared size
}

TEST(FrameDecoder, SkippingSpansManyReads) {
    FrameDecoder d(10, 64);
    std::string big(1000, 'q');
    std::string stream = frameOf(big) + frameOf("ok");
    std::string_view f;
    size_t off = 0;
    bool skipped = false;
    std::vector<std::string> got;
    while (off < stream.size()) {
        size_t n = std::min<size_t>(37, stream.size() - off);
        d.feed(std::string_view(stream).substr(off, n));
        off += n;
        for (;;) {
            auto r = d.next(f);
            if (r == FrameDecoder::Next::kOversized) {
                d.skipOversized();
                skipped = true;
                continue;
            }
            if (r == FrameDecoder::Next::kFrame) {
                got.emplace_back(f);
                continue;
            }
            break;
        }
    }
    EXPECT_TRUE(skipped);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], "ok");
}

// Empty views may have a null data(); encoders must not pass it to memcpy (UBSan in the fuzz
// and asan builds catches that).
TEST(Codecs, EmptyViewsWithNullData) {
    Buffer b;
    b.append(nullptr, 0);
    b.append(std::string_view());
    EXPECT_EQ(b.size(), 0u);
    appendFrame(b, std::string_view());
    EXPECT_EQ(b.toString(), std::string(4, '\0'));
    FrameDecoder d;
    d.feed(std::string_view());
    d.feed(b.view());
    std::string_view f;
    ASSERT_EQ(d.next(f), FrameDecoder::Next::kFrame);
    EXPECT_TRUE(f.empty());
    Buffer r;
    RecordEncoder enc(r);
    enc.begin(1, 1).field(std::string_view(), std::string_view()).end();
    RecordView v;
    std::string scratch;
    ASSERT_EQ(parseRecord(std::string_view(r.data() + 4, r.size() - 4), v, scratch), RecordError::kNone);
    std::map<std::string, std::string> m;
    ASSERT_TRUE(decodePayload(v.payload, m));
    EXPECT_EQ(m, (std::map<std::string, std::string>{{"", ""}}));
    BatchBuilder batch;
    batch.add(1, 1, std::string_view());
    EXPECT_EQ(batch.records(), 1u);
}

}  // namespace
}  // namespace vigil::wire
