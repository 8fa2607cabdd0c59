// CenterClient: the agent's one gRPC bidi stream to a center over mTLS (DESIGN.md §3).
// Finds a center (per region: discovery, then the configured private addresses, then the
// public ones, in the configured network order), sends spooled batches in batch_seq order with
// a bounded window of unacknowledged batches, applies cumulative ack_seq from Commands to the
// spool, and hands every other Command to the CommandHandler. Reconnects with exponential
// backoff and jitter; after a reconnect, sending restarts from the first unacknowledged batch.
// Thread-safety: start()/stop() from one thread; the accessors are thread-safe. The handler is
// called on the client's receive thread, one Command at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/spool/spool.h"
#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "libs/wire/command.h"

namespace vigil::agent {

// Addresses for one network of one region.
struct NetworkEndpoints {
    std::vector<std::string> discovery;  // host:port of vigil-discovery replicas
    std::vector<std::string> centers;    // host:port of centers, used when discovery fails
};

struct RegionEndpoints {
    NetworkEndpoints private_net;
    NetworkEndpoints public_net;
};

struct TransportOptions {
    std::map<std::string, RegionEndpoints> regions;
    std::string region;  // key into `regions`
    std::vector<std::string> network_order{"private", "public"};
    std::string discovery_service = "hids_svr_grpc";  // name registered by centers
    std::string ca_file, cert_file, key_file;         // PEM; mTLS is mandatory
    std::string server_name = "vigil-center";         // expected name in the center's cert
    std::chrono::milliseconds connect_timeout{10000};  // long: a busy center finishes the handshake
    std::chrono::milliseconds backoff_initial{500};
    std::chrono::milliseconds backoff_max{30000};
    uint32_t window_batches = 64;  // unacked batches in flight
    uint64_t max_message_bytes = 16ull << 20;
    std::chrono::milliseconds keepalive{30000};
};

// Called on the client's receive thread, one call at a time. Acks are applied on that thread
// too, so a handler must return quickly (hand long work such as uploads to another thread) and
// must not call CenterClient::stop() (stop() joins this thread).
class CommandHandler {
public:
    virtual ~CommandHandler() = default;
    // A Command other than a bare ack: config sync (no task) or a task.
    virtual void onCommand(const wire::AgentCommand& command) = 0;
    // Called after each (re)connection, e.g. to send fresh heartbeats.
    virtual void onConnected(const std::string& center, const std::string& net_mode) {}
};

// center and net_mode describe the current connection, or the last one while connected is
// false ("unknown" before the first).
struct TransportStats {
    bool connected = false;
    std::string center;    // host:port of the current center
    std::string net_mode;  // "sd-private", "private", "sd-public", "public", "unknown"
    uint64_t batches_sent = 0;
    uint64_t records_sent = 0;
    uint64_t bytes_sent = 0;
    uint64_t commands_received = 0;
    uint64_t reconnects = 0;
    uint64_t connect_failures = 0;
    bool tls_session_reused = false;  // the current connection resumed an earlier TLS session
};

class CenterClient {
public:
    CenterClient(TransportOptions options, Spool& spool, CommandHandler& handler,
                 metrics::Registry& metrics);
    ~CenterClient();
    CenterClient(const CenterClient&) = delete;
    CenterClient& operator=(const CenterClient&) = delete;

    // Checks the TLS files and the endpoints; starts the connection thread.
    Status start();
    // Closes the stream and joins the threads (within ~1 s).
    void stop();

    // Switches region (task 1051); takes effect at the next connection. False if unknown.
    bool setRegion(const std::string& region);
    TransportStats stats() const;

    // Uploads a file to the center over FileExt.Upload on the same channel (task 1050).
    // Fails when not connected, when the file is larger than max_bytes, or on any RPC error.
    // Thread-safe; blocks until done (run it off the CommandHandler thread); stop() aborts it.
    Status uploadFile(const std::string& path, const std::string& token, uint64_t max_bytes,
                      uint32_t chunk_bytes = 512 * 1024);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::agent
