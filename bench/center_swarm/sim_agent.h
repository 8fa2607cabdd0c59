// SimAgent: one simulated Vigil agent of the swarm. A state machine over its own TCP
// connection: connect, TLS 1.3 handshake (resuming the agent's cached session), one HTTP/2
// connection with one Transfer stream, batches sent at a rate or in a flood window, acks
// matched to batches for latency, keepalive PINGs, and reconnection with exponential backoff
// and jitter whenever the connection or the stream ends.
// Not thread-safe: driven by its SwarmWorker's thread only. Memory while idle: this object
// (~300 bytes), its batch header and in-flight ring, OpenSSL's and nghttp2's connection state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include "bench/center_swarm/grpc_stream.h"
#include "bench/center_swarm/swarm_stats.h"
#include "libs/wire/buffer.h"

namespace vigil::bench {

class SwarmWorker;

// Batches sent and not yet acknowledged, oldest first. Grows by doubling up to its limit.
class InflightRing {
public:
    struct Entry {
        uint64_t seq = 0;
        int64_t sent_ns = 0;
        uint32_t records = 0;
    };
    uint32_t size() const { return count_; }
    bool empty() const { return count_ == 0; }
    const Entry& front() const { return items_[head_]; }
    void pop() {
        head_ = (head_ + 1) % cap_;
        --count_;
    }
    // False when `limit` entries are already in flight.
    bool push(const Entry& e, uint32_t limit);
    void clear() { head_ = count_ = 0; }

private:
    std::unique_ptr<Entry[]> items_;
    uint32_t cap_ = 0, head_ = 0, count_ = 0;
};

class SimAgent final : public GrpcStreamHandler {
public:
    // `slot` is the agent's index in the swarm (its id, session cache slot).
    SimAgent(SwarmWorker& worker, uint32_t slot);
    ~SimAgent() override;
    SimAgent(const SimAgent&) = delete;
    SimAgent& operator=(const SimAgent&) = delete;

    // Schedules the first connection attempt.
    void start(int64_t first_attempt_ns);
    void onIo(uint32_t events);
    void onTimer(int64_t now_ns);
    // Closes the connection for good (end of the run).
    void stop();

    uint32_t slot() const { return slot_; }
    // Timer bookkeeping for SwarmWorker: the pending timer (0: none) and its generation.
    int64_t timer_at_ = 0;
    uint32_t timer_gen_ = 0;

    // GrpcStreamHandler (called from inside GrpcStream::receive).
    void onRemoteSettings() override;
    void onResponseHeaders(int status) override;
    void onMessage(std::string_view body, bool compressed) override;
    void onStreamEnd(const StreamEnd& end) override;
    void onGoaway(uint32_t error_code) override;
    void onPingAck() override;

private:
    enum class State : uint8_t { kWaiting, kConnecting, kHandshaking, kOpen, kConnected, kStopped };

    void setState(State next, int64_t now_ns);
    void beginConnect(int64_t now_ns);
    void startTls(int64_t now_ns);
    void handshake(int64_t now_ns);
    void streamOpened(int64_t now_ns);
    bool readAll();
    bool flush();
    void sendBatch(int64_t now_ns);
    void fillWindow(int64_t now_ns);
    void applyAck(uint64_t ack_seq, int64_t now_ns);
    void markConnected(int64_t now_ns);
    int64_t nextBatchTime(int64_t now_ns) const;
    // Records why the connection must end; it is closed once control is back out of nghttp2.
    void closeLater(ErrorCause cause);
    // Closes everything and schedules the next attempt after a backoff delay.
    void closeConnection(ErrorCause cause, int64_t now_ns);
    void releaseConnection();
    int64_t backoffDelayNs();
    void setInterest(uint32_t events);
    void armTimer();

    SwarmWorker& worker_;
    uint32_t slot_;
    State state_ = State::kStopped;
    int fd_ = -1;
    uint32_t interest_ = 0;  // epoll events registered for fd_
    SSL* ssl_ = nullptr;
    GrpcStream stream_;
    wire::Buffer out_;  // TLS plaintext waiting for SSL_write
    size_t out_off_ = 0;
    InflightRing inflight_;
    std::string header_;  // encoded PackagedData fields 2..9
    uint64_t next_seq_ = 1;
    int64_t phase_ns_ = 0;        // rate mode: this agent's offset in each period
    int64_t wake_at_ = 0;         // kWaiting: next connection attempt
    int64_t deadline_at_ = 0;     // connect/handshake/SETTINGS deadline, or PING ack deadline
    int64_t batch_at_ = 0;        // rate mode: next batch
    int64_t ping_at_ = 0;         // next keepalive PING
    int64_t heartbeat_at_ = 0;    // next heartbeat record (one at once after each connect)
    int64_t connected_since_ = 0;
    uint8_t backoff_attempts_ = 0;
    bool session_offered_ = false;
    bool settings_received_ = false;
    bool ping_outstanding_ = false;
    bool close_pending_ = false;
    ErrorCause pending_cause_ = ErrorCause::kConnectionClosed;
};

}  // namespace vigil::bench
