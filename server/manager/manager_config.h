// vigil-manager configuration: YAML file plus command-line overrides, validated with every
// problem named by key and position (exit 2 on a bad configuration). Not thread-safe (start-up).
#pragma once

#include <string>

#include "libs/common/result.h"
#include "server/manager/auth/authenticator.h"
#include "server/manager/cluster/cluster_client.h"
#include "server/manager/ingest/ingest.h"
#include "server/manager/rules/rules_config.h"
#include "server/manager/store/store.h"

namespace vigil::manager {

// Command-line overrides; empty means "not given".
struct ManagerFlags {
    std::string listen;  // host:port
    std::string store_url;
    std::string admin_password;
    std::string log_level;
    std::string log_file;
};

struct ManagerConfig {
    std::string store_url = "sqlite:///var/lib/vigil-manager/manager.db";
    StoreOptions store;
    std::string http_host = "127.0.0.1";
    int http_port = 8080;
    size_t http_threads = 8;
    size_t max_body_bytes = 1 << 20;
    // http.console_dir: the built web console; empty: <executable dir>/../console/dist when
    // it exists (console::defaultConsoleDir), else no console.
    std::string console_dir;
    auth::AuthOptions auth;
    // The first-run admin's password; empty: a random one, printed once to stderr.
    std::string admin_password;
    IngestConfig ingest;  // `bus:` and `alerts_bus:`; a loop runs only when its bus is set
    // `cluster:`: discovery, centers, keys (tasks, plugin configs, services); empty: none.
    cluster::ClusterOptions cluster;
    rules::RulesConfig rules;  // `rules:`; without rules.dir the rule routes answer 503
    std::string log_level = "info";
    std::string log_file;  // empty: stderr
};

// `name` labels problems (the file name, or "command line" without a file).
Result<ManagerConfig> parseManagerConfig(const std::string& text, const std::string& name,
                                         const ManagerFlags& flags);
// Reads `path` (empty: defaults and flags only).
Result<ManagerConfig> loadManagerConfig(const std::string& path, const ManagerFlags& flags);
// A commented example with every key (vigil-manager --print-config).
std::string exampleManagerConfig();

}  // namespace vigil::manager
