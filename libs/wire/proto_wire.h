// Minimal protobuf wire-format primitives: varints, tags, field skipping. Used by the frame and
// record codecs so the hot path never builds message objects. Header-only, stateless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vigil::wire {

enum WireType : uint8_t {
    kVarint = 0,
    kFixed64 = 1,
    kLengthDelimited = 2,
    kStartGroup = 3,
    kEndGroup = 4,
    kFixed32 = 5,
};

constexpr uint32_t makeTag(uint32_t field, WireType type) { return (field << 3) | type; }

inline size_t varintSize(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}

inline char* putVarint(char* p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = static_cast<char>(v | 0x80);
        v >>= 7;
    }
    *p++ = static_cast<char>(v);
    return p;
}

// Reads fields from one serialized message. All reads are bounds-checked; on malformed input
// the reader stops and ok() turns false.
class ProtoReader {
public:
    explicit ProtoReader(std::string_view data)
        : p_(reinterpret_cast<const uint8_t*>(data.data())), end_(p_ + data.size()) {}

    bool done() const { return p_ >= end_; }
    bool ok() const { return ok_; }
    size_t remaining() const { return static_cast<size_t>(end_ - p_); }

    // Reads the next tag. False at the end of the message or on a malformed tag.
    bool nextTag(uint32_t& field, WireType& type) {
        if (p_ >= end_) return false;
        // As libprotobuf reads tags: at most 5 bytes, keeping the low 32 bits, so both accept
        // exactly the same messages.
        uint32_t tag = 0;
        for (int i = 0;; ++i) {
            if (i == 5 || p_ >= end_) return fail();
            const uint8_t b = *p_++;
            tag |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
            if (b < 0x80) break;
        }
        field = tag >> 3;
        type = static_cast<WireType>(tag & 7);
        if (field == 0 || type > kFixed32) return fail();
        return true;
    }

    bool readVarint(uint64_t& v) {
        // Fast path for one-byte varints.
        if (p_ < end_ && *p_ < 0x80) {
            v = *p_++;
            return true;
        }
        uint64_t result = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ >= end_) return fail();
            uint8_t b = *p_++;
            result |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (b < 0x80) {
                v = result;
                return true;
            }
        }
        return fail();  // more than 10 bytes
    }

    bool readLengthDelimited(std::string_view& out) {
        uint64_t len;
        if (!readVarint(len)) return false;
        if (len > remaining()) return fail();
        out = std::string_view(reinterpret_cast<const char*>(p_), static_cast<size_t>(len));
        p_ += len;
        return true;
    }

    bool readFixed32(uint32_t& v) {
        if (remaining() < 4) return fail();
        v = static_cast<uint32_t>(p_[0]) | static_cast<uint32_t>(p_[1]) << 8 |
            static_cast<uint32_t>(p_[2]) << 16 | static_cast<uint32_t>(p_[3]) << 24;
        p_ += 4;
        return true;
    }

    bool readFixed64(uint64_t& v) {
        if (remaining() < 8) return fail();
        v = 0;
        for (int i = 7; i >= 0; --i) v = (v << 8) | p_[i];
        p_ += 8;
        return true;
    }

    // Skips the value of a field of the given type (groups up to a small nesting depth).
    bool skip(WireType type, uint32_t field = 0, int depth = 0) {
        switch (type) {
            case kVarint: {
                uint64_t v;
                return readVarint(v);
            }
            case kFixed64: {
                uint64_t v;
                return readFixed64(v);
            }
            case kFixed32: {
                uint32_t v;
                return readFixed32(v);
            }
            case kLengthDelimited: {
                std::string_view s;
                return readLengthDelimited(s);
            }
            case kStartGroup: {
                if (depth >= 8) return fail();
                uint32_t f;
                WireType t;
                while (nextTag(f, t)) {
                    if (t == kEndGroup) return f == field ? true : fail();
                    if (!skip(t, f, depth + 1)) return false;
                }
                return fail();
            }
            case kEndGroup:
            default:
                return fail();
        }
    }

private:
    bool fail() {
        ok_ = false;
        p_ = end_;
        return false;
    }
    const uint8_t* p_;
    const uint8_t* end_;
    bool ok_ = true;
};

}  // namespace vigil::wire
