// The `rules:` section of the manager's configuration.
#include "server/manager/rules/rules_config.h"

#include <unistd.h>

#include <filesystem>

#include "server/common/service_config.h"

namespace vigil::manager::rules {

void readRulesConfig(const config::Node& root, RulesConfig& out) {
    if (!root.has("rules")) return;
    config::Node r = root.child("rules");
    r.allowOnly({"dir", "hub_bin", "hub_paths", "hubs", "keys_file", "access_key", "check_timeout",
                 "hub_timeout"});
    out.dir = r.str("dir");
    if (out.dir.empty()) r.problem("dir", "the managed rules directory is required");
    out.hub_bin = r.str("hub_bin");
    out.hub_paths = r.strList("hub_paths");
    out.hubs = r.strList("hubs");
    for (const auto& h : out.hubs) {
        if (auto hp = server::parseHostPort(h); !hp.ok()) r.problem("hubs", hp.message());
    }
    const std::string keys_file = r.str("keys_file");
    if (!keys_file.empty()) {
        auto keys = server::loadKeysFile(keys_file);
        if (keys.ok())
            out.keys = std::move(*keys);
        else
            r.problem("keys_file", keys.message());
    }
    out.access_key = r.str("access_key");
    if (!out.access_key.empty() && !out.keys.count(out.access_key)) {
        r.problem("access_key", "is not one of the keys of keys_file");
    }
    if (!out.hubs.empty() && out.keys.empty()) {
        r.problem("keys_file", "hubs need AK/SK keys to sign POST /hub/reload");
    }
    out.check_timeout =
        r.duration("check_timeout", out.check_timeout, std::chrono::milliseconds(100));
    out.hub_timeout = r.duration("hub_timeout", out.hub_timeout, std::chrono::milliseconds(100));
}

std::string defaultHubBin() {
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return "vigil-hub";
    return (self.parent_path() / "vigil-hub").string();
}

}  // namespace vigil::manager::rules
