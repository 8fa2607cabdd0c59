// Keyset cursors: hex of "<kind>\0<part>\0<part>...".
#include "server/manager/store/cursor.h"

#include <charconv>

#include "libs/common/crypto.h"

namespace vigil::manager {

namespace {

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string encodeCursor(std::string_view kind, const std::vector<std::string>& parts) {
    std::string raw(kind);
    for (const auto& p : parts) {
        raw += '\0';
        raw += p;
    }
    return crypto::toHex(raw);
}

Result<std::vector<std::string>> decodeCursor(std::string_view cursor, std::string_view kind,
                                              size_t parts) {
    constexpr size_t kMaxCursor = 4096;
    if (cursor.size() % 2 != 0 || cursor.size() > kMaxCursor) {
        return makeError("bad cursor: not one this server made (use next_cursor as given)");
    }
    std::string raw;
    raw.reserve(cursor.size() / 2);
    for (size_t i = 0; i < cursor.size(); i += 2) {
        const int hi = hexDigit(cursor[i]), lo = hexDigit(cursor[i + 1]);
        if (hi < 0 || lo < 0) {
            return makeError("bad cursor: not one this server made (use next_cursor as given)");
        }
        raw += static_cast<char>(hi * 16 + lo);
    }
    std::vector<std::string> fields;
    size_t at = 0;
    for (;;) {
        const size_t nul = raw.find('\0', at);
        fields.push_back(raw.substr(at, nul == std::string::npos ? nul : nul - at));
        if (nul == std::string::npos) break;
        at = nul + 1;
    }
    if (fields.front() != kind || fields.size() != parts + 1) {
        return makeError("bad cursor: it belongs to another list or sort order");
    }
    fields.erase(fields.begin());
    return fields;
}

Result<int64_t> cursorInteger(const std::string& part) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc() || end != part.data() + part.size() || part.empty()) {
        return makeError("bad cursor: damaged key");
    }
    return v;
}

}  // namespace vigil::manager
