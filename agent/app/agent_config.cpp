// Agent configuration: YAML schema, defaults, validation and flag overrides.
#include "agent/app/agent_config.h"

#include <cctype>

#include "agent/plugin_host/plugin_fetcher.h"
#include "libs/common/fs.h"
#include "libs/schema/schema.h"

namespace vigil::agent {
namespace {

using config::Node;

// host:port, [v6]:port; host of letters, digits, '.', '-', '_'. (No std::regex: its code would
// stay resident in an agent that must idle small.)
bool validHostPort(const std::string& s) {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size() ||
        s.size() - colon - 1 > 5)
        return false;
    const std::string host = s.substr(0, colon), port = s.substr(colon + 1);
    for (char c : port) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    const unsigned long p = std::stoul(port);
    if (p == 0 || p > 65535) return false;
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return false;
        for (size_t i = 1; i + 1 < host.size(); ++i) {
            char c = host[i];
            if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
        }
        return true;
    }
    for (char c : host) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
            return false;
    }
    return true;
}

void readAddresses(const Node& n, const char* key, std::vector<std::string>& out) {
    for (const auto& a : n.strList(key)) {
        if (!validHostPort(a)) {
            n.problem(key, "'" + a + "' is not host:port");
            continue;
        }
        out.push_back(a);
    }
}

void readNetwork(const Node& n, NetworkEndpoints& out) {
    n.allowOnly({"discovery", "centers"});
    readAddresses(n, "discovery", out.discovery);
    readAddresses(n, "centers", out.centers);
}

PluginSpec readPluginSpec(const Node& n) {
    n.allowOnly({"name", "type", "version", "sha256", "signature", "download_urls", "detail"});
    PluginSpec p;
    p.name = n.str("name");
    p.type = n.oneOf("type", "exec", {"exec", "tar.gz"});
    p.version = n.str("version");
    p.sha256 = n.str("sha256");
    p.signature = n.str("signature");
    p.download_urls = n.strList("download_urls");
    p.detail = n.str("detail");
    if (!isValidPluginName(p.name))
        n.problem("name", "must be 1-128 of [A-Za-z0-9_-], got '" + p.name + "'");
    if (p.sha256.empty() && p.signature.empty())
        n.problem("sha256", "a plugin needs sha256 (or signature)");
    return p;
}

}  // namespace

Result<AgentConfig> parseAgentConfig(const std::string& text, const std::string& name,
                                     const AgentFlags& flags) {
    auto doc = config::Document::loadString(text, name);
    if (!doc.ok()) return doc.error();
    Node root = doc->root();
    root.allowOnly({"work_dir", "agent_id", "product", "idc", "region", "network_order", "regions",
                    "tls", "transport", "spool", "plugins", "heartbeat", "log", "metrics"});
    AgentConfig c;
    c.config_file = name;
    c.work_dir = root.str("work_dir", c.work_dir);
    c.agent_id = root.str("agent_id");
    c.product = root.str("product", c.product);
    c.idc = root.str("idc");

    // Regions and networks.
    TransportOptions& t = c.transport;
    t.region = root.str("region", "default");
    t.network_order = root.strList("network_order");
    if (t.network_order.empty()) t.network_order = {"private", "public"};
    for (const auto& m : t.network_order) {
        if (m != "private" && m != "public")
            root.problem("network_order", "entries must be private or public, got '" + m + "'");
    }
    Node regions = root.child("regions");
    for (const auto& rname : regions.keys()) {
        Node r = regions.child(rname);
        r.allowOnly({"private", "public"});
        RegionEndpoints ep;
        readNetwork(r.child("private"), ep.private_net);
        readNetwork(r.child("public"), ep.public_net);
        t.regions[rname] = ep;
    }

    Node tls = root.child("tls");
    tls.allowOnly({"ca", "cert", "key", "server_name"});
    t.ca_file = tls.str("ca");
    t.cert_file = tls.str("cert");
    t.key_file = tls.str("key");
    t.server_name = tls.str("server_name", t.server_name);

    Node tr = root.child("transport");
    tr.allowOnly({"batch_interval", "batch_max_records", "batch_max_bytes", "window_batches",
                  "connect_timeout", "backoff_initial", "backoff_max", "discovery_service",
                  "max_message_size", "keepalive"});
    c.batcher.interval =
        tr.duration("batch_interval", c.batcher.interval, std::chrono::milliseconds(1));
    c.batcher.max_records =
        static_cast<uint32_t>(tr.integer("batch_max_records", c.batcher.max_records, 1, 1'000'000));
    c.batcher.max_bytes = tr.size("batch_max_bytes", c.batcher.max_bytes, 1024, 64ull << 20);
    t.window_batches =
        static_cast<uint32_t>(tr.integer("window_batches", t.window_batches, 1, 100000));
    t.connect_timeout =
        tr.duration("connect_timeout", t.connect_timeout, std::chrono::milliseconds(100));
    t.backoff_initial =
        tr.duration("backoff_initial", t.backoff_initial, std::chrono::milliseconds(10));
    t.backoff_max = tr.duration("backoff_max", t.backoff_max, std::chrono::milliseconds(10));
    t.discovery_service = tr.str("discovery_service", t.discovery_service);
    t.max_message_bytes = tr.size("max_message_size", t.max_message_bytes, 64 * 1024, 1ull << 30);
    t.keepalive = tr.duration("keepalive", t.keepalive, std::chrono::milliseconds(1000));
    if (c.batcher.max_bytes + (1 << 16) > t.max_message_bytes) {
        tr.problem("batch_max_bytes", "must be at least 64KiB below transport.max_message_size");
    }

    Node sp = root.child("spool");
    sp.allowOnly({"max_size", "segment_size", "memory_cache", "fsync", "critical_data_types"});
    c.spool.max_bytes = sp.size("max_size", c.spool.max_bytes, 1ull << 20);
    c.spool.segment_bytes = sp.size("segment_size", c.spool.segment_bytes, 64 * 1024, 1ull << 30);
    c.spool.memory_cache_bytes = sp.size("memory_cache", c.spool.memory_cache_bytes, 0, 1ull << 32);
    c.spool.fsync = sp.boolean("fsync", c.spool.fsync);
    for (int32_t dt : schema::criticalDataTypes()) c.batcher.critical_data_types.insert(dt);
    for (const auto& s : sp.strList("critical_data_types")) {
        try {
            size_t used = 0;
            int v = std::stoi(s, &used);
            if (used != s.size()) throw std::invalid_argument(s);
            c.batcher.critical_data_types.insert(v);
        } catch (const std::exception&) {
            sp.problem("critical_data_types", "'" + s + "' is not a data_type number");
        }
    }

    Node pl = root.child("plugins");
    pl.allowOnly({"cpu_percent", "memory", "restart_initial", "restart_max", "stop_grace",
                  "max_frame", "max_download", "cgroup_name", "initial"});
    PluginHostOptions& p = c.plugins;
    p.cpu_percent = static_cast<uint32_t>(pl.integer("cpu_percent", 0, 0, 100 * 1024));
    p.memory_bytes = pl.size("memory", 0);
    if (p.memory_bytes != 0 && p.memory_bytes < (8ull << 20))
        pl.problem("memory", "must be 0 (no cap) or at least 8MiB");
    p.restart_initial =
        pl.duration("restart_initial", p.restart_initial, std::chrono::milliseconds(10));
    p.restart_max = pl.duration("restart_max", p.restart_max, std::chrono::milliseconds(10));
    p.stop_grace = pl.duration("stop_grace", p.stop_grace, std::chrono::milliseconds(0));
    p.max_frame_bytes =
        static_cast<uint32_t>(pl.size("max_frame", p.max_frame_bytes, 1024, 256ull << 20));
    p.max_download_bytes = pl.size("max_download", p.max_download_bytes, 1024);
    p.cgroup_name = pl.str("cgroup_name", p.cgroup_name);
    for (const Node& item : pl.mapList("initial"))
        c.initial_plugins.push_back(readPluginSpec(item));

    Node hb = root.child("heartbeat");
    hb.allowOnly({"interval"});
    c.heartbeat_interval =
        hb.duration("interval", c.heartbeat_interval, std::chrono::milliseconds(1000));

    Node lg = root.child("log");
    lg.allowOnly({"level", "file"});
    c.log_level =
        lg.oneOf("level", c.log_level, {"trace", "debug", "info", "warn", "error", "off"});
    c.log_file = lg.str("file");

    Node mt = root.child("metrics");
    mt.allowOnly({"listen"});
    c.metrics_listen = mt.str("listen");

    // Flags override the file.
    if (!flags.work_dir.empty()) c.work_dir = flags.work_dir;
    if (!flags.agent_id.empty()) c.agent_id = flags.agent_id;
    if (!flags.region.empty()) t.region = flags.region;
    if (!flags.discovery.empty()) t.regions[t.region].private_net.discovery = flags.discovery;
    if (!flags.centers.empty()) t.regions[t.region].private_net.centers = flags.centers;
    if (!flags.ca_file.empty()) t.ca_file = flags.ca_file;
    if (!flags.cert_file.empty()) t.cert_file = flags.cert_file;
    if (!flags.key_file.empty()) t.key_file = flags.key_file;
    if (!flags.server_name.empty()) t.server_name = flags.server_name;
    if (!flags.log_level.empty()) c.log_level = flags.log_level;
    if (!flags.log_file.empty()) c.log_file = flags.log_file;
    if (!flags.metrics_listen.empty()) c.metrics_listen = flags.metrics_listen;
    config::Problems flag_problems;
    auto flagProblem = [&](const std::string& flag, const std::string& msg) {
        flag_problems.add(config::Problem{"command line", 0, 0, flag, msg});
    };
    if (!flags.spool_size.empty()) {
        auto v = config::parseSize(flags.spool_size);
        if (!v || *v < (1ull << 20))
            flagProblem("--spool-size",
                        "must be a size of at least 1MiB, got '" + flags.spool_size + "'");
        else
            c.spool.max_bytes = *v;
    }
    if (!flags.plugin_memory.empty()) {
        auto v = config::parseSize(flags.plugin_memory);
        if (!v)
            flagProblem("--plugin-memory",
                        "must be a size like 256MiB, got '" + flags.plugin_memory + "'");
        else
            p.memory_bytes = *v;
    }
    if (!flags.plugin_cpu_percent.empty()) {
        try {
            p.cpu_percent = static_cast<uint32_t>(std::stoul(flags.plugin_cpu_percent));
        } catch (const std::exception&) {
            flagProblem("--plugin-cpu",
                        "must be a percentage of one core, got '" + flags.plugin_cpu_percent + "'");
        }
    }
    for (const auto& a : flags.discovery) {
        if (!validHostPort(a)) flagProblem("--discovery", "'" + a + "' is not host:port");
    }
    for (const auto& a : flags.centers) {
        if (!validHostPort(a)) flagProblem("--center", "'" + a + "' is not host:port");
    }
    if (!flags.log_level.empty() && c.log_level != "trace" && c.log_level != "debug" &&
        c.log_level != "info" && c.log_level != "warn" && c.log_level != "error" &&
        c.log_level != "off") {
        flagProblem("--log-level", "must be trace, debug, info, warn, error or off");
    }

    // Cross-field checks on the result.
    if (c.work_dir.empty() || c.work_dir.front() != '/') {
        flagProblem("work_dir", "must be an absolute path, got '" + c.work_dir + "'");
    }
    if (t.regions.find(t.region) == t.regions.end()) {
        flagProblem(
            "region", "'" + t.region + "' has no entry under regions (known: " + [&] {
                std::string k;
                for (const auto& [n, _] : t.regions) k += (k.empty() ? "" : ", ") + n;
                return k.empty() ? std::string("none") : k;
            }() + ")");
    } else {
        const RegionEndpoints& ep = t.regions[t.region];
        if (ep.private_net.discovery.empty() && ep.private_net.centers.empty() &&
            ep.public_net.discovery.empty() && ep.public_net.centers.empty()) {
            flagProblem("regions." + t.region, "needs at least one discovery or center address");
        }
    }
    for (auto [key, value] :
         {std::pair{"tls.ca", &t.ca_file}, {"tls.cert", &t.cert_file}, {"tls.key", &t.key_file}}) {
        if (value->empty()) flagProblem(key, "is required (mTLS is mandatory)");
    }
    if (c.log_file.empty()) c.log_file = fs::joinPath(c.work_dir, "log/vigil-agent.log");
    c.spool.dir = fs::joinPath(c.work_dir, "spool");
    p.work_dir = c.work_dir;

    return config::configOrProblems(std::move(c), *doc, flag_problems);
}

Result<AgentConfig> loadAgentConfig(const std::string& path, const AgentFlags& flags) {
    return config::loadConfigFile(path, flags, &parseAgentConfig);
}

std::string exampleAgentConfig() {
    return R"(# vigil-agent configuration (every key is optional unless marked required).
work_dir: /var/lib/vigil-agent     # plugins, spool, logs, agent id
# agent_id: ""                     # default: derived from machine-id/DMI/MAC and kept in work_dir
idc: ""                            # data-centre label; task 1051 can change it
region: default                    # which entry of `regions` to use; task 1051 can change it
network_order: [private, public]   # networks tried in this order
regions:
  default:
    private:
      discovery: [127.0.0.1:8088]  # vigil-discovery replicas; asked for the least-loaded center
      centers: [127.0.0.1:6751]    # used when discovery does not answer
    public:
      discovery: []
      centers: []
tls:                               # required: mTLS to the center
  ca: /etc/vigil/pki/ca.pem
  cert: /etc/vigil/pki/agent.pem
  key: /etc/vigil/pki/agent.key
  server_name: vigil-center        # name in the center's certificate
transport:
  batch_interval: 100ms
  batch_max_records: 4096
  batch_max_bytes: 1MiB
  window_batches: 64               # unacknowledged batches in flight
  connect_timeout: 10s              # TCP + TLS + HTTP/2; a refused connection fails at once
  backoff_initial: 500ms
  backoff_max: 30s
  discovery_service: hids_svr_grpc
spool:
  max_size: 256MiB                 # raw telemetry is shed above this; task results never
  segment_size: 8MiB
  fsync: false                     # true: fdatasync every batch (power-loss safety)
  critical_data_types: []          # added to 1010 and 5100
plugins:
  cpu_percent: 10                  # per plugin, % of one core (0 = no cap)
  memory: 256MiB                   # per plugin (0 = no cap)
  restart_initial: 1s
  restart_max: 60s
  stop_grace: 5s
  max_frame: 4MiB
  max_download: 256MiB
  initial: []                      # plugins to run before the center sends a config
heartbeat:
  interval: 60s
log:
  level: info
  file: ""                         # default <work_dir>/log/vigil-agent.log; "-" = stderr only
metrics:
  listen: ""                       # e.g. 127.0.0.1:9201 serves /metrics
)";
}

}  // namespace vigil::agent
