// vigil-center configuration parsing.
#include "server/center/center_config.h"

#include "server/bus/bus_config.h"

#include "libs/common/config.h"
#include "libs/common/fs.h"

namespace vigil::center {

using config::Node;

Result<CenterConfig> parseCenterConfig(const std::string& text, const std::string& name,
                                       const CenterFlags& flags) {
    auto doc = config::Document::loadString(text, name);
    if (!doc.ok()) return doc.error();
    Node root = doc->root();
    root.allowOnly({"data_dir", "product", "grpc", "http", "tls", "bus", "discovery", "auth",
                    "plugins", "uploads", "drain_timeout", "log"});
    CenterConfig c;
    c.config_file = name;
    c.data_dir = root.str("data_dir", c.data_dir);
    c.product = root.str("product", c.product);

    Node g = root.child("grpc");
    g.allowOnly({"listen", "completion_queues", "max_connections", "max_message_size",
                 "keepalive_time", "keepalive_timeout", "max_pending_batches", "tsi_max_frame_size",
                 "memory_quota", "stream_lookahead", "max_records_per_batch",
                 "tcp_max_read_chunk"});
    c.grpc.listen = g.str("listen", "0.0.0.0:6751");
    c.grpc.completion_queues = static_cast<int>(g.integer("completion_queues", 4, 1, 64));
    c.max_connections = static_cast<size_t>(g.integer("max_connections", 15000, 1, 1'000'000));
    c.grpc.max_message_bytes = g.size("max_message_size", 16ull << 20, 64 * 1024, 1ull << 30);
    c.grpc.keepalive_time =
        g.duration("keepalive_time", c.grpc.keepalive_time, std::chrono::seconds(1));
    c.grpc.keepalive_timeout =
        g.duration("keepalive_timeout", c.grpc.keepalive_timeout, std::chrono::seconds(1));
    c.grpc.max_pending_batches =
        static_cast<uint32_t>(g.integer("max_pending_batches", 16, 1, 4096));
    c.grpc.tsi_max_frame_size =
        static_cast<int>(g.size("tsi_max_frame_size", c.grpc.tsi_max_frame_size, 0, 1 << 20));
    c.grpc.memory_quota_bytes = static_cast<int64_t>(g.size("memory_quota", 0));
    c.grpc.stream_lookahead_bytes = static_cast<int>(g.size("stream_lookahead", 0, 0, 64 << 20));
    c.grpc.tcp_max_read_chunk =
        static_cast<int>(g.size("tcp_max_read_chunk", c.grpc.tcp_max_read_chunk, 0, 64 << 20));
    c.grpc.limits.max_records =
        static_cast<uint32_t>(g.integer("max_records_per_batch", 200000, 1, 10'000'000));

    Node h = root.child("http");
    h.allowOnly({"listen", "threads"});
    c.http_listen = h.str("listen", c.http_listen);
    c.http_threads = static_cast<size_t>(h.integer("threads", 8, 1, 256));

    Node t = root.child("tls");
    t.allowOnly({"ca", "cert", "key", "ticket_key", "ticket_key_max_age", "release_idle_buffers"});
    c.ca_file = t.str("ca");
    c.cert_file = t.str("cert");
    c.key_file = t.str("key");
    c.ticket_key_file = t.str("ticket_key");
    c.ticket_key_max_age = std::chrono::duration_cast<std::chrono::seconds>(
        t.duration("ticket_key_max_age", c.ticket_key_max_age, std::chrono::seconds(0)));
    c.release_idle_tls_buffers = t.boolean("release_idle_buffers", true);

    bus::readBusOptions(root.child("bus"), c.bus);

    Node d = root.child("discovery");
    d.allowOnly({"addresses", "advertise", "name", "interval", "access_key"});
    c.discovery = d.strList("addresses");
    c.advertise = d.str("advertise");
    c.discovery_name = d.str("name", c.discovery_name);
    c.register_interval = d.duration("interval", c.register_interval, std::chrono::seconds(1));
    c.signing_access_key = d.str("access_key");

    c.auth = server::readAuthSettings(root.child("auth"));

    Node p = root.child("plugins");
    p.allowOnly({"config", "reload_interval", "manager"});
    c.plugin_config = p.str("config");
    if (p.has("manager")) {
        Node m = p.child("manager");
        m.allowOnly({"url", "access_key", "timeout"});
        c.plugin_manager_url = m.str("url");
        c.plugin_manager_access_key = m.str("access_key");
        c.plugin_manager_timeout =
            m.duration("timeout", c.plugin_manager_timeout, std::chrono::milliseconds(100));
        if (c.plugin_manager_url.rfind("http://", 0) != 0 &&
            c.plugin_manager_url.rfind("https://", 0) != 0) {
            m.problem("url",
                      "must be the manager's http://host:port, got '" + c.plugin_manager_url + "'");
        }
        if (!c.plugin_config.empty())
            p.problem("manager",
                      "give either plugins.config (a file) or plugins.manager, not both");
    }
    c.plugin_reload_interval =
        p.duration("reload_interval", c.plugin_reload_interval, std::chrono::milliseconds(100));

    Node u = root.child("uploads");
    u.allowOnly({"dir", "max_size", "token_ttl"});
    c.upload_dir = u.str("dir");
    c.max_upload_bytes = u.size("max_size", c.max_upload_bytes, 1024);
    c.upload_token_ttl = std::chrono::duration_cast<std::chrono::seconds>(
        u.duration("token_ttl", c.upload_token_ttl, std::chrono::seconds(1)));

    c.drain_timeout = root.duration("drain_timeout", c.drain_timeout);
    Node l = root.child("log");
    l.allowOnly({"level", "file"});
    c.log_level = l.oneOf("level", c.log_level, {"trace", "debug", "info", "warn", "error", "off"});
    c.log_file = l.str("file");

    config::Problems flag_problems;
    auto bad = [&](const std::string& key, const std::string& msg) {
        flag_problems.add(config::Problem{"command line", 0, 0, key, msg});
    };
    if (!flags.data_dir.empty()) c.data_dir = flags.data_dir;
    if (!flags.grpc_listen.empty()) c.grpc.listen = flags.grpc_listen;
    if (!flags.http_listen.empty()) c.http_listen = flags.http_listen;
    if (!flags.ca_file.empty()) c.ca_file = flags.ca_file;
    if (!flags.cert_file.empty()) c.cert_file = flags.cert_file;
    if (!flags.key_file.empty()) c.key_file = flags.key_file;
    if (!flags.bus.empty()) {
        if (flags.bus != "embedded" && flags.bus != "nats")
            bad("--bus", "must be embedded or nats, got '" + flags.bus + "'");
        else
            c.bus.backend = flags.bus;
    }
    if (!flags.nats_url.empty()) c.bus.nats_url = flags.nats_url;
    if (!flags.discovery.empty()) c.discovery = flags.discovery;
    if (!flags.advertise.empty()) c.advertise = flags.advertise;
    if (!flags.plugin_config.empty()) c.plugin_config = flags.plugin_config;
    if (!flags.log_level.empty()) c.log_level = flags.log_level;
    if (!flags.log_file.empty()) c.log_file = flags.log_file;
    if (flags.no_auth) c.auth.disabled = true;
    if (!flags.auth_keys_file.empty()) {
        auto keys = server::loadKeysFile(flags.auth_keys_file);
        if (!keys.ok())
            bad("--auth-keys-file", keys.message());
        else
            c.auth.keys.insert(keys->begin(), keys->end());
    }
    if (!flags.max_connections.empty()) {
        try {
            c.max_connections = std::stoul(flags.max_connections);
        } catch (const std::exception&) {
            bad("--max-connections", "must be a number, got '" + flags.max_connections + "'");
        }
    }

    // Cross checks.
    if (c.data_dir.empty() || c.data_dir.front() != '/')
        bad("data_dir", "must be an absolute path, got '" + c.data_dir + "'");
    for (auto [key, value] :
         {std::pair{"grpc.listen", &c.grpc.listen}, {"http.listen", &c.http_listen}}) {
        if (!server::parseHostPort(*value, true).ok())
            bad(key, "'" + *value + "' is not host:port");
    }
    for (const auto& a : c.discovery) {
        if (!server::parseHostPort(a).ok())
            bad("discovery.addresses", "'" + a + "' is not host:port");
    }
    if (!c.advertise.empty() && !server::parseHostPort(c.advertise).ok())
        bad("discovery.advertise", "'" + c.advertise + "' is not host:port");
    for (auto [key, value] :
         {std::pair{"tls.ca", &c.ca_file}, {"tls.cert", &c.cert_file}, {"tls.key", &c.key_file}}) {
        if (value->empty()) bad(key, "is required (agents connect with mTLS)");
    }
    if (c.auth.keys.empty() && !c.auth.disabled) {
        bad("auth.keys",
            "no AK/SK keys: configure auth.keys or auth.keys_file (or auth.disabled: true for a "
            "demo)");
    }
    if (c.bus.dir.empty()) c.bus.dir = fs::joinPath(c.data_dir, "bus");
    if (c.ticket_key_file.empty()) c.ticket_key_file = fs::joinPath(c.data_dir, "tls/ticket.key");
    if (c.upload_dir.empty()) c.upload_dir = fs::joinPath(c.data_dir, "uploads");
    if (c.log_file.empty()) c.log_file = fs::joinPath(c.data_dir, "log/vigil-center.log");
    c.grpc.limits.max_record_bytes =
        static_cast<uint32_t>(std::min<uint64_t>(c.grpc.max_message_bytes, 64ull << 20));

    return config::configOrProblems(std::move(c), *doc, flag_problems);
}

Result<CenterConfig> loadCenterConfig(const std::string& path, const CenterFlags& flags) {
    return config::loadConfigFile(path, flags, &parseCenterConfig);
}

std::string exampleCenterConfig() {
    return R"(# vigil-center configuration (keys are optional unless marked required).
data_dir: /var/lib/vigil-center        # bus (embedded), uploads, logs
grpc:
  listen: 0.0.0.0:6751                 # agents (mTLS)
  completion_queues: 4
  max_connections: 15000
  max_message_size: 16MiB
  keepalive_time: 60s
  keepalive_timeout: 20s
  tsi_max_frame_size: 4KiB             # TLS frames the center writes (acks, commands): a 4 KiB
                                       # buffer per agent instead of 16 KiB; 0: gRPC's default
  # tcp_max_read_chunk: 0              # cap on gRPC's adaptive read buffers (0: gRPC's default)
http:
  listen: 127.0.0.1:6752               # admin API (AK/SK signed) and /metrics
  threads: 8
tls:                                   # required
  ca: /etc/vigil/pki/ca.pem            # agents' client certificates must chain to it
  cert: /etc/vigil/pki/center.pem
  key: /etc/vigil/pki/center.key
  # TLS session tickets: agents resume their session after a restart (and at another center
  # that shares this file) instead of a full handshake. 80 random bytes, 0600, made if missing.
  ticket_key: ""                       # default <data_dir>/tls/ticket.key; "off": no tickets kept
  ticket_key_max_age: 7d               # replaced at start when older (0: never)
  release_idle_buffers: true           # free OpenSSL's 2 x 16.7 KiB record buffers between records
bus:
  backend: embedded                    # embedded | nats
  partitions: 8
  # dir: <data_dir>/bus
  retention_size: 8GiB                 # per partition
  retention_age: 7d
  nats_url: nats://127.0.0.1:4222
  stream: VIGIL
discovery:
  addresses: []                        # vigil-discovery replicas, host:port
  advertise: ""                        # host:port agents should dial (default: grpc.listen)
  name: hids_svr_grpc
  interval: 30s
auth:                                  # required unless disabled: AK/SK for the admin API and discovery
  keys: {}                             # {access_key: secret_key}
  keys_file: ""
  disabled: false
plugins:
  config: ""                           # plugin sets pushed to agents (see docs/center.md)
  reload_interval: 5s                  # how often the file (or the manager) is read
  # manager: {url: "http://127.0.0.1:8080", access_key: "", timeout: 3s}   # sets from vigil-manager instead
uploads:
  max_size: 1GiB
  token_ttl: 1h
drain_timeout: 10s                     # on SIGTERM: time to acknowledge what is in flight
log:
  level: info
  file: ""                             # default <data_dir>/log/vigil-center.log; "-" = stderr only
)";
}

}  // namespace vigil::center
