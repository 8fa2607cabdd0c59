// TLS session tickets: the key file, and resumption on a server context made later (a restarted
// center) with the same key, through real TLS 1.3 handshakes over memory BIOs.
#include "server/center/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "libs/common/fs.h"
#include "libs/common/pki.h"

namespace vigil::center {
namespace {

std::string tempDir(const char* name) {
    std::string dir = ::testing::TempDir() + "/" + name + "-" + std::to_string(::getpid());
    (void)fs::removeAll(dir);
    return dir;
}

X509* certOf(const std::string& pem) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    return x;
}

EVP_PKEY* keyOf(const std::string& pem) {
    BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    return k;
}

struct Pki {
    pki::CertKey ca, server, client;
    Pki() {
        ca = *pki::createCa("tickets test CA", 1);
        server = *pki::issue(ca, {.common_name = "vigil-center",
                                  .usage = pki::Usage::kServer,
                                  .dns_names = {"vigil-center"}});
        client = *pki::issue(ca, {.common_name = "agent-1", .usage = pki::Usage::kClient});
    }
};

void useCert(SSL_CTX* ctx, const pki::CertKey& ck, const std::string& ca_pem) {
    X509* cert = certOf(ck.cert_pem);
    EVP_PKEY* key = keyOf(ck.key_pem);
    ASSERT_EQ(SSL_CTX_use_certificate(ctx, cert), 1);
    ASSERT_EQ(SSL_CTX_use_PrivateKey(ctx, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    X509* ca = certOf(ca_pem);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    X509_free(ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
}

// A server context as gRPC makes one: mutual TLS, a session id context, no ticket options.
SSL_CTX* serverCtx(const Pki& p) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    useCert(ctx, p.server, p.ca.cert_pem);
    static const unsigned char kSid[] = "vigil-test";
    SSL_CTX_set_session_id_context(ctx, kSid, sizeof(kSid) - 1);
    return ctx;
}

// Moves bytes between the two ends until both handshakes are done (or nothing moves).
// Returns the client's session (with its ticket) or null.
SSL_SESSION* connect(SSL_CTX* client_ctx, SSL_CTX* server_ctx, SSL_SESSION* resume, bool* reused) {
    SSL* c = SSL_new(client_ctx);
    SSL* s = SSL_new(server_ctx);
    BIO *c_io = nullptr, *s_io = nullptr;
    BIO_new_bio_pair(&c_io, 0, &s_io, 0);
    SSL_set_bio(c, c_io, c_io);
    SSL_set_bio(s, s_io, s_io);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    SSL_set_tlsext_host_name(c, "vigil-center");
    if (resume) SSL_set_session(c, resume);
    bool c_done = false, s_done = false;
    char buf[64];
    for (int round = 0; round < 100 && !(c_done && s_done); ++round) {
        if (!c_done) c_done = SSL_do_handshake(c) == 1;
        if (!s_done) s_done = SSL_do_handshake(s) == 1;
    }
    SSL_SESSION* out = nullptr;
    if (c_done && s_done) {
        // TLS 1.3 tickets come after the handshake: the server writes, the client reads.
        SSL_write(s, "x", 1);
        for (int round = 0; round < 10; ++round) {
            if (SSL_read(c, buf, sizeof(buf)) > 0) break;
        }
        *reused = SSL_session_reused(c) == 1;
        out = SSL_get1_session(c);
        SSL_shutdown(c);  // without close_notify, OpenSSL marks the session not resumable
    }
    SSL_free(c);
    SSL_free(s);
    return out;
}

class TlsTickets : public ::testing::Test {
protected:
    void TearDown() override { clearTicketKeys(); }
    Pki pki_;
};

TEST(TlsContext, ReleaseIdleBuffersReachesEveryNewContext) {
    releaseIdleTlsBuffers(false);
    SSL_CTX* before = SSL_CTX_new(TLS_server_method());
    EXPECT_EQ(SSL_CTX_get_mode(before) & SSL_MODE_RELEASE_BUFFERS, 0);
    releaseIdleTlsBuffers(true);
    SSL_CTX* after = SSL_CTX_new(TLS_server_method());
    EXPECT_NE(SSL_CTX_get_mode(after) & SSL_MODE_RELEASE_BUFFERS, 0);
    releaseIdleTlsBuffers(false);
    SSL_CTX_free(before);
    SSL_CTX_free(after);
}

TEST_F(TlsTickets, KeyFileIsCreatedPrivateAndReused) {
    const std::string dir = tempDir("tickets-file");
    const std::string path = dir + "/tls/ticket.key";
    auto first = installTicketKeys(path, std::chrono::hours(24));
    ASSERT_TRUE(first.ok()) << first.message();
    EXPECT_TRUE(first->created);
    struct stat sb {};
    ASSERT_EQ(::stat(path.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 0777, 0600u);
    EXPECT_EQ(sb.st_size, 80);
    auto second = installTicketKeys(path, std::chrono::hours(24));
    ASSERT_TRUE(second.ok()) << second.message();
    EXPECT_FALSE(second->created);
    EXPECT_EQ(second->name_hex, first->name_hex);

    // Older than max_age: replaced.
    struct utimbuf old {
        ::time(nullptr) - 2 * 86400, ::time(nullptr) - 2 * 86400
    };
    ASSERT_EQ(::utime(path.c_str(), &old), 0);
    auto third = installTicketKeys(path, std::chrono::hours(24));
    ASSERT_TRUE(third.ok()) << third.message();
    EXPECT_TRUE(third->created);
    EXPECT_NE(third->name_hex, first->name_hex);
    (void)fs::removeAll(dir);
}

TEST_F(TlsTickets, BadKeyFilesAreRefusedWithTheReason) {
    const std::string dir = tempDir("tickets-bad");
    ASSERT_TRUE(fs::makeDirs(dir, 0700).ok());
    ASSERT_TRUE(fs::writeFileAtomic(dir + "/short.key", "abc", 0600).ok());
    auto r = installTicketKeys(dir + "/short.key", std::chrono::seconds(0));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("has 3 bytes, expected 80"), std::string::npos) << r.message();
    ASSERT_TRUE(fs::writeFileAtomic(dir + "/open.key", std::string(80, 'k'), 0644).ok());
    r = installTicketKeys(dir + "/open.key", std::chrono::seconds(0));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("must be 0600"), std::string::npos) << r.message();
    (void)fs::removeAll(dir);
}

TEST_F(TlsTickets, SessionResumesOnALaterContextWithTheSameKeyOnly) {
    const std::string dir = tempDir("tickets-resume");
    ASSERT_TRUE(installTicketKeys(dir + "/a.key", std::chrono::seconds(0)).ok());
    SSL_CTX* client = SSL_CTX_new(TLS_client_method());
    useCert(client, pki_.client, pki_.ca.cert_pem);

    SSL_CTX* before_restart = serverCtx(pki_);
    bool reused = true;
    SSL_SESSION* session = connect(client, before_restart, nullptr, &reused);
    ASSERT_NE(session, nullptr) << ERR_error_string(ERR_get_error(), nullptr);
    EXPECT_FALSE(reused);
    ASSERT_EQ(SSL_SESSION_is_resumable(session), 1);
    {
        SSL_SESSION* same = connect(client, before_restart, session, &reused);
        ASSERT_NE(same, nullptr);
        EXPECT_TRUE(reused) << "the same server did not resume the session";
        SSL_SESSION_free(same);
    }
    SSL_CTX_free(before_restart);

    // "Restart": a new server context, same key file -> the ticket is accepted.
    ASSERT_TRUE(installTicketKeys(dir + "/a.key", std::chrono::seconds(0)).ok());
    SSL_CTX* after_restart = serverCtx(pki_);
    SSL_SESSION* again = connect(client, after_restart, session, &reused);
    ASSERT_NE(again, nullptr);
    EXPECT_TRUE(reused) << "the restarted server did not resume the session";
    SSL_SESSION_free(again);
    SSL_CTX_free(after_restart);

    // Another key: a full handshake, which still succeeds.
    ASSERT_TRUE(installTicketKeys(dir + "/b.key", std::chrono::seconds(0)).ok());
    SSL_CTX* other_key = serverCtx(pki_);
    SSL_SESSION* full = connect(client, other_key, session, &reused);
    ASSERT_NE(full, nullptr);
    EXPECT_FALSE(reused);
    SSL_SESSION_free(full);
    SSL_CTX_free(other_key);

    // No key installed: each context has its own random keys, as OpenSSL does by default.
    clearTicketKeys();
    SSL_CTX* plain = serverCtx(pki_);
    SSL_SESSION* none = connect(client, plain, session, &reused);
    ASSERT_NE(none, nullptr);
    EXPECT_FALSE(reused);
    SSL_SESSION_free(none);
    SSL_CTX_free(plain);

    SSL_SESSION_free(session);
    SSL_CTX_free(client);
    (void)fs::removeAll(dir);
}

}  // namespace
}  // namespace vigil::center
