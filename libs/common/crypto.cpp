// OpenSSL-backed hashing helpers.
#include "libs/common/crypto.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace vigil::crypto {

std::string toHex(std::string_view bytes) {
    static const char* kDigits = "0123456789abcdef";
    std::string out;
    out.resize(bytes.size() * 2);
    for (size_t i = 0; i < bytes.size(); ++i) {
        auto b = static_cast<unsigned char>(bytes[i]);
        out[2 * i] = kDigits[b >> 4];
        out[2 * i + 1] = kDigits[b & 15];
    }
    return out;
}

struct Sha256::Impl {
    EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
    impl_->ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256::update(std::string_view data) { EVP_DigestUpdate(impl_->ctx, data.data(), data.size()); }

std::string Sha256::finalHex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(impl_->ctx, md, &len);
    EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
    return toHex(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string sha256Hex(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.finalHex();
}

Result<std::string> sha256FileHex(const std::string& path, uint64_t max_bytes) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return makeError("cannot open {}: {}", path, std::strerror(errno));
    Sha256 h;
    char buf[64 * 1024];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            return makeError("cannot read {}: {}", path, std::strerror(e));
        }
        if (n == 0) break;
        total += static_cast<uint64_t>(n);
        if (max_bytes != 0 && total > max_bytes) {
            ::close(fd);
            return makeError("{} is larger than {} bytes", path, max_bytes);
        }
        h.update(std::string_view(buf, static_cast<size_t>(n)));
    }
    ::close(fd);
    return h.finalHex();
}

std::string hmacSha256Hex(std::string_view key, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
    return toHex(std::string_view(reinterpret_cast<char*>(md), len));
}

bool equalConstantTime(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string randomHex(size_t bytes) {
    std::string buf(bytes, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(bytes));
    return toHex(buf);
}

}  // namespace vigil::crypto
