// libFuzzer target for the HTTP/1.1 framing the agent applies to discovery answers and
// /metrics requests: response and request heads and chunked bodies on the whole input. Beyond
// "no crash, no hang": parsed sizes stay inside the input and the limits, and every strict
// prefix of a complete message is incomplete (never "done" early, never "bad").
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "libs/wire/http1.h"

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

namespace {

using vigil::wire::HttpParse;

constexpr size_t kMaxHead = 2048;
constexpr size_t kMaxBody = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzedDataProvider fdp(data, size);
    const size_t cut = fdp.ConsumeIntegral<uint16_t>();
    const std::string input = fdp.ConsumeRemainingBytesAsString();
    const std::string_view in(input);

    vigil::wire::HttpResponseHead response;
    if (vigil::wire::parseHttpResponseHead(in, response, kMaxHead) == HttpParse::kDone) {
        FUZZ_CHECK(response.head_bytes <= in.size() && response.head_bytes <= kMaxHead);
        FUZZ_CHECK(response.status >= 100 && response.status <= 999);
        FUZZ_CHECK(!(response.chunked && response.content_length));
        vigil::wire::HttpResponseHead again;
        const size_t p = cut % response.head_bytes;
        FUZZ_CHECK(vigil::wire::parseHttpResponseHead(in.substr(0, p), again, kMaxHead) ==
                   HttpParse::kIncomplete);
    }

    vigil::wire::HttpRequestHead request;
    if (vigil::wire::parseHttpRequestHead(in, request, kMaxHead) == HttpParse::kDone) {
        FUZZ_CHECK(request.head_bytes <= in.size() && request.head_bytes <= kMaxHead);
        FUZZ_CHECK(!request.path.empty() && request.path.front() == '/');
        FUZZ_CHECK(request.target.compare(0, request.path.size(), request.path) == 0);
    }

    std::string body;
    size_t consumed = 0;
    if (vigil::wire::decodeHttpChunked(in, body, consumed, kMaxBody) == HttpParse::kDone) {
        FUZZ_CHECK(consumed <= in.size() && body.size() <= kMaxBody && body.size() <= consumed);
        std::string shorter;
        size_t used = 0;
        FUZZ_CHECK(vigil::wire::decodeHttpChunked(in.substr(0, cut % consumed), shorter, used,
                                                  kMaxBody) == HttpParse::kIncomplete);
    }
    return 0;
}
