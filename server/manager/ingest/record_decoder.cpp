// RecordDecoder: heartbeats and task results from bus records into store rows.
#include "server/manager/ingest/record_decoder.h"

#include <charconv>
#include <set>

#include <nlohmann/json.hpp>

#include "libs/wire/record.h"
#include "proto/bus.pb.h"

namespace vigil::manager {

using nlohmann::json;

struct RecordDecoder::HostEntry {
    Host host;
    bool known = false;  // a host row exists (stored, or from a decoded record)
    // name -> the plugin's JSON object (its "heartbeat_ms" orders repeats).
    std::map<std::string, json> plugins;
};

namespace {

using Fields = std::map<std::string, std::string>;

int64_t toInt(const Fields& f, const char* key) {
    auto it = f.find(key);
    if (it == f.end()) return 0;
    int64_t v = 0;
    std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    return v;
}

double toDouble(const Fields& f, const char* key) {
    auto it = f.find(key);
    if (it == f.end() || it->second.empty()) return 0;
    try {
        return std::stod(it->second);
    } catch (...) {
        return 0;  // a malformed number reads as 0, like a missing one
    }
}

std::string field(const Fields& f, const char* key) {
    auto it = f.find(key);
    return it == f.end() ? std::string() : it->second;
}

void appendList(std::string_view joined, std::vector<std::string>& out) {
    while (!joined.empty()) {
        size_t comma = joined.find(',');
        std::string_view item = joined.substr(0, comma);
        if (!item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        joined.remove_prefix(comma + 1);
    }
}

// "debian 12 (6.1.0-18-amd64)"
std::string platformOf(const Fields& f) {
    std::string p = field(f, "platform");
    const std::string version = field(f, "platform_version");
    const std::string kernel = field(f, "kernel_version");
    if (!version.empty()) p += (p.empty() ? "" : " ") + version;
    if (!kernel.empty()) p += (p.empty() ? "(" : " (") + kernel + ")";
    return p;
}

// The identity fields every record carries (MQData 4-10).
void setIdentity(const vigil::bus::MQData& mq, Host& h) {
    h.agent_id = mq.agent_id();
    if (!mq.hostname().empty()) h.hostname = mq.hostname();
    if (!mq.version().empty()) h.version = mq.version();
    std::vector<std::string> intranet, extranet;
    appendList(mq.intranet_ipv4(), intranet);
    appendList(mq.intranet_ipv6(), intranet);
    appendList(mq.extranet_ipv4(), extranet);
    appendList(mq.extranet_ipv6(), extranet);
    if (!intranet.empty() || !extranet.empty()) {
        h.intranet_ips = std::move(intranet);
        h.extranet_ips = std::move(extranet);
    }
}

// The agent's 5100 status words as the manager's result statuses.
std::string taskStatus(const std::string& s) {
    if (s == "succeed" || s == "success" || s == "succeeded") return "succeeded";
    if (s == "failed" || s == "fail" || s.empty()) return "failed";
    return s;
}

std::string pluginsJson(const std::map<std::string, json>& plugins) {
    json a = json::array();
    for (const auto& [name, p] : plugins) a.push_back(p);
    return a.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

int64_t agentTimeMs(int64_t agent_time, int64_t bus_time_ns) {
    if (agent_time == 0) return bus_time_ns / 1'000'000;
    return agent_time > 100'000'000'000LL ? agent_time : agent_time * 1000;
}

RecordDecoder::RecordDecoder(Store& store) : store_(store) {}
RecordDecoder::~RecordDecoder() = default;

size_t RecordDecoder::hostsKnown() const {
    return hosts_.size();
}

Status RecordDecoder::load(const std::vector<std::string>& agent_ids) {
    std::vector<std::pair<std::string, std::unique_ptr<HostEntry>>> loaded;
    for (const auto& id : agent_ids) {
        auto stored = store_.getHost(id);
        if (!stored.ok()) return makeError("read host {}: {}", id, stored.message());
        auto e = std::make_unique<HostEntry>();
        e->host.agent_id = id;
        if (stored->has_value()) {
            e->host = **stored;
            e->known = true;
            json a = json::parse(e->host.plugins_json, nullptr, false);
            if (a.is_array()) {
                for (auto& p : a) {
                    if (p.is_object() && p.contains("name") && p["name"].is_string()) {
                        e->plugins[p["name"].get<std::string>()] = p;
                    }
                }
            }
        }
        loaded.emplace_back(id, std::move(e));
    }
    for (auto& [id, e] : loaded) hosts_[id] = std::move(e);
    return okStatus();
}

Status RecordDecoder::decode(const std::vector<bus::Delivery>& deliveries, IngestBatch& out,
                             DecodeCounts& counts) {
    out = IngestBatch{};
    std::vector<vigil::bus::MQData> msgs(deliveries.size());
    std::vector<Fields> fields(deliveries.size());
    std::vector<bool> good(deliveries.size(), false);
    std::set<std::string> missing;
    DecodeCounts c;
    for (size_t i = 0; i < deliveries.size(); ++i) {
        ++c.records;
        const int32_t dt = deliveries[i].data_type;
        if (dt != kAgentHeartbeat && dt != kPluginHeartbeat && dt != kTaskResult) {
            ++c.skipped;
            continue;
        }
        vigil::bus::MQData& mq = msgs[i];
        Fields& f = fields[i];
        bool ok = mq.ParseFromString(deliveries[i].value) &&
                  wire::forEachField(mq.body(), [&](std::string_view k, std::string_view v) {
                      f[std::string(k)] = std::string(v);
                  });
        if (!ok || mq.agent_id().empty() || mq.data_type() != dt) {
            ++c.bad;
            continue;
        }
        if (dt == kPluginHeartbeat && field(f, "name").empty()) {
            ++c.bad;
            continue;
        }
        if (dt == kTaskResult && field(f, "token").empty()) {
            ++c.bad;
            continue;
        }
        good[i] = true;
        if (dt != kTaskResult && !hosts_.count(mq.agent_id())) missing.insert(mq.agent_id());
    }
    VIGIL_TRY(load(std::vector<std::string>(missing.begin(), missing.end())));

    std::map<std::string, HostEntry*> touched;
    for (size_t i = 0; i < deliveries.size(); ++i) {
        if (!good[i]) continue;
        const vigil::bus::MQData& mq = msgs[i];
        const Fields& f = fields[i];
        const int64_t t = agentTimeMs(mq.agent_time(), deliveries[i].bus_time_ns);
        if (mq.data_type() == kTaskResult) {
            ++c.task_results;
            json r = json::object();
            for (const auto& [k, v] : f) r[k] = v;
            out.task_results.push_back(
                TaskResult{field(f, "token"), mq.agent_id(), taskStatus(field(f, "status")),
                           r.dump(-1, ' ', false, json::error_handler_t::replace), t});
            continue;
        }
        HostEntry& e = *hosts_[mq.agent_id()];
        if (mq.data_type() == kAgentHeartbeat) {
            ++c.heartbeats;
            if (e.known && t < e.host.last_heartbeat_ms) continue;  // an older one, redelivered
            setIdentity(mq, e.host);
            e.host.platform = platformOf(f);
            e.host.last_heartbeat_ms = t;
            e.host.cpu_percent = toDouble(f, "cpu") * 100;  // cores -> percent of one core
            e.host.rss_bytes = toInt(f, "rss");
            e.host.drops = toInt(f, "drops");
            e.known = true;
            std::erase_if(e.plugins, [&](const auto& p) {
                return p.second.value("heartbeat_ms", int64_t{0}) < t - kPluginStaleMs;
            });
        } else {
            ++c.plugin_heartbeats;
            const std::string name = field(f, "name");
            auto it = e.plugins.find(name);
            if (it != e.plugins.end() && t < it->second.value("heartbeat_ms", int64_t{0})) continue;
            if (!e.known) {  // a plugin heard of before its agent: the row starts from MQData
                setIdentity(mq, e.host);
                e.host.last_heartbeat_ms = t;
                e.known = true;
            }
            e.plugins[name] = json{{"name", name},
                                   {"version", field(f, "pversion")},
                                   {"state", field(f, "state")},
                                   {"last_error", field(f, "last_error")},
                                   {"pid", toInt(f, "pid")},
                                   {"cpu_percent", toDouble(f, "cpu") * 100},
                                   {"rss_bytes", toInt(f, "rss")},
                                   {"records", toInt(f, "records")},
                                   {"drops", toInt(f, "drops")},
                                   {"restarts", toInt(f, "restarts")},
                                   {"start_time", toInt(f, "start_time")},
                                   {"heartbeat_ms", t}};
        }
        e.host.plugins_json = pluginsJson(e.plugins);
        touched[mq.agent_id()] = &e;
    }
    for (const auto& [id, e] : touched) out.hosts.push_back(e->host);
    counts = c;
    return okStatus();
}

}  // namespace vigil::manager
