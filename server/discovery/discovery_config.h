// vigil-discovery configuration: YAML file plus command-line overrides, validated with every
// problem named by key and position (exit 2 on a bad configuration). Not thread-safe (start-up).
#pragma once

#include <string>
#include <vector>

#include "libs/common/result.h"
#include "server/discovery/discovery_service.h"

namespace vigil::discovery {

// Command-line overrides; empty means "not given".
struct DiscoveryFlags {
    std::string listen;     // host:port
    std::string advertise;  // host:port
    std::vector<std::string> peers;
    std::string keys_file;
    bool auth_disabled = false;
    std::string evict_after;  // duration, e.g. "105s"
    std::string log_level;
    std::string log_file;
};

struct DiscoveryConfig {
    DiscoveryOptions options;
    bool auth_disabled = false;
    size_t key_count = 0;
    std::string log_level = "info";
    std::string log_file;  // empty: stderr
};

// `name` labels problems (the file name, or "command line" without a file).
Result<DiscoveryConfig> parseDiscoveryConfig(const std::string& text, const std::string& name,
                                             const DiscoveryFlags& flags);
// Reads `path` (empty: defaults and flags only).
Result<DiscoveryConfig> loadDiscoveryConfig(const std::string& path, const DiscoveryFlags& flags);
// A commented example with every key (vigil-discovery --print-config).
std::string exampleDiscoveryConfig();

}  // namespace vigil::discovery
