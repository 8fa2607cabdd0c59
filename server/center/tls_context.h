// Settings for the TLS contexts gRPC makes inside the library, which has no option for them
// (gRPC 1.51): every SSL_CTX the process creates gets them through an SSL_CTX_new wrapper
// (tls_context.cpp; the executable exports it, so it wins over libssl's for a shared libgrpc
// too). Without settings the wrapper changes nothing.
//
// Idle buffers: OpenSSL keeps a ~16.7 KiB read and a ~16.7 KiB write record buffer per
// connection for its whole life; with SSL_MODE_RELEASE_BUFFERS they are freed whenever a
// record has been processed, so 10,000 mostly idle agents save ~330 MB.
//
// Session tickets that survive a center restart and work across centers sharing the key.
// Agents that kept a ticket then resume (no certificate exchange, no signature) when they
// reconnect after a restart: 10,000 agents reconnect in a fraction of the full-handshake time.
// The key file holds 80 random bytes (name 16, HMAC 32, AES 32), mode 0600; it is as secret as
// the center's private key. It is replaced when older than max_age (0: never).
#pragma once

#include <chrono>
#include <string>

#include "libs/common/metrics.h"
#include "libs/common/result.h"

namespace vigil::center {

struct TicketKeyInfo {
    bool created = false;  // the file was missing (or too old) and was written now
    std::string name_hex;  // first 4 bytes of the key name, for the log
};

// Loads the key from `path` (creating it, and its directory, when missing or older than
// `max_age`) and installs it for every SSL_CTX created from now on. A file of the wrong size
// or with permissions wider than 0600 is an error.
Result<TicketKeyInfo> installTicketKeys(const std::string& path, std::chrono::seconds max_age);

// Forgets the installed key (tests).
void clearTicketKeys();

// Counts the tickets agents offer (with installed keys) in `registry`:
// vigil_center_tls_tickets_total{result="resumed"|"refused"}. `registry` must outlive the contexts.
void countTicketResumptions(metrics::Registry& registry);

// SSL_MODE_RELEASE_BUFFERS on every SSL_CTX created from now on.
void releaseIdleTlsBuffers(bool on);

}  // namespace vigil::center
