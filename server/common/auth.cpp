// AK/SK request signing and verification (DESIGN.md §3).
#include "server/common/auth.h"

#include <charconv>

#include "libs/common/crypto.h"

namespace vigil::server {
namespace {

// "/command/" and "/command" sign alike; the root path stays "/".
std::string_view trimTrailingSlash(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    return path;
}

}  // namespace

std::string signingString(std::string_view method, std::string_view path, std::string_view query,
                          std::string_view access_key, std::string_view timestamp,
                          std::string_view body) {
    std::string s;
    path = trimTrailingSlash(path);
    const std::string body_hash = body.empty() ? std::string() : crypto::sha256Hex(body);
    s.reserve(method.size() + path.size() + query.size() + access_key.size() + timestamp.size() +
              body_hash.size() + 5);
    s.append(method).append("\n");
    s.append(path).append("\n");
    s.append(query).append("\n");
    s.append(access_key).append("\n");
    s.append(timestamp).append("\n");
    s.append(body_hash);
    return s;
}

SignedHeaders sign(const AkSk& key, std::string_view method, std::string_view path,
                   std::string_view query, std::string_view body, int64_t now_unix) {
    SignedHeaders h;
    h.access_key = key.access_key;
    h.timestamp = std::to_string(now_unix);
    h.signature = crypto::hmacSha256Hex(
        key.secret_key, signingString(method, path, query, key.access_key, h.timestamp, body));
    return h;
}

Status RequestVerifier::verify(std::string_view method, std::string_view path,
                               std::string_view query, std::string_view body,
                               std::string_view access_key, std::string_view timestamp,
                               std::string_view signature, int64_t now_unix) const {
    if (access_key.empty()) return makeError("missing AccessKey header (requests must be signed)");
    if (timestamp.empty()) return makeError("missing TimeStamp header (unix seconds)");
    if (signature.empty()) return makeError("missing Signature header");
    int64_t ts = 0;
    auto [ptr, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ts);
    if (ec != std::errc() || ptr != timestamp.data() + timestamp.size() || ts < 0)
        return makeError("TimeStamp header must be unix seconds");
    const int64_t skew = now_unix > ts ? now_unix - ts : ts - now_unix;
    if (skew > window_) {
        return makeError(
            "stale TimeStamp: {} s {} the server's clock (accepted: +-{} s; check the clocks)",
            skew, ts < now_unix ? "behind" : "ahead of", window_);
    }
    auto it = keys_.find(std::string(access_key));
    if (it == keys_.end()) return makeError("unknown access key");
    const std::string expected = crypto::hmacSha256Hex(
        it->second, signingString(method, path, query, access_key, timestamp, body));
    std::string given(signature.substr(0, 128));  // hex digits in either case
    for (char& c : given) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    if (!crypto::equalConstantTime(expected, given))
        return makeError(
            "bad signature (check the secret key and what was signed: method, path, query, body)");
    return okStatus();
}

}  // namespace vigil::server
