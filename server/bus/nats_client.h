// The NATS connections of one NatsBus (shared by its producer and consumers): connect with
// endless reconnects, the stream (created or checked), subject names, and NATS errors turned
// into Errors carrying the NATS status text.
// Thread-safety: thread-safe (libnats connections are).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <nats/nats.h>

#include "server/bus/bus.h"
#include "server/bus/bus_metrics.h"

namespace vigil::bus {

// "<what>: <NATS status text> (<last libnats error>)".
Error natsError(natsStatus s, std::string_view what, jsErrCode js_code = static_cast<jsErrCode>(0));

class NatsClient {
public:
    // Connects and makes sure the stream exists with subjects <prefix>.>. The partition count
    // is kept in the stream's description; a writer must agree with it, readers adopt it.
    static Result<std::unique_ptr<NatsClient>> connect(const BusOptions& options,
                                                       BusMetrics& metrics);
    ~NatsClient();
    NatsClient(const NatsClient&) = delete;
    NatsClient& operator=(const NatsClient&) = delete;

    natsConnection* conn() const { return nc_; }
    // A second connection for consumer acks and their confirmations (made on first use):
    // on the first one they would wait behind megabytes of pulled messages.
    Result<natsConnection*> controlConn();
    jsCtx* js() const { return js_; }
    bool connected() const;
    // An Error saying that NATS is unreachable, for appends and fetches while disconnected.
    Error disconnectedError() const;
    const BusOptions& options() const { return options_; }
    uint32_t partitions() const { return partitions_; }
    int64_t maxPayload() const;
    std::string subject(uint32_t partition, Family family) const;
    std::string partitionSubjects(uint32_t partition) const;  // <prefix>.<p>.*

private:
    NatsClient(const BusOptions& options, BusMetrics& metrics);
    Status ensureStream();
    Result<natsConnection*> dial(const char* name);
    static void onDisconnected(natsConnection* nc, void* closure);
    static void onReconnected(natsConnection* nc, void* closure);
    static void onClosed(natsConnection* nc, void* closure);

    BusOptions options_;
    BusMetrics& metrics_;
    natsConnection* nc_ = nullptr;
    jsCtx* js_ = nullptr;
    std::mutex control_mu_;
    natsConnection* control_ = nullptr;
    uint32_t partitions_ = 0;
    std::atomic<bool> closing_{false};
    std::mutex closed_mu_;
    std::condition_variable closed_cv_;
    int closed_ = 0;  // connections whose closed callback ran
};

}  // namespace vigil::bus
