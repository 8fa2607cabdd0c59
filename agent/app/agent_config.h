// The agent's configuration: YAML file plus command-line overrides. Loading reports every
// problem with the key, file position and what is wrong (exit code 2 in main).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/plugin_host/plugin_host.h"
#include "agent/spool/spool.h"
#include "agent/transport/batcher.h"
#include "agent/transport/center_client.h"
#include "libs/common/config.h"
#include "libs/common/result.h"

namespace vigil::agent {

inline constexpr const char* kProduct = "vigil-agent";

struct AgentConfig {
    std::string config_file;  // where it was loaded from (empty: flags only)
    std::string work_dir = "/var/lib/vigil-agent";
    std::string agent_id;     // empty: derived from the host and persisted in work_dir
    std::string product = kProduct;
    std::string idc;
    std::string log_level = "info";
    std::string log_file;     // empty: <work_dir>/log/vigil-agent.log; "-" = stderr only
    std::string metrics_listen;  // host:port for /metrics; empty = off
    std::chrono::milliseconds heartbeat_interval{60000};

    TransportOptions transport;
    BatcherOptions batcher;
    SpoolOptions spool;
    PluginHostOptions plugins;
    // Plugins to run until the center sends a config (also restored from the last sync).
    std::vector<PluginSpec> initial_plugins;
};

// Overrides from flags; empty/zero fields leave the file's values.
struct AgentFlags {
    std::string work_dir;
    std::string agent_id;
    std::string region;
    std::vector<std::string> discovery;  // private discovery addresses of the selected region
    std::vector<std::string> centers;    // private center addresses of the selected region
    std::string ca_file, cert_file, key_file, server_name;
    std::string spool_size;              // e.g. 512MiB
    std::string plugin_cpu_percent;
    std::string plugin_memory;
    std::string log_level;
    std::string log_file;
    std::string metrics_listen;
};

// Parses `text` (YAML) then applies flags. All problems are returned at once, one per line.
Result<AgentConfig> parseAgentConfig(const std::string& text, const std::string& name, const AgentFlags& flags);
// Reads the file (when path is non-empty) and parses it.
Result<AgentConfig> loadAgentConfig(const std::string& path, const AgentFlags& flags);

// A commented example configuration (written by `vigil-agent --print-config`).
std::string exampleAgentConfig();

}  // namespace vigil::agent
