// vigil-hub run (docs/hub.md "Running"): consumes the records bus with a consumer group,
// enriches each record from the context (context.h), evaluates the rules (engine.h) with one
// FrequencyState per partition, writes the hits as alerts to the sinks (alert_sink.h), and
// commits the group's position only once a fetch's alerts are durable in every sink: at least
// once, nothing lost (a crash repeats the alerts of at most one fetch, with the same alert_id).
// Thread-safety: start/stop from one thread; pollOnce is not to be called while started.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/bus/bus.h"
#include "server/common/service_config.h"
#include "server/hub/alert_sink.h"
#include "server/hub/context.h"
#include "server/hub/engine.h"
#include "server/hub/output_sinks.h"
#include "server/hub/worker_pool.h"

namespace vigil::hub {

struct HubConfig {
    std::string config_file;
    bus::BusOptions bus;             // the records bus; opened read-only (writer = false)
    std::vector<std::string> rules;  // files or directories
    std::string group = "hub";       // consumer group
    bool from_latest = false;        // a new group starts at the end of the bus
    // Alerts: a JSON lines file and/or a bus. The bus is a separate embedded directory
    // (alerts.bus_dir: the center holds the writer lock of the records directory) or, with nats,
    // the same server under subject prefix alerts.subject_prefix in stream alerts.stream.
    std::string alerts_jsonl;
    bool alerts_bus = false;
    bus::BusOptions alerts_bus_options;  // derived from bus + alerts.*
    OutputsConfig outputs;               // alerts.syslog, alerts.webhook, alerts.kafka
    size_t max_frequency_groups = 100000;
    size_t max_processes = 200000;
    size_t fetch_max = 1000;
    // Evaluation threads; a bus partition is always evaluated by the same one (its frequency
    // state and process table are its own). 0: one per core, at most one per partition.
    size_t workers = 0;
    std::chrono::milliseconds poll_timeout{500};
    // The hub's HTTP endpoint (hub_api.h): /metrics and /healthz open, /hub/* signed.
    // "" turns it off.
    std::string http_listen = "127.0.0.1:8091";
    server::AuthSettings auth;
    std::string signing_access_key;  // the key signing discovery registrations
    // Discovery replicas (host:port) to register with as `discovery_name`; none: no registration.
    std::vector<std::string> discovery;
    std::string discovery_name = "vigil_hub";
    std::chrono::milliseconds register_interval{30000};
    std::string log_level = "info";
    std::string log_file = "-";  // "-": stderr
};

Result<HubConfig> parseHubConfig(const std::string& text, const std::string& name);
Result<HubConfig> loadHubConfig(const std::string& path);
std::string exampleHubConfig();

struct HubStats {
    std::atomic<uint64_t> records{0};
    std::atomic<uint64_t> bad_records{0};  // not MQData or a malformed Payload: skipped
    std::atomic<uint64_t> alerts{0};
    std::atomic<uint64_t> sink_errors{0};
    std::atomic<uint64_t> commits{0};
    std::atomic<uint64_t> reloads{0};
    std::atomic<uint64_t> reload_failures{0};
    std::atomic<int64_t> lag_ms{0};  // last fetch: now - bus time of its oldest record
    // Bounded state, summed over the workers after each fetch.
    std::atomic<uint64_t> frequency_groups{0};     // frequency + correlation groups held
    std::atomic<uint64_t> frequency_evictions{0};  // LRU evictions (cap max_frequency_groups)
    std::atomic<uint64_t> processes{0};            // process-table entries held
    std::atomic<uint64_t> process_evictions{0};    // LRU evictions (cap max_processes)
};

class HubService {
public:
    // Loads the rules (diagnostics in `rule_errors`), opens the bus and the sinks.
    static Result<std::unique_ptr<HubService>> create(const HubConfig& config,
                                                      metrics::Registry& metrics,
                                                      std::string* rule_errors = nullptr);
    ~HubService();

    // Runs the loop in a thread until stop().
    void start();
    // Finishes the fetch in progress (its alerts written and committed, unless a sink keeps
    // failing: then it is left uncommitted and redelivered later) and joins the thread.
    void stop();
    // One fetch, evaluation, alert write and commit: the number of records processed.
    Result<size_t> pollOnce(std::chrono::milliseconds timeout);

    // Loads the configured rule paths again and, when every rule loads, swaps them in before
    // the next fetch (frequency and correlation state is kept: it is keyed by rule id). Any
    // rule failing leaves the running rules in place: the error lists every diagnostic.
    // Thread-safe (SIGHUP, the API).
    Status reload();

    const HubStats& stats() const { return stats_; }
    size_t ruleCount() const;
    size_t workers() const { return slots_.size(); }
    std::string describe() const;
    // False while the loop's last fetch, sink write or commit failed (lastError() says why).
    bool healthy() const { return healthy_.load(); }
    std::string lastError() const;
    // Counters and settings for /hub/stats.
    nlohmann::json statsJson() const;
    // The loaded rules, for /hub/rules.
    nlohmann::json rulesJson() const;

private:
    // One evaluation worker: the partitions it owns and the current fetch's share.
    struct PartitionState {
        std::unique_ptr<Context> context;
        std::unique_ptr<FrequencyState> freq;
    };
    struct Slot {
        std::unordered_map<uint32_t, PartitionState> partitions;
        std::vector<size_t> items;                     // indexes into the fetch
        std::vector<std::pair<size_t, Alert>> alerts;  // (fetch index, alert)
        uint64_t bad = 0;
    };

    HubService() = default;
    void run();
    std::shared_ptr<const Engine> engine() const;
    void evaluateSlot(const Engine& engine, const std::vector<bus::Delivery>& ds, Slot& slot) const;
    // Builds the alert of `rule` firing on `event`.
    Alert makeAlert(const Rule& rule, const Event& event, const std::vector<LineageNode>& lineage,
                    const bus::Delivery& d, int64_t agent_time) const;

    HubConfig config_;
    mutable std::mutex engine_mu_;
    std::shared_ptr<const Engine> engine_;
    std::unique_ptr<bus::Bus> bus_;
    std::unique_ptr<bus::Consumer> consumer_;
    std::vector<std::unique_ptr<AlertSink>> sinks_;
    std::vector<Slot> slots_;  // partition p belongs to slots_[p % slots_.size()]
    std::unique_ptr<WorkerPool> pool_;
    HubStats stats_;
    metrics::Counter* m_records_ = nullptr;
    metrics::Counter* m_alerts_ = nullptr;
    metrics::Counter* m_bad_ = nullptr;
    metrics::Counter* m_sink_errors_ = nullptr;
    metrics::Gauge* m_lag_ = nullptr;
    metrics::Gauge* m_freq_groups_ = nullptr;
    metrics::Gauge* m_freq_evictions_ = nullptr;
    metrics::Gauge* m_processes_ = nullptr;
    metrics::Gauge* m_process_evictions_ = nullptr;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> healthy_{true};
    mutable std::mutex error_mu_;
    std::string last_error_;
    std::thread thread_;
};

}  // namespace vigil::hub
