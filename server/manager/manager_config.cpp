// vigil-manager configuration: schema, defaults, validation and flag overrides.
#include "server/manager/manager_config.h"

#include "libs/common/config.h"
#include "libs/common/fs.h"
#include "server/common/service_config.h"

namespace vigil::manager {

using config::Node;

Result<ManagerConfig> parseManagerConfig(const std::string& text, const std::string& name,
                                         const ManagerFlags& flags) {
    auto doc = config::Document::loadString(text, name);
    if (!doc.ok()) return doc.error();
    Node root = doc->root();
    root.allowOnly(
        {"store", "http", "auth", "bus", "alerts_bus", "ingest", "log", "cluster", "rules"});
    ManagerConfig c;
    config::Problems flag_problems;
    auto flagProblem = [&](const std::string& flag, const std::string& msg) {
        flag_problems.add(config::Problem{"command line", 0, 0, flag, msg});
    };

    Node store = root.child("store");
    store.allowOnly({"url", "connections", "host_offline_after"});
    c.store_url = flags.store_url.empty() ? store.str("url", c.store_url) : flags.store_url;
    const bool known_scheme = c.store_url.rfind("sqlite://", 0) == 0 ||
                              c.store_url.rfind("postgresql://", 0) == 0 ||
                              c.store_url.rfind("postgres://", 0) == 0;
    if (!known_scheme) {
        const std::string msg =
            "must be sqlite://PATH or postgresql://..., got '" + c.store_url.substr(0, 60) + "'";
        if (flags.store_url.empty())
            store.problem("url", msg);
        else
            flagProblem("--store", msg);
    }
    c.store.connections = static_cast<size_t>(store.integer("connections", 4, 1, 256));
    c.store.host_offline_after_ms =
        store.duration("host_offline_after", std::chrono::seconds(180), std::chrono::seconds(1))
            .count();

    Node http = root.child("http");
    http.allowOnly({"listen", "threads", "max_body", "console_dir"});
    std::string listen = flags.listen.empty() ? http.str("listen", "127.0.0.1:8080") : flags.listen;
    if (auto hp = server::parseHostPort(listen, true); hp.ok()) {
        c.http_host = hp->host;
        c.http_port = hp->port;
    } else if (!flags.listen.empty()) {
        flagProblem("--listen", hp.message());
    } else {
        http.problem("listen", hp.message());
    }
    c.http_threads = static_cast<size_t>(http.integer("threads", 8, 1, 256));
    c.max_body_bytes = http.size("max_body", 1 << 20, 4 * 1024, 64ull << 20);
    c.console_dir = http.str("console_dir");
    if (!c.console_dir.empty() && !fs::exists(c.console_dir)) {
        http.problem("console_dir", "'" + c.console_dir + "' does not exist");
    } else if (!c.console_dir.empty() && !fs::exists(fs::joinPath(c.console_dir, "index.html"))) {
        http.problem("console_dir",
                     "'" + c.console_dir + "' has no index.html (build the console)");
    }

    Node auth = root.child("auth");
    auth.allowOnly(
        {"session_ttl", "password_hash", "admin_password", "login_max_failures", "login_window"});
    c.auth.session_ttl_ms =
        auth.duration("session_ttl", std::chrono::hours(12), std::chrono::minutes(1)).count();
    std::string cost = auth.oneOf("password_hash", "interactive", {"interactive", "moderate"});
    c.auth.hash_cost =
        cost == "moderate" ? auth::HashCost::kModerate : auth::HashCost::kInteractive;
    c.admin_password =
        flags.admin_password.empty() ? auth.str("admin_password") : flags.admin_password;
    if (!c.admin_password.empty() && c.admin_password.size() < 8) {
        if (flags.admin_password.empty())
            auth.problem("admin_password", "must be at least 8 bytes");
        else
            flagProblem("--admin-password", "must be at least 8 bytes");
    }
    c.auth.max_failures = static_cast<size_t>(auth.integer("login_max_failures", 5, 1, 1000));
    c.auth.failure_window_ms =
        auth.duration("login_window", std::chrono::minutes(5), std::chrono::seconds(1)).count();

    // The records bus (heartbeats, task results) and the hub's alerts bus; absent: not read.
    readIngestConfig(root, c.ingest);
    cluster::readClusterConfig(root, c.cluster);
    rules::readRulesConfig(root, c.rules);

    server::readLogSettings(root.child("log"), flags.log_level, flags.log_file, c.log_level,
                            c.log_file, flag_problems);

    return config::configOrProblems(std::move(c), *doc, flag_problems);
}

Result<ManagerConfig> loadManagerConfig(const std::string& path, const ManagerFlags& flags) {
    return config::loadConfigFile(path, flags, &parseManagerConfig);
}

std::string exampleManagerConfig() {
    return R"(# vigil-manager configuration (every key is optional).
store:
  url: sqlite:///var/lib/vigil-manager/manager.db   # or postgresql://user:pw@host:5432/db
  connections: 4              # SQLite reader connections / PostgreSQL pool size
  host_offline_after: 180s    # a host without a heartbeat for this long is offline
http:
  listen: 127.0.0.1:8080      # REST API, /metrics, /healthz (port 0 = any)
  threads: 8                  # HTTP worker threads
  max_body: 1MiB              # larger request bodies get 413
  console_dir: ""             # the web console's files ("": ../console/dist next to the binary)
auth:
  session_ttl: 12h            # a login's token is valid this long (logout ends it sooner)
  password_hash: interactive  # argon2id cost: interactive (64 MiB, ~0.1 s) or moderate (256 MiB)
  admin_password: ""          # first run only: the admin's password (empty: random, on stderr)
  login_max_failures: 5       # failed logins per username and per address...
  login_window: 5m            # ...within this window, then 429 until it moves on
bus:                          # the centers' records bus (as the hub's bus: section), read-only:
  backend: embedded           # heartbeats -> hosts, 5100 task results (docs/manager-ingest.md)
  dir: /var/lib/vigil-center/bus
alerts_bus:                   # the hub's alerts (data_type 9000) -> alerts
  backend: embedded
  dir: /var/lib/vigil-hub/alerts-bus
# ingest: {group: manager, fetch_max: 1000}
# cluster:                    # the servers the manager talks to (tasks, plugin configs, services)
#   discovery: [127.0.0.1:8088]   # vigil-discovery replicas: centers and hubs are found there
#   centers: []               # center admin APIs (host:port) used besides those discovery lists
#   keys_file: /etc/vigil/keys.yaml   # "ak: sk" lines, as the centers' auth.keys_file
#   access_key: ""            # which key signs (default: the first); with secret_key: an inline pair
#   timeout: 3s               # per request to a center, hub or replica
#   advertise: ""             # host:port registered as vigil_manager (default: http.listen)
#   register_interval: 30s
# rules:                      # the managed rules directory (docs/manager.md "Rules")
#   dir: /var/lib/vigil-manager/rules   # also in the hubs' rules: list (shared or synced)
#   hub_bin: ""               # vigil-hub for `check` (default: next to vigil-manager)
#   hub_paths: []             # other rule paths the hubs load (checked together)
#   hubs: [127.0.0.1:8091]    # hubs to reload after a change (signed POST /hub/reload)
#   keys_file: /etc/vigil/keys.yaml   # AK/SK for the hubs ("ak: sk" lines)
log:
  level: info                 # trace, debug, info, warn, error, off
  file: ""                    # empty: stderr
)";
}

}  // namespace vigil::manager
