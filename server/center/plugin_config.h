// Where the center gets each agent's desired plugin set, pushed as a config-sync Command on the
// agent's first heartbeat and after every change: a YAML file, or vigil-manager's host groups
// (ManagerPluginConfig, manager_plugin_config.h, answering the same structure). File format:
//   plugins:                      # default set for every agent
//     - {name: driver, version: "1.0", type: exec, sha256: <hex>, signature: <hex>,
//        download_urls: [http://...], detail: "..."}
//   agent: {version: "0.2.0", type: exec, sha256: <hex>, download_urls: [...]}   # optional
//   agents:                       # optional: per-agent sets that replace `plugins`
//     <agent_id>: {plugins: [...]}
// Thread-safety: configFor() and reload() may run concurrently.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "libs/common/result.h"
#include "libs/wire/command.h"

namespace vigil::center {

class PluginConfigSource {
public:
    virtual ~PluginConfigSource() = default;
    // The full desired set for `agent_id` (the agent entry included when configured).
    virtual std::vector<wire::CommandConfig> configFor(const std::string& agent_id) const = 0;
    // Re-reads the source; true when it changed (and is valid). Errors keep the previous set.
    virtual Result<bool> reload() = 0;
    // False until the source has a set to give (a remote source before its first answer):
    // nothing is pushed meanwhile, since an empty set would stop every plugin.
    virtual bool loaded() const { return true; }
};

// The parsed content of a plugin config file.
struct PluginConfigData {
    std::vector<wire::CommandConfig> defaults;
    std::map<std::string, std::vector<wire::CommandConfig>> per_agent;
    std::string text;
};

// The plugin sets in a YAML file; an empty path means "no plugins" (nothing is pushed).
class FilePluginConfig : public PluginConfigSource {
public:
    static Result<std::unique_ptr<FilePluginConfig>> open(const std::string& path, const std::string& product);
    std::vector<wire::CommandConfig> configFor(const std::string& agent_id) const override;
    Result<bool> reload() override;

    // Parses the file format above (every problem with file:line:col and key).
    static Result<PluginConfigData> parse(const std::string& text, const std::string& name, const std::string& product);

private:
    std::string path_;
    std::string product_;
    mutable std::mutex mu_;
    PluginConfigData data_;
};

// Stable digest of a config set (what was last pushed to a connection).
std::string configDigest(const std::vector<wire::CommandConfig>& configs);

}  // namespace vigil::center
