// FakeCenter: sync gRPC server with a raw-bytes Transfer handler, per-stream ack/command writer
// threads and an Upload receiver.
#include "tests/support/fake_center.h"

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/method_handler.h>

#include "agent/transport/byte_buffer.h"
#include "libs/common/log.h"
#include "proto/transfer.grpc.pb.h"

namespace vigil::testing {
namespace {

using Clock = std::chrono::steady_clock;
using RawStream = grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;

// Transfer with ByteBuffer in and out, so batches are parsed by our own zero-copy decoder as
// the real center does, not by libprotobuf.
class RawTransferService : public grpc::Service {
public:
    using Handler = std::function<grpc::Status(grpc::ServerContext*, RawStream*)>;
    explicit RawTransferService(Handler handler) : handler_(std::move(handler)) {
        AddMethod(new grpc::internal::RpcServiceMethod(
            "/grpc.Transfer/Transfer", grpc::internal::RpcMethod::BIDI_STREAMING,
            new grpc::internal::BidiStreamingHandler<RawTransferService, grpc::ByteBuffer,
                                                     grpc::ByteBuffer>(
                [](RawTransferService* self, grpc::ServerContext* ctx, RawStream* stream) {
                    return self->handler_(ctx, stream);
                },
                this)));
    }

private:
    Handler handler_;
};

class UploadService : public grpc::FileExt::Service {
public:
    using Handler = std::function<grpc::Status(grpc::ServerReader<grpc::FileUploadRequest>*,
                                               grpc::FileUploadResponse*)>;
    explicit UploadService(Handler handler) : handler_(std::move(handler)) {}
    grpc::Status Upload(grpc::ServerContext*, grpc::ServerReader<grpc::FileUploadRequest>* reader,
                        grpc::FileUploadResponse* response) override {
        return handler_(reader, response);
    }

private:
    Handler handler_;
};

struct Outgoing {
    bool is_ack = false;
    std::string bytes;
};

struct Conn {
    uint64_t id = 0;
    grpc::ServerContext* ctx = nullptr;
    std::string agent_id;
    uint64_t received = 0;
    uint64_t max_seq = 0;
    uint64_t acked = 0;
    bool closing = false;
    std::multimap<Clock::time_point, Outgoing> outbox;  // by due time
    std::condition_variable cv;
};

std::string ackBytes(uint64_t seq) {
    grpc::Command c;
    c.set_ack_seq(seq);
    return c.SerializeAsString();
}

}  // namespace

std::vector<ReceivedRecord> ReceivedBatch::parseRecords() const {
    std::vector<ReceivedRecord> out;
    wire::BatchView v;
    if (!bytes || !wire::parseBatch(*bytes, v)) return out;
    out.reserve(v.records.size());
    for (const auto& r : v.records) out.push_back({r.data_type, r.timestamp, std::string(r.data)});
    return out;
}

struct FakeCenter::Impl {
    explicit Impl(FakeCenterOptions o) : options(std::move(o)), ack_mode(options.ack_mode) {}

    grpc::Status transfer(grpc::ServerContext* ctx, RawStream* stream);
    grpc::Status upload(grpc::ServerReader<grpc::FileUploadRequest>* reader,
                        grpc::FileUploadResponse* response);
    void writerLoop(Conn& conn, RawStream* stream);
    void queueAckLocked(Conn& conn, uint64_t seq, Clock::time_point due);
    void onBatchLocked(Conn& conn, uint64_t seq);

    FakeCenterOptions options;
    std::mutex lifecycle_mu;  // start/stop
    mutable std::mutex mu;
    mutable std::condition_variable cv;  // any change a waitFor* may be waiting for
    std::unique_ptr<grpc::Server> server;
    std::unique_ptr<RawTransferService> transfer_service;
    std::unique_ptr<UploadService> upload_service;
    int port = 0;
    bool running = false;

    AckMode ack_mode;
    std::map<uint64_t, std::shared_ptr<Conn>> conns;
    uint64_t next_stream_id = 0;
    std::vector<ReceivedBatch> batches;
    uint64_t batch_count = 0, record_count = 0, byte_count = 0, malformed = 0, acks_sent = 0;
    uint64_t streams_opened = 0, disconnects = 0;
    std::function<void(const ReceivedBatch&, const wire::BatchView&)> observer;
    std::set<std::string> tokens;
    std::map<std::string, std::string> uploads;
    uint64_t uploads_refused = 0;
};

void FakeCenter::Impl::queueAckLocked(Conn& conn, uint64_t seq, Clock::time_point due) {
    if (seq <= conn.acked) return;
    conn.acked = seq;
    conn.outbox.emplace(due, Outgoing{true, ackBytes(seq)});
    conn.cv.notify_all();
}

void FakeCenter::Impl::onBatchLocked(Conn& conn, uint64_t seq) {
    ++conn.received;
    conn.max_seq = std::max(conn.max_seq, seq);
    switch (ack_mode) {
        case AckMode::kImmediate:
            queueAckLocked(conn, conn.max_seq, Clock::now());
            break;
        case AckMode::kDelayed:
            queueAckLocked(conn, conn.max_seq, Clock::now() + options.ack_delay);
            break;
        case AckMode::kEveryN:
            if (options.ack_every == 0 || conn.received % options.ack_every == 0) {
                queueAckLocked(conn, conn.max_seq, Clock::now());
            }
            break;
        case AckMode::kNever:
            break;
    }
}

grpc::Status FakeCenter::Impl::transfer(grpc::ServerContext* ctx, RawStream* stream) {
    auto conn = std::make_shared<Conn>();
    // Until the first batch names the agent, its certificate's CN does.
    if (auto auth = ctx->auth_context()) {
        auto cn = auth->FindPropertyValues("x509_common_name");
        if (!cn.empty()) conn->agent_id.assign(cn.front().data(), cn.front().size());
    }
    {
        std::lock_guard lock(mu);
        conn->id = ++next_stream_id;
        conn->ctx = ctx;
        conns[conn->id] = conn;
        ++streams_opened;
    }
    cv.notify_all();
    std::thread writer([&] { writerLoop(*conn, stream); });

    grpc::ByteBuffer buffer;
    while (stream->Read(&buffer)) {
        auto bytes = std::make_shared<const std::string>(agent::flattenByteBuffer(buffer));
        wire::BatchView view;
        if (!wire::parseBatch(*bytes, view)) {
            std::lock_guard lock(mu);
            ++malformed;
            continue;
        }
        ReceivedBatch rb;
        rb.agent_id = view.header.agent_id;
        rb.batch_seq = view.batch_seq;
        rb.records = static_cast<uint32_t>(view.records.size());
        rb.stream_id = conn->id;
        rb.bytes = bytes;
        std::function<void(const ReceivedBatch&, const wire::BatchView&)> obs;
        {
            std::lock_guard lock(mu);
            obs = observer;
        }
        if (obs) obs(rb, view);
        {
            std::lock_guard lock(mu);
            if (!rb.agent_id.empty()) conn->agent_id = rb.agent_id;
            ++batch_count;
            record_count += rb.records;
            byte_count += bytes->size();
            onBatchLocked(*conn, rb.batch_seq);
            if (options.store_batches) batches.push_back(std::move(rb));
        }
        cv.notify_all();
    }
    {
        std::lock_guard lock(mu);
        conn->closing = true;
        conn->cv.notify_all();
    }
    writer.join();
    {
        std::lock_guard lock(mu);
        conns.erase(conn->id);
        ++disconnects;
    }
    cv.notify_all();
    return grpc::Status::OK;
}

void FakeCenter::Impl::writerLoop(Conn& conn, RawStream* stream) {
    std::unique_lock lock(mu);
    for (;;) {
        if (conn.closing) return;
        if (conn.outbox.empty()) {
            conn.cv.wait(lock);
            continue;
        }
        auto due = conn.outbox.begin()->first;
        if (due > Clock::now()) {
            conn.cv.wait_until(lock, due);
            continue;
        }
        Outgoing out = std::move(conn.outbox.begin()->second);
        conn.outbox.erase(conn.outbox.begin());
        lock.unlock();
        grpc::ByteBuffer bb =
            agent::shareAsByteBuffer(std::make_shared<const std::string>(std::move(out.bytes)));
        bool ok = stream->Write(bb);
        lock.lock();
        if (!ok) return;
        if (out.is_ack) ++acks_sent;
        cv.notify_all();
    }
}

grpc::Status FakeCenter::Impl::upload(grpc::ServerReader<grpc::FileUploadRequest>* reader,
                                      grpc::FileUploadResponse* response) {
    grpc::FileUploadRequest req;
    std::string token, data;
    while (reader->Read(&req)) {
        if (token.empty()) token = req.token();
        data.append(req.data());
        if (data.size() > options.max_upload_bytes) {
            std::lock_guard lock(mu);
            ++uploads_refused;
            cv.notify_all();
            return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "file over the upload limit");
        }
    }
    std::lock_guard lock(mu);
    if (!tokens.empty() && !tokens.count(token)) {
        ++uploads_refused;
        response->set_status(grpc::FileUploadResponse::FAILED);
    } else {
        uploads[token] = std::move(data);
        response->set_status(grpc::FileUploadResponse::SUCCESS);
    }
    cv.notify_all();
    return grpc::Status::OK;
}

FakeCenter::FakeCenter(FakeCenterOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

FakeCenter::~FakeCenter() {
    stop();
}

Status FakeCenter::start() {
    Impl& d = *impl_;
    std::lock_guard life(d.lifecycle_mu);
    if (d.running) return okStatus();
    std::string listen = d.options.listen;
    if (d.port != 0) listen = listen.substr(0, listen.rfind(':')) + ":" + std::to_string(d.port);

    grpc::SslServerCredentialsOptions ssl(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = d.options.ca_pem;
    ssl.pem_key_cert_pairs.push_back({d.options.key_pem, d.options.cert_pem});
    d.transfer_service = std::make_unique<RawTransferService>(
        [&d](grpc::ServerContext* ctx, RawStream* stream) { return d.transfer(ctx, stream); });
    d.upload_service = std::make_unique<UploadService>(
        [&d](grpc::ServerReader<grpc::FileUploadRequest>* r, grpc::FileUploadResponse* resp) {
            return d.upload(r, resp);
        });

    grpc::ServerBuilder builder;
    int selected = 0;
    builder.AddListeningPort(listen, grpc::SslServerCredentials(ssl), &selected);
    builder.RegisterService(d.transfer_service.get());
    builder.RegisterService(d.upload_service.get());
    builder.SetMaxReceiveMessageSize(static_cast<int>(d.options.max_message_bytes));
    builder.SetMaxSendMessageSize(static_cast<int>(d.options.max_message_bytes));
    // Agents ping every keepalive interval even on idle streams; do not punish them for it.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    d.server = builder.BuildAndStart();
    if (!d.server || selected == 0) {
        d.server.reset();
        return makeError("fake center cannot listen on {}", listen);
    }
    d.port = selected;
    std::lock_guard lock(d.mu);
    d.running = true;
    return okStatus();
}

void FakeCenter::stop() {
    Impl& d = *impl_;
    std::lock_guard life(d.lifecycle_mu);
    if (!d.server) return;
    // A deadline of now cancels every open stream at once, the way a crash looks to agents.
    d.server->Shutdown(std::chrono::system_clock::now());
    d.server->Wait();
    d.server.reset();
    d.transfer_service.reset();
    d.upload_service.reset();
    {
        std::lock_guard lock(d.mu);
        d.running = false;
    }
    d.cv.notify_all();
}

Status FakeCenter::restart() {
    stop();
    return start();
}

void FakeCenter::disconnectAll() {
    std::lock_guard lock(impl_->mu);
    for (auto& [id, conn] : impl_->conns) conn->ctx->TryCancel();
}

bool FakeCenter::running() const {
    std::lock_guard lock(impl_->mu);
    return impl_->running;
}

int FakeCenter::port() const {
    return impl_->port;
}

std::string FakeCenter::address() const {
    const std::string& listen = impl_->options.listen;
    return listen.substr(0, listen.rfind(':')) + ":" + std::to_string(impl_->port);
}

void FakeCenter::setAckMode(AckMode mode) {
    Impl& d = *impl_;
    std::lock_guard lock(d.mu);
    d.ack_mode = mode;
    if (mode == AckMode::kImmediate) {
        for (auto& [id, conn] : d.conns) d.queueAckLocked(*conn, conn->max_seq, Clock::now());
    }
}

bool FakeCenter::sendCommand(const std::string& agent_id, const grpc::Command& command) {
    Impl& d = *impl_;
    std::lock_guard lock(d.mu);
    for (auto it = d.conns.rbegin(); it != d.conns.rend(); ++it) {
        if (it->second->agent_id == agent_id && !it->second->closing) {
            it->second->outbox.emplace(Clock::now(), Outgoing{false, command.SerializeAsString()});
            it->second->cv.notify_all();
            return true;
        }
    }
    return false;
}

void FakeCenter::setBatchObserver(
    std::function<void(const ReceivedBatch&, const wire::BatchView&)> observer) {
    std::lock_guard lock(impl_->mu);
    impl_->observer = std::move(observer);
}

void FakeCenter::expectUploadToken(const std::string& token) {
    std::lock_guard lock(impl_->mu);
    impl_->tokens.insert(token);
}

std::vector<ReceivedBatch> FakeCenter::batches() const {
    std::lock_guard lock(impl_->mu);
    return impl_->batches;
}

std::vector<ReceivedBatch> FakeCenter::batchesOf(const std::string& agent_id) const {
    std::lock_guard lock(impl_->mu);
    std::vector<ReceivedBatch> out;
    for (const auto& b : impl_->batches) {
        if (b.agent_id == agent_id) out.push_back(b);
    }
    return out;
}

#define VIGIL_FAKE_CENTER_GETTER(name, field) \
    uint64_t FakeCenter::name() const {       \
        std::lock_guard lock(impl_->mu);      \
        return impl_->field;                  \
    }
VIGIL_FAKE_CENTER_GETTER(batchCount, batch_count)
VIGIL_FAKE_CENTER_GETTER(recordCount, record_count)
VIGIL_FAKE_CENTER_GETTER(byteCount, byte_count)
VIGIL_FAKE_CENTER_GETTER(malformedCount, malformed)
VIGIL_FAKE_CENTER_GETTER(acksSent, acks_sent)
VIGIL_FAKE_CENTER_GETTER(streamsOpened, streams_opened)
VIGIL_FAKE_CENTER_GETTER(disconnects, disconnects)
VIGIL_FAKE_CENTER_GETTER(uploadsRefused, uploads_refused)
#undef VIGIL_FAKE_CENTER_GETTER

std::vector<std::string> FakeCenter::connectedAgents() const {
    std::lock_guard lock(impl_->mu);
    std::vector<std::string> out;
    for (const auto& [id, conn] : impl_->conns) {
        if (!conn->agent_id.empty()) out.push_back(conn->agent_id);
    }
    return out;
}

std::map<std::string, std::string> FakeCenter::uploads() const {
    std::lock_guard lock(impl_->mu);
    return impl_->uploads;
}

void FakeCenter::clearBatches() {
    std::lock_guard lock(impl_->mu);
    impl_->batches.clear();
}

bool FakeCenter::waitUntil(const std::function<bool()>& condition,
                           std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (!condition()) {
        if (Clock::now() >= deadline) return false;
        std::unique_lock lock(impl_->mu);
        // Woken by every event; the short bound covers conditions on other objects.
        impl_->cv.wait_for(lock, std::chrono::milliseconds(20));
    }
    return true;
}

bool FakeCenter::waitForRecords(uint64_t n, std::chrono::milliseconds timeout) const {
    return waitUntil([&] { return recordCount() >= n; }, timeout);
}

bool FakeCenter::waitForBatches(uint64_t n, std::chrono::milliseconds timeout) const {
    return waitUntil([&] { return batchCount() >= n; }, timeout);
}

bool FakeCenter::waitForAgent(const std::string& agent_id,
                              std::chrono::milliseconds timeout) const {
    return waitUntil(
        [&] {
            auto agents = connectedAgents();
            return std::find(agents.begin(), agents.end(), agent_id) != agents.end();
        },
        timeout);
}

}  // namespace vigil::testing
