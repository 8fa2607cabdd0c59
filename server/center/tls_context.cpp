#include "server/center/tls_context.h"

#include <dlfcn.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <mutex>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::center {
namespace {

constexpr size_t kKeyBytes = 80;  // OpenSSL's SSL_CTX_set_tlsext_ticket_keys layout

std::mutex g_mu;
std::array<unsigned char, kKeyBytes> g_key{};
std::atomic<bool> g_installed{false};
std::atomic<bool> g_release_buffers{false};
std::atomic<metrics::Counter*> g_ticket_resumed{nullptr};
std::atomic<metrics::Counter*> g_ticket_refused{nullptr};

// OpenSSL's default decisions, plus counting: a ticket that decrypts resumes the session; one
// that does not (another key, expired key) gets a full handshake and a new ticket.
SSL_TICKET_RETURN onTicket(SSL*, SSL_SESSION*, const unsigned char*, size_t,
                           SSL_TICKET_STATUS status, void*) {
    auto count = [](const std::atomic<metrics::Counter*>& c) {
        if (metrics::Counter* p = c.load(std::memory_order_acquire)) p->inc();
    };
    switch (status) {
        case SSL_TICKET_SUCCESS:
            count(g_ticket_resumed);
            return SSL_TICKET_RETURN_USE;
        case SSL_TICKET_SUCCESS_RENEW:
            count(g_ticket_resumed);
            return SSL_TICKET_RETURN_USE_RENEW;
        case SSL_TICKET_NO_DECRYPT:
            count(g_ticket_refused);
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        case SSL_TICKET_EMPTY:
        case SSL_TICKET_NONE:
            return SSL_TICKET_RETURN_IGNORE_RENEW;
        default:  // SSL_TICKET_FATAL_ERR_MALLOC, SSL_TICKET_FATAL_ERR_OTHER
            return SSL_TICKET_RETURN_ABORT;
    }
}

void configure(SSL_CTX* ctx) {
    if (g_release_buffers.load(std::memory_order_acquire)) {
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    }
    if (!g_installed.load(std::memory_order_acquire)) return;
    std::array<unsigned char, kKeyBytes> key;
    {
        std::lock_guard lock(g_mu);
        key = g_key;
    }
    SSL_CTX_set_tlsext_ticket_keys(ctx, key.data(), key.size());
    SSL_CTX_set_session_ticket_cb(ctx, nullptr, onTicket, nullptr);
}

Result<std::string> createKey(const std::string& path) {
    std::array<unsigned char, kKeyBytes> key{};
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
        return makeError("TLS ticket key: no randomness from OpenSSL");
    }
    if (Status st = fs::makeDirs(fs::dirName(path), 0700); !st.ok()) {
        return makeError("TLS ticket key: {}", st.message());
    }
    std::string bytes(reinterpret_cast<const char*>(key.data()), key.size());
    Status st = fs::writeFileAtomic(path, bytes, 0600);
    if (!st.ok()) return makeError("TLS ticket key: {}", st.message());
    return bytes;
}

}  // namespace

Result<TicketKeyInfo> installTicketKeys(const std::string& path, std::chrono::seconds max_age) {
    TicketKeyInfo info;
    struct stat sb {};
    const bool exists = ::stat(path.c_str(), &sb) == 0;
    bool stale = false;
    if (exists) {
        if ((sb.st_mode & 077) != 0) {
            return makeError("TLS ticket key {} is readable by others (mode {:o}); it must be 0600",
                             path, sb.st_mode & 0777);
        }
        const auto age =
            std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(sb.st_mtime);
        stale = max_age.count() > 0 && age > max_age;
    }
    std::string bytes;
    if (!exists || stale) {
        auto made = createKey(path);
        if (!made.ok()) return made.error();
        bytes = std::move(*made);
        info.created = true;
    } else {
        auto read = fs::readFile(path, 4096);
        if (!read.ok()) return makeError("TLS ticket key: {}", read.message());
        if (read->size() != kKeyBytes) {
            return makeError(
                "TLS ticket key {} has {} bytes, expected {} (delete it to make a new one)", path,
                read->size(), kKeyBytes);
        }
        bytes = std::move(*read);
    }
    {
        std::lock_guard lock(g_mu);
        std::copy(bytes.begin(), bytes.end(), g_key.begin());
    }
    g_installed.store(true, std::memory_order_release);
    info.name_hex = crypto::toHex(std::string_view(bytes).substr(0, 4));
    return info;
}

void clearTicketKeys() {
    g_installed.store(false, std::memory_order_release);
}

void countTicketResumptions(metrics::Registry& registry) {
    const std::string help =
        "TLS session tickets agents offered, by result (resumed: no full handshake)";
    g_ticket_resumed.store(
        &registry.counter("vigil_center_tls_tickets_total", help, {{"result", "resumed"}}));
    g_ticket_refused.store(
        &registry.counter("vigil_center_tls_tickets_total", help, {{"result", "refused"}}));
}

void releaseIdleTlsBuffers(bool on) {
    g_release_buffers.store(on, std::memory_order_release);
}

}  // namespace vigil::center

// Every SSL_CTX of the process (gRPC's server contexts included) starts with the settings above.
// The real function is libssl's, found with RTLD_NEXT.
extern "C" SSL_CTX* SSL_CTX_new(const SSL_METHOD* method) {
    using Fn = SSL_CTX* (*)(const SSL_METHOD*);
    static Fn real = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, "SSL_CTX_new"));
    if (real == nullptr) return nullptr;
    SSL_CTX* ctx = real(method);
    if (ctx != nullptr) vigil::center::configure(ctx);
    return ctx;
}
