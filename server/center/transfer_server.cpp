// TransferServer: server set-up, completion-queue threads, drain and stop.
#include "server/center/transfer_server.h"

#include <algorithm>
#include <thread>
#include <vector>

#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>

#include "libs/common/log.h"
#include "server/center/transfer_call.h"

namespace vigil::center {

struct TransferServer::Impl {
    CallShared shared;
    grpc::AsyncGenericService service;
    std::unique_ptr<grpc::Server> server;
    std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> cqs;
    std::vector<std::thread> threads;
    int port = 0;
    bool stopped = false;

    void loop(grpc::ServerCompletionQueue* cq) {
        void* tag = nullptr;
        bool ok = false;
        while (cq->Next(&tag, &ok)) {
            auto* t = static_cast<Call::Tag*>(tag);
            t->call->proceed(t->op, ok);
        }
    }

    void shutdown(std::chrono::milliseconds grace) {
        if (stopped) return;
        stopped = true;
        if (server) server->Shutdown(std::chrono::system_clock::now() + grace);
        {
            std::unique_lock gate(shared.gate);
            shared.queues_closed = true;
        }
        for (auto& cq : cqs) cq->Shutdown();
        for (auto& t : threads) {
            if (t.joinable()) t.join();
        }
        threads.clear();
        server.reset();
        cqs.clear();
    }
};

TransferServer::TransferServer(TransferServerOptions options, bus::Producer& producer, ConnectionRegistry& registry,
                               UploadStore* uploads, TransferHooks hooks, metrics::Registry& metrics)
    : impl_(std::make_unique<Impl>()) {
    CallShared& s = impl_->shared;
    s.service = &impl_->service;
    s.producer = &producer;
    s.registry = &registry;
    s.uploads = uploads;
    s.hooks = std::move(hooks);
    s.options = std::move(options);
    s.counters.registry = &metrics;
    s.counters.batches = &metrics.counter("vigil_center_batches_total", "PackagedData batches received");
    s.counters.records = &metrics.counter("vigil_center_records_total", "Records appended to the bus");
    s.counters.records_dropped =
        &metrics.counter("vigil_center_records_dropped_total", "Records dropped: malformed Payload or too large");
    s.counters.bytes = &metrics.counter("vigil_center_bytes_total", "PackagedData bytes received");
    s.counters.acks = &metrics.counter("vigil_center_acks_total", "Acknowledgements (ack_seq) sent");
    s.counters.commands = &metrics.counter("vigil_center_commands_total", "Commands sent to agents");
    s.counters.streams_opened = &metrics.counter("vigil_center_streams_opened_total", "Transfer streams accepted");
    s.counters.streams_closed = &metrics.counter("vigil_center_streams_closed_total", "Transfer streams ended");
    metrics.callbackGauge("vigil_center_connections", "Agents connected (bound agent ids)",
                          [&registry] { return static_cast<double>(registry.agents()); });
    metrics.callbackGauge("vigil_center_streams", "Transfer streams open",
                          [&registry] { return static_cast<double>(registry.streams()); });
}

TransferServer::~TransferServer() { stop(); }

Status TransferServer::start() {
    const TransferServerOptions& o = impl_->shared.options;
    if (o.cert_pem.empty() || o.key_pem.empty() || o.ca_pem.empty()) {
        return makeError("the gRPC listener needs a CA, a certificate and a key (mTLS is mandatory)");
    }
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = o.ca_pem;
    ssl.pem_key_cert_pairs.push_back({o.key_pem, o.cert_pem});
    grpc::ServerBuilder b;
    b.AddListeningPort(o.listen, grpc::SslServerCredentials(ssl), &impl_->port);
    b.RegisterAsyncGenericService(&impl_->service);
    b.SetMaxReceiveMessageSize(static_cast<int>(o.max_message_bytes));
    b.SetMaxSendMessageSize(4 << 20);
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(o.keepalive_time.count()));
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(o.keepalive_timeout.count()));
    b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                         static_cast<int>(o.min_ping_interval.count()));
    b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
    b.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    b.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, static_cast<int>(o.max_concurrent_streams));
    if (o.tsi_max_frame_size > 0) b.AddChannelArgument(GRPC_ARG_TSI_MAX_FRAME_SIZE, o.tsi_max_frame_size);
    if (o.tcp_max_read_chunk > 0) {
        b.AddChannelArgument(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, o.tcp_max_read_chunk);
        b.AddChannelArgument(GRPC_ARG_TCP_READ_CHUNK_SIZE, std::min(o.tcp_max_read_chunk, 8192));
    }
    if (o.stream_lookahead_bytes > 0) {
        b.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, o.stream_lookahead_bytes);
    }
    if (o.memory_quota_bytes > 0) {
        grpc::ResourceQuota quota("vigil-center");
        quota.Resize(static_cast<size_t>(o.memory_quota_bytes));
        b.SetResourceQuota(quota);
    }
    for (int i = 0; i < std::max(1, o.completion_queues); ++i) impl_->cqs.push_back(b.AddCompletionQueue());
    impl_->server = b.BuildAndStart();
    if (!impl_->server || impl_->port == 0) {
        impl_->cqs.clear();
        impl_->server.reset();
        return makeError("cannot listen for agents on {} (address in use, or bad TLS certificate/key)", o.listen);
    }
    for (auto& cq : impl_->cqs) {
        for (int i = 0; i < std::max(1, o.accepts_per_queue); ++i) Call::requestNew(impl_->shared, cq.get());
    }
    for (auto& cq : impl_->cqs) {
        auto* q = cq.get();
        impl_->threads.emplace_back([this, q] { impl_->loop(q); });
    }
    vigil::log::get("center")->info("gRPC listener on {} ({} completion queues)", o.listen, impl_->cqs.size());
    return okStatus();
}

int TransferServer::port() const { return impl_->port; }

size_t TransferServer::liveStreams() const { return impl_->shared.live_calls.load(); }

void TransferServer::drain(std::chrono::milliseconds timeout) {
    if (impl_->stopped || !impl_->server) return;
    auto log = vigil::log::get("center");
    impl_->shared.draining = true;
    auto calls = impl_->shared.liveCalls();
    log->info("draining {} streams", calls.size());
    for (auto& c : calls) c->beginDrain();
    calls.clear();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (impl_->shared.live_calls.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (size_t left = impl_->shared.live_calls.load()) log->warn("{} streams still open after the drain timeout", left);
    impl_->shutdown(std::chrono::milliseconds(200));
}

void TransferServer::stop() { impl_->shutdown(std::chrono::milliseconds(0)); }

}  // namespace vigil::center
