// PKI helper tests: chains verify with X509_verify_cert, SANs are present, a certificate from
// another CA does not verify, PEM files round-trip with private key permissions.
#include "libs/common/pki.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "libs/common/fs.h"

namespace vigil::pki {
namespace {

X509* parse(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    return x;
}

// Verifies with OpenSSL directly (not through pki::verify) so the test checks the real thing.
bool opensslVerifies(const std::string& ca_pem, const std::string& cert_pem, int purpose) {
    X509* ca = parse(ca_pem);
    X509* cert = parse(cert_pem);
    if (!ca || !cert) return false;
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, cert, nullptr);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    bool ok = X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(cert);
    X509_free(ca);
    return ok;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(PkiTest, ServerAndClientCertificatesChainToTheirCa) {
    auto ca = createCa("Vigil Test CA", 30);
    ASSERT_TRUE(ca.ok()) << ca.message();
    auto server = issue(*ca, {.common_name = "vigil-center",
                              .usage = Usage::kServer,
                              .dns_names = {"vigil-center", "localhost"},
                              .ip_addresses = {"127.0.0.1", "::1"}});
    ASSERT_TRUE(server.ok()) << server.message();
    auto client = issue(*ca, {.common_name = "agent-0001", .usage = Usage::kClient});
    ASSERT_TRUE(client.ok()) << client.message();

    EXPECT_TRUE(opensslVerifies(ca->cert_pem, server->cert_pem, X509_PURPOSE_SSL_SERVER));
    EXPECT_TRUE(opensslVerifies(ca->cert_pem, client->cert_pem, X509_PURPOSE_SSL_CLIENT));
    // Usages are enforced: an agent certificate cannot serve as a center.
    EXPECT_FALSE(opensslVerifies(ca->cert_pem, client->cert_pem, X509_PURPOSE_SSL_SERVER));
    EXPECT_TRUE(verify(ca->cert_pem, server->cert_pem).ok());

    auto info = inspect(server->cert_pem);
    ASSERT_TRUE(info.ok()) << info.message();
    EXPECT_EQ(info->subject_cn, "vigil-center");
    EXPECT_EQ(info->issuer_cn, "Vigil Test CA");
    EXPECT_TRUE(contains(info->dns_names, "vigil-center"));
    EXPECT_TRUE(contains(info->dns_names, "localhost"));
    EXPECT_TRUE(contains(info->ip_addresses, "127.0.0.1"));
    EXPECT_TRUE(contains(info->ip_addresses, "::1"));
    EXPECT_FALSE(info->is_ca);
    EXPECT_GT(info->not_after, info->not_before + 29 * 86400);

    // And the SAN extension is really in the certificate, as OpenSSL sees it.
    X509* x = parse(server->cert_pem);
    ASSERT_NE(x, nullptr);
    EXPECT_EQ(X509_check_host(x, "vigil-center", 0, 0, nullptr), 1);
    EXPECT_EQ(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    EXPECT_NE(X509_check_host(x, "evil.example", 0, 0, nullptr), 1);
    X509_free(x);

    auto client_info = inspect(client->cert_pem);
    ASSERT_TRUE(client_info.ok());
    EXPECT_EQ(client_info->subject_cn, "agent-0001");
    auto ca_info = inspect(ca->cert_pem);
    ASSERT_TRUE(ca_info.ok());
    EXPECT_TRUE(ca_info->is_ca);
}

TEST(PkiTest, CertificateFromAnotherCaDoesNotVerify) {
    auto ca = createCa("Vigil CA", 30);
    auto rogue_ca = createCa("Rogue CA", 30);
    ASSERT_TRUE(ca.ok() && rogue_ca.ok());
    auto rogue = issue(*rogue_ca, {.common_name = "agent-evil", .usage = Usage::kClient});
    ASSERT_TRUE(rogue.ok());
    EXPECT_FALSE(opensslVerifies(ca->cert_pem, rogue->cert_pem, X509_PURPOSE_SSL_CLIENT));
    auto st = verify(ca->cert_pem, rogue->cert_pem);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("does not verify"), std::string::npos) << st.message();
}

TEST(PkiTest, RsaKeysWork) {
    auto ca = createCa({.common_name = "RSA CA", .days = 10, .key_type = KeyType::kRsa2048});
    ASSERT_TRUE(ca.ok()) << ca.message();
    auto server = issue(*ca, {.common_name = "c",
                              .usage = Usage::kServerAndClient,
                              .dns_names = {"c"},
                              .key_type = KeyType::kRsa2048});
    ASSERT_TRUE(server.ok()) << server.message();
    EXPECT_TRUE(opensslVerifies(ca->cert_pem, server->cert_pem, X509_PURPOSE_SSL_SERVER));
    EXPECT_TRUE(opensslVerifies(ca->cert_pem, server->cert_pem, X509_PURPOSE_SSL_CLIENT));
}

TEST(PkiTest, BadInputsGiveClearErrors) {
    auto ca = createCa("CA", 10);
    ASSERT_TRUE(ca.ok());
    auto bad_ip = issue(*ca, {.common_name = "x", .ip_addresses = {"300.1.1.1"}});
    ASSERT_FALSE(bad_ip.ok());
    EXPECT_NE(bad_ip.message().find("300.1.1.1"), std::string::npos);
    auto leaf = issue(*ca, {.common_name = "leaf"});
    ASSERT_TRUE(leaf.ok());
    auto not_ca = issue(*leaf, {.common_name = "y"});
    ASSERT_FALSE(not_ca.ok());
    EXPECT_NE(not_ca.message().find("not a CA"), std::string::npos) << not_ca.message();
    CertKey mismatched{ca->cert_pem, leaf->key_pem};
    EXPECT_FALSE(issue(mismatched, {.common_name = "z"}).ok());
    EXPECT_FALSE(issue(*ca, {.common_name = ""}).ok());
    EXPECT_FALSE(createCa("CA", 0).ok());
}

TEST(PkiTest, PemFilesRoundTripWithPrivateKeyMode) {
    char tmpl[] = "/tmp/vigil-pki-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    auto ca = createCa("CA", 10);
    ASSERT_TRUE(ca.ok());
    std::string cert = dir + "/sub/ca.pem", key = dir + "/sub/ca.key";
    ASSERT_TRUE(writePem(*ca, cert, key).ok());
    struct stat st;
    ASSERT_EQ(::stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(cert.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    auto back = readPem(cert, key);
    ASSERT_TRUE(back.ok()) << back.message();
    EXPECT_EQ(back->cert_pem, ca->cert_pem);
    EXPECT_EQ(back->key_pem, ca->key_pem);
    auto other = createCa("Other", 10);
    ASSERT_TRUE(writePem(CertKey{ca->cert_pem, other->key_pem}, cert, key).ok());
    EXPECT_FALSE(readPem(cert, key).ok());  // key does not match the certificate
    (void)fs::removeAll(dir);
}

}  // namespace
}  // namespace vigil::pki
