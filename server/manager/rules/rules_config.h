// The manager's `rules:` section: the managed rules directory the hubs load, the vigil-hub
// binary that validates changes, and the hubs to reload after a change (docs/manager.md
// "Rules"). Plain data; read once at start-up.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "libs/common/config.h"

namespace vigil::manager::rules {

struct RulesConfig {
    // The managed directory (its *.yaml / *.yml files and .disabled list). Empty: the rule
    // routes answer 503.
    std::string dir;
    // vigil-hub, run as `vigil-hub check` on every change. Empty: next to vigil-manager.
    std::string hub_bin;
    // Other rule paths the hubs load besides `dir` (e.g. the default pack): checked together
    // with it, so a pack repeating one of their ids is refused.
    std::vector<std::string> hub_paths;
    // The hubs' HTTP APIs (host:port) that get a signed POST /hub/reload after a change.
    std::vector<std::string> hubs;
    std::map<std::string, std::string> keys;  // AK/SK pairs (keys_file); the first one signs
    std::string access_key;                   // which key signs; empty: the first
    std::chrono::milliseconds check_timeout{30000};
    std::chrono::milliseconds hub_timeout{5000};
};

// Reads the optional `rules:` section of `root` (dir, hub_bin, hub_paths, hubs, keys_file,
// access_key, check_timeout, hub_timeout). Problems are recorded on the document.
void readRulesConfig(const config::Node& root, RulesConfig& out);

// Where vigil-hub is when hub_bin is not set: the directory of this process's executable.
std::string defaultHubBin();

}  // namespace vigil::manager::rules
