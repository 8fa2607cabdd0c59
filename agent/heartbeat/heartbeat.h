// Heartbeat: builds the agent heartbeat (1000) and one plugin heartbeat (1001) per plugin,
// with Elkeid's field names (libs/schema/data_types.yaml), and hands them to the RecordSink.
// Sources are callbacks so this module does not own the transport or the plugin host.
// emit() is called from one thread (the agent's timer); not thread-safe otherwise.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/heartbeat/host_info.h"
#include "agent/heartbeat/proc_stats.h"
#include "agent/plugin_host/plugin_host.h"
#include "agent/spool/spool.h"
#include "agent/transport/center_client.h"
#include "agent/transport/record_sink.h"

namespace vigil::agent {

struct AgentStateSnapshot {
    std::string state = "running";  // running | abnormal
    std::string state_detail;
    std::string idc;
    std::string region;
};

struct HeartbeatSources {
    std::function<AgentStateSnapshot()> agent_state;
    std::function<TransportStats()> transport;
    std::function<SpoolStats()> spool;
    std::function<std::vector<PluginStatus>()> plugins;
    // Drops by cause since start (spool_full, plugin_malformed_record, ...).
    std::function<std::map<std::string, uint64_t>()> drops;
    std::string work_dir;
};

class Heartbeat {
public:
    Heartbeat(HeartbeatSources sources, RecordSink& sink);

    // Emits 1000 and the 1001s now.
    void emit();
    // The 1000 fields (tests, `vigil-agent status`).
    std::map<std::string, std::string> agentFields();

private:
    std::map<std::string, std::string> pluginFields(const PluginStatus& p);

    HeartbeatSources sources_;
    RecordSink& sink_;
    HostIdentity identity_;
    HostCpu host_cpu_;
    RateTracker self_rates_;
    CounterRate tx_records_, rx_commands_, tx_bytes_;
    struct PluginRates {
        RateTracker proc;
        CounterRate records, bytes, tasks;
        int pid = 0;
    };
    std::map<std::string, PluginRates> plugin_rates_;
    int64_t last_identity_refresh_ = 0;
};

// Formats a double the way heartbeats carry it (fixed, 8 decimals trimmed).
std::string formatRate(double v);

}  // namespace vigil::agent
