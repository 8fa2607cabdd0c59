// Names of error causes and the aggregation of worker counters into a snapshot.
#include "bench/center_swarm/swarm_stats.h"

namespace vigil::bench {

const char* errorCauseName(ErrorCause cause) {
    switch (cause) {
        case ErrorCause::kConnectRefused: return "connect_refused";
        case ErrorCause::kConnectTimeout: return "connect_timeout";
        case ErrorCause::kConnectFailed: return "connect_failed";
        case ErrorCause::kTlsFailure: return "tls_failure";
        case ErrorCause::kNoAlpnH2: return "no_alpn_h2";
        case ErrorCause::kH2Protocol: return "h2_protocol";
        case ErrorCause::kHttpStatus: return "http_status";
        case ErrorCause::kStreamReset: return "stream_reset";
        case ErrorCause::kGrpcStatus: return "grpc_status";
        case ErrorCause::kStreamEnded: return "stream_ended";
        case ErrorCause::kConnectionClosed: return "connection_closed";
        case ErrorCause::kKeepaliveTimeout: return "keepalive_timeout";
        case ErrorCause::kCount: break;
    }
    return "unknown";
}

void SwarmSnapshot::addWorker(const WorkerCounters& w) {
#define VIGIL_SWARM_ADD(name) name += w.name.get();
    VIGIL_SWARM_COUNTERS(VIGIL_SWARM_ADD)
    VIGIL_SWARM_GAUGES(VIGIL_SWARM_ADD)
#undef VIGIL_SWARM_ADD
    for (size_t i = 0; i < errors.size(); ++i) errors[i] += w.errors[i].get();
    for (size_t i = 0; i < grpc_status.size(); ++i) grpc_status[i] += w.grpc_status[i].get();
    h2_heap_bytes += w.h2_heap_bytes.get();
    h2_mapped_bytes += w.h2_mapped_bytes.get();
    w.ack_latency.snapshotInto(ack_latency);
    w.loop_lag.snapshotInto(loop_lag);
}

uint64_t SwarmSnapshot::errorTotal() const {
    uint64_t n = 0;
    for (uint64_t e : errors) n += e;
    return n;
}

}  // namespace vigil::bench
