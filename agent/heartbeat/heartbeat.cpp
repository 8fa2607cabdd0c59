// 1000/1001 heartbeat records.
#include "agent/heartbeat/heartbeat.h"

#include <unistd.h>

#include <chrono>
#include <ctime>

#include <fmt/format.h>

#include "libs/common/fs.h"
#include "libs/schema/schema.h"
#include "libs/wire/buffer.h"
#include "libs/wire/record.h"

namespace vigil::agent {
namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ",";
        out += s;
    }
    return out;
}

void put(RecordSink& sink, int32_t data_type, const std::map<std::string, std::string>& fields) {
    wire::Buffer payload;
    wire::encodePayload(payload, fields);
    sink.put(data_type, static_cast<int64_t>(std::time(nullptr)), payload.view());
}

}  // namespace

std::string formatRate(double v) {
    std::string s = fmt::format("{:.8f}", v);
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s.empty() ? "0" : s;
}

Heartbeat::Heartbeat(HeartbeatSources sources, RecordSink& sink)
    : sources_(std::move(sources)), sink_(sink), identity_(readHostIdentity()) {
    host_cpu_.update();
    if (auto s = readProcess(::getpid())) self_rates_.update(*s);
}

std::map<std::string, std::string> Heartbeat::agentFields() {
    std::map<std::string, std::string> f;
    const auto now = std::chrono::steady_clock::now();
    const int64_t wall = static_cast<int64_t>(std::time(nullptr));
    if (wall - last_identity_refresh_ > 3600) {
        identity_ = readHostIdentity();
        last_identity_refresh_ = wall;
    }
    f["kernel_version"] = identity_.kernel_version;
    f["arch"] = identity_.arch;
    f["platform"] = identity_.platform;
    f["platform_family"] = identity_.platform_family;
    f["platform_version"] = identity_.platform_version;
    f["host_serial"] = identity_.host_serial;
    f["host_id"] = identity_.host_id;
    f["host_model"] = identity_.host_model;
    f["host_vendor"] = identity_.host_vendor;
    f["cpu_name"] = identity_.cpu_name;
    f["nproc"] = std::to_string(identity_.nproc);
    f["total_mem"] = std::to_string(identity_.total_mem);
    f["boot_time"] = std::to_string(identity_.boot_time);

    AgentStateSnapshot st = sources_.agent_state ? sources_.agent_state() : AgentStateSnapshot{};
    f["state"] = st.state;
    f["state_detail"] = st.state_detail;
    f["idc"] = st.idc;
    f["region"] = st.region;

    if (auto s = readProcess(::getpid())) {
        ProcessRates r = self_rates_.update(*s);
        f["cpu"] = formatRate(r.cpu_cores);
        f["rss"] = std::to_string(s->rss_bytes);
        f["read_speed"] = formatRate(r.read_bytes_per_s);
        f["write_speed"] = formatRate(r.write_bytes_per_s);
        f["pid"] = std::to_string(::getpid());
        f["nfd"] = std::to_string(s->nfd);
        f["nthreads"] = std::to_string(s->nthreads);
        f["start_time"] = std::to_string(s->start_time);
    }

    TransportStats t = sources_.transport ? sources_.transport() : TransportStats{};
    f["net_mode"] = t.net_mode.empty() ? "unknown" : t.net_mode;
    f["center"] = t.center;
    f["tx_tps"] = formatRate(tx_records_.update(t.records_sent, now));
    f["tx_speed"] = formatRate(tx_bytes_.update(t.bytes_sent, now));
    f["rx_tps"] = formatRate(rx_commands_.update(t.commands_received, now));
    f["rx_speed"] = "0";

    if (!sources_.work_dir.empty()) f["du"] = std::to_string(fs::diskUsage(sources_.work_dir));

    HostLoad load = readHostLoad();
    f["load_1"] = load.load_1;
    f["load_5"] = load.load_5;
    f["load_15"] = load.load_15;
    f["running_procs"] = load.running_procs;
    f["total_procs"] = load.total_procs;
    f["mem_usage"] = formatRate(load.mem_usage);
    f["cpu_usage"] = formatRate(host_cpu_.update());
    f["dns"] = join(readDnsServers());
    f["gateway"] = join(readDefaultGateways());

    if (sources_.spool) {
        SpoolStats s = sources_.spool();
        f["spool_batches"] = std::to_string(s.pending_batches);
        f["spool_bytes"] = std::to_string(s.pending_bytes);
    }
    uint64_t drops = 0;
    std::string detail;
    if (sources_.drops) {
        for (const auto& [cause, n] : sources_.drops()) {
            if (n == 0) continue;
            drops += n;
            if (!detail.empty()) detail += ",";
            detail += cause + "=" + std::to_string(n);
        }
    }
    f["drops"] = std::to_string(drops);
    f["drops_detail"] = detail;
    return f;
}

std::map<std::string, std::string> Heartbeat::pluginFields(const PluginStatus& p) {
    std::map<std::string, std::string> f;
    const auto now = std::chrono::steady_clock::now();
    PluginRates& rates = plugin_rates_[p.spec.name];
    if (rates.pid != p.pid) {
        rates.proc = RateTracker();
        rates.pid = p.pid;
    }
    f["name"] = p.spec.name;
    f["pversion"] = p.spec.version;
    f["state"] = pluginStateName(p.state);
    f["last_error"] = p.last_error;
    f["pid"] = std::to_string(p.pid);
    f["start_time"] = std::to_string(p.start_time);
    f["records"] = std::to_string(p.records);
    f["drops"] = std::to_string(p.drops);
    f["restarts"] = std::to_string(p.restarts);
    f["cgroup"] = p.cgroup_mode;
    if (p.pid > 0) {
        if (auto s = readProcess(p.pid)) {
            ProcessRates r = rates.proc.update(*s);
            f["cpu"] = formatRate(r.cpu_cores);
            f["rss"] = std::to_string(s->rss_bytes);
            f["read_speed"] = formatRate(r.read_bytes_per_s);
            f["write_speed"] = formatRate(r.write_bytes_per_s);
            f["nfd"] = std::to_string(s->nfd);
        }
    }
    f["tx_tps"] = formatRate(rates.records.update(p.records, now));
    f["tx_speed"] = formatRate(rates.bytes.update(p.bytes, now));
    f["rx_tps"] = formatRate(rates.tasks.update(p.tasks, now));
    f["rx_speed"] = "0";
    if (!sources_.work_dir.empty()) {
        f["du"] = std::to_string(fs::diskUsage(fs::joinPath(sources_.work_dir, "plugin/" + p.spec.name)));
    }
    return f;
}

void Heartbeat::emit() {
    put(sink_, schema::dt::kAgentHeartbeat, agentFields());
    if (!sources_.plugins) return;
    for (const auto& p : sources_.plugins()) {
        if (p.state == PluginState::kStopped) continue;
        put(sink_, schema::dt::kPluginHeartbeat, pluginFields(p));
    }
}

}  // namespace vigil::agent
