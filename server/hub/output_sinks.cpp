// Alert outputs: reading alerts.syslog / alerts.webhook / alerts.kafka, address parsing, the
// per-output counters, opening. The sinks themselves: syslog_sink.cpp, webhook_sink.cpp,
// kafka_sink.cpp.
#include "server/hub/output_sinks.h"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace vigil::hub {

using config::Node;

OutputMetrics::OutputMetrics(metrics::Registry& registry, const std::string& output,
                             const std::string& target)
    : messages(registry.counter("vigil_hub_output_messages_total",
                                "Alerts delivered by an output (sent, for syslog udp and unix)",
                                {{"output", output}, {"target", target}})),
      errors(registry.counter("vigil_hub_output_errors_total",
                              "Failed output writes (the service retries them)",
                              {{"output", output}, {"target", target}})),
      truncated(registry.counter("vigil_hub_output_truncated_total",
                                 "Syslog datagrams cut to the datagram size limit",
                                 {{"output", output}, {"target", target}})) {}

Result<OutputAddress> parseSyslogAddress(const std::string& address) {
    constexpr std::string_view kUnix = "unix://";
    if (address.compare(0, kUnix.size(), kUnix) == 0) {
        OutputAddress a;
        a.scheme = "unix";
        a.target = address.substr(kUnix.size());
        if (a.target.empty() || a.target.front() != '/') {
            return makeError("'{}': want unix:///absolute/path (e.g. unix:///dev/log)", address);
        }
        if (a.target.size() >= 108) return makeError("'{}': socket path too long", address);
        return a;
    }
    auto a = url::split(address, 514);
    if (!a.ok()) return a;
    if (a->scheme != "udp" && a->scheme != "tcp") {
        return makeError("unsupported scheme '{}' in '{}' (udp, tcp or unix)", a->scheme, address);
    }
    if (!a->target.empty()) return makeError("'{}': no path after host:port", address);
    return a;
}

namespace {

// Calls read(item, out) for the mapping, or each mapping of the list, at alerts.<key>.
template <typename T, typename Read>
void readEach(const Node& alerts, std::string_view key, std::vector<T>& out, Read read) {
    if (!alerts.has(key)) return;
    std::vector<Node> items;
    const YAML::Node n = alerts.yaml()[std::string(key)];
    if (n.IsMap()) {
        items.push_back(alerts.child(key));
    } else if (n.IsSequence()) {
        items = alerts.mapList(key);
    } else {
        alerts.problem(key, "must be a mapping or a list of mappings");
    }
    for (const Node& item : items) {
        T t;
        if (read(item, t)) out.push_back(std::move(t));
    }
}

// A mapping of strings to strings at node.<key>; `check` returns a problem for an entry or "".
template <typename Check>
std::map<std::string, std::string> readStringMap(const Node& node, std::string_view key,
                                                 Check check) {
    std::map<std::string, std::string> out;
    const Node m = node.child(key);
    for (const std::string& k : m.keys()) {
        std::string v = m.str(k);
        if (std::string why = check(k, v); !why.empty()) {
            m.problem(k, why);
            continue;
        }
        out[k] = std::move(v);
    }
    return out;
}

constexpr std::pair<std::string_view, int> kFacilities[] = {
    {"kern", 0},          {"user", 1},    {"mail", 2},    {"daemon", 3},    {"auth", 4},
    {"syslog", 5},        {"lpr", 6},     {"news", 7},    {"uucp", 8},      {"cron", 9},
    {"authpriv", 10},     {"ftp", 11},    {"ntp", 12},    {"security", 13}, {"console", 14},
    {"solaris-cron", 15}, {"local0", 16}, {"local1", 17}, {"local2", 18},   {"local3", 19},
    {"local4", 20},       {"local5", 21}, {"local6", 22}, {"local7", 23}};

// A number 0-23 or a name (authpriv, local0...).
int readFacility(const Node& node, int fallback) {
    const std::string text = node.str("facility");
    if (text.empty()) return fallback;
    if (std::isdigit(static_cast<unsigned char>(text.front()))) {
        return static_cast<int>(node.integer("facility", fallback, 0, 23));
    }
    for (const auto& [name, code] : kFacilities) {
        if (text == name) return code;
    }
    node.problem("facility", "unknown facility '" + text + "' (0-23, authpriv, local0-local7...)");
    return fallback;
}

bool printableAscii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c > 32 && c < 127; });
}

bool readSyslog(const Node& n, SyslogOutput& o) {
    n.allowOnly({"address", "app_name", "facility", "hostname", "timeout", "bom"});
    o.address = n.str("address");
    if (o.address.empty()) {
        n.problem("", "address is required (udp://host:port, tcp://host:port or unix:///dev/log)");
    } else if (auto a = parseSyslogAddress(o.address); !a.ok()) {
        n.problem("address", a.message());
    }
    o.app_name = n.str("app_name", o.app_name);
    if (o.app_name.empty() || o.app_name.size() > 48 || !printableAscii(o.app_name)) {
        n.problem("app_name", "must be 1 to 48 printable ASCII characters without spaces");
    }
    o.facility = readFacility(n, o.facility);
    o.hostname = n.str("hostname");
    if (o.hostname.size() > 255 || !printableAscii(o.hostname)) {
        n.problem("hostname", "must be at most 255 printable ASCII characters without spaces");
    }
    o.timeout = n.duration("timeout", o.timeout, std::chrono::milliseconds(1));
    o.bom = n.boolean("bom", o.bom);
    return !o.address.empty();
}

std::string headerProblem(const std::string& name, const std::string& value) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) ||
                   std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
        })) {
        return "not a valid HTTP header name";
    }
    if (value.find_first_of("\r\n") != std::string::npos) return "a header value has no newline";
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "host" || lower == "content-length" || lower == "transfer-encoding" ||
        lower == "content-type" || lower == "x-vigil-signature") {
        return "set by the webhook output itself";
    }
    return {};
}

bool readWebhook(const Node& n, WebhookOutput& o) {
    n.allowOnly({"url", "headers", "timeout", "hmac_secret", "ca_file", "insecure_skip_verify",
                 "max_batch"});
    o.url = n.str("url");
    if (o.url.empty()) {
        n.problem("", "url is required (http:// or https://)");
    } else if (auto a = url::parseHttp(o.url); !a.ok()) {
        n.problem("url", a.message());
    }
    o.headers = readStringMap(n, "headers", headerProblem);
    o.timeout = n.duration("timeout", o.timeout, std::chrono::milliseconds(1));
    o.hmac_secret = n.str("hmac_secret");
    o.ca_file = n.str("ca_file");
    o.insecure_skip_verify = n.boolean("insecure_skip_verify", false);
    o.max_batch = static_cast<size_t>(n.integer("max_batch", 500, 1, 100'000));
    return !o.url.empty();
}

bool readKafka(const Node& n, KafkaOutput& o) {
    n.allowOnly({"brokers", "topic", "properties", "timeout"});
    for (const std::string& b : n.strList("brokers")) {
        if (b.empty()) continue;
        if (!o.brokers.empty()) o.brokers += ",";
        o.brokers += b;
    }
    if (o.brokers.empty()) n.problem("", "brokers is required (host:port, or a list of them)");
    o.topic = n.str("topic", o.topic);
    if (o.topic.empty()) n.problem("topic", "must not be empty");
    o.properties = readStringMap(n, "properties", kafkaPropertyProblem);
    o.timeout = n.duration("timeout", o.timeout, std::chrono::milliseconds(100));
    return !o.brokers.empty();
}

}  // namespace

void readOutputs(const Node& alerts, OutputsConfig& out) {
    readEach(alerts, "syslog", out.syslog, readSyslog);
    readEach(alerts, "webhook", out.webhook, readWebhook);
    readEach(alerts, "kafka", out.kafka, readKafka);
}

Result<std::vector<std::unique_ptr<AlertSink>>> openOutputs(const OutputsConfig& config,
                                                            metrics::Registry& metrics) {
    std::vector<std::unique_ptr<AlertSink>> sinks;
    auto add = [&](Result<std::unique_ptr<AlertSink>> sink) -> Status {
        if (!sink.ok()) return sink.error();
        sinks.push_back(std::move(*sink));
        return {};
    };
    for (const auto& o : config.syslog) VIGIL_TRY(add(openSyslogSink(o, metrics)));
    for (const auto& o : config.webhook) VIGIL_TRY(add(openWebhookSink(o, metrics)));
    for (const auto& o : config.kafka) VIGIL_TRY(add(openKafkaSink(o, metrics)));
    return sinks;
}

std::string exampleOutputsConfig() {
    return R"(  # syslog:                            # RFC 5424, one message per alert (or a list)
  #   address: tcp://siem.example:514  # tcp (octet counting, acked by the peer's TCP),
  #                                    # udp (best effort) or unix:///dev/log
  #   app_name: vigil-hub
  #   facility: authpriv               # 0-23 or a name (local0...)
  #   hostname: hub-1                  # default: this host's name
  #   timeout: 5s
  #   bom: true                        # UTF-8 BOM before the JSON (RFC 5424)
  # webhook:                           # POST a JSON array of alerts (or a list of webhooks)
  #   url: https://soar.example/hooks/vigil
  #   headers: {Authorization: "Bearer <token>"}
  #   hmac_secret: <secret>            # X-Vigil-Signature: sha256=<HMAC-SHA256 of the body>
  #   ca_file: /etc/vigil/webhook-ca.pem   # default: the system CAs
  #   insecure_skip_verify: false
  #   timeout: 5s
  #   max_batch: 500                   # alerts per request
  # kafka:                             # idempotent producer, acks=all (or a list)
  #   brokers: [kafka-1:9092, kafka-2:9092]
  #   topic: vigil-alerts              # key agent_id, value the alert JSON
  #   timeout: 10s                     # wait for every acknowledgement
  #   properties: {security.protocol: SASL_SSL, sasl.mechanisms: SCRAM-SHA-512,
  #                sasl.username: hub, sasl.password: <password>}
)";
}

}  // namespace vigil::hub
