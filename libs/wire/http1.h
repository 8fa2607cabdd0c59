// HTTP/1.1 message framing for the agent's two small HTTP uses (the discovery GET and the
// /metrics endpoint): request and response heads, chunked bodies, query encoding. Pure
// functions over bytes, no sockets (libs/common/http.h does the I/O), so they can be fuzzed.
// Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::wire {

enum class HttpParse : uint8_t {
    kIncomplete,  // more bytes are needed
    kDone,        // parsed; see the out parameter
    kBad,         // malformed or over a size limit: close the connection
};

// Header names are lower-cased; values have surrounding blanks removed.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponseHead {
    int status = 0;
    HttpHeaders headers;
    size_t head_bytes = 0;  // status line and headers, up to and including the blank line
    bool chunked = false;   // the body is chunked (Transfer-Encoding ends with "chunked")
    std::optional<uint64_t> content_length;  // absent: the body runs to the end of the stream
};

struct HttpRequestHead {
    std::string method;  // as sent (methods are case-sensitive)
    std::string target;  // as sent, e.g. "/registry/detail?name=x"
    std::string path;    // target without its query
    HttpHeaders headers;
    size_t head_bytes = 0;
    std::optional<uint64_t> content_length;
    bool chunked = false;
};

// Lines may end in CRLF or a bare LF (lenient, as most servers are). A head longer than
// max_head_bytes is kBad even when incomplete, so a peer cannot make us buffer without bound.
HttpParse parseHttpResponseHead(std::string_view data, HttpResponseHead& out,
                                size_t max_head_bytes = 16 * 1024);
HttpParse parseHttpRequestHead(std::string_view data, HttpRequestHead& out,
                               size_t max_head_bytes = 16 * 1024);

// Decodes a chunked body that starts at data[0] (right after the head). kDone when the last
// chunk and the trailers are complete: `body` holds the payload and `consumed` the bytes used.
// kBad when malformed or when the payload would exceed max_body_bytes.
HttpParse decodeHttpChunked(std::string_view data, std::string& body, size_t& consumed,
                            size_t max_body_bytes);

// Percent-encodes everything but RFC 3986 unreserved characters (for query values).
std::string urlEncode(std::string_view s);

// The first value of a header (name in lower case), or nullptr.
const std::string* findHttpHeader(const HttpHeaders& headers, std::string_view name);

}  // namespace vigil::wire
