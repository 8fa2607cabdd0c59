// libFuzzer target for the plugin pipe parsers (DESIGN.md §3): FrameDecoder fed in chunks of
// fuzzer-chosen sizes through both of its input paths, parseRecord / checkPayload /
// forEachField / parseTask on every frame, and parseTask / parseBatch / parseRecord on the
// whole input. Beyond "no crash, no hang", it checks invariants: buffered bytes stay bounded,
// the payload walkers agree with each other, and a decoded record re-encodes to the same record.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include "libs/wire/batch.h"
#include "libs/wire/frame.h"
#include "libs/wire/record.h"

namespace {

using vigil::wire::FrameDecoder;

// Small limits keep every iteration cheap and make "oversized" reachable.
constexpr uint32_t kMaxFrame = 4096;
constexpr size_t kReadChunk = 256;
constexpr size_t kMaxInputChunk = 1024;

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

void checkRecordFrame(std::string_view frame, std::string& scratch) {
    vigil::wire::RecordView view;
    vigil::wire::PayloadCheck check;
    if (vigil::wire::parseRecord(frame, view, scratch, &check) != vigil::wire::RecordError::kNone) {
        return;
    }
    // parseRecord validated the payload: the other walkers must agree on it.
    vigil::wire::PayloadCheck again;
    FUZZ_CHECK(vigil::wire::checkPayload(view.payload, &again));
    FUZZ_CHECK(again.fields == check.fields && again.utf8 == check.utf8);
    uint32_t visited = 0;
    FUZZ_CHECK(vigil::wire::forEachField(view.payload,
                                         [&](std::string_view, std::string_view) { ++visited; }));
    FUZZ_CHECK(visited == check.fields);

    // Re-encoding the decoded map gives a record that decodes to the same thing.
    std::map<std::string, std::string> fields;
    FUZZ_CHECK(vigil::wire::decodePayload(view.payload, fields));
    vigil::wire::Buffer out;
    vigil::wire::RecordEncoder enc(out);
    enc.begin(view.data_type, view.timestamp);
    for (const auto& [k, v] : fields) enc.field(k, v);
    const size_t n = enc.end();
    FUZZ_CHECK(n == out.size() && n >= 4);
    uint32_t len;
    std::memcpy(&len, out.data(), 4);
    FUZZ_CHECK(len + 4 == n);
    vigil::wire::RecordView view2;
    std::string scratch2;
    vigil::wire::PayloadCheck check2;
    FUZZ_CHECK(vigil::wire::parseRecord(std::string_view(out.data() + 4, len), view2, scratch2,
                                        &check2) == vigil::wire::RecordError::kNone);
    FUZZ_CHECK(view2.data_type == view.data_type && view2.timestamp == view.timestamp);
    FUZZ_CHECK(check2.utf8);  // the encoder repairs invalid UTF-8
    FUZZ_CHECK(check2.fields == fields.size());
    if (check.utf8) {
        std::map<std::string, std::string> fields2;
        FUZZ_CHECK(vigil::wire::decodePayload(view2.payload, fields2));
        FUZZ_CHECK(fields2 == fields);
    }
}

void drain(FrameDecoder& decoder, std::string& scratch) {
    for (;;) {
        std::string_view frame;
        switch (decoder.next(frame)) {
            case FrameDecoder::Next::kFrame: {
                FUZZ_CHECK(frame.size() <= kMaxFrame);
                checkRecordFrame(frame, scratch);
                vigil::wire::TaskView task;
                vigil::wire::parseTask(frame, task);
                break;
            }
            case FrameDecoder::Next::kOversized:
                FUZZ_CHECK(decoder.oversizedLength() > kMaxFrame);
                decoder.skipOversized();
                break;
            case FrameDecoder::Next::kNeedMore:
                return;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view whole(reinterpret_cast<const char*>(data), size);
    {
        vigil::wire::TaskView task;
        vigil::wire::parseTask(whole, task);
        vigil::wire::BatchView batch;
        vigil::wire::parseBatch(whole, batch);
        std::string scratch;
        checkRecordFrame(whole, scratch);
    }

    // Frames at the front of the input, chunk sizes taken from its end (FuzzedDataProvider).
    FuzzedDataProvider fdp(data, size);
    FrameDecoder decoder(kMaxFrame, kReadChunk);
    std::string scratch;
    while (fdp.remaining_bytes() > 0) {
        const size_t chunk = fdp.ConsumeIntegralInRange<size_t>(1, kMaxInputChunk);
        const bool via_read_area = fdp.ConsumeBool();
        const std::string bytes = fdp.ConsumeBytesAsString(chunk);
        if (via_read_area) {
            // The path the agent uses: read() straight into the decoder's buffer.
            size_t off = 0;
            while (off < bytes.size()) {
                size_t cap = 0;
                char* area = decoder.readArea(&cap);
                FUZZ_CHECK(cap >= kReadChunk);
                const size_t n = std::min(cap, bytes.size() - off);
                std::memcpy(area, bytes.data() + off, n);
                decoder.commit(n);
                off += n;
                drain(decoder, scratch);
            }
        } else {
            decoder.feed(bytes);
        }
        drain(decoder, scratch);
        // Never more than one incomplete frame (plus its prefix) and one input chunk.
        FUZZ_CHECK(decoder.buffered() <= kMaxFrame + 4 + kMaxInputChunk);
    }
    decoder.shrinkIfIdle();
    return 0;
}
