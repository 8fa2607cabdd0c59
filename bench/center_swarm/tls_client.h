// TLS 1.3 client side of the simulated agents: one SSL_CTX shared by every connection (mTLS
// with the agent certificate, ALPN h2, the center's name checked) and one session cache for
// the whole swarm so that reconnections resume (TLS 1.3 tickets); heap accounting for OpenSSL;
// the development PKI of --pki-dir.
// Thread-safety: TlsClientContext is immutable after create() and shared by all workers;
// TlsSessionCache slot i is read and written only by the thread that runs agent i.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "libs/common/result.h"

namespace vigil::bench {

// Each simulated agent's latest session ticket, by agent slot (0..agents-1).
class TlsSessionCache {
public:
    explicit TlsSessionCache(size_t slots) : sessions_(slots, nullptr) {}
    ~TlsSessionCache();
    TlsSessionCache(const TlsSessionCache&) = delete;
    TlsSessionCache& operator=(const TlsSessionCache&) = delete;

    SSL_SESSION* get(uint32_t slot) const { return sessions_[slot]; }
    // Takes ownership of `session` (one reference) and frees the previous one.
    void store(uint32_t slot, SSL_SESSION* session);
    void drop(uint32_t slot) { store(slot, nullptr); }

private:
    std::vector<SSL_SESSION*> sessions_;
};

struct TlsClientOptions {
    std::string ca_file, cert_file, key_file;
    std::string server_name = "vigil-center";
    bool resume_sessions = true;
};

class TlsClientContext {
public:
    // Loads the CA, the client certificate and key. `cache` (may be null: no resumption)
    // must outlive the context and every SSL made from it.
    static Result<std::unique_ptr<TlsClientContext>> create(const TlsClientOptions& options,
                                                            TlsSessionCache* cache);
    ~TlsClientContext();
    TlsClientContext(const TlsClientContext&) = delete;
    TlsClientContext& operator=(const TlsClientContext&) = delete;

    // A client SSL on the connected socket `fd` for agent `slot`, offering that agent's cached
    // session if there is one (`offered` says so). Null on failure (lastTlsError()).
    SSL* newConnection(int fd, uint32_t slot, bool* offered) const;

private:
    TlsClientContext() = default;
    SSL_CTX* ctx_ = nullptr;
    TlsSessionCache* cache_ = nullptr;
    std::string server_name_;
};

// The ALPN protocol the server selected is h2.
bool alpnIsH2(const SSL* ssl);
// Drains this thread's OpenSSL error queue into one line (empty when there was none).
std::string lastTlsError();

// Makes OpenSSL allocate through counting functions, so that openSslHeapBytes() tells how much
// it holds (TLS state per connection, sessions). Must run before any other OpenSSL call;
// false when it is too late.
bool installOpenSslHeapCounter();
int64_t openSslHeapBytes();

// Creates, in `dir`, whatever is missing of: ca.pem/ca.key, center.pem/center.key (SANs
// vigil-center, localhost, 127.0.0.1; serverAuth) and agent.pem/agent.key (clientAuth), all
// ECDSA P-256. Existing files are kept (new certificates are issued by the existing CA).
Status ensurePkiDir(const std::string& dir);

}  // namespace vigil::bench
