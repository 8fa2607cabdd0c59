// TransferServer: the center's gRPC endpoint for agents (DESIGN.md §3). One async server with
// several completion queues, mTLS with verified client certificates, serving
// /grpc.Transfer/Transfer (PackagedData in, Command out) and /grpc.FileExt/Upload as raw bytes:
// batches are decoded without libprotobuf (ingest.h), appended to the bus, and acknowledged
// (Command.ack_seq, cumulative) only once the bus holds them durably. Duplicate agent ids and
// streams above the connection cap are refused; malformed input ends only that stream.
// Thread-safety: start/drain/stop from one thread; everything else is internal.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/bus/bus.h"
#include "server/center/connection_registry.h"
#include "server/center/ingest.h"
#include "server/center/upload_store.h"

namespace vigil::center {

struct TransferServerOptions {
    std::string listen = "0.0.0.0:6751";
    std::string ca_pem, cert_pem, key_pem;      // client certificates must chain to ca_pem
    int completion_queues = 4;
    int accepts_per_queue = 8;                  // calls kept requested per queue (accept bursts)
    size_t max_message_bytes = 16u << 20;
    IngestLimits limits;
    uint32_t max_pending_batches = 16;          // per stream; reads pause above this many unacked
    std::chrono::milliseconds keepalive_time{60000};
    std::chrono::milliseconds keepalive_timeout{20000};
    std::chrono::milliseconds min_ping_interval{10000};  // agents ping every 30 s
    uint32_t max_concurrent_streams = 4;        // per HTTP/2 connection
    int tsi_max_frame_size = 4096;              // frames the center writes; 0: gRPC default (16 KiB)
    int64_t memory_quota_bytes = 0;             // 0: unlimited (gRPC shrinks buffers under a quota)
    int stream_lookahead_bytes = 0;             // 0: default HTTP/2 window
    int tcp_max_read_chunk = 0;                 // 0: gRPC's default (reads grow to 4 MiB)
};

struct TransferHooks {
    // The first batch with an agent heartbeat (1000) on a stream: push the agent's config.
    std::function<void(const std::shared_ptr<AgentConnection>&)> on_first_heartbeat;
};

class TransferServer {
public:
    TransferServer(TransferServerOptions options, bus::Producer& producer, ConnectionRegistry& registry,
                   UploadStore* uploads, TransferHooks hooks, metrics::Registry& metrics);
    ~TransferServer();
    TransferServer(const TransferServer&) = delete;
    TransferServer& operator=(const TransferServer&) = delete;

    // Binds and starts serving. Fails with a clear message on bad TLS material or a busy port.
    Status start();
    int port() const;
    // Stops accepting streams; ends every stream with UNAVAILABLE ("reconnect elsewhere") once
    // its received batches are durable and acknowledged, waiting at most `timeout`; then stops.
    void drain(std::chrono::milliseconds timeout);
    // Stops at once: every stream is cancelled (what agents see when a center dies).
    void stop();
    size_t liveStreams() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::center
