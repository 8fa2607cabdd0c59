// TlsClientContext and TlsSessionCache on OpenSSL 3; counting allocator; --pki-dir.
#include "bench/center_swarm/tls_client.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "libs/common/fs.h"
#include "libs/common/pki.h"

namespace vigil::bench {
namespace {

constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};

// ex_data indexes: the session cache on the SSL_CTX, the agent slot (+1) on each SSL.
int g_ctx_cache_index = -1;
int g_ssl_slot_index = -1;
std::once_flag g_index_once;

void initIndexes() {
    std::call_once(g_index_once, [] {
        g_ctx_cache_index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
        g_ssl_slot_index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    });
}

// Called for every ticket the center sends (after the handshake in TLS 1.3); keeps the latest.
int onNewSession(SSL* ssl, SSL_SESSION* session) {
    auto* cache = static_cast<TlsSessionCache*>(
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), g_ctx_cache_index));
    const auto slot = reinterpret_cast<uintptr_t>(SSL_get_ex_data(ssl, g_ssl_slot_index));
    if (!cache || slot == 0 || !SSL_SESSION_is_resumable(session)) return 0;
    cache->store(static_cast<uint32_t>(slot - 1), session);
    return 1;  // we keep the reference
}

std::atomic<int64_t> g_openssl_bytes{0};

void* countingMalloc(size_t n, const char*, int) {
    void* p = std::malloc(n);
    if (p) g_openssl_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(p)),
                                     std::memory_order_relaxed);
    return p;
}

void* countingRealloc(void* p, size_t n, const char*, int) {
    const int64_t old = p ? static_cast<int64_t>(malloc_usable_size(p)) : 0;
    if (n == 0) {
        std::free(p);
        g_openssl_bytes.fetch_sub(old, std::memory_order_relaxed);
        return nullptr;
    }
    void* q = std::realloc(p, n);
    if (q) {
        g_openssl_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(q)) - old,
                                  std::memory_order_relaxed);
    }
    return q;
}

void countingFree(void* p, const char*, int) {
    if (!p) return;
    g_openssl_bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)),
                              std::memory_order_relaxed);
    std::free(p);
}

}  // namespace

TlsSessionCache::~TlsSessionCache() {
    for (SSL_SESSION* s : sessions_) SSL_SESSION_free(s);
}

void TlsSessionCache::store(uint32_t slot, SSL_SESSION* session) {
    SSL_SESSION*& cur = sessions_[slot];
    if (cur) SSL_SESSION_free(cur);
    cur = session;
}

Result<std::unique_ptr<TlsClientContext>> TlsClientContext::create(
    const TlsClientOptions& options, TlsSessionCache* cache) {
    initIndexes();
    std::unique_ptr<TlsClientContext> c(new TlsClientContext());
    c->ctx_ = SSL_CTX_new(TLS_client_method());
    if (!c->ctx_) return makeError("SSL_CTX_new: {}", lastTlsError());
    SSL_CTX* ctx = c->ctx_;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    // Per-connection buffers (~34 KB) are given back while a connection is idle.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
        return makeError("CA {}: {}", options.ca_file, lastTlsError());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
        return makeError("certificate {}: {}", options.cert_file, lastTlsError());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        return makeError("key {}: {}", options.key_file, lastTlsError());
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        return makeError("key {} does not match {}: {}", options.key_file, options.cert_file,
                         lastTlsError());
    }
    if (SSL_CTX_set_alpn_protos(ctx, kAlpnH2, sizeof(kAlpnH2)) != 0) {
        return makeError("ALPN: {}", lastTlsError());
    }
    if (options.resume_sessions && cache) {
        c->cache_ = cache;
        SSL_CTX_set_ex_data(ctx, g_ctx_cache_index, cache);
        // Client-side caching only through our callback: OpenSSL keeps no list of its own.
        SSL_CTX_set_session_cache_mode(ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, onNewSession);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    c->server_name_ = options.server_name;
    return c;
}

TlsClientContext::~TlsClientContext() {
    SSL_CTX_free(ctx_);
}

SSL* TlsClientContext::newConnection(int fd, uint32_t slot, bool* offered) const {
    *offered = false;
    SSL* ssl = SSL_new(ctx_);
    if (!ssl) return nullptr;
    if (SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, server_name_.c_str()) != 1 ||
        SSL_set1_host(ssl, server_name_.c_str()) != 1) {
        SSL_free(ssl);
        return nullptr;
    }
    SSL_set_ex_data(ssl, g_ssl_slot_index, reinterpret_cast<void*>(uintptr_t{slot} + 1));
    if (cache_) {
        if (SSL_SESSION* s = cache_->get(slot)) {
            SSL_set_session(ssl, s);
            *offered = true;
        }
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

bool alpnIsH2(const SSL* ssl) {
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    return len == 2 && proto[0] == 'h' && proto[1] == '2';
}

std::string lastTlsError() {
    std::string out;
    char buf[256];
    while (unsigned long e = ERR_get_error()) {
        ERR_error_string_n(e, buf, sizeof(buf));
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

bool installOpenSslHeapCounter() {
    return CRYPTO_set_mem_functions(countingMalloc, countingRealloc, countingFree) == 1;
}

int64_t openSslHeapBytes() {
    return g_openssl_bytes.load(std::memory_order_relaxed);
}

Status ensurePkiDir(const std::string& dir) {
    VIGIL_TRY(fs::makeDirs(dir, 0700));
    const std::string ca_pem = dir + "/ca.pem", ca_key = dir + "/ca.key";
    pki::CertKey ca;
    if (!fs::exists(ca_pem)) {
        pki::CaOptions o;
        o.common_name = "Vigil development CA";
        auto created = pki::createCa(o);
        if (!created) return makeError("creating the CA: {}", created.message());
        ca = std::move(created.value());
        VIGIL_TRY(pki::writePem(ca, ca_pem, ca_key));
    } else {
        auto read = pki::readPem(ca_pem, ca_key);
        if (!read) return makeError("reading the CA in {}: {}", dir, read.message());
        ca = std::move(read.value());
    }
    struct Leaf {
        const char* name;
        pki::IssueOptions options;
    };
    Leaf leaves[] = {
        {"center", {.common_name = "vigil-center",
                    .usage = pki::Usage::kServer,
                    .dns_names = {"vigil-center", "localhost"},
                    .ip_addresses = {"127.0.0.1"}}},
        {"agent", {.common_name = "vigil-agent", .usage = pki::Usage::kClient}},
    };
    for (const Leaf& leaf : leaves) {
        const std::string cert = dir + "/" + leaf.name + ".pem";
        const std::string key = dir + "/" + leaf.name + ".key";
        if (fs::exists(cert) && fs::exists(key)) continue;
        auto issued = pki::issue(ca, leaf.options);
        if (!issued) return makeError("issuing {}: {}", cert, issued.message());
        VIGIL_TRY(pki::writePem(issued.value(), cert, key));
    }
    return okStatus();
}

}  // namespace vigil::bench
