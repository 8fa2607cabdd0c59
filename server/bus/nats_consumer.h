// A consumer of the NATS backend. JetStream 2.9 gives a consumer one filter subject, so a group
// has one durable pull consumer per partition, "<group>_p<N>" filtered on
// <prefix>.<N>.<family> (one family asked for) or <prefix>.<N>.* (with any other family set
// filtered here). Every instance of a group that asks for a partition pulls from the same
// durable, so instances share the work. Pull requests for all partitions go out together and
// answer on one inbox; batches are unpacked into Deliveries; commit acknowledges (and waits for
// JetStream to confirm) each NATS message whose bus messages are all processed; a destroyed
// consumer gives back (NAKs) what it holds, so another instance gets it at once.
// Thread-safety: as Consumer (bus.h).
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nats/nats.h>

#include "server/bus/bus.h"
#include "server/bus/bus_metrics.h"
#include "server/bus/nats_client.h"

namespace vigil::bus {

class NatsConsumer final : public Consumer {
public:
    static Result<std::unique_ptr<NatsConsumer>> open(NatsClient& client,
                                                      const ConsumerOptions& options,
                                                      BusMetrics& metrics);
    ~NatsConsumer() override;

    Result<std::vector<Delivery>> fetch(size_t max, std::chrono::milliseconds timeout) override;
    Status commit(std::span<const Delivery> processed) override;

private:
    using Clock = std::chrono::steady_clock;
    // A NATS message handed (partly) out and not yet acknowledged.
    struct Unacked {
        std::string ack_subject;
        uint64_t last_offset = 0;  // offset of its last wanted bus message
        uint64_t sseq = 0;         // stream sequence
    };
    struct PartState {
        uint32_t id = 0;
        std::string durable;
        std::string next_subject;  // $JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>
        std::string inbox;         // where this partition's pull requests answer
        bool request_open = false;
        int request_left = 0;
        Clock::time_point request_deadline;
        std::list<Unacked> unacked;
    };

    // Acks sent by one commit whose confirmations have not all come back.
    struct Unconfirmed {
        std::string reply;
        size_t replies_left = 0;   // one per durable
        uint64_t messages = 0;     // NATS messages acknowledged
    };

    NatsConsumer(NatsClient& client, ConsumerOptions options, BusMetrics& metrics);
    Status awaitConfirmations(size_t keep);  // until at most `keep` commits are unconfirmed
    Status setUpDurable(PartState& part, const std::string& filter);
    Status sendPulls(size_t wanted, Clock::time_point deadline);
    void handle(natsMsg* msg);              // mu_ held; takes ownership
    void drainWithoutWaiting();             // mu_ held
    PartState* partFor(const char* subject, bool status);
    void groupByPartition(std::vector<Delivery>& out) const;

    NatsClient& client_;
    ConsumerOptions options_;
    BusMetrics& metrics_;
    metrics::Counter& consumed_;
    std::array<bool, 7> families_{};
    bool filter_here_ = false;              // families the durable's filter does not exclude
    std::string inbox_prefix_;
    natsSubscription* sub_ = nullptr;       // <inbox>.* : pulled messages and status replies
    natsConnection* control_ = nullptr;     // acks and their confirmations (NatsClient's)
    natsSubscription* ack_sub_ = nullptr;   // <inbox>.a.* on control_: ack confirmations
    std::string ack_inbox_;
    std::mutex mu_;
    std::vector<PartState> parts_;
    std::deque<Delivery> buffered_;
    std::deque<Unconfirmed> unconfirmed_;
    uint64_t commit_seq_ = 0;
    double batch_size_avg_ = 1.0;           // bus messages per NATS message seen so far
};

}  // namespace vigil::bus
