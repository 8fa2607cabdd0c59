// The per-call state machine of the TransferServer.
#include "server/center/transfer_call.h"

#include <ctime>

#include "libs/common/log.h"
#include "libs/wire/command.h"

namespace vigil::center {
namespace {

constexpr const char* kTransferMethod = "/grpc.Transfer/Transfer";
constexpr const char* kUploadMethod = "/grpc.FileExt/Upload";

std::shared_ptr<spdlog::logger> logger() {
    static auto l = vigil::log::get("center");
    return l;
}

}  // namespace

metrics::Counter& CallShared::Counters::error(const std::string& cause) {
    return registry->counter("vigil_center_errors_total",
                             "Streams ended or batches refused, by cause", {{"cause", cause}});
}

void CallShared::track(const std::shared_ptr<Call>& call) {
    std::lock_guard lock(calls_mu);
    if (calls.size() > 64 && calls.size() % 64 == 0) {
        std::erase_if(calls, [](const std::weak_ptr<Call>& w) { return w.expired(); });
    }
    calls.push_back(call);
}

std::vector<std::shared_ptr<Call>> CallShared::liveCalls() {
    std::lock_guard lock(calls_mu);
    std::vector<std::shared_ptr<Call>> out;
    for (auto& w : calls) {
        if (auto c = w.lock()) out.push_back(std::move(c));
    }
    std::erase_if(calls, [](const std::weak_ptr<Call>& w) { return w.expired(); });
    return out;
}

Call::Call(CallShared& shared, grpc::ServerCompletionQueue* cq)
    : shared_(shared), cq_(cq), stream_(&ctx_) {}

void Call::requestNew(CallShared& shared, grpc::ServerCompletionQueue* cq) {
    std::shared_lock gate(shared.gate);
    if (shared.queues_closed) return;
    auto c = std::make_shared<Call>(shared, cq);
    c->self_ = c;
    c->ops_ = 1;
    shared.service->RequestCall(&c->ctx_, &c->stream_, cq, cq, &c->request_tag_);
}

template <typename Fn>
bool Call::startOp(Fn&& start) {
    std::shared_lock gate(shared_.gate);
    if (shared_.queues_closed) {
        finished_ = true;  // nothing can complete any more; release once in-flight ops are back
        return false;
    }
    ++ops_;
    start();
    return true;
}

void Call::proceed(Op op, bool ok) {
    switch (op) {
        case Op::kRequest:
            onRequest(ok);
            break;
        case Op::kRead:
            onRead(ok);
            break;
        case Op::kWrite:
            onWrite(ok);
            break;
        case Op::kFinish:
            onFinish();
            break;
    }
}

void Call::releaseIfDone(std::unique_lock<std::mutex>& lock) {
    if (!(finished_ && ops_ == 0 && self_)) return;
    std::shared_ptr<Call> keep = std::move(self_);
    lock.unlock();
    keep.reset();  // may destroy this call
}

void Call::onRequest(bool ok) {
    std::unique_lock lock(mu_);
    --ops_;
    if (!ok) {  // the server is shutting down: this call never started
        finished_ = true;
        releaseIfDone(lock);
        return;
    }
    lock.unlock();
    requestNew(shared_, cq_);  // keep accepting, also while draining (to refuse promptly)
    shared_.live_calls.fetch_add(1);
    shared_.track(shared_from_this());
    lock.lock();
    info_.peer = ctx_.peer();
    info_.connected_at = static_cast<int64_t>(std::time(nullptr));
    if (auto ac = ctx_.auth_context()) {
        auto cn = ac->FindPropertyValues("x509_common_name");
        if (!cn.empty()) info_.cert_cn.assign(cn.front().data(), cn.front().size());
    }
    const std::string& method = ctx_.method();
    if (shared_.draining.load()) {
        kind_ = Kind::kRejected;
        shared_.counters.error("draining").inc();
        requestFinish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "center is shutting down; reconnect elsewhere"));
    } else if (method == kTransferMethod) {
        if (!shared_.registry->admit()) {
            kind_ = Kind::kRejected;
            shared_.counters.error("over_capacity").inc();
            requestFinish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                       "center is at its connection cap; reconnect elsewhere"));
        } else {
            kind_ = Kind::kTransfer;
            admitted_ = true;
            shared_.counters.streams_opened->inc();
            startRead();
        }
    } else if (method == kUploadMethod && shared_.uploads) {
        kind_ = Kind::kUpload;
        startRead();
    } else {
        kind_ = Kind::kRejected;
        shared_.counters.error("unknown_method").inc();
        requestFinish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + method));
    }
    releaseIfDone(lock);
}

void Call::startRead() {
    if (read_pending_ || read_closed_ || finish_requested_ || finish_started_ || draining_) return;
    read_pending_ = true;
    if (!startOp([&] { stream_.Read(&read_buf_, &read_tag_); })) read_pending_ = false;
}

void Call::onRead(bool ok) {
    std::unique_lock lock(mu_);
    --ops_;
    read_pending_ = false;
    if (!ok) {
        read_closed_ = true;
        if (kind_ == Kind::kUpload) finishUpload(true, "");
        maybeFinish();
        releaseIfDone(lock);
        return;
    }
    if (!finish_requested_ && !finish_started_) {
        if (kind_ == Kind::kTransfer)
            handleBatch(lock);
        else if (kind_ == Kind::kUpload)
            handleUploadChunk(lock);
    }
    releaseIfDone(lock);
}

void Call::handleBatch(std::unique_lock<std::mutex>& lock) {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (read_buf_.Dump(&slices).ok()) {
        size_t total = 0;
        for (const auto& s : slices) total += s.size();
        bytes.reserve(total);
        for (const auto& s : slices)
            bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    read_buf_.Clear();
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    // Scratch of this completion-queue thread, not of the call: its buffers (a batch's bus
    // messages) would otherwise stay allocated per idle agent between batches. The bus copies
    // the messages before appendAsync returns.
    static thread_local BatchIngest ingest;
    IngestError err = ingestBatch(bytes, now, shared_.options.limits, ingest);
    if (err != IngestError::kNone) {
        shared_.counters.error(ingestErrorName(err)).inc();
        VIGIL_LOG_RATE_LIMITED(
            logger(), spdlog::level::warn, "stream from {} ({}): {}; closing it", info_.peer,
            info_.agent_id.empty() ? "agent unknown" : info_.agent_id, ingestErrorName(err));
        requestFinish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   std::string("malformed PackagedData: ") + ingestErrorName(err)));
        return;
    }
    if (!bound_) {
        Status st = shared_.registry->bind(ingest.agent_id, shared_from_this());
        if (!st.ok()) {
            shared_.counters.error("duplicate_agent").inc();
            VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn,
                                   "refusing a second stream for agent {} from {}", ingest.agent_id,
                                   info_.peer);
            requestFinish(grpc::Status(grpc::StatusCode::ALREADY_EXISTS, st.message()));
            return;
        }
        bound_ = true;
        info_.agent_id = ingest.agent_id;
    } else if (ingest.agent_id != info_.agent_id) {
        shared_.counters.error("agent_id_changed").inc();
        requestFinish(
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "agent_id changed within a stream"));
        return;
    }
    const auto& h = ingest.header;
    info_.hostname = h.hostname;
    info_.version = h.version;
    info_.product = h.product;
    info_.intranet_ipv4 = h.intranet_ipv4;
    info_.extranet_ipv4 = h.extranet_ipv4;
    info_.intranet_ipv6 = h.intranet_ipv6;
    info_.extranet_ipv6 = h.extranet_ipv6;
    info_.last_batch_at = now;
    ++info_.batches;
    info_.records += ingest.records;
    info_.bytes += bytes.size();
    shared_.counters.batches->inc();
    shared_.counters.records->inc(ingest.records);
    shared_.counters.bytes->inc(bytes.size());
    if (ingest.dropped) shared_.counters.records_dropped->inc(ingest.dropped);

    const uint64_t seq = ingest.batch_seq;
    pending_.push_back(PendingBatch{seq, false});
    const bool push_config = ingest.has_agent_heartbeat && !config_pushed_;
    if (push_config) config_pushed_ = true;
    auto self = shared_from_this();
    if (ingest.messages.empty()) {
        lock.unlock();
        onAppended(seq, okStatus());
    } else {
        // Not under mu_: a bus may complete (and call back) at once.
        lock.unlock();
        shared_.producer->appendAsync(ingest.messages,
                                      [self, seq](Status st) { self->onAppended(seq, st); });
    }
    if (push_config && shared_.hooks.on_first_heartbeat) shared_.hooks.on_first_heartbeat(self);
    lock.lock();
    if (pending_.size() >= shared_.options.max_pending_batches) {
        reads_paused_ = true;  // resumed by onAppended
    } else {
        startRead();
    }
}

void Call::onAppended(uint64_t seq, const Status& st) {
    std::unique_lock lock(mu_);
    if (!st.ok()) {
        shared_.counters.error("bus_error").inc();
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::err, "bus append for agent {} failed: {}",
                               info_.agent_id, st.message());
        requestFinish(
            grpc::Status(grpc::StatusCode::UNAVAILABLE, "bus unavailable: " + st.message()));
        releaseIfDone(lock);
        return;
    }
    for (auto& p : pending_) {
        if (p.seq == seq && !p.appended) {
            p.appended = true;
            break;
        }
    }
    bool advanced = false;
    while (!pending_.empty() && pending_.front().appended) {
        // Agents without batch_seq (Elkeid's) get no acks: an empty Command would read as an
        // empty plugin set.
        if (pending_.front().seq > 0) {
            ack_to_send_ = pending_.front().seq;
            has_ack_ = true;
        }
        pending_.pop_front();
        advanced = true;
    }
    if (advanced) pumpWrites();
    if (reads_paused_ && pending_.size() < shared_.options.max_pending_batches) {
        reads_paused_ = false;
        startRead();
    }
    maybeFinish();
    releaseIfDone(lock);
}

void Call::pumpWrites() {
    if (writing_ || finish_started_ || finished_) return;
    if (!commands_.empty()) {
        write_bytes_ = std::move(commands_.front());
        commands_.pop_front();
        if (kind_ == Kind::kTransfer) shared_.counters.commands->inc();
    } else if (has_ack_ && ack_to_send_ > ack_sent_) {
        wire::AgentCommand ack;
        ack.ack_seq = ack_to_send_;
        write_bytes_ = wire::encodeCommand(ack);
        ack_sent_ = ack_to_send_;
        info_.acked_seq = ack_sent_;
        shared_.counters.acks->inc();
    } else {
        return;
    }
    grpc::Slice slice(write_bytes_.data(), write_bytes_.size());
    grpc::ByteBuffer bb(&slice, 1);
    writing_ = true;
    if (!startOp([&] { stream_.Write(bb, &write_tag_); })) writing_ = false;
}

void Call::onWrite(bool ok) {
    std::unique_lock lock(mu_);
    --ops_;
    writing_ = false;
    if (!ok) {
        // The client is gone; nothing more can be written.
        read_closed_ = true;
        commands_.clear();
        has_ack_ = false;
        requestFinish(grpc::Status(grpc::StatusCode::CANCELLED, "stream broken"));
    } else {
        pumpWrites();
        maybeFinish();
    }
    releaseIfDone(lock);
}

void Call::requestFinish(grpc::Status status) {
    if (finish_requested_ || finish_started_) return;
    finish_requested_ = true;
    finish_status_ = std::move(status);
    maybeFinish();
}

void Call::maybeFinish() {
    if (finish_started_ || finished_) return;
    const bool nothing_to_write =
        !writing_ && commands_.empty() && !(has_ack_ && ack_to_send_ > ack_sent_);
    bool ready = false;
    if (finish_requested_) {
        ready = !writing_;
    } else if (draining_) {
        if (pending_.empty() && nothing_to_write) {
            finish_status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                          "center is shutting down; reconnect elsewhere");
            ready = true;
        }
    } else if ((read_closed_ || upload_closing_) && pending_.empty() && nothing_to_write) {
        finish_status_ = grpc::Status::OK;
        ready = true;
    }
    if (!ready) return;
    finish_started_ = true;
    startOp([&] { stream_.Finish(finish_status_, &finish_tag_); });
}

void Call::onFinish() {
    std::unique_lock lock(mu_);
    --ops_;
    finished_ = true;
    if (bound_) {
        shared_.registry->unbind(info_.agent_id, this);
        bound_ = false;
    }
    if (admitted_) {
        shared_.registry->release();
        shared_.counters.streams_closed->inc();
        admitted_ = false;
    }
    if (upload_) upload_->abort("stream ended");
    upload_.reset();
    shared_.live_calls.fetch_sub(1);
    releaseIfDone(lock);
}

void Call::beginDrain() {
    std::unique_lock lock(mu_);
    draining_ = true;
    maybeFinish();
    releaseIfDone(lock);
}

bool Call::sendCommand(const wire::AgentCommand& command) {
    std::unique_lock lock(mu_);
    if (kind_ != Kind::kTransfer || finish_requested_ || finish_started_ || draining_) return false;
    commands_.push_back(wire::encodeCommand(command));
    ++info_.commands;
    pumpWrites();
    return true;
}

void Call::reset(const std::string& reason) {
    std::unique_lock lock(mu_);
    requestFinish(grpc::Status(grpc::StatusCode::UNAVAILABLE, reason));
    releaseIfDone(lock);
}

AgentConnection::Info Call::info() const {
    std::lock_guard lock(mu_);
    return info_;
}

void Call::handleUploadChunk(std::unique_lock<std::mutex>& lock) {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (read_buf_.Dump(&slices).ok()) {
        for (const auto& s : slices)
            bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    read_buf_.Clear();
    std::string_view token, data;
    if (!wire::parseFileUploadRequest(bytes, token, data)) {
        shared_.counters.error("malformed_upload").inc();
        finishUpload(false, "malformed FileUploadRequest");
        return;
    }
    if (!upload_ && !upload_done_) {
        auto up = shared_.uploads->begin(std::string(token));
        if (!up.ok()) {
            shared_.counters.error("upload_refused").inc();
            VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "upload from {} refused: {}",
                                   info_.peer, up.message());
            finishUpload(false, up.message());
            return;
        }
        upload_ = std::move(*up);
        upload_token_ = std::string(token);
    } else if (upload_done_) {
        return;
    } else if (!token.empty() && token != upload_token_) {
        finishUpload(false, "token changed within an upload");
        return;
    }
    Status st = upload_->write(data);
    if (!st.ok()) {
        finishUpload(false, st.message());
        return;
    }
    startRead();
}

void Call::finishUpload(bool ok, const std::string& why) {
    if (upload_done_) return;
    upload_done_ = true;
    bool success = false;
    if (ok && upload_) {
        auto rec = upload_->finish();
        success = rec.ok();
        if (success) {
            logger()->info("upload {} from {} stored: {} bytes, sha256 {}", rec->token,
                           rec->agent_id, rec->size, rec->sha256);
        } else {
            logger()->warn("upload {} failed: {}", upload_token_, rec.message());
        }
    } else if (upload_) {
        upload_->abort(why);
    }
    upload_.reset();
    commands_.push_back(wire::encodeFileUploadResponse(success ? wire::UploadStatus::kSuccess
                                                               : wire::UploadStatus::kFailed));
    upload_closing_ = true;
    pumpWrites();
    maybeFinish();
}

}  // namespace vigil::center
