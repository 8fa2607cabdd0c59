// Ingest: the records and alerts loops (fetch → store.ingest with retries → commit).
#include "server/manager/ingest/ingest.h"

#include <algorithm>

#include "libs/common/backoff.h"
#include "libs/common/log.h"
#include "server/bus/bus_config.h"
#include "server/manager/ingest/record_decoder.h"
#include "server/manager/store/hub_alert.h"

namespace vigil::manager {

namespace {

// The hub's alert messages (docs/proposals/20261127-hub-alerts-on-the-bus.md).
constexpr int32_t kAlertDataType = 9000;

std::shared_ptr<spdlog::logger> logger() {
    return log::get("manager_ingest");
}

int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double lagSeconds(const std::vector<bus::Delivery>& ds) {
    int64_t oldest = INT64_MAX;
    for (const auto& d : ds) oldest = std::min(oldest, d.bus_time_ns);
    return ds.empty() ? 0.0 : std::max(0.0, static_cast<double>(nowNs() - oldest) / 1e9);
}

}  // namespace

struct Ingest::State {
    std::unique_ptr<bus::Bus> records_bus;
    std::unique_ptr<bus::Consumer> records;
    std::unique_ptr<bus::Bus> alerts_bus;
    std::unique_ptr<bus::Consumer> alerts;
    std::unique_ptr<RecordDecoder> decoder;

    metrics::Counter* records_total = nullptr;
    metrics::Counter* heartbeats = nullptr;
    metrics::Counter* plugin_heartbeats = nullptr;
    metrics::Counter* task_results = nullptr;
    metrics::Counter* skipped = nullptr;
    metrics::Counter* bad_records = nullptr;
    metrics::Counter* alerts_total = nullptr;
    metrics::Counter* alerts_inserted = nullptr;
    metrics::Counter* alerts_duplicate = nullptr;
    metrics::Counter* bad_alerts = nullptr;
    metrics::Counter* store_errors = nullptr;
    metrics::Counter* commits = nullptr;
    metrics::Gauge* records_lag = nullptr;
    metrics::Gauge* alerts_lag = nullptr;
};

IngestConfig::IngestConfig() {
    records_bus.writer = false;
    alerts_bus.writer = false;
    alerts_bus.stream = "VIGIL_ALERTS";
    alerts_bus.nats_subject_prefix = "vigil.alert";
}

Ingest::Ingest(Store& store, const IngestConfig& config)
    : store_(store), config_(config), s_(std::make_unique<State>()) {
    config_.records_bus.writer = false;
    config_.alerts_bus.writer = false;
}

Ingest::~Ingest() {
    stop();
}

Result<std::unique_ptr<Ingest>> Ingest::open(Store& store, const IngestConfig& config,
                                             metrics::Registry& m) {
    VIGIL_TRY(bus::checkGroupName(config.group));
    std::unique_ptr<Ingest> in(new Ingest(store, config));
    State& s = *in->s_;
    const std::string p = "vigil_manager_ingest_";
    s.records_total = &m.counter(p + "records_total", "Bus records fetched");
    s.heartbeats = &m.counter(p + "heartbeats_total", "Agent heartbeats (1000) read");
    s.plugin_heartbeats = &m.counter(p + "plugin_heartbeats_total", "Plugin heartbeats (1001)");
    s.task_results = &m.counter(p + "task_results_total", "Task results (5100) read");
    s.skipped = &m.counter(p + "skipped_total", "Records of data types the manager does not keep");
    s.bad_records = &m.counter(p + "bad_messages_total",
                               "Messages skipped: not MQData, malformed, or not alert JSON",
                               {{"bus", "records"}});
    s.bad_alerts = &m.counter(p + "bad_messages_total",
                              "Messages skipped: not MQData, malformed, or not alert JSON",
                              {{"bus", "alerts"}});
    s.alerts_total = &m.counter(p + "alerts_total", "Alert messages read");
    s.alerts_inserted = &m.counter(p + "alerts_inserted_total", "Alerts new to the store");
    s.alerts_duplicate =
        &m.counter(p + "alerts_duplicate_total", "Alerts already stored (redeliveries)");
    s.store_errors = &m.counter(p + "store_errors_total", "Failed store writes (retried)");
    s.commits = &m.counter(p + "commits_total", "Bus positions committed");
    s.records_lag = &m.gauge(p + "lag_seconds",
                             "Now minus the bus time of the oldest message "
                             "of the last fetch",
                             {{"bus", "records"}});
    s.alerts_lag = &m.gauge(p + "lag_seconds",
                            "Now minus the bus time of the oldest message "
                            "of the last fetch",
                            {{"bus", "alerts"}});

    bus::ConsumerOptions co;
    co.group = config.group;
    co.from_latest = config.from_latest;
    if (config.read_records) {
        auto b = bus::Bus::open(in->config_.records_bus, m);
        if (!b.ok()) return makeError("records bus: {}", b.message());
        s.records_bus = std::move(*b);
        bus::ConsumerOptions rco = co;
        rco.families = {bus::Family::kAgent, bus::Family::kCollector};  // 1000, 1001, 5100
        auto c = s.records_bus->consumer(rco);
        if (!c.ok()) return makeError("records bus consumer: {}", c.message());
        s.records = std::move(*c);
        s.decoder = std::make_unique<RecordDecoder>(store);
    }
    if (config.read_alerts) {
        auto b = bus::Bus::open(in->config_.alerts_bus, m);
        if (!b.ok()) return makeError("alerts bus: {}", b.message());
        s.alerts_bus = std::move(*b);
        auto c = s.alerts_bus->consumer(co);
        if (!c.ok()) return makeError("alerts bus consumer: {}", c.message());
        s.alerts = std::move(*c);
    }
    return in;
}

void Ingest::start() {
    stopping_ = false;
    if (s_->records && !records_thread_.joinable()) {
        records_thread_ = std::thread([this] { run(&Ingest::pollRecordsOnce, "records"); });
    }
    if (s_->alerts && !alerts_thread_.joinable()) {
        alerts_thread_ = std::thread([this] { run(&Ingest::pollAlertsOnce, "alerts"); });
    }
}

void Ingest::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (records_thread_.joinable()) records_thread_.join();
    if (alerts_thread_.joinable()) alerts_thread_.join();
}

bool Ingest::sleepUnlessStopped(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void Ingest::run(Result<size_t> (Ingest::*poll)(std::chrono::milliseconds), const char* name) {
    Backoff backoff(config_.retry_initial, config_.retry_max);
    while (!stopping_) {
        auto r = (this->*poll)(config_.poll_timeout);
        if (r.ok()) {
            backoff.reset();
            continue;
        }
        if (stopping_) break;
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "{} bus: {}", name, r.message());
        sleepUnlessStopped(backoff.next());
    }
}

Status Ingest::retryStore(const std::function<Status()>& attempt) {
    Backoff backoff(config_.retry_initial, config_.retry_max);
    for (;;) {
        Status st = attempt();
        if (st.ok()) return st;
        s_->store_errors->inc();
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "store: {} (retrying, not committed)",
                               st.message());
        if (stopping_ || !sleepUnlessStopped(backoff.next())) {
            return makeError("store: {} (stopped before it worked; not committed)", st.message());
        }
    }
}

Result<IngestResult> Ingest::ingest(const IngestBatch& batch) {
    IngestResult result;
    VIGIL_TRY(retryStore([&]() -> Status {
        auto r = store_.ingest(batch);
        if (!r.ok()) return r.error();
        result = *r;
        return okStatus();
    }));
    return result;
}

Result<std::vector<bus::Delivery>> Ingest::fetch(bus::Consumer* consumer, const char* name,
                                                 metrics::Gauge& lag,
                                                 std::chrono::milliseconds timeout) {
    if (!consumer) return makeError("the {} bus is not configured", name);
    auto fetched = consumer->fetch(config_.fetch_max, timeout);
    if (!fetched.ok()) return makeError("fetch: {}", fetched.message());
    if (!fetched->empty()) lag.set(lagSeconds(*fetched));
    return fetched;
}

Status Ingest::commit(bus::Consumer& consumer, const std::vector<bus::Delivery>& ds) {
    auto st = consumer.commit(ds);
    if (!st.ok()) return makeError("commit: {}", st.message());
    s_->commits->inc();
    return okStatus();
}

Result<size_t> Ingest::pollRecordsOnce(std::chrono::milliseconds timeout) {
    State& s = *s_;
    auto fetched = fetch(s.records.get(), "records", *s.records_lag, timeout);
    if (!fetched.ok()) return fetched.error();
    const std::vector<bus::Delivery>& ds = *fetched;
    if (ds.empty()) return size_t{0};

    IngestBatch batch;
    DecodeCounts counts;
    // Decoding reads the hosts it has not seen yet from the store.
    VIGIL_TRY(retryStore([&] { return s.decoder->decode(ds, batch, counts); }));
    s.records_total->inc(counts.records);
    s.heartbeats->inc(counts.heartbeats);
    s.plugin_heartbeats->inc(counts.plugin_heartbeats);
    s.task_results->inc(counts.task_results);
    s.skipped->inc(counts.skipped);
    s.bad_records->inc(counts.bad);
    if (counts.bad) {
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn,
                               "records bus: {} message(s) skipped (not MQData, malformed, or a "
                               "required field missing)",
                               counts.bad);
    }
    auto stored = ingest(batch);
    if (!stored.ok()) return stored.error();
    if (observer_) observer_(batch, *stored);
    VIGIL_TRY(commit(*s.records, ds));
    return ds.size();
}

Result<size_t> Ingest::pollAlertsOnce(std::chrono::milliseconds timeout) {
    State& s = *s_;
    auto fetched = fetch(s.alerts.get(), "alerts", *s.alerts_lag, timeout);
    if (!fetched.ok()) return fetched.error();
    const std::vector<bus::Delivery>& ds = *fetched;
    if (ds.empty()) return size_t{0};

    IngestBatch batch;
    batch.alerts.reserve(ds.size());
    for (const auto& d : ds) {
        auto a = d.data_type == kAlertDataType
                     ? alertFromHubJson(d.value)
                     : Result<Alert>(makeError("data_type {}, not an alert", d.data_type));
        if (!a.ok()) {
            s.bad_alerts->inc();
            VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn,
                                   "alerts bus: partition {} offset {} skipped: {}", d.partition,
                                   d.offset, a.message());
            continue;
        }
        batch.alerts.push_back(std::move(*a));
    }
    s.alerts_total->inc(batch.alerts.size());
    auto r = ingest(batch);
    if (!r.ok()) return r.error();
    s.alerts_inserted->inc(r->alerts_inserted);
    s.alerts_duplicate->inc(r->alerts_duplicate);
    if (observer_) observer_(batch, *r);
    VIGIL_TRY(commit(*s.alerts, ds));
    return ds.size();
}

IngestStats Ingest::stats() const {
    const State& s = *s_;
    IngestStats o;
    o.records = s.records_total->value();
    o.heartbeats = s.heartbeats->value();
    o.plugin_heartbeats = s.plugin_heartbeats->value();
    o.task_results = s.task_results->value();
    o.skipped = s.skipped->value();
    o.bad_records = s.bad_records->value();
    o.alerts = s.alerts_total->value();
    o.alerts_inserted = s.alerts_inserted->value();
    o.alerts_duplicate = s.alerts_duplicate->value();
    o.bad_alerts = s.bad_alerts->value();
    o.store_errors = s.store_errors->value();
    o.commits = s.commits->value();
    o.records_lag_seconds = s.records_lag->value();
    o.alerts_lag_seconds = s.alerts_lag->value();
    return o;
}

void readIngestConfig(config::Node root, IngestConfig& out) {
    out.read_records = root.has("bus");
    if (out.read_records) bus::readBusOptions(root.child("bus"), out.records_bus);
    out.records_bus.writer = false;
    out.read_alerts = root.has("alerts_bus");
    if (out.read_alerts) bus::readBusOptions(root.child("alerts_bus"), out.alerts_bus);
    out.alerts_bus.writer = false;
    if (out.read_records && out.read_alerts && out.records_bus.backend == "embedded" &&
        out.alerts_bus.backend == "embedded" && out.records_bus.dir == out.alerts_bus.dir) {
        root.problem("alerts_bus.dir", "must differ from bus.dir (the hub's alerts.bus_dir)");
    }
    if (out.read_records && out.read_alerts && out.records_bus.backend == "nats" &&
        out.alerts_bus.backend == "nats" &&
        out.records_bus.nats_subject_prefix == out.alerts_bus.nats_subject_prefix) {
        root.problem("alerts_bus.nats_subject_prefix", "must differ from bus.nats_subject_prefix");
    }
    config::Node i = root.child("ingest");
    i.allowOnly({"group", "from_latest", "fetch_max", "poll_timeout"});
    out.group = i.str("group", out.group);
    if (i.has("group") && !bus::checkGroupName(out.group).ok()) {
        i.problem("group", "1-64 of [A-Za-z0-9_-]");
    }
    out.from_latest = i.boolean("from_latest", out.from_latest);
    out.fetch_max = static_cast<size_t>(
        i.integer("fetch_max", static_cast<int64_t>(out.fetch_max), 1, 1'000'000));
    out.poll_timeout = i.duration("poll_timeout", out.poll_timeout, std::chrono::milliseconds(1));
}

}  // namespace vigil::manager
