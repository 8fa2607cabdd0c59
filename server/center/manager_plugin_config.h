// The plugin sets from vigil-manager (plugins.manager in the center's configuration): GET
// /internal/v1/plugin-config, AK/SK signed, answers the plugin config file's structure
// (`plugins`, `agents`) built from the manager's host groups; it is validated like the file.
// Polled every plugins.reload_interval and on POST /plugins/reload (the manager calls it after a
// change). Until the first good answer nothing is pushed; a failed poll keeps the previous set,
// and so does a 404 (the manager has no host group: nothing to apply).
// Thread-safety: configFor() and reload() may run concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "server/center/plugin_config.h"
#include "server/common/auth.h"

namespace vigil::center {

struct ManagerPluginConfigOptions {
    std::string url;  // http://host:port of the manager
    server::AkSk key;
    std::chrono::milliseconds timeout{3000};
    std::string product = "vigil-agent";
};

class ManagerPluginConfig : public PluginConfigSource {
public:
    explicit ManagerPluginConfig(ManagerPluginConfigOptions options);
    std::vector<wire::CommandConfig> configFor(const std::string& agent_id) const override;
    Result<bool> reload() override;
    bool loaded() const override;

private:
    ManagerPluginConfigOptions options_;
    mutable std::mutex mu_;
    PluginConfigData data_;
    bool loaded_ = false;
};

}  // namespace vigil::center
