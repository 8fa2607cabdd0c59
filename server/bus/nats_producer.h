// The NATS backend's producer. appendAsync packs messages into per-(partition, family) batches
// (nats_framing.h); one publisher thread seals the open batches whenever it is free and
// publishes them with js_PublishMsgAsync, so many batches are in flight at once; an append
// completes once JetStream has acknowledged every batch holding one of its messages.
// Batches go out when the pipe is empty, when full, or once the oldest has waited
// BusOptions::nats_linger while others were in flight, so they grow with the load.
// Per-key order: batches are published in the order they are sealed, over one connection, so
// the stream holds them in that order. A key's messages in open batches are all in one batch
// (its current family): when a key changes family, the batch holding its earlier messages is
// sealed first. A consumer of all families of a partition (subject <prefix>.<p>.*) therefore
// reads each key's messages in append order across families; one filtered on a family reads
// that family's messages in order. Batches are cut only where one key changes family (agents
// send runs of one plugin's records, so batches stay large), not at every family change.
// Thread-safety: appendAsync and flush from any thread; callbacks run on a libnats thread or
// the publisher thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/bus/bus.h"
#include "server/bus/bus_metrics.h"
#include "server/bus/nats_client.h"
#include "server/bus/nats_framing.h"

namespace vigil::bus {

class NatsProducer final : public Producer {
public:
    static Result<std::unique_ptr<NatsProducer>> open(NatsClient& client, BusMetrics& metrics);
    ~NatsProducer() override;  // completes every accepted append, then stops

    void appendAsync(std::span<const Message> messages, AppendCallback done) override;
    void flush() override;

private:
    using Clock = std::chrono::steady_clock;
    struct AppendState {
        AppendCallback done;
        Clock::time_point start;
        uint32_t outstanding = 1;  // batches holding its messages, +1 while it is being added
        uint64_t messages = 0;
        uint64_t bytes = 0;
        Error error;
    };
    struct KeyPlace {  // the open batch that holds a key's latest messages
        size_t slot = 0;
        uint64_t batch_id = 0;
    };
    struct OpenBatch {
        uint32_t partition = 0;
        Family family = Family::kOther;
        uint64_t id = 0;
        Clock::time_point opened;
        natsfmt::BatchBuilder builder;
        std::vector<AppendState*> appends;
    };

    NatsProducer(NatsClient& client, BusMetrics& metrics);
    static void onAck(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
    void run();
    void seal(size_t slot);                           // mu_ held
    void pruneKeyPlaces();                            // mu_ held
    void publish(std::unique_ptr<OpenBatch> batch);
    // Drops one batch reference from each of its appends; completed ones go to `done`.
    void release(OpenBatch& batch, const Status& status, std::vector<AppendState*>& done);
    void finish(std::vector<AppendState*>& done);     // runs callbacks, mu_ not held

    NatsClient& client_;
    BusMetrics& metrics_;
    jsCtx* js_ = nullptr;                             // with our ack handler
    size_t max_batch_bytes_ = 0;

    std::mutex mu_;
    std::condition_variable work_cv_;
    std::condition_variable space_cv_;
    std::condition_variable flushed_cv_;
    std::vector<std::unique_ptr<OpenBatch>> open_;    // [partition * 7 + family]
    std::vector<size_t> open_slots_;                  // slots with an open batch
    std::deque<std::unique_ptr<OpenBatch>> ready_;    // sealed, publish in this order
    std::vector<AppendState*> finished_;              // completed without any batch
    struct KeyHash {
        using is_transparent = void;
        size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
    };
    std::unordered_map<std::string, KeyPlace, KeyHash, std::equal_to<>> key_place_;
    size_t prune_key_places_at_ = 1u << 16;
    uint64_t next_batch_id_ = 1;
    std::unordered_map<natsMsg*, std::unique_ptr<OpenBatch>> inflight_;
    uint64_t pending_bytes_ = 0;                      // open + ready
    uint64_t accepted_ = 0;
    uint64_t completed_ = 0;
    int acking_ = 0;                                  // ack handlers running outside mu_
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace vigil::bus
