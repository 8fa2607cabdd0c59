// vigil-hub run: configuration, the consume-evaluate-alert-commit loop.
#include "server/hub/hub_service.h"

#include "server/bus/bus_config.h"

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "libs/common/config.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "server/hub/rule_loader.h"

namespace vigil::hub {

using config::Node;

Result<HubConfig> parseHubConfig(const std::string& text, const std::string& name) {
    auto doc = config::Document::loadString(text, name);
    if (!doc.ok()) return doc.error();
    Node root = doc->root();
    root.allowOnly({"bus", "rules", "group", "from_latest", "alerts", "max_frequency_groups",
                    "max_processes", "fetch_max", "workers", "poll_timeout", "http", "auth",
                    "discovery", "log"});
    HubConfig c;
    c.config_file = name;

    // The same keys as the center's bus section; the writer-only ones (segment_size,
    // retention_*, fsync_interval, nats_max_*) are accepted and ignored.
    bus::readBusOptions(root.child("bus"), c.bus);
    c.bus.writer = false;

    c.rules = root.strList("rules");
    c.group = root.str("group", c.group);
    c.from_latest = root.boolean("from_latest", false);
    c.max_frequency_groups =
        static_cast<size_t>(root.integer("max_frequency_groups", 100000, 1, 100'000'000));
    c.max_processes = static_cast<size_t>(root.integer("max_processes", 200000, 1, 100'000'000));
    c.fetch_max = static_cast<size_t>(root.integer("fetch_max", 1000, 1, 1'000'000));
    c.workers = static_cast<size_t>(root.integer("workers", 0, 0, 256));
    c.poll_timeout = root.duration("poll_timeout", c.poll_timeout, std::chrono::milliseconds(1));

    Node a = root.child("alerts");
    a.allowOnly(
        {"jsonl", "bus", "bus_dir", "stream", "subject_prefix", "syslog", "webhook", "kafka"});
    readOutputs(a, c.outputs);
    c.alerts_jsonl = a.str("jsonl");
    c.alerts_bus = a.boolean("bus", false);
    c.alerts_bus_options = c.bus;
    c.alerts_bus_options.writer = true;
    c.alerts_bus_options.dir = a.str("bus_dir");
    c.alerts_bus_options.stream = a.str("stream", "VIGIL_ALERTS");
    c.alerts_bus_options.nats_subject_prefix = a.str("subject_prefix", "vigil.alert");

    Node h = root.child("http");
    h.allowOnly({"listen"});
    c.http_listen = h.str("listen", c.http_listen);
    if (!c.http_listen.empty() && !server::parseHostPort(c.http_listen, true).ok()) {
        h.problem("listen", "'" + c.http_listen + "' is not host:port (\"\" turns it off)");
    }
    c.auth = server::readAuthSettings(root.child("auth"));
    Node d = root.child("discovery");
    d.allowOnly({"addresses", "name", "interval", "access_key"});
    c.discovery = d.strList("addresses");
    for (const auto& a : c.discovery) {
        if (!server::parseHostPort(a).ok()) d.problem("addresses", "'" + a + "' is not host:port");
    }
    c.discovery_name = d.str("name", c.discovery_name);
    c.register_interval = d.duration("interval", c.register_interval, std::chrono::seconds(1));
    c.signing_access_key = d.str("access_key");
    if (!c.discovery.empty() && c.http_listen.empty()) {
        d.problem("addresses", "registering needs http.listen (discovery hands out that address)");
    }

    Node l = root.child("log");
    l.allowOnly({"level", "file"});
    c.log_level = l.oneOf("level", "info", {"trace", "debug", "info", "warn", "error", "off"});
    c.log_file = l.str("file", "-");

    if (c.bus.backend == "embedded" && c.bus.dir.empty()) {
        root.problem("bus.dir", "is required (the center's bus directory, <data_dir>/bus)");
    }
    if (c.rules.empty()) root.problem("rules", "is required: rule files or directories");
    if (auto st = bus::checkGroupName(c.group); !st.ok()) root.problem("group", st.message());
    if (c.alerts_jsonl.empty() && !c.alerts_bus && c.outputs.empty()) {
        root.problem("alerts",
                     "no sink: set alerts.jsonl, alerts.bus: true, syslog, webhook or kafka");
    }
    if (c.alerts_bus && c.bus.backend == "embedded") {
        if (c.alerts_bus_options.dir.empty()) {
            root.problem("alerts.bus_dir",
                         "is required with an embedded bus (the center holds the writer lock of "
                         "bus.dir)");
        } else if (c.alerts_bus_options.dir == c.bus.dir) {
            root.problem("alerts.bus_dir", "must differ from bus.dir");
        }
    }
    if (c.alerts_bus && c.bus.backend == "nats" &&
        c.alerts_bus_options.nats_subject_prefix == c.bus.nats_subject_prefix) {
        root.problem("alerts.subject_prefix", "must differ from bus.nats_subject_prefix");
    }
    if (!doc->ok()) return Error{doc->problems().toString()};
    return c;
}

Result<HubConfig> loadHubConfig(const std::string& path) {
    auto text = fs::readFile(path, 1 << 20);
    if (!text.ok()) return text.error();
    return parseHubConfig(*text, path);
}

std::string exampleHubConfig() {
    return R"(# vigil-hub run --config FILE (docs/hub.md "Running")
bus:                                   # the records bus, as the center's bus section
  backend: embedded                    # embedded or nats
  dir: /var/lib/vigil-center/bus       # embedded: the center's <data_dir>/bus (read-only here)
  partitions: 8
  # nats_url: nats://127.0.0.1:4222
  # stream: VIGIL
  # nats_subject_prefix: vigil.rec
rules:                                 # rule files or directories (Vigil YAML and Sigma)
  - /etc/vigil/hub/rules
group: hub                             # consumer group: the position is kept per group
from_latest: false                     # a new group starts at the oldest kept record
alerts:
  jsonl: /var/lib/vigil-hub/alerts.jsonl   # one JSON object per line, fdatasync'd per batch
  bus: true                            # alerts as bus messages: key agent_id, data_type 9000
  bus_dir: /var/lib/vigil-hub/alerts-bus   # embedded: a directory of its own
  # stream: VIGIL_ALERTS               # nats: stream and subject prefix of the alerts
  # subject_prefix: vigil.alert
)" + exampleOutputsConfig() +
           R"(max_frequency_groups: 100000           # per partition: LRU of frequency rule groups
max_processes: 200000                  # per partition: LRU of the process table
fetch_max: 1000                        # records per fetch (one alert write + commit each)
workers: 0                             # evaluation threads (0: one per core, <= partitions)
http:
  listen: 127.0.0.1:8091               # /metrics, /healthz (open); /hub/stats, /hub/rules,
                                       # POST /hub/reload (AK/SK signed); "" turns it off
# auth:                                # keys accepted on /hub/* (as the center's auth section)
#   keys_file: /etc/vigil/keys.yaml      # without keys, /hub/* answers 401 (SIGHUP still reloads)
# discovery:                           # register with vigil-discovery (the manager finds the hub)
#   addresses: [127.0.0.1:8088]
#   name: vigil_hub
log:
  level: info
  file: "-"                            # "-": stderr
)";
}

HubService::~HubService() {
    stop();
}

Result<std::unique_ptr<HubService>> HubService::create(const HubConfig& config,
                                                       metrics::Registry& metrics,
                                                       std::string* rule_errors) {
    std::unique_ptr<HubService> s(new HubService());
    s->config_ = config;
    LoadResult loaded = loadRules(config.rules);
    if (rule_errors) {
        for (const auto& d : loaded.diagnostics) rule_errors->append(d.toString()).push_back('\n');
    }
    if (loaded.rules.empty()) return Error{"no rule loaded from the configured rules"};
    s->engine_ = std::make_shared<const Engine>(std::move(loaded.rules));

    if (!config.alerts_jsonl.empty()) {
        auto sink = openJsonLinesSink(config.alerts_jsonl);
        if (!sink.ok()) return sink.error();
        s->sinks_.push_back(std::move(*sink));
    }
    if (config.alerts_bus) {
        auto sink = openBusSink(config.alerts_bus_options, metrics);
        if (!sink.ok()) return sink.error();
        s->sinks_.push_back(std::move(*sink));
    }

    auto outputs = openOutputs(config.outputs, metrics);
    if (!outputs.ok()) return outputs.error();
    for (auto& o : *outputs) s->sinks_.push_back(std::move(o));

    bus::BusOptions bo = config.bus;
    bo.writer = false;
    auto b = bus::Bus::open(bo, metrics);
    if (!b.ok()) return Error{"records bus: " + b.message()};
    s->bus_ = std::move(*b);
    bus::ConsumerOptions co;
    co.group = config.group;
    co.from_latest = config.from_latest;
    auto c = s->bus_->consumer(co);
    if (!c.ok()) return Error{"records bus consumer: " + c.message()};
    s->consumer_ = std::move(*c);

    size_t workers = config.workers;
    if (workers == 0) {
        workers = std::max(1u, std::thread::hardware_concurrency());
        workers = std::min<size_t>(workers, std::max<uint32_t>(1, s->bus_->partitions()));
    }
    s->slots_.resize(workers);
    s->pool_ = std::make_unique<WorkerPool>(workers);

    s->m_records_ = &metrics.counter("vigil_hub_records_total", "Records evaluated");
    s->m_alerts_ = &metrics.counter("vigil_hub_alerts_total", "Alerts written");
    s->m_bad_ = &metrics.counter("vigil_hub_bad_records_total",
                                 "Bus messages skipped: not MQData or a malformed Payload");
    s->m_sink_errors_ =
        &metrics.counter("vigil_hub_sink_errors_total", "Failed alert writes (retried)");
    s->m_lag_ = &metrics.gauge("vigil_hub_lag_ms",
                               "Now minus the bus time of the oldest record of the last fetch");
    s->m_freq_groups_ = &metrics.gauge("vigil_hub_frequency_groups",
                                       "Frequency and correlation groups held (all workers)");
    s->m_freq_evictions_ =
        &metrics.gauge("vigil_hub_frequency_evictions", "Frequency groups evicted by the LRU cap");
    s->m_processes_ =
        &metrics.gauge("vigil_hub_context_processes", "Process-table entries held (all workers)");
    s->m_process_evictions_ = &metrics.gauge("vigil_hub_context_evictions",
                                             "Process-table entries evicted by the LRU cap");
    return s;
}

std::shared_ptr<const Engine> HubService::engine() const {
    std::lock_guard<std::mutex> lock(engine_mu_);
    return engine_;
}

size_t HubService::ruleCount() const {
    return engine()->ruleCount();
}

Status HubService::reload() {
    LoadResult loaded = loadRules(config_.rules);
    if (loaded.failed > 0 || loaded.rules.empty()) {
        ++stats_.reload_failures;
        std::string msg = loaded.rules.empty() && loaded.failed == 0
                              ? std::string("no rule in the configured rules")
                              : std::to_string(loaded.failed) + " rule(s) failed to load";
        for (const auto& d : loaded.diagnostics) msg += "\n" + d.toString();
        return Error{"reload refused, the running rules stay: " + msg};
    }
    auto next = std::make_shared<const Engine>(std::move(loaded.rules));
    {
        std::lock_guard<std::mutex> lock(engine_mu_);
        engine_ = std::move(next);
    }
    ++stats_.reloads;
    return Status{};
}

std::string HubService::lastError() const {
    std::lock_guard<std::mutex> lock(error_mu_);
    return last_error_;
}

nlohmann::json HubService::statsJson() const {
    const auto rules = engine();
    return {{"records", stats_.records.load()},
            {"alerts", stats_.alerts.load()},
            {"bad_records", stats_.bad_records.load()},
            {"sink_errors", stats_.sink_errors.load()},
            {"commits", stats_.commits.load()},
            {"reloads", stats_.reloads.load()},
            {"reload_failures", stats_.reload_failures.load()},
            {"lag_ms", stats_.lag_ms.load()},
            {"healthy", healthy_.load()},
            {"frequency_groups", stats_.frequency_groups.load()},
            {"frequency_evictions", stats_.frequency_evictions.load()},
            {"processes", stats_.processes.load()},
            {"process_evictions", stats_.process_evictions.load()},
            {"rules", rules->ruleCount()},
            {"workers", slots_.size()},
            {"group", config_.group},
            {"bus", bus_->describe()}};
}

nlohmann::json HubService::rulesJson() const {
    const auto rules = engine();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rules->rules()) {
        out.push_back({{"id", r.id},
                       {"name", r.name},
                       {"kind", r.kind == Rule::Kind::kSigma ? "sigma" : "vigil"},
                       {"severity", severityName(r.severity)},
                       {"data_types", r.data_types},
                       {"mitre", r.mitre},
                       {"whitelist", r.whitelist},
                       {"enabled", r.enabled},
                       {"file", r.loc.file},
                       {"line", r.loc.line}});
    }
    return out;
}

std::string HubService::describe() const {
    std::string sinks;
    for (const auto& s : sinks_) sinks += std::string(sinks.empty() ? "" : ",") + s->name();
    return bus_->describe() + ", group " + config_.group + ", " + std::to_string(ruleCount()) +
           " rules, " + std::to_string(slots_.size()) + " workers, sinks " + sinks;
}

void HubService::start() {
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void HubService::stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
}

void HubService::run() {
    auto logger = log::get("hub");
    while (!stopping_) {
        auto n = pollOnce(config_.poll_timeout);
        healthy_ = n.ok();
        if (!n.ok()) {
            {
                std::lock_guard<std::mutex> lock(error_mu_);
                last_error_ = n.message();
            }
            if (stopping_) break;
            VIGIL_LOG_RATE_LIMITED(logger, spdlog::level::err, "hub: {}", n.message());
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }
}

Alert HubService::makeAlert(const Rule& rule, const Event& event,
                            const std::vector<LineageNode>& lineage, const bus::Delivery& d,
                            int64_t agent_time) const {
    using nlohmann::json;
    auto get = [&](std::string_view k) {
        const std::string_view* v = event.get(k);
        return v ? std::string(*v) : std::string();
    };
    Alert a;
    a.agent_id = get("agent_id");
    a.rule_id = rule.id;
    a.severity = rule.severity;
    json j;
    j["alert_id"] = a.agent_id + "-" + std::to_string(d.partition) + "-" +
                    std::to_string(d.offset) + "-" + rule.id;
    j["rule_id"] = rule.id;
    j["rule_name"] = rule.name;
    j["severity"] = severityName(rule.severity);
    j["mitre"] = rule.mitre;
    j["description"] = rule.description;
    j["suggestion"] = rule.suggestion;
    j["data_type"] = event.data_type;
    j["agent_id"] = a.agent_id;
    j["hostname"] = get("hostname");
    j["time"] = agent_time;
    j["hub_time"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    json fields = json::object();
    for (const auto& [k, v] : event.fields()) fields[std::string(k)] = std::string(v);
    j["fields"] = std::move(fields);
    j["pid_tree"] = get("pid_tree");
    json tree = json::array();
    for (const auto& n : lineage)
        tree.push_back({{"pid", n.pid}, {"exe", n.exe}, {"argv", n.argv}});
    j["process_tree"] = std::move(tree);
    for (const auto& [k, v] : rule.append) {
        if (!j.contains(k)) j[k] = v;  // never overrides the alert's own keys
    }
    a.json = j.dump(-1, ' ', false, json::error_handler_t::replace);
    return a;
}

void HubService::evaluateSlot(const Engine& engine, const std::vector<bus::Delivery>& ds,
                              Slot& slot) const {
    vigil::bus::MQData mq;
    Event ev;
    std::string data_type;
    ContextAdditions added;
    for (size_t i : slot.items) {
        const bus::Delivery& d = ds[i];
        mq.Clear();
        ev.clear();
        bool ok = mq.ParseFromString(d.value);
        if (ok) {
            ok = wire::forEachField(mq.body(),
                                    [&](std::string_view k, std::string_view v) { ev.set(k, v); });
        }
        if (!ok) {
            ++slot.bad;
            continue;
        }
        ev.data_type = mq.data_type();
        // agent_time is in seconds (Elkeid); milliseconds are accepted too.
        const int64_t t = mq.agent_time();
        ev.time_ms = t > 100'000'000'000LL ? t : t * 1000;
        if (ev.time_ms == 0) ev.time_ms = d.bus_time_ns / 1'000'000;
        data_type = std::to_string(mq.data_type());
        ev.set("agent_id", mq.agent_id());
        ev.set("hostname", mq.hostname());
        ev.set("data_type", data_type);
        addDerivedFields(ev);

        PartitionState& ps = slot.partitions[d.partition];
        if (!ps.context) {
            ps.context = std::make_unique<Context>(ContextOptions{config_.max_processes});
            ps.freq =
                std::make_unique<FrequencyState>(FrequencyOptions{config_.max_frequency_groups});
        }
        added.clear();
        ps.context->enrich(ev, added);
        ps.context->observe(ev);
        auto hits = engine.evaluate(ev, ps.freq.get());
        if (hits.empty()) continue;
        const std::vector<LineageNode> lineage = ps.context->lineage(ev);
        for (const Rule* rule : hits) {
            slot.alerts.emplace_back(i, makeAlert(*rule, ev, lineage, d, t));
        }
    }
}

Result<size_t> HubService::pollOnce(std::chrono::milliseconds timeout) {
    auto fetched = consumer_->fetch(config_.fetch_max, timeout);
    if (!fetched.ok()) return fetched.error();
    const std::vector<bus::Delivery>& ds = *fetched;
    if (ds.empty()) return size_t{0};

    int64_t oldest = ds.front().bus_time_ns;
    for (const auto& d : ds) oldest = std::min(oldest, d.bus_time_ns);
    const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    stats_.lag_ms = oldest > 0 ? std::max<int64_t>(0, (now_ns - oldest) / 1'000'000) : 0;

    // Each partition's records in order on its own worker; alerts merged in fetch order.
    const std::shared_ptr<const Engine> rules = engine();
    for (auto& slot : slots_) {
        slot.items.clear();
        slot.alerts.clear();
        slot.bad = 0;
    }
    for (size_t i = 0; i < ds.size(); ++i)
        slots_[ds[i].partition % slots_.size()].items.push_back(i);
    pool_->run([&](size_t k) { evaluateSlot(*rules, ds, slots_[k]); });
    std::vector<std::pair<size_t, Alert>> merged;
    uint64_t bad = 0;
    for (auto& slot : slots_) {
        bad += slot.bad;
        for (auto& a : slot.alerts) merged.push_back(std::move(a));
    }
    std::stable_sort(merged.begin(), merged.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Alert> alerts;
    alerts.reserve(merged.size());
    for (auto& a : merged) alerts.push_back(std::move(a.second));
    if (bad > 0) {
        stats_.bad_records += bad;
        m_bad_->inc(bad);
    }
    uint64_t groups = 0, freq_evictions = 0, processes = 0, process_evictions = 0;
    for (const auto& slot : slots_) {
        for (const auto& [p, ps] : slot.partitions) {
            groups += ps.freq->groups();
            freq_evictions += ps.freq->evictions();
            processes += ps.context->size();
            process_evictions += ps.context->stats().evicted;
        }
    }
    stats_.frequency_groups = groups;
    stats_.frequency_evictions = freq_evictions;
    stats_.processes = processes;
    stats_.process_evictions = process_evictions;
    m_lag_->set(static_cast<double>(stats_.lag_ms.load()));
    m_freq_groups_->set(static_cast<double>(groups));
    m_freq_evictions_->set(static_cast<double>(freq_evictions));
    m_processes_->set(static_cast<double>(processes));
    m_process_evictions_->set(static_cast<double>(process_evictions));

    // Durable in every sink before the commit; a failing sink is retried until it works or
    // the service stops (then nothing is committed: redelivered on restart).
    auto logger = log::get("hub");
    for (auto& sink : sinks_) {
        for (int attempt = 0;; ++attempt) {
            auto st = sink->write(alerts);
            if (st.ok()) break;
            ++stats_.sink_errors;
            m_sink_errors_->inc();
            VIGIL_LOG_RATE_LIMITED(logger, spdlog::level::err, "alert sink {}: {}", sink->name(),
                                   st.message());
            if (stopping_)
                return Error{std::string("alert sink ") + sink->name() + ": " + st.message() +
                             " (not committed)"};
            auto wait = std::chrono::milliseconds(std::min(5000, 100 << std::min(attempt, 6)));
            for (auto waited = std::chrono::milliseconds(0); waited < wait && !stopping_;
                 waited += std::chrono::milliseconds(50)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
    }
    auto st = consumer_->commit(ds);
    if (!st.ok()) return Error{"commit: " + st.message()};
    ++stats_.commits;
    stats_.records += ds.size();
    stats_.alerts += alerts.size();
    m_records_->inc(ds.size());
    m_alerts_->inc(alerts.size());
    return ds.size();
}

}  // namespace vigil::hub
