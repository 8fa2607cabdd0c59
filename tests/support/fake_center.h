// FakeCenter: an in-process stand-in for vigil-center in tests and benchmarks. A gRPC server on
// loopback with mTLS (client certificates required and verified) serving Transfer (raw bytes,
// parsed with wire::parseBatch) and FileExt.Upload. It stores what it receives, acknowledges
// batches as configured, pushes Commands to connected agents and counts streams.
// Thread-safety: every method is thread-safe. Observers run on the stream's handler thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libs/common/result.h"
#include "libs/wire/batch.h"

namespace grpc {
class Command;
}

namespace vigil::testing {

enum class AckMode {
    kImmediate,  // ack every batch as it arrives
    kDelayed,    // ack each batch after ack_delay
    kNever,      // never ack (window tests)
    kEveryN,     // one cumulative ack per ack_every batches of a stream
};

struct FakeCenterOptions {
    std::string listen = "127.0.0.1:0";  // port 0: a free port is chosen (see port())
    std::string ca_pem;                  // client certificates must chain to this CA
    std::string cert_pem;                // the center's certificate and key
    std::string key_pem;
    AckMode ack_mode = AckMode::kImmediate;
    std::chrono::milliseconds ack_delay{200};
    uint32_t ack_every = 10;
    bool store_batches = true;  // false: count only (benchmarks)
    uint64_t max_upload_bytes = 64ull << 20;
    uint64_t max_message_bytes = 32ull << 20;
};

struct ReceivedRecord {
    int32_t data_type = 0;
    int64_t timestamp = 0;
    std::string payload;  // serialized Payload, as the plugin wrote it
};

struct ReceivedBatch {
    std::string agent_id;
    uint64_t batch_seq = 0;
    uint32_t records = 0;
    uint64_t stream_id = 0;                    // which stream (connection) carried it
    std::shared_ptr<const std::string> bytes;  // the PackagedData as received
    // Decodes the records (empty when the batch is malformed).
    std::vector<ReceivedRecord> parseRecords() const;
};

class FakeCenter {
public:
    explicit FakeCenter(FakeCenterOptions options);
    ~FakeCenter();
    FakeCenter(const FakeCenter&) = delete;
    FakeCenter& operator=(const FakeCenter&) = delete;

    // Binds and starts serving. After the first start the port is kept for restarts.
    Status start();
    // Cancels every stream at once (as a crash would look to agents) and stops listening.
    void stop();
    // stop() then start() on the same port.
    Status restart();
    // Cancels every open stream but keeps serving (a center kicking its agents).
    void disconnectAll();
    bool running() const;

    int port() const;
    std::string address() const;  // "127.0.0.1:<port>"

    // Changes the ack policy. Switching to kImmediate acknowledges what is pending.
    void setAckMode(AckMode mode);
    // Queues `command` on the newest stream of `agent_id`. False when that agent is not connected.
    bool sendCommand(const std::string& agent_id, const grpc::Command& command);
    // Called for every well-formed batch, before it is acknowledged.
    void setBatchObserver(
        std::function<void(const ReceivedBatch&, const wire::BatchView&)> observer);
    // Uploads whose token is not in this set (when it is not empty) are answered FAILED.
    void expectUploadToken(const std::string& token);

    std::vector<ReceivedBatch> batches() const;
    std::vector<ReceivedBatch> batchesOf(const std::string& agent_id) const;
    uint64_t batchCount() const;  // totals since construction, across restarts
    uint64_t recordCount() const;
    uint64_t byteCount() const;
    uint64_t malformedCount() const;
    uint64_t acksSent() const;
    uint64_t streamsOpened() const;
    uint64_t disconnects() const;
    std::vector<std::string> connectedAgents() const;
    std::map<std::string, std::string> uploads() const;  // token -> file bytes
    uint64_t uploadsRefused() const;
    void clearBatches();

    // Bounded waits; true when the condition held before the timeout.
    bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) const;
    bool waitForRecords(uint64_t n, std::chrono::milliseconds timeout) const;
    bool waitForBatches(uint64_t n, std::chrono::milliseconds timeout) const;
    bool waitForAgent(const std::string& agent_id, std::chrono::milliseconds timeout) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::testing
