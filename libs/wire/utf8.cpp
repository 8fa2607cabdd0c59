// UTF-8 validation with an 8-bytes-at-a-time ASCII fast path.
#include "libs/wire/utf8.h"

#include <cstdint>
#include <cstring>

namespace vigil::wire {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when invalid.
size_t sequenceLength(const unsigned char* s, size_t i, size_t n) {
    unsigned char c = s[i];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; ++k) {
        if ((s[i + k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values above U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

}  // namespace

bool isValidUtf8(std::string_view sv) {
    const auto* s = reinterpret_cast<const unsigned char*>(sv.data());
    size_t n = sv.size();
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            std::memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {  // short ASCII tails (keys, numbers) without a call per byte
            ++i;
            continue;
        }
        size_t len = sequenceLength(s, i, n);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

std::string sanitizeUtf8(std::string_view sv) {
    static const char* kHex = "0123456789abcdef";
    const auto* s = reinterpret_cast<const unsigned char*>(sv.data());
    size_t n = sv.size();
    std::string out;
    out.reserve(n + 8);
    size_t i = 0;
    while (i < n) {
        size_t len = sequenceLength(s, i, n);
        if (len == 0) {
            out += "\\x";
            out += kHex[s[i] >> 4];
            out += kHex[s[i] & 15];
            ++i;
        } else {
            out.append(reinterpret_cast<const char*>(s + i), len);
            i += len;
        }
    }
    return out;
}

}  // namespace vigil::wire
