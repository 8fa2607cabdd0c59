// SimAgent: the per-agent connection state machine (see sim_agent.h).
#include "bench/center_swarm/sim_agent.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <openssl/err.h>

#include "bench/center_swarm/swarm_worker.h"
#include "bench/center_swarm/tls_client.h"
#include "libs/common/log.h"
#include "libs/wire/batch.h"
#include "libs/wire/command.h"

namespace vigil::bench {
namespace {

// TLS plaintext gathered before each SSL_write: at most four 16 KB records per write pass.
constexpr size_t kFlushChunk = 64 * 1024;
// Agents send a heartbeat record a minute, and one at once after connecting.
constexpr int64_t kHeartbeatIntervalNs = 60'000'000'000;

std::shared_ptr<spdlog::logger> logger() {
    static auto l = log::get("swarm");
    return l;
}

int64_t msToNs(std::chrono::milliseconds ms) {
    return static_cast<int64_t>(ms.count()) * 1'000'000;
}

ErrorCause connectErrorCause(int err) {
    switch (err) {
        case ECONNREFUSED: return ErrorCause::kConnectRefused;
        case ETIMEDOUT: return ErrorCause::kConnectTimeout;
        default: return ErrorCause::kConnectFailed;
    }
}

}  // namespace

bool InflightRing::push(const Entry& e, uint32_t limit) {
    if (count_ >= limit) return false;
    if (count_ == cap_) {
        const uint32_t cap = std::min(limit, std::max<uint32_t>(2, cap_ * 2));
        auto items = std::make_unique<Entry[]>(cap);
        for (uint32_t i = 0; i < count_; ++i) items[i] = items_[(head_ + i) % cap_];
        items_ = std::move(items);
        cap_ = cap;
        head_ = 0;
    }
    items_[(head_ + count_) % cap_] = e;
    ++count_;
    return true;
}

SimAgent::SimAgent(SwarmWorker& worker, uint32_t slot)
    : worker_(worker), slot_(slot), stream_(*this) {
    const SwarmOptions& o = worker.options();
    const uint32_t n = o.first_agent_index + slot;
    wire::BatchHeader h;
    h.agent_id = fmt::format("{}{:06}", o.agent_id_prefix, n);
    h.hostname = fmt::format("swarm-host-{:06}", n);
    h.intranet_ipv4 = {fmt::format("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)};
    h.version = "1.9.1";
    h.product = "vigil-agent";
    header_ = wire::encodeBatchHeader(h);
    if (o.batches_per_s > 0) {
        const double period_ns = 1e9 / o.batches_per_s;
        phase_ns_ = static_cast<int64_t>(worker.uniform() * period_ns);
    }
}

SimAgent::~SimAgent() {
    releaseConnection();
}

void SimAgent::setState(State next, int64_t now_ns) {
    if (next == state_) return;
    WorkerCounters& c = worker_.stats();
    auto gauge = [&](State s) -> WorkerCounters::Gauge* {
        switch (s) {
            case State::kWaiting: return &c.waiting;
            case State::kConnecting: return &c.connecting;
            case State::kHandshaking: return &c.handshaking;
            case State::kOpen: return &c.open;
            case State::kConnected: return &c.connected;
            case State::kStopped: return nullptr;
        }
        return nullptr;
    };
    if (auto* g = gauge(state_)) g->add(-1);
    if (auto* g = gauge(next)) g->add(1);
    if (state_ == State::kConnected) worker_.env().shared->agentDisconnected(now_ns);
    if (next == State::kConnected) worker_.env().shared->agentConnected(now_ns);
    state_ = next;
}

void SimAgent::start(int64_t first_attempt_ns) {
    setState(State::kWaiting, first_attempt_ns);
    wake_at_ = first_attempt_ns;
    armTimer();
}

void SimAgent::stop() {
    releaseConnection();
    inflight_.clear();
    setState(State::kStopped, monoNs());
}

void SimAgent::armTimer() {
    int64_t next = 0;
    auto consider = [&](int64_t t) {
        if (t != 0 && (next == 0 || t < next)) next = t;
    };
    switch (state_) {
        case State::kWaiting: consider(wake_at_); break;
        case State::kConnecting:
        case State::kHandshaking: consider(deadline_at_); break;
        case State::kOpen:
        case State::kConnected:
            consider(deadline_at_);
            consider(batch_at_);
            consider(ping_at_);
            break;
        case State::kStopped: break;
    }
    if (next != 0) worker_.schedule(*this, next);
}

void SimAgent::onTimer(int64_t now) {
    switch (state_) {
        case State::kWaiting:
            if (now >= wake_at_) {
                beginConnect(now);
                return;
            }
            break;
        case State::kConnecting:
        case State::kHandshaking:
            if (now >= deadline_at_) {
                closeConnection(ErrorCause::kConnectTimeout, now);
                return;
            }
            break;
        case State::kOpen:
        case State::kConnected:
            if (deadline_at_ != 0 && now >= deadline_at_) {
                closeConnection(settings_received_ ? ErrorCause::kKeepaliveTimeout
                                                   : ErrorCause::kConnectTimeout,
                                now);
                return;
            }
            if (batch_at_ != 0 && now >= batch_at_) {
                sendBatch(now);
                batch_at_ = nextBatchTime(now);
            }
            if (ping_at_ != 0 && now >= ping_at_) {
                stream_.ping();
                worker_.stats().pings_sent.add();
                if (!ping_outstanding_) {
                    ping_outstanding_ = true;
                    deadline_at_ = now + msToNs(worker_.options().keepalive_timeout);
                }
                ping_at_ = now + msToNs(worker_.options().keepalive);
            }
            if (!flush()) return;
            break;
        case State::kStopped: return;
    }
    armTimer();
}

void SimAgent::beginConnect(int64_t now) {
    const SwarmOptions& o = worker_.options();
    worker_.stats().connect_attempts.add();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "socket: {}", std::strerror(errno));
        closeConnection(ErrorCause::kConnectFailed, now);
        return;
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    deadline_at_ = now + msToNs(o.connect_timeout);
    const sockaddr_in& addr = worker_.env().target;
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
        interest_ = EPOLLIN;
        if (!worker_.watch(fd_, interest_, this)) {
            closeConnection(ErrorCause::kConnectFailed, now);
            return;
        }
        startTls(now);
        return;
    }
    if (errno != EINPROGRESS) {
        const int err = errno;
        if (err != ECONNREFUSED) {
            VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "connect: {}",
                                   std::strerror(err));
        }
        closeConnection(connectErrorCause(err), now);
        return;
    }
    interest_ = EPOLLOUT;
    if (!worker_.watch(fd_, interest_, this)) {
        closeConnection(ErrorCause::kConnectFailed, now);
        return;
    }
    setState(State::kConnecting, now);
    armTimer();
}

void SimAgent::startTls(int64_t now) {
    ssl_ = worker_.env().tls->newConnection(fd_, slot_, &session_offered_);
    if (!ssl_) {
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "SSL_new: {}", lastTlsError());
        closeConnection(ErrorCause::kTlsFailure, now);
        return;
    }
    if (session_offered_) worker_.stats().sessions_offered.add();
    setState(State::kHandshaking, now);
    handshake(now);
}

void SimAgent::handshake(int64_t now) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r != 1) {
        const int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ) {
            setInterest(EPOLLIN);
            armTimer();
            return;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            setInterest(EPOLLIN | EPOLLOUT);
            armTimer();
            return;
        }
        const std::string why = e == SSL_ERROR_SYSCALL
                                    ? fmt::format("{} (errno {})", lastTlsError(), errno)
                                    : lastTlsError();
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "agent {}: TLS handshake failed: {}",
                               slot_, why.empty() ? "connection closed" : why);
        // A session the center refused (a TLS alert) must not be offered again; one whose
        // handshake was cut (reset, close, timeout: a center going down) stays usable, as in
        // the agent's gRPC session cache.
        if (session_offered_ && e == SSL_ERROR_SSL) worker_.env().sessions->drop(slot_);
        closeConnection(ErrorCause::kTlsFailure, now);
        return;
    }
    if (!alpnIsH2(ssl_)) {
        closeConnection(ErrorCause::kNoAlpnH2, now);
        return;
    }
    if (SSL_session_reused(ssl_)) {
        worker_.stats().handshakes_resumed.add();
    } else {
        worker_.stats().handshakes_full.add();
    }
    if (!stream_.open(worker_.streamConfig())) {
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "HTTP/2 session: {}",
                               stream_.error());
        closeConnection(ErrorCause::kH2Protocol, now);
        return;
    }
    streamOpened(now);
}

void SimAgent::streamOpened(int64_t now) {
    const SwarmOptions& o = worker_.options();
    worker_.stats().streams_opened.add();
    setState(State::kOpen, now);
    heartbeat_at_ = 0;
    // Like an agent after connecting: the first batch goes out at once.
    if (o.flood) {
        fillWindow(now);
    } else {
        sendBatch(now);
        batch_at_ = o.batches_per_s > 0 ? nextBatchTime(now) : 0;
    }
    if (!flush()) return;
    // Data may already be waiting in OpenSSL (the center's SETTINGS with the last handshake
    // flight); epoll would not report it again.
    if (SSL_has_pending(ssl_) && !readAll()) return;
    armTimer();
}

int64_t SimAgent::nextBatchTime(int64_t now) const {
    const auto period = static_cast<int64_t>(1e9 / worker_.options().batches_per_s);
    if (period <= 0) return now + 1;
    // The next instant after `now` on this agent's own grid (phase + k * period): agents stay
    // spread uniformly over the period, whenever they connected.
    const int64_t k = (now - phase_ns_) / period + 1;
    return phase_ns_ + k * period;
}

void SimAgent::onIo(uint32_t events) {
    const int64_t now = monoNs();
    switch (state_) {
        case State::kConnecting: {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
            if (err != 0) {
                if (err != ECONNREFUSED) {
                    VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "connect: {}",
                                           std::strerror(err));
                }
                closeConnection(connectErrorCause(err), now);
                return;
            }
            startTls(now);
            return;
        }
        case State::kHandshaking:
            handshake(now);
            return;
        case State::kOpen:
        case State::kConnected:
            if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (!readAll()) return;
            }
            if (events & EPOLLOUT) flush();
            return;
        case State::kWaiting:
        case State::kStopped:
            return;
    }
}

bool SimAgent::readAll() {
    uint8_t* buf = worker_.readBuffer();
    for (;;) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buf, static_cast<int>(SwarmWorker::kReadBufferBytes));
        if (n > 0) {
            if (!stream_.receive(buf, static_cast<size_t>(n))) {
                VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "agent {}: HTTP/2: {}",
                                       slot_, stream_.error());
                closeLater(ErrorCause::kH2Protocol);
            }
            if (close_pending_) break;
            continue;
        }
        const int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_WANT_WRITE) {
            setInterest(EPOLLIN | EPOLLOUT);
            break;
        }
        if (e == SSL_ERROR_SSL) {
            VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "agent {}: TLS: {}", slot_,
                                   lastTlsError());
        }
        closeLater(ErrorCause::kConnectionClosed);
        break;
    }
    if (!close_pending_ && !stream_.alive()) closeLater(ErrorCause::kConnectionClosed);
    if (close_pending_) {
        closeConnection(pending_cause_, monoNs());
        return false;
    }
    return flush();
}

bool SimAgent::flush() {
    for (;;) {
        if (out_off_ == out_.size()) {
            out_.clear();
            out_off_ = 0;
            if (!stream_.produce(out_, kFlushChunk)) {
                VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "agent {}: HTTP/2: {}",
                                       slot_, stream_.error());
                closeConnection(ErrorCause::kH2Protocol, monoNs());
                return false;
            }
            if (out_.empty()) break;
        }
        ERR_clear_error();
        const int n = SSL_write(ssl_, out_.data() + out_off_, static_cast<int>(out_.size() - out_off_));
        if (n > 0) {
            out_off_ += static_cast<size_t>(n);
            continue;
        }
        const int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_WANT_WRITE) {
            setInterest(EPOLLIN | EPOLLOUT);
            return true;
        }
        if (e == SSL_ERROR_WANT_READ) return true;
        closeConnection(ErrorCause::kConnectionClosed, monoNs());
        return false;
    }
    setInterest(EPOLLIN);
    if (!worker_.options().flood) {
        // Idle agents keep no buffers: a batch a second is not worth 2 x 4 KB per agent.
        out_.shrinkTo(0);
        stream_.trim();
    }
    return true;
}

void SimAgent::setInterest(uint32_t events) {
    if (events == interest_ || fd_ < 0) return;
    interest_ = events;
    worker_.rewatch(fd_, events, this);
}

void SimAgent::sendBatch(int64_t now) {
    const SwarmOptions& o = worker_.options();
    const uint32_t limit = o.flood ? o.window : o.max_unacked;
    if (inflight_.size() >= limit) {
        worker_.stats().window_full.add();
        return;
    }
    wire::BatchBuilder& b = worker_.builder();
    const int64_t ts = realtimeNs() / 1'000'000'000;
    uint32_t i = 0;
    if (now >= heartbeat_at_) {
        const PooledRecord& hb = worker_.env().records->heartbeat();
        b.add(hb.data_type, ts, hb.payload);
        heartbeat_at_ = now + kHeartbeatIntervalNs;
        ++i;
    }
    for (; i < o.records_per_batch; ++i) {
        const PooledRecord& r = worker_.nextRecord();
        b.add(r.data_type, ts, r.payload);
    }
    wire::Buffer& out = worker_.batchBuffer();
    b.seal(header_, next_seq_, out);
    stream_.queueMessage(out.view());
    inflight_.push({next_seq_, now, o.records_per_batch}, limit);
    ++next_seq_;
    WorkerCounters& c = worker_.stats();
    c.batches_sent.add();
    c.records_sent.add(o.records_per_batch);
    c.bytes_sent.add(out.size() + 5);
}

void SimAgent::fillWindow(int64_t now) {
    const uint32_t window = worker_.options().window;
    while (inflight_.size() < window) sendBatch(now);
}

void SimAgent::applyAck(uint64_t ack_seq, int64_t now) {
    WorkerCounters& c = worker_.stats();
    while (!inflight_.empty() && inflight_.front().seq <= ack_seq) {
        const InflightRing::Entry& e = inflight_.front();
        c.ack_latency.record(static_cast<uint64_t>(std::max<int64_t>(0, now - e.sent_ns)) / 1000);
        c.batches_acked.add();
        c.records_acked.add(e.records);
        inflight_.pop();
    }
    if (worker_.options().flood) fillWindow(now);
}

void SimAgent::markConnected(int64_t now) {
    if (state_ != State::kOpen) return;
    setState(State::kConnected, now);
    connected_since_ = now;
    worker_.stats().established.add();
    const auto keepalive = worker_.options().keepalive;
    ping_at_ = keepalive.count() > 0 ? now + msToNs(keepalive) : 0;
}

void SimAgent::onRemoteSettings() {
    settings_received_ = true;
    if (!ping_outstanding_) deadline_at_ = 0;
}

void SimAgent::onResponseHeaders(int status) {
    if (status != 200) {
        closeLater(ErrorCause::kHttpStatus);
        return;
    }
    markConnected(monoNs());
}

void SimAgent::onMessage(std::string_view body, bool compressed) {
    WorkerCounters& c = worker_.stats();
    c.commands.add();
    const int64_t now = monoNs();
    markConnected(now);
    wire::AgentCommand& cmd = worker_.commandScratch();
    if (compressed || !wire::parseCommand(body, cmd)) {
        c.bad_commands.add();
        return;
    }
    if (cmd.ack_seq != 0) {
        c.acks.add();
        applyAck(cmd.ack_seq, now);
    }
    if (cmd.has_task) {
        c.tasks.add();
    } else if (cmd.ack_seq == 0 || !cmd.configs.empty()) {
        c.config_syncs.add();  // the desired plugin set: nothing to run here
    }
}

void SimAgent::onStreamEnd(const StreamEnd& end) {
    WorkerCounters& c = worker_.stats();
    switch (end.kind) {
        case StreamEnd::Kind::kGrpcStatus:
            if (end.grpc_status != 0) {
                c.grpc_status[static_cast<size_t>(std::min(end.grpc_status, 16))].add();
                closeLater(ErrorCause::kGrpcStatus);
            } else {
                closeLater(ErrorCause::kStreamEnded);
            }
            break;
        case StreamEnd::Kind::kReset: closeLater(ErrorCause::kStreamReset); break;
        case StreamEnd::Kind::kEnded: closeLater(ErrorCause::kStreamEnded); break;
    }
}

void SimAgent::onGoaway(uint32_t) {
    worker_.stats().goaways.add();
}

void SimAgent::onPingAck() {
    ping_outstanding_ = false;
    if (settings_received_) deadline_at_ = 0;
}

void SimAgent::closeLater(ErrorCause cause) {
    if (close_pending_) return;
    close_pending_ = true;
    pending_cause_ = cause;
}

void SimAgent::releaseConnection() {
    stream_.close();
    if (ssl_) {
        // Without this, SSL_free() of a connection that ended without close_notify (a center
        // restart, a reset) marks its session not resumable and the ticket would be wasted.
        // TLS 1.3 allows resuming after such an end; fatal alerts still invalidate it.
        SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (fd_ >= 0) {
        ::close(fd_);  // also leaves the epoll set
        fd_ = -1;
    }
    interest_ = 0;
    out_ = wire::Buffer();
    out_off_ = 0;
}

void SimAgent::closeConnection(ErrorCause cause, int64_t now) {
    WorkerCounters& c = worker_.stats();
    c.error(cause);
    if (state_ == State::kConnected &&
        now - connected_since_ >= msToNs(worker_.options().healthy_session)) {
        backoff_attempts_ = 0;
    }
    c.unacked_dropped.add(inflight_.size());
    inflight_.clear();
    releaseConnection();
    deadline_at_ = batch_at_ = ping_at_ = 0;
    session_offered_ = settings_received_ = ping_outstanding_ = close_pending_ = false;
    setState(State::kWaiting, now);
    wake_at_ = now + backoffDelayNs();
    armTimer();
}

int64_t SimAgent::backoffDelayNs() {
    const SwarmOptions& o = worker_.options();
    double base = static_cast<double>(o.backoff_initial.count());
    const auto max = static_cast<double>(o.backoff_max.count());
    for (uint8_t i = 0; i < backoff_attempts_ && base < max; ++i) base *= 2;
    base = std::min(base, max);
    if (backoff_attempts_ < 64) ++backoff_attempts_;
    const double jitter = 1.0 + o.backoff_jitter * (2.0 * worker_.uniform() - 1.0);
    return static_cast<int64_t>(base * jitter * 1e6);
}

}  // namespace vigil::bench
