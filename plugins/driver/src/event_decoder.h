// Decoding of the driver's ring-buffer records (layout: plugins/driver/bpf/vigil_events.h). Every
// length is checked against the record before a byte is read; nothing is copied but the header.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "plugins/driver/bpf/vigil_events.h"

namespace vigil::driver {

// The most strings any record type carries (VG_EXECVE).
inline constexpr size_t kMaxRecordStrings = VG_EXEC_NSTR;

// One record, decoded in place. `body` and `strs` point into the input buffer: a DecodedEvent
// is valid only as long as that buffer (for a ring-buffer sample, during the callback).
// A value type; not shared between threads.
struct DecodedEvent {
    vg_header hdr{};                                         // copied out (input may be unaligned)
    std::string_view body;                                   // exactly bodySize(hdr.type) bytes
    std::array<std::string_view, kMaxRecordStrings> strs{};  // the first `nstr` are set
    size_t nstr = 0;

    // The body copied into its struct; T must be the body struct of hdr.type.
    template <class T>
    T bodyAs() const {
        static_assert(std::is_trivially_copyable_v<T>);
        assert(sizeof(T) == body.size());
        T out{};
        if (!body.empty()) std::memcpy(&out, body.data(), std::min(sizeof(T), body.size()));
        return out;
    }
    // String i of the record; "" for one the record does not carry.
    std::string_view str(size_t i) const {
        return i < nstr && i < strs.size() ? strs[i] : std::string_view();
    }
};

enum class DecodeError : uint8_t {
    kNone,
    kTooShort,        // shorter than vg_header
    kBadSize,         // hdr.size differs from the record's length, or exceeds VG_MAX_RECORD
    kUnknownType,     // hdr.type is no vg_event_type
    kBadBody,         // fewer bytes left than the type's body
    kTooManyStrings,  // hdr.nstr above the type's maximum
    kBadString,       // a length prefix or string runs past the end, or a string is too long
    kTrailingBytes,   // bytes left after the last string
};

// Stable snake_case name of an error, for logs and metric labels ("bad_string").
const char* decodeErrorName(DecodeError error);

// Size of the fixed body of a record type (0 for types without one); SIZE_MAX for an unknown
// type.
size_t bodySize(uint32_t type);
// Most strings a record type carries; 0 for an unknown type.
size_t maxStrings(uint32_t type);

// Validates one record and points `out` into it. On an error `out.nstr` is 0, and `out.hdr` is
// filled unless the error is kTooShort (so drops can be counted per type).
DecodeError decodeEvent(std::span<const uint8_t> in, DecodedEvent& out);

inline DecodeError decodeEvent(std::string_view in, DecodedEvent& out) {
    return decodeEvent(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(in.data()), in.size()), out);
}

// Builds a record as the kernel side writes it, for tests and fuzz seeds: `h` with its `size`
// and `nstr` set by the encoder, then `body` and `strs` as given (no validation, so invalid
// records can be built too). Strings longer than 65535 bytes are cut.
std::string encodeEvent(const vg_header& h, std::string_view body,
                        std::initializer_list<std::string_view> strs);

}  // namespace vigil::driver
