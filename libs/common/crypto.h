// Hashing and MAC helpers over OpenSSL: sha256 of buffers and files, HMAC-SHA256, hex, random.
// Stateless and thread-safe, except Sha256 (one instance per thread).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "libs/common/result.h"

namespace vigil::crypto {

std::string toHex(std::string_view bytes);
std::string sha256Hex(std::string_view data);
// Streams the file; `max_bytes` guards against unbounded reads (0 = no limit).
Result<std::string> sha256FileHex(const std::string& path, uint64_t max_bytes = 0);
std::string hmacSha256Hex(std::string_view key, std::string_view data);
// Constant-time comparison for MACs and tokens.
bool equalConstantTime(std::string_view a, std::string_view b);
std::string randomHex(size_t bytes);

// Incremental sha256 (downloads hash while they write).
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(std::string_view data);
    std::string finalHex();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::crypto
