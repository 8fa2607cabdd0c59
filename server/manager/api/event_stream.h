// Server-sent events of the manager (GET /api/v1/events, docs/manager.md "Events"): an
// in-process broadcaster with a bounded queue per client, fed by the bus ingestion (new alerts,
// hosts seen) and by a periodic sweep of the hosts' online/offline state.
// Thread-safety: every method of EventBroadcaster, Subscription and EventFeed may be called from
// any thread. publish() never blocks on a client: a client whose queue is full is cut off
// (counted) and its stream ends.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/manager/store/store.h"

namespace vigil::manager::api {

struct ServerEvent {
    std::string type;  // "alert", "host"
    std::string data;  // one line of JSON
};

// "event: <type>\ndata: <data>\n\n".
std::string formatServerEvent(const ServerEvent& event);

class EventBroadcaster;

// One client's queue. Destroying it unsubscribes.
class Subscription {
public:
    ~Subscription();
    // The events queued so far; waits up to `timeout` when there are none. Empty once ended.
    std::vector<ServerEvent> wait(std::chrono::milliseconds timeout);
    // Cut off because its queue was full (the client read too slowly).
    bool overflowed() const;
    // Ended: overflowed or the broadcaster closed.
    bool ended() const;

private:
    friend class EventBroadcaster;
    explicit Subscription(EventBroadcaster* owner, size_t capacity)
        : owner_(owner), capacity_(capacity) {}
    bool push(const ServerEvent& event);  // false: full (now overflowed)
    void end();

    EventBroadcaster* owner_;
    const size_t capacity_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<ServerEvent> queue_;
    bool overflowed_ = false;
    bool ended_ = false;
};

struct BroadcasterOptions {
    size_t queue = 1000;      // events queued per client before it is cut off
    size_t max_clients = 64;  // subscribers at once (each holds an HTTP worker thread)
};

class EventBroadcaster {
public:
    EventBroadcaster(BroadcasterOptions options, metrics::Registry& metrics);
    ~EventBroadcaster();  // close()

    // A new subscriber; null when max_clients are subscribed or the broadcaster is closed.
    std::shared_ptr<Subscription> subscribe();
    // Queues `event` for every subscriber. Never blocks on a subscriber.
    void publish(const ServerEvent& event);
    // Ends every subscription; later subscribe() calls get null.
    void close();

    size_t clients() const;
    uint64_t published() const { return published_->value(); }
    uint64_t slowClients() const { return slow_->value(); }

private:
    friend class Subscription;
    void remove(Subscription* s);

    BroadcasterOptions options_;
    mutable std::mutex mu_;
    std::vector<Subscription*> subs_;
    bool closed_ = false;
    metrics::Counter* published_;
    metrics::Counter* slow_;
    metrics::Gauge* clients_;
};

struct EventFeedOptions {
    std::chrono::milliseconds sweep_interval{10000};  // online/offline sweep of the hosts
};

// Turns what the ingestion stores and the hosts' state changes into events: `alert` (the alert
// as GET /api/v1/alerts lists it) and `host` (the host as GET /api/v1/hosts lists it, with
// "change": "new" | "online" | "offline").
class EventFeed {
public:
    EventFeed(Store& store, EventBroadcaster& events, EventFeedOptions options = {});
    ~EventFeed();  // stop()

    // The ingestion's hook (Ingest::setObserver): after a batch is stored.
    void onStored(const IngestBatch& batch, const IngestResult& result);
    // Compares the store's hosts with the state last seen; publishes the changes. The first
    // sweep only learns the state.
    Status sweep();
    void start();  // sweeps every sweep_interval on a thread
    void stop();

private:
    void hostEvent(const Host& host, const char* change);

    Store& store_;
    EventBroadcaster& events_;
    EventFeedOptions options_;
    std::mutex mu_;                      // known_, swept_
    std::map<std::string, bool> known_;  // agent_id -> online
    bool swept_ = false;
    std::mutex run_mu_;
    std::condition_variable run_cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace vigil::manager::api
