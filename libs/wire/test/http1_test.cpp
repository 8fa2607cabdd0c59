// HTTP/1.1 framing: heads, chunked bodies, limits and the ambiguous cases refused.
#include "libs/wire/http1.h"

#include <gtest/gtest.h>

namespace vigil::wire {
namespace {

TEST(HttpResponseHead, ParsesStatusHeadersAndFraming) {
    const std::string msg =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length:  12 \r\n"
        "X-Empty:\r\n\r\n{\"code\":0}\r\n";
    HttpResponseHead h;
    ASSERT_EQ(parseHttpResponseHead(msg, h), HttpParse::kDone);
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.head_bytes, msg.find("{"));
    ASSERT_TRUE(h.content_length.has_value());
    EXPECT_EQ(*h.content_length, 12u);
    EXPECT_FALSE(h.chunked);
    ASSERT_NE(findHttpHeader(h.headers, "content-type"), nullptr);
    EXPECT_EQ(*findHttpHeader(h.headers, "content-type"), "application/json");
    EXPECT_EQ(*findHttpHeader(h.headers, "x-empty"), "");
    EXPECT_EQ(findHttpHeader(h.headers, "Content-Type"), nullptr);  // names are lower-cased
}

TEST(HttpResponseHead, BareLineFeedsNoReasonAndHttp10) {
    HttpResponseHead h;
    ASSERT_EQ(parseHttpResponseHead("HTTP/1.0 404\nServer: x\n\nbody", h), HttpParse::kDone);
    EXPECT_EQ(h.status, 404);
    EXPECT_EQ(h.head_bytes, 24u);
    EXPECT_FALSE(h.content_length.has_value());  // runs to the end of the connection
}

TEST(HttpResponseHead, IncompleteUntilTheBlankLine) {
    const std::string msg = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    HttpResponseHead h;
    for (size_t n = 0; n < msg.size(); ++n) {
        EXPECT_EQ(parseHttpResponseHead(msg.substr(0, n), h), HttpParse::kIncomplete) << n;
    }
    EXPECT_EQ(parseHttpResponseHead(msg, h), HttpParse::kDone);
}

TEST(HttpResponseHead, ChunkedOverridesContentLength) {
    HttpResponseHead h;
    ASSERT_EQ(parseHttpResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                    "Transfer-Encoding: gzip, Chunked\r\n\r\n",
                                    h),
              HttpParse::kDone);
    EXPECT_TRUE(h.chunked);
    EXPECT_FALSE(h.content_length.has_value());
}

TEST(HttpResponseHead, RefusesMalformedAndAmbiguousHeads) {
    const char* bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    };
    for (const char* b : bad) {
        HttpResponseHead h;
        EXPECT_EQ(parseHttpResponseHead(b, h), HttpParse::kBad) << b;
    }
    // The same length twice is not ambiguous.
    HttpResponseHead h;
    EXPECT_EQ(parseHttpResponseHead(
                  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", h),
              HttpParse::kDone);
}

TEST(HttpResponseHead, HeadSizeIsBounded) {
    std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(20000, 'a');
    HttpResponseHead h;
    EXPECT_EQ(parseHttpResponseHead(big, h, 16384), HttpParse::kBad);  // even incomplete
    EXPECT_EQ(parseHttpResponseHead(big + "\r\n\r\n", h, 16384), HttpParse::kBad);
    EXPECT_EQ(parseHttpResponseHead(big + "\r\n\r\n", h, 32768), HttpParse::kDone);
    std::string many = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 101; ++i) many += "X" + std::to_string(i) + ": v\r\n";
    EXPECT_EQ(parseHttpResponseHead(many + "\r\n", h), HttpParse::kBad);
}

TEST(HttpRequestHead, ParsesMethodTargetAndPath) {
    HttpRequestHead r;
    ASSERT_EQ(parseHttpRequestHead("GET /metrics?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n", r),
              HttpParse::kDone);
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/metrics?x=1&y");
    EXPECT_EQ(r.path, "/metrics");
    EXPECT_EQ(*findHttpHeader(r.headers, "host"), "a");
    // Empty lines before the request line are tolerated.
    ASSERT_EQ(parseHttpRequestHead("\r\nHEAD / HTTP/1.0\r\n\r\n", r), HttpParse::kDone);
    EXPECT_EQ(r.method, "HEAD");
    EXPECT_EQ(r.path, "/");
}

TEST(HttpRequestHead, RefusesMalformedRequests) {
    const char* bad[] = {
        "GET /\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        "GET http://host/ HTTP/1.1\r\n\r\n",
        "GET / HTTP/3\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET /a\x01 HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "\r\n\r\n\r\n\r\n\r\n",
    };
    for (const char* b : bad) {
        HttpRequestHead r;
        EXPECT_EQ(parseHttpRequestHead(b, r), HttpParse::kBad) << b;
    }
}

TEST(HttpChunked, DecodesChunksExtensionsAndTrailers) {
    const std::string body = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n"
                             "Trailer: x\r\n\r\nNEXT";
    std::string out;
    size_t consumed = 0;
    ASSERT_EQ(decodeHttpChunked(body, out, consumed, 1024), HttpParse::kDone);
    EXPECT_EQ(out, "Wikipedia in\r\n\r\nchunks.");
    EXPECT_EQ(consumed, body.size() - 4);
    const size_t whole = consumed;
    for (size_t n = 0; n < whole; ++n) {
        EXPECT_EQ(decodeHttpChunked(body.substr(0, n), out, consumed, 1024),
                  HttpParse::kIncomplete)
            << n;
    }
    ASSERT_EQ(decodeHttpChunked("a\nabcdefghij\n0\n\n", out, consumed, 10), HttpParse::kDone);
    EXPECT_EQ(out, "abcdefghij");
}

TEST(HttpChunked, RefusesMalformedOrOversizedBodies) {
    std::string out;
    size_t consumed = 0;
    EXPECT_EQ(decodeHttpChunked("a\r\nabcdefghij\r\n0\r\n\r\n", out, consumed, 9),
              HttpParse::kBad);
    EXPECT_EQ(decodeHttpChunked("g\r\n", out, consumed, 100), HttpParse::kBad);
    EXPECT_EQ(decodeHttpChunked("\r\n", out, consumed, 100), HttpParse::kBad);
    EXPECT_EQ(decodeHttpChunked("3\r\nabcX\r\n0\r\n\r\n", out, consumed, 100), HttpParse::kBad);
    EXPECT_EQ(decodeHttpChunked("1000000000000000\r\n", out, consumed, 100), HttpParse::kBad);
    EXPECT_EQ(decodeHttpChunked(std::string(2000, '1'), out, consumed, 100), HttpParse::kBad);
}

TEST(HttpUrlEncode, KeepsUnreservedOnly) {
    EXPECT_EQ(urlEncode("hids_svr_grpc-1.2~x"), "hids_svr_grpc-1.2~x");
    EXPECT_EQ(urlEncode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    EXPECT_EQ(urlEncode(""), "");
}

}  // namespace
}  // namespace vigil::wire
