// Alert outputs to other systems (docs/hub.md "Running"): syslog (RFC 5424), an HTTP webhook
// and Kafka, configured under `alerts:` next to the JSON lines file and the bus (alert_sink.h).
// Each is an AlertSink: write() returns ok only when the batch is as durable as its transport
// allows (below), else an error naming the cause, and the service retries the whole batch with
// backoff (so a retried batch may repeat alerts already delivered; alert_id is stable).
// Opening never waits for the remote end: a receiver that is down shows up as failing writes.
// Thread-safety: a sink is used by one thread at a time; readOutputs/openOutputs at start-up.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libs/common/config.h"
#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "libs/common/url.h"
#include "server/hub/alert_sink.h"

namespace vigil::hub {

// Syslog, RFC 5424, one message per alert:
//   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [vigil@32473 rule_id=".." severity=".."
//   agent_id=".."] BOM MSG
// PRI = facility * 8 + severity (critical 2 crit, high 3 err, medium 4 warning, low 5 notice,
// info 6 info); TIMESTAMP the send time (UTC, milliseconds); MSGID the rule_id cut to its
// first 32 printable ASCII characters ("-" when empty); SD-PARAM values escaped (", \ and ]
// get a backslash); MSG the alert JSON (UTF-8, after a BOM unless bom is false).
//  - tcp://host:port: octet-counting framing (RFC 6587 "LEN SP MSG"). write() is ok once the
//    receiving host's TCP stack has acknowledged every byte (the socket's send queue is empty);
//    a receiver crash after that loses the batch (no application ack in plain syslog). On an
//    error the connection is dropped and write() fails; the next write connects again (the
//    name resolved again). A connection the receiver closed is noticed before a write and
//    opened again (refused: the write fails).
//  - udp://host:port: one datagram per message, best effort: ok once handed to the kernel,
//    not durable (no ack; a receiver that is down is not noticed, ICMP refusals are ignored).
//  - unix:///dev/log (any path): one datagram per message to the local syslog daemon; the
//    socket is opened again once when the daemon restarted, else the write fails.
//  Datagrams over 65507 bytes are truncated (counted; whole UTF-8 characters kept, the JSON cut).
struct SyslogOutput {
    std::string address;  // udp://host[:port] | tcp://host[:port] (port 514) | unix:///dev/log
    std::string app_name = "vigil-hub";       // 1-48 printable ASCII
    int facility = 10;                        // 0-23; 10 = authpriv
    std::string hostname;                     // empty: gethostname()
    std::chrono::milliseconds timeout{5000};  // connect; each wait without progress
    bool bom = true;  // RFC 5424 wants the UTF-8 BOM before MSG; some receivers keep it
};

// HTTP webhook: POST url with the batch as a JSON array of alerts, split into requests of at
// most max_batch alerts, Content-Type application/json. write() is ok only when every request
// got a 2xx answer (redirects are not followed: an error); a failing request fails the write
// and the service retries the whole batch (earlier chunks are sent again: receivers dedupe by
// alert_id). With hmac_secret every request carries X-Vigil-Signature: sha256=<hex of
// HMAC-SHA256(hmac_secret, body)>. https verifies the server against the system CAs, or
// ca_file; insecure_skip_verify turns verification off (logged as a warning). `timeout`
// bounds the connection and each read and write (not the whole request). Keep-alive.
struct WebhookOutput {
    std::string url;                             // http:// or https://, no user info
    std::map<std::string, std::string> headers;  // added to every request
    std::chrono::milliseconds timeout{5000};
    std::string hmac_secret;  // optional
    std::string ca_file;      // PEM bundle; empty: the system CAs
    bool insecure_skip_verify = false;
    size_t max_batch = 500;  // alerts per request
};

// Kafka through librdkafka: an idempotent producer (enable.idempotence=true, acks=all), key =
// agent_id, value = the alert JSON, partitioner = librdkafka's default (consistent hash of the
// key: one agent's alerts stay in order on one partition). write() produces the batch and
// waits up to `timeout` (also message.timeout.ms) for every delivery report: ok means every
// alert was acknowledged by all in-sync replicas; otherwise the error names how many failed and
// the first cause (broker error, timeout). A full local queue is polled until it has room.
// After a fatal producer error (idempotence broken) the producer is made anew on the next
// write. `properties` go to rd_kafka_conf_set (security.protocol, sasl.*, ssl.*, ...), except
// those that would weaken that contract or duplicate a key above.
struct KafkaOutput {
    std::string brokers;  // host:port[,host:port...]
    std::string topic = "vigil-alerts";
    std::map<std::string, std::string> properties;
    std::chrono::milliseconds timeout{10000};
};

struct OutputsConfig {
    std::vector<SyslogOutput> syslog;
    std::vector<WebhookOutput> webhook;
    std::vector<KafkaOutput> kafka;
    bool empty() const { return syslog.empty() && webhook.empty() && kafka.empty(); }
};

// Reads alerts.syslog, alerts.webhook and alerts.kafka from the `alerts` node (each a mapping
// or a list of mappings) into `out`. Every problem is reported on the node with its position
// (unknown keys, bad URL or address, missing address/url/brokers, empty topic, bad facility,
// a header or Kafka property that is not allowed...); `out` then holds what could be read.
// The caller checks the other keys of `alerts` (allowOnly) and that some sink is configured.
void readOutputs(const config::Node& alerts, OutputsConfig& out);

// Opens every configured output (no network I/O: see above). Fails on the first output that
// cannot be made (unreadable ca_file, a Kafka property librdkafka refuses...).
Result<std::vector<std::unique_ptr<AlertSink>>> openOutputs(const OutputsConfig& config,
                                                            metrics::Registry& metrics);
Result<std::unique_ptr<AlertSink>> openSyslogSink(const SyslogOutput& output,
                                                  metrics::Registry& metrics);
Result<std::unique_ptr<AlertSink>> openWebhookSink(const WebhookOutput& output,
                                                   metrics::Registry& metrics);
Result<std::unique_ptr<AlertSink>> openKafkaSink(const KafkaOutput& output,
                                                 metrics::Registry& metrics);

// Commented YAML lines describing the outputs, indented to sit under `alerts:` in
// `vigil-hub run --print-config`.
std::string exampleOutputsConfig();

// Pieces shared by the config reader and the sinks.

// An output address split up (libs/common/url.h): scheme://host[:port][target], or, for
// unix://<path>, scheme "unix" and the socket path in target. Webhook URLs: url::parseHttp.
using OutputAddress = url::Url;
// udp://host[:port], tcp://host[:port] (port 514 by default) or unix:///absolute/path.
Result<OutputAddress> parseSyslogAddress(const std::string& address);
// Why librdkafka, or the Kafka output's contract, refuses property `name` = `value`; empty
// when it is accepted.
std::string kafkaPropertyProblem(const std::string& name, const std::string& value);

// The counters of one output, labelled {output="syslog|webhook|kafka", target=<address, URL
// without query, or topic>}:
//   vigil_hub_output_messages_total   alerts delivered (sent, for udp and unix)
//   vigil_hub_output_errors_total     failed writes (each retried by the service)
//   vigil_hub_output_truncated_total  syslog datagrams cut to the datagram limit
struct OutputMetrics {
    OutputMetrics(metrics::Registry& registry, const std::string& output,
                  const std::string& target);
    metrics::Counter& messages;
    metrics::Counter& errors;
    metrics::Counter& truncated;
};

}  // namespace vigil::hub
