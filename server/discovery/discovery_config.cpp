// vigil-discovery configuration: schema, defaults, validation and flag overrides.
#include "server/discovery/discovery_config.h"

#include "libs/common/config.h"
#include "libs/common/fs.h"
#include "server/common/service_config.h"

namespace vigil::discovery {

using config::Node;

Result<DiscoveryConfig> parseDiscoveryConfig(const std::string& text, const std::string& name,
                                             const DiscoveryFlags& flags) {
    auto doc = config::Document::loadString(text, name);
    if (!doc.ok()) return doc.error();
    Node root = doc->root();
    root.allowOnly({"listen", "advertise", "threads", "max_body", "max_instances", "max_detail",
                    "auth", "peers", "replication", "expiry", "log"});
    DiscoveryConfig c;
    DiscoveryOptions& o = c.options;
    config::Problems flag_problems;
    auto flagProblem = [&](const std::string& flag, const std::string& msg) {
        flag_problems.add(config::Problem{"command line", 0, 0, flag, msg});
    };

    // Listening address.
    std::string listen = root.str("listen", "0.0.0.0:8088");
    if (!flags.listen.empty()) listen = flags.listen;
    if (auto hp = server::parseHostPort(listen, true); hp.ok()) {
        o.api.host = hp->host;
        o.api.port = hp->port;
    } else if (!flags.listen.empty()) {
        flagProblem("--listen", hp.message());
    } else {
        root.problem("listen", hp.message());
    }
    o.advertise = flags.advertise.empty() ? root.str("advertise") : flags.advertise;
    if (!o.advertise.empty()) {
        if (auto hp = server::parseHostPort(o.advertise); !hp.ok()) {
            if (flags.advertise.empty())
                root.problem("advertise", hp.message());
            else
                flagProblem("--advertise", hp.message());
        }
    }
    o.api.name = "discovery";
    o.api.threads = static_cast<size_t>(root.integer("threads", 8, 1, 256));
    o.api.max_body_bytes = root.size("max_body", 1 << 20, 64 * 1024, 64ull << 20);
    o.registry.max_instances =
        static_cast<size_t>(root.integer("max_instances", 100000, 1, 10'000'000));
    o.registry.max_detail = static_cast<size_t>(root.integer("max_detail", 100, 1, 10000));

    // Auth.
    Node auth = root.child("auth");
    server::AuthSettings settings = server::readAuthSettings(auth);
    if (!flags.keys_file.empty()) {
        auto keys = server::loadKeysFile(flags.keys_file);
        if (!keys.ok())
            flagProblem("--keys-file", keys.message());
        else
            for (auto& [ak, sk] : *keys) settings.keys[ak] = sk;
    }
    if (flags.auth_disabled) settings.disabled = true;
    c.auth_disabled = settings.disabled;
    c.key_count = settings.keys.size();
    o.api.auth_disabled = settings.disabled;
    o.api.verifier = server::makeVerifier(settings);

    // Replication.
    for (const auto& p : root.strList("peers")) {
        if (auto hp = server::parseHostPort(p); !hp.ok())
            root.problem("peers", hp.message());
        else
            o.replication.peers.push_back(hp->toString());
    }
    for (const auto& p : flags.peers) {
        if (auto hp = server::parseHostPort(p); !hp.ok())
            flagProblem("--peer", hp.message());
        else
            o.replication.peers.push_back(hp->toString());
    }
    Node rep = root.child("replication");
    rep.allowOnly({"access_key", "flush_interval", "batch", "snapshot_interval", "timeout",
                   "backoff_max", "queue_limit"});
    ReplicatorOptions& r = o.replication;
    const std::string access_key = rep.str("access_key");
    if (auto key = server::signingKey(settings.keys, access_key); key.ok())
        r.key = *key;
    else
        rep.problem("access_key", key.message());
    r.flush_interval =
        rep.duration("flush_interval", r.flush_interval, std::chrono::milliseconds(10));
    r.batch = static_cast<size_t>(rep.integer("batch", static_cast<int64_t>(r.batch), 1, 1000));
    r.snapshot_interval =
        rep.duration("snapshot_interval", r.snapshot_interval, std::chrono::milliseconds(100));
    r.timeout = rep.duration("timeout", r.timeout, std::chrono::milliseconds(100));
    r.backoff_max = rep.duration("backoff_max", r.backoff_max, std::chrono::milliseconds(100));
    r.queue_limit = static_cast<size_t>(
        rep.integer("queue_limit", static_cast<int64_t>(r.queue_limit), 100, 10'000'000));

    // Expiry.
    Node ex = root.child("expiry");
    ex.allowOnly({"evict_after", "check_interval"});
    o.registry.evict_after =
        ex.duration("evict_after", std::chrono::seconds(105), std::chrono::milliseconds(100));
    if (!flags.evict_after.empty()) {
        auto d = config::parseDuration(flags.evict_after);
        if (!d || d->count() < 100)
            flagProblem("--evict-after",
                        "must be a duration of at least 100ms, got '" + flags.evict_after + "'");
        else
            o.registry.evict_after = *d;
    }
    o.check_interval =
        ex.duration("check_interval", std::chrono::seconds(1), std::chrono::milliseconds(10));

    // Logging.
    server::readLogSettings(root.child("log"), flags.log_level, flags.log_file, c.log_level,
                            c.log_file, flag_problems);

    return config::configOrProblems(std::move(c), *doc, flag_problems);
}

Result<DiscoveryConfig> loadDiscoveryConfig(const std::string& path, const DiscoveryFlags& flags) {
    return config::loadConfigFile(path, flags, &parseDiscoveryConfig);
}

std::string exampleDiscoveryConfig() {
    return R"(# vigil-discovery configuration (every key is optional).
listen: 0.0.0.0:8088          # HTTP API (Elkeid ServiceDiscovery paths)
advertise: ""                 # host:port the peers know this replica by (default: listen)
threads: 8                    # HTTP worker threads
max_body: 1MiB                # larger request bodies get 413
max_instances: 100000         # registrations of new instances beyond it get 503
max_detail: 100               # most instances one /registry/detail answers
auth:                         # writes (register, evict, sync) must be signed with AK/SK
  keys: {}                    # access key: secret key, e.g. {center: "long-random-secret"}
  keys_file: ""               # more pairs, one "ak: sk" per line
  disabled: false             # true accepts unsigned writes: tests and demos only
  window: 60s                 # accepted clock difference of the TimeStamp header
peers: []                     # the other replicas, host:port (listing this one too is fine)
replication:
  access_key: ""              # key that signs syncs to peers (default: the first of auth.keys)
  flush_interval: 1s          # changes are sent at least this often...
  batch: 100                  # ...or as soon as this many are waiting
  snapshot_interval: 30s      # full state to every peer this often (anti-entropy)
  timeout: 2s                 # per request to a peer
  backoff_max: 5s             # retry delay cap for an unreachable peer
  queue_limit: 100000         # changes held per peer before falling back to a snapshot
expiry:
  evict_after: 105s           # no registration for this long: evicted (health levels scale with it)
  check_interval: 1s
log:
  level: info                 # trace, debug, info, warn, error, off
  file: ""                    # empty: stderr
)";
}

}  // namespace vigil::discovery
