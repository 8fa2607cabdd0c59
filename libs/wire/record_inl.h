// Template implementations for record.h.
#pragma once

#include <charconv>

#include "libs/wire/proto_wire.h"

namespace vigil::wire {

template <typename Fn>
bool forEachField(std::string_view payload, Fn&& fn) {
    ProtoReader r(payload);
    uint32_t field;
    WireType type;
    while (r.nextTag(field, type)) {
        if (field == 1 && type == kLengthDelimited) {
            std::string_view entry;
            if (!r.readLengthDelimited(entry)) return false;
            ProtoReader e(entry);
            std::string_view key, value;
            uint32_t f;
            WireType t;
            while (e.nextTag(f, t)) {
                if (f == 1 && t == kLengthDelimited) {
                    if (!e.readLengthDelimited(key)) return false;
                } else if (f == 2 && t == kLengthDelimited) {
                    if (!e.readLengthDelimited(value)) return false;
                } else if (!e.skip(t, f)) {
                    return false;
                }
            }
            if (!e.ok()) return false;
            fn(key, value);
        } else if (!r.skip(type, field)) {
            return false;
        }
    }
    return r.ok();
}

template <std::integral T>
std::string_view RecordEncoder::formatInt(char* buf, T value) {
    if constexpr (std::is_same_v<T, bool>) {
        return value ? std::string_view("true") : std::string_view("false");
    } else {
        auto res = std::to_chars(buf, buf + 24, value);
        return std::string_view(buf, static_cast<size_t>(res.ptr - buf));
    }
}

}  // namespace vigil::wire
