// Record codec for the plugin pipe (DESIGN.md §3): parse a Record frame into data_type,
// timestamp and the untouched Payload bytes; encode Records straight into an output buffer
// without building a map or message object. Stateless functions; encoders are per-thread.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "libs/wire/buffer.h"

namespace vigil::wire {

struct RecordView {
    int32_t data_type = 0;
    int64_t timestamp = 0;
    std::string_view payload;  // serialized Payload; points into the frame or the scratch string
};

enum class RecordError : uint8_t {
    kNone = 0,
    kMalformed,    // the Record message itself is not valid protobuf
    kBadPayload,   // the Payload bytes are not a valid map<string,string>
};
const char* recordErrorName(RecordError e);

struct PayloadCheck {
    uint32_t fields = 0;
    bool utf8 = true;  // every key and value is valid UTF-8
};

// Parses a Record frame body. Accepts any valid encoding: fields in any order, absent (zero)
// fields, unknown fields, and repeated `data` fields (merged, as protobuf does, by
// concatenation into `scratch`). Validates the Payload structure; `check` gets its field count
// and whether all strings are UTF-8.
RecordError parseRecord(std::string_view frame, RecordView& out, std::string& scratch,
                        PayloadCheck* check = nullptr);

// Validates a serialized Payload.
bool checkPayload(std::string_view payload, PayloadCheck* check = nullptr);

// Calls fn(key, value) for each map entry of a serialized Payload, in wire order (a later
// duplicate key overrides an earlier one in map semantics). Returns false when malformed.
template <typename Fn>
bool forEachField(std::string_view payload, Fn&& fn);

// Decodes a Payload into an ordered map (tests, tools, low-rate paths).
bool decodePayload(std::string_view payload, std::map<std::string, std::string>& out);

// Writes framed Records into `out`: uint32 LE length, then the Record message.
//   RecordEncoder enc(buf);
//   enc.begin(59, now).field("exe", exe).field("pid", pid).end();
// Values that are not valid UTF-8 are repaired (invalid bytes written as \xNN).
class RecordEncoder {
public:
    explicit RecordEncoder(Buffer& out) : out_(&out) {}

    RecordEncoder& begin(int32_t data_type, int64_t timestamp);
    RecordEncoder& field(std::string_view key, std::string_view value);
    template <std::integral T>
    RecordEncoder& field(std::string_view key, T value) {
        char buf[24];
        return asciiField(key, formatInt(buf, value));
    }
    // Finishes the record; returns the frame size in bytes (prefix included).
    size_t end();
    // Drops the record being built.
    void abort();
    bool building() const { return building_; }

private:
    template <std::integral T>
    static std::string_view formatInt(char* buf, T value);
    void appendEntry(std::string_view key, std::string_view value);
    // For values that are ASCII by construction (formatted integers): validates the key only.
    RecordEncoder& asciiField(std::string_view key, std::string_view value);

    Buffer* out_;
    size_t start_ = 0;
    size_t payload_start_ = 0;
    bool building_ = false;
};

// Encodes a bare Payload (no Record around it) from key/value pairs.
void encodePayload(Buffer& out, const std::map<std::string, std::string>& fields);

}  // namespace vigil::wire

#include "libs/wire/record_inl.h"
