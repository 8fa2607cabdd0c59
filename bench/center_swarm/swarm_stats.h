// Counters of the load generator: per-worker counters written by the worker's thread alone
// (relaxed atomics, no locked instructions on the hot path) and read by the reporting thread,
// and the aggregated SwarmSnapshot that status lines, windows and the JSON summary are made of.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "bench/center_swarm/latency_histogram.h"

namespace vigil::bench {

// Why a connection attempt or an established connection ended.
enum class ErrorCause : uint8_t {
    kConnectRefused,     // TCP connect refused (no center listening)
    kConnectTimeout,     // TCP connect, TLS handshake or server SETTINGS not done in time
    kConnectFailed,      // other connect errors (e.g. no local port left)
    kTlsFailure,         // handshake failed (certificate, protocol, reset during handshake)
    kNoAlpnH2,           // the center did not select ALPN h2
    kH2Protocol,         // HTTP/2 protocol error or a malformed gRPC frame from the center
    kHttpStatus,         // response :status other than 200
    kStreamReset,        // RST_STREAM without grpc-status
    kGrpcStatus,         // stream ended with a non-zero grpc-status (see grpc_status[])
    kStreamEnded,        // stream ended with grpc-status 0 or without trailers
    kConnectionClosed,   // EOF or reset on an established connection
    kKeepaliveTimeout,   // no PING ack in time
    kCount,
};
const char* errorCauseName(ErrorCause cause);

// Monotonic counters: name, meaning.
#define VIGIL_SWARM_COUNTERS(X)                                                       \
    X(connect_attempts)   /* TCP connects started */                                  \
    X(handshakes_full)    /* TLS handshakes completed without resumption */           \
    X(handshakes_resumed) /* TLS handshakes that resumed a session (ticket) */        \
    X(sessions_offered)   /* handshakes that offered a cached session */              \
    X(streams_opened)     /* gRPC Transfer streams submitted */                       \
    X(established)        /* streams the center answered (headers or a message) */    \
    X(batches_sent)       /* PackagedData messages queued on a stream */              \
    X(records_sent)                                                                   \
    X(bytes_sent)         /* gRPC message bytes (prefix included) */                  \
    X(batches_acked)      /* batches covered by an ack_seq */                         \
    X(records_acked)                                                                  \
    X(commands)           /* Commands received */                                     \
    X(acks)               /* Commands carrying an ack_seq */                          \
    X(config_syncs)       /* Commands without task or ack (desired plugin set) */    \
    X(tasks)              /* Commands with a task (ignored) */                        \
    X(bad_commands)       /* Commands that did not parse or were compressed */        \
    X(goaways)            /* GOAWAY frames received */                                \
    X(unacked_dropped)    /* batches in flight when their connection ended */         \
    X(window_full)        /* rate mode: batches skipped, too many unacked */          \
    X(pings_sent)

// Gauges: agents in each state (they sum to the number of agents).
#define VIGIL_SWARM_GAUGES(X)                                                  \
    X(waiting)     /* before the first attempt or in backoff */                \
    X(connecting)  /* TCP connect in progress */                               \
    X(handshaking) /* TLS handshake in progress */                             \
    X(open)        /* stream submitted, the center has not answered yet */     \
    X(connected)   /* the center answered on the stream */

// One worker thread's counters. Written only by that thread; read by any.
struct WorkerCounters {
    struct Counter {
        std::atomic<uint64_t> v{0};
        void add(uint64_t n = 1) {
            v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        }
        uint64_t get() const { return v.load(std::memory_order_relaxed); }
    };
    struct Gauge {
        std::atomic<int64_t> v{0};
        void add(int64_t n) {
            v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        }
        int64_t get() const { return v.load(std::memory_order_relaxed); }
    };
#define VIGIL_SWARM_DECLARE(name) Counter name;
    VIGIL_SWARM_COUNTERS(VIGIL_SWARM_DECLARE)
#undef VIGIL_SWARM_DECLARE
#define VIGIL_SWARM_DECLARE(name) Gauge name;
    VIGIL_SWARM_GAUGES(VIGIL_SWARM_DECLARE)
#undef VIGIL_SWARM_DECLARE
    std::array<Counter, static_cast<size_t>(ErrorCause::kCount)> errors;
    std::array<Counter, 17> grpc_status;  // by code; 16 also counts codes above 16
    Gauge h2_heap_bytes;                  // bytes nghttp2 holds on the heap for this worker
    Gauge h2_mapped_bytes;                // nghttp2's big blocks, mapped (mostly never touched)
    LatencyHistogram ack_latency;         // batch queued -> Command with ack_seq >= its seq
    LatencyHistogram loop_lag;            // how late timers fire: the generator's own delay

    void error(ErrorCause cause) { errors[static_cast<size_t>(cause)].add(); }
};

// The whole swarm at one instant (sums over workers).
struct SwarmSnapshot {
    int64_t mono_ns = 0;
#define VIGIL_SWARM_DECLARE(name) uint64_t name = 0;
    VIGIL_SWARM_COUNTERS(VIGIL_SWARM_DECLARE)
#undef VIGIL_SWARM_DECLARE
#define VIGIL_SWARM_DECLARE(name) int64_t name = 0;
    VIGIL_SWARM_GAUGES(VIGIL_SWARM_DECLARE)
#undef VIGIL_SWARM_DECLARE
    std::array<uint64_t, static_cast<size_t>(ErrorCause::kCount)> errors{};
    std::array<uint64_t, 17> grpc_status{};
    int64_t h2_heap_bytes = 0;
    int64_t h2_mapped_bytes = 0;
    LatencyHistogram::Snapshot ack_latency;
    LatencyHistogram::Snapshot loop_lag;

    void addWorker(const WorkerCounters& w);
    uint64_t errorTotal() const;
};

}  // namespace vigil::bench
