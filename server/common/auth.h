// AK/SK request signing between services (DESIGN.md §3, Elkeid-compatible): the caller sends
// headers AccessKey, TimeStamp (unix seconds) and Signature = hex(HMAC-SHA256(SK,
// "METHOD\nPATH\nQUERY\nAK\nTIMESTAMP\nhex(sha256(body))")), PATH without a trailing slash,
// the sha256 part empty for an empty body. The receiver accepts a timestamp within +-60 s.
// Stateless functions and an immutable verifier: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "libs/common/result.h"

namespace vigil::server {

struct AkSk {
    std::string access_key;
    std::string secret_key;
};

struct SignedHeaders {
    std::string access_key;
    std::string timestamp;
    std::string signature;
};

// The string that is MACed.
std::string signingString(std::string_view method, std::string_view path, std::string_view query,
                          std::string_view access_key, std::string_view timestamp,
                          std::string_view body);
SignedHeaders sign(const AkSk& key, std::string_view method, std::string_view path,
                   std::string_view query, std::string_view body, int64_t now_unix);

// Checks requests against a set of keys (access key -> secret key).
class RequestVerifier {
public:
    explicit RequestVerifier(std::map<std::string, std::string> keys, int64_t window_seconds = 60)
        : keys_(std::move(keys)), window_(window_seconds) {}
    // Ok, or an Error whose message says why (missing header, stale timestamp, unknown key,
    // bad signature) without revealing secrets.
    Status verify(std::string_view method, std::string_view path, std::string_view query,
                  std::string_view body, std::string_view access_key, std::string_view timestamp,
                  std::string_view signature, int64_t now_unix) const;
    bool enabled() const { return !keys_.empty(); }

private:
    std::map<std::string, std::string> keys_;
    int64_t window_;
};

}  // namespace vigil::server
