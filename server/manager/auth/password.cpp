// argon2id hashing and random tokens over libsodium.
#include "server/manager/auth/password.h"

#include <sodium.h>

#include <cstdlib>
#include <vector>

#include "libs/common/crypto.h"

namespace vigil::manager::auth {
namespace {

void ensureSodium() {
    // Idempotent and thread-safe; a failure means no usable random source: nothing is safe.
    static const bool ready = sodium_init() >= 0;
    if (!ready) std::abort();
}

std::string randomBase64Url(size_t bytes) {
    ensureSodium();
    std::vector<unsigned char> raw(bytes);
    randombytes_buf(raw.data(), raw.size());
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    std::string out(sodium_base64_encoded_len(bytes, variant), '\0');
    sodium_bin2base64(out.data(), out.size(), raw.data(), raw.size(), variant);
    out.resize(out.find('\0'));
    return out;
}

}  // namespace

Result<std::string> hashPassword(std::string_view password, HashCost cost) {
    ensureSodium();
    if (password.size() > kMaxPasswordBytes) {
        return makeError("password is longer than {} bytes", kMaxPasswordBytes);
    }
    unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    if (cost == HashCost::kModerate) {
        ops = crypto_pwhash_OPSLIMIT_MODERATE;
        mem = crypto_pwhash_MEMLIMIT_MODERATE;
    } else if (cost == HashCost::kMinimum) {
        ops = crypto_pwhash_OPSLIMIT_MIN;
        mem = crypto_pwhash_MEMLIMIT_MIN;
    }
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(out, password.data(), password.size(), ops, mem,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return makeError("argon2id: out of memory hashing a password ({} bytes needed)", mem);
    }
    return std::string(out);
}

bool verifyPassword(std::string_view password, const std::string& encoded) {
    ensureSodium();
    if (password.size() > kMaxPasswordBytes || encoded.empty()) return false;
    return crypto_pwhash_str_verify(encoded.c_str(), password.data(), password.size()) == 0;
}

std::string newSessionToken() {
    return randomBase64Url(32);
}

std::string tokenHash(std::string_view token) {
    return crypto::sha256Hex(token);
}

std::string randomPassword() {
    return randomBase64Url(18);
}

}  // namespace vigil::manager::auth
