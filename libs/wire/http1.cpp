// HTTP/1.1 head parsing, chunked decoding and query encoding.
#include "libs/wire/http1.h"

#include <charconv>

namespace vigil::wire {
namespace {

constexpr size_t kMaxHeaders = 100;
constexpr size_t kMaxChunkLine = 1024;  // chunk size line with extensions, or one trailer

bool isTokenChar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
        case '-': case '.': case '^': case '_': case '`': case '|': case '~':
            return true;
        default:
            return false;
    }
}

bool isToken(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        if (!isTokenChar(c)) return false;
    }
    return true;
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equalsLower(std::string_view a, std::string_view lower_b) {
    if (a.size() != lower_b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower_b[i]) return false;
    }
    return true;
}

std::string_view trimBlanks(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The next line starting at `pos` without its terminator (LF or CRLF); false when no LF yet.
bool nextLine(std::string_view data, size_t& pos, std::string_view& line) {
    const size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) return false;
    line = data.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    return true;
}

// Splits the head into its start line and header fields. kIncomplete until the blank line.
struct Head {
    std::string_view start_line;
    HttpHeaders headers;
    size_t bytes = 0;
    std::optional<uint64_t> content_length;
    bool has_transfer_encoding = false;
    bool chunked = false;
};

HttpParse splitHead(std::string_view data, size_t max_head_bytes, Head& head) {
    size_t pos = 0;
    std::string_view line;
    // Robustness (RFC 9112 2.2): empty lines before the start line are ignored.
    do {
        if (!nextLine(data, pos, line)) {
            return data.size() > max_head_bytes ? HttpParse::kBad : HttpParse::kIncomplete;
        }
    } while (line.empty() && pos < 8);
    if (line.empty()) return HttpParse::kBad;
    head.start_line = line;
    for (;;) {
        if (!nextLine(data, pos, line)) {
            return data.size() > max_head_bytes ? HttpParse::kBad : HttpParse::kIncomplete;
        }
        if (pos > max_head_bytes) return HttpParse::kBad;
        if (line.empty()) break;
        // Folded continuation lines are obsolete and a smuggling vector: refuse them.
        if (line.front() == ' ' || line.front() == '\t') return HttpParse::kBad;
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos || !isToken(line.substr(0, colon))) {
            return HttpParse::kBad;
        }
        if (head.headers.size() >= kMaxHeaders) return HttpParse::kBad;
        std::string name(line.substr(0, colon));
        for (char& c : name) c = lower(c);
        const std::string_view value = trimBlanks(line.substr(colon + 1));
        if (name == "content-length") {
            uint64_t n = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
                return HttpParse::kBad;
            }
            // Two different lengths make the framing ambiguous.
            if (head.content_length && *head.content_length != n) return HttpParse::kBad;
            head.content_length = n;
        } else if (name == "transfer-encoding") {
            head.has_transfer_encoding = true;
            const size_t comma = value.rfind(',');
            const std::string_view last =
                trimBlanks(comma == std::string_view::npos ? value : value.substr(comma + 1));
            head.chunked = equalsLower(last, "chunked");
        }
        head.headers.emplace_back(std::move(name), std::string(value));
    }
    head.bytes = pos;
    return HttpParse::kDone;
}

// "HTTP/1.0" or "HTTP/1.1".
bool isHttp1Version(std::string_view v) {
    return v.size() == 8 && v.substr(0, 7) == "HTTP/1." && (v[7] == '0' || v[7] == '1');
}

bool isHexDigit(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

HttpParse parseHttpResponseHead(std::string_view data, HttpResponseHead& out,
                                size_t max_head_bytes) {
    out = HttpResponseHead{};
    Head head;
    const HttpParse r = splitHead(data, max_head_bytes, head);
    if (r != HttpParse::kDone) return r;
    // HTTP/1.1 SP 3DIGIT [SP reason]
    const std::string_view line = head.start_line;
    if (line.size() < 12 || !isHttp1Version(line.substr(0, 8)) || line[8] != ' ') {
        return HttpParse::kBad;
    }
    const std::string_view code = line.substr(9, 3);
    for (char c : code) {
        if (c < '0' || c > '9') return HttpParse::kBad;
    }
    if (line.size() > 12 && line[12] != ' ') return HttpParse::kBad;
    out.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (out.status < 100) return HttpParse::kBad;
    out.headers = std::move(head.headers);
    out.head_bytes = head.bytes;
    // Transfer-Encoding overrides Content-Length (RFC 9112 6.3).
    out.chunked = head.chunked;
    if (!head.has_transfer_encoding) out.content_length = head.content_length;
    return HttpParse::kDone;
}

HttpParse parseHttpRequestHead(std::string_view data, HttpRequestHead& out,
                               size_t max_head_bytes) {
    out = HttpRequestHead{};
    Head head;
    const HttpParse r = splitHead(data, max_head_bytes, head);
    if (r != HttpParse::kDone) return r;
    // METHOD SP origin-form SP HTTP/1.x
    const std::string_view line = head.start_line;
    const size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return HttpParse::kBad;
    const size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return HttpParse::kBad;
    }
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (!isToken(method) || target.empty() || target.front() != '/' ||
        !isHttp1Version(line.substr(sp2 + 1))) {
        return HttpParse::kBad;
    }
    for (char c : target) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return HttpParse::kBad;
    }
    // A request body we could not frame would be read as the next request: refuse it.
    if (head.has_transfer_encoding && !head.chunked) return HttpParse::kBad;
    out.method.assign(method);
    out.target.assign(target);
    out.path.assign(target.substr(0, target.find('?')));
    out.headers = std::move(head.headers);
    out.head_bytes = head.bytes;
    out.chunked = head.chunked;
    if (!head.has_transfer_encoding) out.content_length = head.content_length;
    return HttpParse::kDone;
}

HttpParse decodeHttpChunked(std::string_view data, std::string& body, size_t& consumed,
                            size_t max_body_bytes) {
    body.clear();
    consumed = 0;
    size_t pos = 0;
    std::string_view line;
    for (;;) {
        const size_t line_start = pos;
        if (!nextLine(data, pos, line)) {
            return data.size() - line_start > kMaxChunkLine ? HttpParse::kBad
                                                            : HttpParse::kIncomplete;
        }
        if (pos - line_start > kMaxChunkLine) return HttpParse::kBad;
        // chunk-size [; extensions]: extensions carry nothing we use.
        const std::string_view size_text = trimBlanks(line.substr(0, line.find(';')));
        if (size_text.empty() || size_text.size() > 15) return HttpParse::kBad;
        uint64_t size = 0;
        for (char c : size_text) {
            if (!isHexDigit(c)) return HttpParse::kBad;
            size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : (lower(c) - 'a' + 10));
        }
        if (size == 0) break;
        if (size > max_body_bytes - body.size()) return HttpParse::kBad;
        if (data.size() - pos < size) return HttpParse::kIncomplete;
        body.append(data.substr(pos, size));
        pos += size;
        // The chunk's own line end.
        if (pos >= data.size()) return HttpParse::kIncomplete;
        if (data[pos] == '\r') {
            if (pos + 1 >= data.size()) return HttpParse::kIncomplete;
            if (data[pos + 1] != '\n') return HttpParse::kBad;
            pos += 2;
        } else if (data[pos] == '\n') {
            pos += 1;
        } else {
            return HttpParse::kBad;
        }
    }
    // Trailer fields up to a blank line; ignored.
    for (;;) {
        const size_t line_start = pos;
        if (!nextLine(data, pos, line)) {
            return data.size() - line_start > kMaxChunkLine ? HttpParse::kBad
                                                            : HttpParse::kIncomplete;
        }
        if (pos - line_start > kMaxChunkLine) return HttpParse::kBad;
        if (line.empty()) break;
    }
    consumed = pos;
    return HttpParse::kDone;
}

std::string urlEncode(std::string_view s) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

const std::string* findHttpHeader(const HttpHeaders& headers, std::string_view name) {
    for (const auto& [k, v] : headers) {
        if (k == name) return &v;
    }
    return nullptr;
}

}  // namespace vigil::wire
