// PKI for mTLS between agents and centers (DESIGN.md §5): create a CA, issue server and client
// certificates, read/write PEM files, verify and inspect certificates. OpenSSL 3 EVP API, no
// shelling out. Used by `vigilctl pki init|issue` and by test fixtures.
// Stateless functions on value types (PEM strings); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "libs/common/result.h"

namespace vigil::pki {

enum class KeyType {
    kEcP256,  // default: smaller, and ~20 % cheaper per TLS handshake on a busy center
    kRsa2048,
};

// A certificate and its private key, both PEM (the key as PKCS#8 "PRIVATE KEY").
struct CertKey {
    std::string cert_pem;
    std::string key_pem;
};

struct CaOptions {
    std::string common_name = "Vigil CA";
    std::string organization = "Vigil";
    int days = 3650;
    KeyType key_type = KeyType::kEcP256;
};

enum class Usage {
    kServer,           // extendedKeyUsage serverAuth (centers)
    kClient,           // extendedKeyUsage clientAuth (agents)
    kServerAndClient,  // both (services that call each other)
};

struct IssueOptions {
    std::string common_name;  // agent id or name for clients, service name for servers
    Usage usage = Usage::kClient;
    std::vector<std::string> dns_names{};     // subjectAltName DNS entries
    std::vector<std::string> ip_addresses{};  // subjectAltName IP entries (v4 or v6)
    std::string organization = "Vigil";
    int days = 825;
    KeyType key_type = KeyType::kEcP256;
};

// A self-signed CA (basicConstraints CA:TRUE, keyCertSign).
Result<CertKey> createCa(const CaOptions& options);
Result<CertKey> createCa(const std::string& common_name, int days);

// A certificate signed by `ca`. Errors name the problem (bad IP, CA key mismatch, ...).
Result<CertKey> issue(const CertKey& ca, const IssueOptions& options);

// Writes the certificate (mode 0644) and the key (mode 0600), each atomically; missing parent
// directories are created (0700).
Status writePem(const CertKey& cert_key, const std::string& cert_path, const std::string& key_path);
Result<CertKey> readPem(const std::string& cert_path, const std::string& key_path);

// Verifies that `cert_pem` chains to `ca_pem` and is valid now. The error says why not.
Status verify(const std::string& ca_pem, const std::string& cert_pem);

struct CertInfo {
    std::string subject_cn;
    std::string issuer_cn;
    std::vector<std::string> dns_names;
    std::vector<std::string> ip_addresses;
    bool is_ca = false;
    int64_t not_before = 0;  // seconds since the epoch
    int64_t not_after = 0;
    std::string serial_hex;
    std::string sha256_fingerprint;  // hex of the DER encoding
};
Result<CertInfo> inspect(const std::string& cert_pem);

}  // namespace vigil::pki
