// The manager's bus ingestion (issue 6, docs/manager-ingest.md): two loops, each on its own
// thread, that move what the bus carries into the store. Records (the centers' bus, MQData):
// agent and plugin heartbeats become host rows, 5100 task results become task results. Alerts
// (the hub's alerts bus, JSON values): become alerts. Each fetch is one store.ingest, then one
// commit of the consumer group's position: at least once, and the store makes repeats harmless.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libs/common/config.h"
#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/bus/bus.h"
#include "server/manager/store/store.h"

namespace vigil::manager {

struct IngestConfig {
    // The centers' records bus (`bus:`, the hub's keys), opened read-only.
    bool read_records = true;
    bus::BusOptions records_bus;
    // The hub's alerts bus (`alerts_bus:`, same keys; embedded: the hub's alerts.bus_dir, nats:
    // stream VIGIL_ALERTS, subjects vigil.alert.<partition>.other), opened read-only.
    bool read_alerts = true;
    bus::BusOptions alerts_bus;
    std::string group = "manager";  // consumer group on both buses
    bool from_latest = false;       // a new group starts at the end of the buses
    size_t fetch_max = 1000;        // messages per fetch: one store transaction and one commit
    std::chrono::milliseconds poll_timeout{500};  // a fetch's wait; also how fast stop() returns
    // Store failures are retried after these delays (doubling, with jitter) until it works or
    // stop() is called; nothing is committed meanwhile.
    std::chrono::milliseconds retry_initial{100};
    std::chrono::milliseconds retry_max{10000};

    IngestConfig();
};

// Reads the `bus:` and `alerts_bus:` sections of `root` (a section that is absent turns its loop
// off) and the optional `ingest:` section (group, from_latest, fetch_max, poll_timeout). Problems
// are recorded on the document. Keys of `root` itself are the caller's to check.
void readIngestConfig(config::Node root, IngestConfig& out);

// Counters since start (also exported as vigil_manager_ingest_* metrics).
struct IngestStats {
    uint64_t records = 0;            // records fetched
    uint64_t heartbeats = 0;         // 1000
    uint64_t plugin_heartbeats = 0;  // 1001
    uint64_t task_results = 0;       // 5100
    uint64_t skipped = 0;            // records of other data types
    uint64_t bad_records = 0;        // not MQData, malformed Payload, required field missing
    uint64_t alerts = 0;             // alert messages fetched and parsed
    uint64_t alerts_inserted = 0;
    uint64_t alerts_duplicate = 0;   // alert_id already stored (a redelivery)
    uint64_t bad_alerts = 0;         // not the hub's alert JSON
    uint64_t store_errors = 0;       // failed store calls (retried)
    uint64_t commits = 0;            // on both buses
    double records_lag_seconds = 0;  // now minus the bus time of the oldest message last fetched
    double alerts_lag_seconds = 0;
};

// Thread-safety: start() and stop() from one thread; stats() from any. The store must outlive
// the Ingest and be thread-safe (both loops call it).
class Ingest {
public:
    // Opens the buses and their consumers (group `config.group`).
    static Result<std::unique_ptr<Ingest>> open(Store& store, const IngestConfig& config,
                                                metrics::Registry& metrics);
    ~Ingest();  // stop()s

    void start();  // the loops, on two threads
    // Stops the loops: a fetch being stored is finished (and committed) or abandoned
    // (redelivered to the next run). Idempotent.
    void stop();

    // One fetch → ingest → commit of each loop, on the caller's thread (tests; not while
    // started). Return the messages fetched.
    Result<size_t> pollRecordsOnce(std::chrono::milliseconds timeout);
    Result<size_t> pollAlertsOnce(std::chrono::milliseconds timeout);

    IngestStats stats() const;

    // Called on the loop's thread after each batch is stored (before its commit), e.g. to
    // publish server-sent events. Set before start(); it must not block for long.
    using Observer = std::function<void(const IngestBatch&, const IngestResult&)>;
    void setObserver(Observer observer) { observer_ = std::move(observer); }

private:
    struct State;
    Ingest(Store& store, const IngestConfig& config);
    // Retries `attempt` (store calls) with backoff until it works or stop() is called.
    Status retryStore(const std::function<Status()>& attempt);
    Result<IngestResult> ingest(const IngestBatch& batch);  // store.ingest, retried
    Result<std::vector<bus::Delivery>> fetch(bus::Consumer* consumer, const char* name,
                                             metrics::Gauge& lag,
                                             std::chrono::milliseconds timeout);
    Status commit(bus::Consumer& consumer, const std::vector<bus::Delivery>& ds);
    void run(Result<size_t> (Ingest::*poll)(std::chrono::milliseconds), const char* name);
    bool sleepUnlessStopped(std::chrono::milliseconds d);

    Store& store_;
    IngestConfig config_;
    std::unique_ptr<State> s_;
    std::atomic<bool> stopping_{false};
    std::mutex mu_;
    std::condition_variable cv_;
    std::thread records_thread_;
    std::thread alerts_thread_;
    Observer observer_;
};

}  // namespace vigil::manager
