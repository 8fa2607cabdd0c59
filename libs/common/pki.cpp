// PKI helpers over the OpenSSL 3 EVP and X509 APIs.
#include "libs/common/pki.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::pki {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

void freeGeneralNames(GENERAL_NAMES* names) {
    GENERAL_NAMES_free(names);
}
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, freeGeneralNames>>;

// The OpenSSL error queue as one line (and cleared).
std::string sslError() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

Result<PkeyPtr> generateKey(KeyType type) {
    EVP_PKEY* key = type == KeyType::kRsa2048
                        ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                        : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    if (!key) return makeError("key generation failed: {}", sslError());
    return PkeyPtr(key);
}

Result<std::string> toPem(X509* cert) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
        return makeError("PEM encoding failed: {}", sslError());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

Result<std::string> toPem(EVP_PKEY* key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio ||
        PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        return makeError("PEM encoding of the key failed: {}", sslError());
    }
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

Result<X509Ptr> parseCert(const std::string& pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509* cert = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (!cert) return makeError("not a PEM certificate: {}", sslError());
    return X509Ptr(cert);
}

Result<PkeyPtr> parseKey(const std::string& pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
    if (!key) return makeError("not a PEM private key: {}", sslError());
    return PkeyPtr(key);
}

Status addExtension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
        return makeError("cannot add extension {}={}: {}", OBJ_nid2sn(nid), value, sslError());
    }
    return okStatus();
}

Status setName(X509_NAME* name, const std::string& organization, const std::string& common_name) {
    auto add = [&](const char* field, const std::string& value) {
        if (value.empty()) return true;
        return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char*>(value.data()),
                                          static_cast<int>(value.size()), -1, 0) == 1;
    };
    if (!add("O", organization) || !add("CN", common_name)) {
        return makeError("invalid subject name \"{}\": {}", common_name, sslError());
    }
    return okStatus();
}

// A certificate skeleton: version 3, random serial, validity, subject, public key.
Result<X509Ptr> newCert(EVP_PKEY* key, const std::string& organization,
                        const std::string& common_name, int days) {
    if (days <= 0) return makeError("certificate lifetime must be positive, got {} days", days);
    X509Ptr cert(X509_new());
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
        return makeError("X509_new: {}", sslError());
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        return makeError("no randomness for the serial: {}", sslError());
    serial[0] &= 0x7f;  // a positive INTEGER
    BnPtr bn(BN_bin2bn(serial, sizeof(serial), nullptr));
    if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()))) {
        return makeError("cannot set the serial: {}", sslError());
    }
    // Back-dated an hour so clocks a little behind still accept a fresh certificate.
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr)) {
        return makeError("cannot set the validity: {}", sslError());
    }
    VIGIL_TRY(setName(X509_get_subject_name(cert.get()), organization, common_name));
    if (X509_set_pubkey(cert.get(), key) != 1)
        return makeError("cannot set the public key: {}", sslError());
    return cert;
}

Status addSubjectAltNames(X509* cert, const IssueOptions& o) {
    if (o.dns_names.empty() && o.ip_addresses.empty()) return okStatus();
    NamesPtr names(sk_GENERAL_NAME_new_null());
    for (const auto& dns : o.dns_names) {
        if (dns.empty()) return makeError("empty DNS name in the subjectAltName list");
        GENERAL_NAME* gn = GENERAL_NAME_new();
        ASN1_IA5STRING* s = ASN1_IA5STRING_new();
        ASN1_STRING_set(s, dns.data(), static_cast<int>(dns.size()));
        GENERAL_NAME_set0_value(gn, GEN_DNS, s);
        sk_GENERAL_NAME_push(names.get(), gn);
    }
    for (const auto& ip : o.ip_addresses) {
        ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
        if (!octets) {
            ERR_clear_error();
            return makeError("\"{}\" is not an IP address", ip);
        }
        GENERAL_NAME* gn = GENERAL_NAME_new();
        GENERAL_NAME_set0_value(gn, GEN_IPADD, octets);
        sk_GENERAL_NAME_push(names.get(), gn);
    }
    if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
        return makeError("cannot add subjectAltName: {}", sslError());
    }
    return okStatus();
}

std::string commonName(X509_NAME* name) {
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0) return "";
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0) return "";
    std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    return out;
}

int64_t toEpoch(const ASN1_TIME* t) {
    struct tm tm {};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

Result<CertKey> createCa(const CaOptions& o) {
    if (o.common_name.empty()) return makeError("the CA needs a common name");
    auto key = generateKey(o.key_type);
    if (!key.ok()) return key.error();
    auto cert = newCert(key->get(), o.organization, o.common_name, o.days);
    if (!cert.ok()) return cert.error();
    X509* x = cert->get();
    if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1)
        return makeError("issuer: {}", sslError());
    VIGIL_TRY(addExtension(x, x, NID_basic_constraints, "critical,CA:TRUE"));
    VIGIL_TRY(addExtension(x, x, NID_key_usage, "critical,keyCertSign,cRLSign"));
    VIGIL_TRY(addExtension(x, x, NID_subject_key_identifier, "hash"));
    VIGIL_TRY(addExtension(x, x, NID_authority_key_identifier, "keyid:always"));
    if (X509_sign(x, key->get(), EVP_sha256()) <= 0)
        return makeError("signing the CA failed: {}", sslError());
    auto cert_pem = toPem(x);
    if (!cert_pem.ok()) return cert_pem.error();
    auto key_pem = toPem(key->get());
    if (!key_pem.ok()) return key_pem.error();
    return CertKey{std::move(*cert_pem), std::move(*key_pem)};
}

Result<CertKey> createCa(const std::string& common_name, int days) {
    CaOptions o;
    o.common_name = common_name;
    o.days = days;
    return createCa(o);
}

Result<CertKey> issue(const CertKey& ca, const IssueOptions& o) {
    if (o.common_name.empty()) return makeError("a certificate needs a common name");
    auto ca_cert = parseCert(ca.cert_pem);
    if (!ca_cert.ok()) return makeError("CA certificate: {}", ca_cert.message());
    auto ca_key = parseKey(ca.key_pem);
    if (!ca_key.ok()) return makeError("CA key: {}", ca_key.message());
    if (X509_check_private_key(ca_cert->get(), ca_key->get()) != 1) {
        ERR_clear_error();
        return makeError("the CA key does not belong to the CA certificate");
    }
    if (X509_check_ca(ca_cert->get()) == 0) return makeError("the CA certificate is not a CA");

    auto key = generateKey(o.key_type);
    if (!key.ok()) return key.error();
    auto cert = newCert(key->get(), o.organization, o.common_name, o.days);
    if (!cert.ok()) return cert.error();
    X509* x = cert->get();
    if (X509_set_issuer_name(x, X509_get_subject_name(ca_cert->get())) != 1) {
        return makeError("issuer: {}", sslError());
    }
    const char* eku = o.usage == Usage::kServer   ? "serverAuth"
                      : o.usage == Usage::kClient ? "clientAuth"
                                                  : "serverAuth,clientAuth";
    const char* ku = o.key_type == KeyType::kRsa2048 ? "critical,digitalSignature,keyEncipherment"
                                                     : "critical,digitalSignature,keyAgreement";
    VIGIL_TRY(addExtension(x, ca_cert->get(), NID_basic_constraints, "critical,CA:FALSE"));
    VIGIL_TRY(addExtension(x, ca_cert->get(), NID_key_usage, ku));
    VIGIL_TRY(addExtension(x, ca_cert->get(), NID_ext_key_usage, eku));
    VIGIL_TRY(addExtension(x, ca_cert->get(), NID_subject_key_identifier, "hash"));
    VIGIL_TRY(addExtension(x, ca_cert->get(), NID_authority_key_identifier, "keyid:always"));
    VIGIL_TRY(addSubjectAltNames(x, o));
    if (X509_sign(x, ca_key->get(), EVP_sha256()) <= 0)
        return makeError("signing failed: {}", sslError());
    auto cert_pem = toPem(x);
    if (!cert_pem.ok()) return cert_pem.error();
    auto key_pem = toPem(key->get());
    if (!key_pem.ok()) return key_pem.error();
    return CertKey{std::move(*cert_pem), std::move(*key_pem)};
}

Status writePem(const CertKey& ck, const std::string& cert_path, const std::string& key_path) {
    for (const auto* p : {&cert_path, &key_path}) {
        std::string dir = fs::dirName(*p);
        if (!fs::exists(dir)) VIGIL_TRY(fs::makeDirs(dir, 0700));
    }
    VIGIL_TRY(fs::writeFileAtomic(key_path, ck.key_pem, 0600));
    VIGIL_TRY(fs::writeFileAtomic(cert_path, ck.cert_pem, 0644));
    return okStatus();
}

Result<CertKey> readPem(const std::string& cert_path, const std::string& key_path) {
    auto cert = fs::readFile(cert_path, 1 << 20);
    if (!cert.ok()) return cert.error();
    auto key = fs::readFile(key_path, 1 << 20);
    if (!key.ok()) return key.error();
    CertKey ck{std::move(*cert), std::move(*key)};
    auto c = parseCert(ck.cert_pem);
    if (!c.ok()) return makeError("{}: {}", cert_path, c.message());
    auto k = parseKey(ck.key_pem);
    if (!k.ok()) return makeError("{}: {}", key_path, k.message());
    if (X509_check_private_key(c->get(), k->get()) != 1) {
        ERR_clear_error();
        return makeError("{} is not the key of {}", key_path, cert_path);
    }
    return ck;
}

Status verify(const std::string& ca_pem, const std::string& cert_pem) {
    auto ca = parseCert(ca_pem);
    if (!ca.ok()) return makeError("CA: {}", ca.message());
    auto cert = parseCert(cert_pem);
    if (!cert.ok()) return cert.error();
    StorePtr store(X509_STORE_new());
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!store || !ctx || X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
        X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr) != 1) {
        return makeError("cannot set up verification: {}", sslError());
    }
    if (X509_verify_cert(ctx.get()) != 1) {
        int err = X509_STORE_CTX_get_error(ctx.get());
        ERR_clear_error();
        return makeError("certificate does not verify: {}", X509_verify_cert_error_string(err));
    }
    return okStatus();
}

Result<CertInfo> inspect(const std::string& cert_pem) {
    auto cert = parseCert(cert_pem);
    if (!cert.ok()) return cert.error();
    X509* x = cert->get();
    CertInfo info;
    info.subject_cn = commonName(X509_get_subject_name(x));
    info.issuer_cn = commonName(X509_get_issuer_name(x));
    info.is_ca = X509_check_ca(x) != 0;
    info.not_before = toEpoch(X509_get0_notBefore(x));
    info.not_after = toEpoch(X509_get0_notAfter(x));
    if (BnPtr bn{ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr)}) {
        char* hex = BN_bn2hex(bn.get());
        info.serial_hex = hex;
        OPENSSL_free(hex);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (X509_digest(x, EVP_sha256(), md, &md_len) == 1) {
        info.sha256_fingerprint =
            crypto::toHex(std::string_view(reinterpret_cast<char*>(md), md_len));
    }
    NamesPtr names(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
    if (names) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
            if (gn->type == GEN_DNS) {
                const ASN1_IA5STRING* s = gn->d.dNSName;
                info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                            static_cast<size_t>(ASN1_STRING_length(s)));
            } else if (gn->type == GEN_IPADD) {
                const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
                const int len = ASN1_STRING_length(ip);
                char buf[INET6_ADDRSTRLEN];
                if ((len == 4 || len == 16) &&
                    ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), buf,
                                sizeof(buf))) {
                    info.ip_addresses.emplace_back(buf);
                }
            }
        }
    }
    ERR_clear_error();
    return info;
}

}  // namespace vigil::pki
