// The hub's alert outputs against real receivers on loopback: syslog over udp, tcp and a unix
// socket (frames parsed), a webhook on a cpp-httplib server, Kafka on librdkafka's mock
// cluster (consumed back); the config reader's problems.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "libs/common/config.h"
#include "libs/common/crypto.h"
#include "libs/common/metrics.h"
#include "server/hub/output_sinks.h"
#include "tests/support/free_port.h"

namespace vigil::hub {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

Alert makeAlert(const std::string& agent, const std::string& rule, Severity severity,
                const std::string& extra = "") {
    Alert a;
    a.agent_id = agent;
    a.rule_id = rule;
    a.severity = severity;
    json j = {{"alert_id", agent + "-0-1-" + rule},
              {"rule_id", rule},
              {"severity", severityName(severity)},
              {"agent_id", agent},
              {"fields", {{"exe", "/bin/bash"}, {"note", "caf\xC3\xA9"}}}};
    if (!extra.empty()) j["extra"] = extra;
    a.json = j.dump();
    return a;
}

// ---- syslog -------------------------------------------------------------------------------

struct SyslogMessage {
    int pri = -1;
    int version = 0;
    std::string timestamp, hostname, app_name, procid, msgid, sd_id;
    std::map<std::string, std::string> params;  // unescaped
    bool bom = false;
    std::string msg;
};

// Parses one RFC 5424 message with one SD element; nullopt when malformed.
std::optional<SyslogMessage> parseSyslog(std::string_view m) {
    SyslogMessage out;
    if (m.empty() || m[0] != '<') return std::nullopt;
    const size_t gt = m.find('>');
    if (gt == std::string_view::npos || gt > 4) return std::nullopt;
    out.pri = std::stoi(std::string(m.substr(1, gt - 1)));
    m.remove_prefix(gt + 1);
    auto field = [&m]() -> std::optional<std::string> {
        const size_t sp = m.find(' ');
        if (sp == std::string_view::npos) return std::nullopt;
        std::string f(m.substr(0, sp));
        m.remove_prefix(sp + 1);
        return f;
    };
    auto version = field();
    if (!version) return std::nullopt;
    out.version = std::stoi(*version);
    auto ts = field(), host = field(), app = field(), procid = field(), msgid = field();
    if (!ts || !host || !app || !procid || !msgid) return std::nullopt;
    out.timestamp = *ts;
    out.hostname = *host;
    out.app_name = *app;
    out.procid = *procid;
    out.msgid = *msgid;
    if (m.empty() || m[0] != '[') return std::nullopt;
    m.remove_prefix(1);
    const size_t sp = m.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    out.sd_id = std::string(m.substr(0, sp));
    m.remove_prefix(sp);
    while (!m.empty() && m[0] == ' ') {
        m.remove_prefix(1);
        const size_t eq = m.find("=\"");
        if (eq == std::string_view::npos) return std::nullopt;
        const std::string name(m.substr(0, eq));
        m.remove_prefix(eq + 2);
        std::string value;
        bool closed = false;
        while (!m.empty()) {
            const char c = m[0];
            m.remove_prefix(1);
            if (c == '\\' && !m.empty()) {
                value.push_back(m[0]);
                m.remove_prefix(1);
            } else if (c == '"') {
                closed = true;
                break;
            } else if (c == ']') {
                return std::nullopt;  // an unescaped ] inside a value
            } else {
                value.push_back(c);
            }
        }
        if (!closed) return std::nullopt;
        out.params[name] = value;
    }
    if (m.size() < 2 || m[0] != ']' || m[1] != ' ') return std::nullopt;
    m.remove_prefix(2);
    if (m.substr(0, 3) == "\xEF\xBB\xBF") {
        out.bom = true;
        m.remove_prefix(3);
    }
    out.msg = std::string(m);
    return out;
}

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

bool readable(int fd, std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

std::string recvDatagram(int fd) {
    if (!readable(fd, 5s)) return {};
    std::string buf(70000, '\0');
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
}

sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    return a;
}

int boundUdpPort(Fd& fd) {
    fd.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = loopback(0);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return 0;
    int size = 1 << 20;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    socklen_t len = sizeof(a);
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

// A syslog TCP receiver on a fixed port, closed and opened again by the tests.
class TcpReceiver {
public:
    explicit TcpReceiver(int port) : port_(port) {}
    bool listen() {
        listener_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        int one = 1;
        ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in a = loopback(port_);
        return ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
               ::listen(listener_.get(), 4) == 0;
    }
    void close() {
        conn_.reset();
        listener_.reset();
        buffer_.clear();
    }
    // Reads octet-counted frames until `count` arrived (or 5 s passed).
    std::vector<std::string> frames(size_t count) {
        std::vector<std::string> out;
        const auto deadline = Clock::now() + 5s;
        if (conn_.get() < 0) {
            if (!readable(listener_.get(), 5s)) return out;
            conn_.reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        }
        while (out.size() < count && Clock::now() < deadline) {
            // "LEN SP MSG"
            const size_t sp = buffer_.find(' ');
            if (sp != std::string::npos) {
                const size_t len = std::stoul(buffer_.substr(0, sp));
                if (buffer_.size() >= sp + 1 + len) {
                    out.push_back(buffer_.substr(sp + 1, len));
                    buffer_.erase(0, sp + 1 + len);
                    continue;
                }
            }
            if (!readable(conn_.get(), 200ms)) continue;
            char buf[65536];
            const ssize_t n = ::recv(conn_.get(), buf, sizeof(buf), 0);
            if (n <= 0) break;
            buffer_.append(buf, static_cast<size_t>(n));
        }
        return out;
    }

private:
    int port_;
    Fd listener_;
    Fd conn_;
    std::string buffer_;
};

TEST(SyslogOutput, UdpMessagesFollowRfc5424) {
    Fd rx;
    const int port = boundUdpPort(rx);
    ASSERT_GT(port, 0);
    metrics::Registry metrics;
    SyslogOutput o;
    o.address = "udp://127.0.0.1:" + std::to_string(port);
    o.hostname = "hub-test";
    o.facility = 10;
    auto sink = openSyslogSink(o, metrics);
    ASSERT_TRUE(sink.ok()) << sink.message();

    const std::vector<std::pair<Severity, int>> severities = {{Severity::kCritical, 2},
                                                              {Severity::kHigh, 3},
                                                              {Severity::kMedium, 4},
                                                              {Severity::kLow, 5},
                                                              {Severity::kInfo, 6}};
    std::vector<Alert> alerts;
    for (const auto& [sev, code] : severities) {
        alerts.push_back(makeAlert("agent-1", "rule\"with]odd\\chars", sev));
    }
    ASSERT_TRUE((*sink)->write(alerts).ok());
    for (size_t i = 0; i < alerts.size(); ++i) {
        const std::string d = recvDatagram(rx.get());
        auto m = parseSyslog(d);
        ASSERT_TRUE(m) << d;
        EXPECT_EQ(m->pri, 10 * 8 + severities[i].second);
        EXPECT_EQ(m->version, 1);
        EXPECT_EQ(m->hostname, "hub-test");
        EXPECT_EQ(m->app_name, "vigil-hub");
        EXPECT_EQ(m->procid, std::to_string(::getpid()));
        EXPECT_EQ(m->msgid, "rule\"with]odd\\chars");
        EXPECT_EQ(m->timestamp.size(), 24u) << m->timestamp;  // 2025-11-27T14:00:00.123Z
        EXPECT_EQ(m->timestamp.back(), 'Z');
        EXPECT_EQ(m->sd_id, "vigil@32473");
        EXPECT_EQ(m->params["rule_id"], "rule\"with]odd\\chars");
        EXPECT_EQ(m->params["severity"], severityName(severities[i].first));
        EXPECT_EQ(m->params["agent_id"], "agent-1");
        EXPECT_TRUE(m->bom);
        EXPECT_EQ(m->msg, alerts[i].json);
    }
    EXPECT_EQ(metrics.counterTotal("vigil_hub_output_messages_total"), 5u);

    // Over the datagram limit: cut and counted; no BOM when turned off.
    o.bom = false;
    auto nobom = openSyslogSink(o, metrics);
    ASSERT_TRUE(nobom.ok());
    ASSERT_TRUE((*nobom)
                    ->write({makeAlert("agent-2", "big", Severity::kLow, std::string(70000, 'x'))})
                    .ok());
    const std::string d = recvDatagram(rx.get());
    EXPECT_EQ(d.size(), 65507u);
    auto m = parseSyslog(d);
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->bom);
    EXPECT_EQ(m->msg.substr(0, 1), "{");
    EXPECT_EQ(metrics.counterTotal("vigil_hub_output_truncated_total"), 1u);
}

TEST(SyslogOutput, TcpOctetCountingAndReconnect) {
    const int port = testing::freeLoopbackPort();
    ASSERT_GT(port, 0);
    TcpReceiver rx(port);
    ASSERT_TRUE(rx.listen());
    metrics::Registry metrics;
    SyslogOutput o;
    o.address = "tcp://127.0.0.1:" + std::to_string(port);
    o.facility = 16;  // local0
    o.app_name = "hub";
    o.timeout = 2s;
    auto opened = openSyslogSink(o, metrics);
    ASSERT_TRUE(opened.ok()) << opened.message();
    AlertSink& sink = **opened;

    const std::string long_rule = "rule é with spaces and a very long tail of characters";
    std::vector<Alert> alerts = {makeAlert("agent-1", "r1", Severity::kHigh),
                                 makeAlert("agent-\"2]", long_rule, Severity::kCritical),
                                 makeAlert("agent-3", "", Severity::kInfo)};
    ASSERT_TRUE(sink.write(alerts).ok());
    auto frames = rx.frames(3);
    ASSERT_EQ(frames.size(), 3u);
    for (size_t i = 0; i < frames.size(); ++i) {
        auto m = parseSyslog(frames[i]);
        ASSERT_TRUE(m) << frames[i];
        EXPECT_EQ(m->version, 1);
        EXPECT_EQ(m->app_name, "hub");
        EXPECT_EQ(m->msg, alerts[i].json);
        EXPECT_EQ(m->params["agent_id"], alerts[i].agent_id);
        EXPECT_EQ(m->params["rule_id"], alerts[i].rule_id);
    }
    EXPECT_EQ(parseSyslog(frames[0])->pri, 16 * 8 + 3);
    EXPECT_EQ(parseSyslog(frames[1])->pri, 16 * 8 + 2);
    // MSGID: the first 32 printable ASCII characters; "-" when there are none.
    EXPECT_EQ(parseSyslog(frames[1])->msgid, "rulewithspacesandaverylongtailof");
    EXPECT_EQ(parseSyslog(frames[2])->msgid, "-");

    // Receiver down: the write fails (the connection is found closed, reconnecting is refused).
    rx.close();
    Status down = sink.write({makeAlert("agent-1", "r2", Severity::kLow)});
    ASSERT_FALSE(down.ok());
    EXPECT_NE(down.message().find("connect"), std::string::npos) << down.message();
    EXPECT_EQ(metrics.counterTotal("vigil_hub_output_errors_total"), 1u);

    // Receiver back on the same port: the next write connects again and succeeds.
    ASSERT_TRUE(rx.listen());
    Status back = sink.write({makeAlert("agent-1", "r3", Severity::kLow)});
    ASSERT_TRUE(back.ok()) << back.message();
    frames = rx.frames(1);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(parseSyslog(frames[0])->msgid, "r3");
    EXPECT_EQ(metrics.counterTotal("vigil_hub_output_messages_total"), 4u);
}

TEST(SyslogOutput, UnixDatagramSocket) {
    char dir[] = "/tmp/vigil-syslog-test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/log";
    Fd rx(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path.c_str());
    ASSERT_EQ(::bind(rx.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);

    metrics::Registry metrics;
    SyslogOutput o;
    o.address = "unix://" + path;
    auto sink = openSyslogSink(o, metrics);
    ASSERT_TRUE(sink.ok()) << sink.message();
    const Alert a = makeAlert("agent-1", "r1", Severity::kMedium);
    ASSERT_TRUE((*sink)->write({a}).ok());
    auto m = parseSyslog(recvDatagram(rx.get()));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->pri, 10 * 8 + 4);
    EXPECT_EQ(m->msg, a.json);

    // The daemon gone: an error, so the service retries.
    rx.reset();
    ::unlink(path.c_str());
    EXPECT_FALSE((*sink)->write({a}).ok());
    ::rmdir(dir);
}

// ---- webhook ------------------------------------------------------------------------------

struct Request {
    std::string body, signature, content_type, token, custom;
};

// A cpp-httplib server on 127.0.0.1 answering POST /hook with `status`.
class WebhookReceiver {
public:
    WebhookReceiver() {
        server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard<std::mutex> lock(mu_);
            requests_.push_back({req.body, req.get_header_value("X-Vigil-Signature"),
                                 req.get_header_value("Content-Type"), req.get_param_value("token"),
                                 req.get_header_value("X-Custom")});
            res.status = status_.load();
            res.set_content("{\"stored\":false}", "application/json");
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(10ms);
    }
    ~WebhookReceiver() {
        server_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
    void setStatus(int s) { status_ = s; }
    std::vector<Request> requests() {
        std::lock_guard<std::mutex> lock(mu_);
        return requests_;
    }

private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::atomic<int> status_{200};
    std::mutex mu_;
    std::vector<Request> requests_;
};

TEST(WebhookOutput, PostsSignedJsonArray) {
    WebhookReceiver rx;
    metrics::Registry metrics;
    WebhookOutput o;
    o.url = rx.url() + "?token=t0k";
    o.hmac_secret = "s3cret";
    o.headers = {{"X-Custom", "yes"}};
    o.timeout = 3s;
    auto sink = openWebhookSink(o, metrics);
    ASSERT_TRUE(sink.ok()) << sink.message();
    std::vector<Alert> alerts = {makeAlert("agent-1", "r1", Severity::kHigh),
                                 makeAlert("agent-2", "r2", Severity::kLow)};
    Status st = (*sink)->write(alerts);
    ASSERT_TRUE(st.ok()) << st.message();

    auto reqs = rx.requests();
    ASSERT_EQ(reqs.size(), 1u);
    const json body = json::parse(reqs[0].body);
    ASSERT_TRUE(body.is_array());
    ASSERT_EQ(body.size(), 2u);
    EXPECT_EQ(body[0], json::parse(alerts[0].json));
    EXPECT_EQ(body[1], json::parse(alerts[1].json));
    EXPECT_EQ(reqs[0].content_type, "application/json");
    EXPECT_EQ(reqs[0].signature, "sha256=" + crypto::hmacSha256Hex("s3cret", reqs[0].body));
    EXPECT_EQ(reqs[0].token, "t0k");
    EXPECT_EQ(reqs[0].custom, "yes");
    EXPECT_EQ(std::string((*sink)->name()).find("t0k"), std::string::npos);  // query hidden

    // A 500 answer fails the write.
    rx.setStatus(500);
    Status failed = (*sink)->write(alerts);
    ASSERT_FALSE(failed.ok());
    EXPECT_NE(failed.message().find("HTTP 500"), std::string::npos) << failed.message();
    EXPECT_EQ(metrics.counterTotal("vigil_hub_output_errors_total"), 1u);
    EXPECT_EQ(metrics.counterTotal("vigil_hub_output_messages_total"), 2u);
}

TEST(WebhookOutput, LargeBatchInChunks) {
    WebhookReceiver rx;
    metrics::Registry metrics;
    WebhookOutput o;
    o.url = rx.url();
    o.max_batch = 500;
    auto sink = openWebhookSink(o, metrics);
    ASSERT_TRUE(sink.ok()) << sink.message();
    std::vector<Alert> alerts;
    for (int i = 0; i < 1200; ++i) {
        alerts.push_back(makeAlert("agent-" + std::to_string(i), "r", Severity::kMedium));
    }
    ASSERT_TRUE((*sink)->write(alerts).ok());
    auto reqs = rx.requests();
    ASSERT_EQ(reqs.size(), 3u);
    std::vector<size_t> sizes;
    size_t next = 0;
    for (const auto& r : reqs) {
        EXPECT_TRUE(r.signature.empty());
        const json body = json::parse(r.body);
        sizes.push_back(body.size());
        for (const auto& a : body) {
            ASSERT_LT(next, alerts.size());
            EXPECT_EQ(a["agent_id"], alerts[next++].agent_id);
        }
    }
    EXPECT_EQ(sizes, (std::vector<size_t>{500, 500, 200}));
    EXPECT_EQ(next, alerts.size());
    EXPECT_EQ(metrics.counterTotal("vigil_hub_output_messages_total"), 1200u);
}

TEST(WebhookOutput, UnreachableServerIsAnError) {
    metrics::Registry metrics;
    WebhookOutput o;
    o.url = "http://127.0.0.1:" + std::to_string(testing::freeLoopbackPort()) + "/hook";
    o.timeout = 1s;
    auto sink = openWebhookSink(o, metrics);
    ASSERT_TRUE(sink.ok());
    Status st = (*sink)->write({makeAlert("agent-1", "r", Severity::kLow)});
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("cannot connect"), std::string::npos) << st.message();
}

// ---- kafka --------------------------------------------------------------------------------

// The Kafka protocol ApiKey of Produce requests (rdkafka_mock.h takes the number).
constexpr int16_t kProduceApiKey = 0;

// librdkafka's in-process mock cluster with one broker and topic `topic` (one partition).
class KafkaMock {
public:
    explicit KafkaMock(const std::string& topic) {
        char err[256];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (rk_ != nullptr) cluster_ = rd_kafka_mock_cluster_new(rk_, 1);
        if (cluster_ != nullptr) rd_kafka_mock_topic_create(cluster_, topic.c_str(), 1, 1);
    }
    ~KafkaMock() {
        if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
        if (rk_ != nullptr) rd_kafka_destroy(rk_);
    }
    rd_kafka_mock_cluster_t* cluster() { return cluster_; }
    std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

private:
    rd_kafka_t* rk_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

// Reads `count` messages of partition 0 from the start (or what arrived within 10 s).
std::vector<std::pair<std::string, std::string>> consume(const std::string& brokers,
                                                         const std::string& topic, size_t count) {
    std::vector<std::pair<std::string, std::string>> out;
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "output-test", err, sizeof(err));
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (c == nullptr) return out;
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    const auto deadline = Clock::now() + 10s;
    while (out.size() < count && Clock::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
        if (m == nullptr) continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            out.emplace_back(std::string(static_cast<const char*>(m->key), m->key_len),
                             std::string(static_cast<const char*>(m->payload), m->len));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return out;
}

// One mock cluster with topic "alerts" per test; the sink under test writes to it.
class KafkaOutputTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_NE(mock_.cluster(), nullptr); }

    // Opens the sink and writes one alert, which also waits for the producer id and metadata.
    void open(std::chrono::milliseconds timeout) {
        output_.brokers = mock_.bootstraps();
        output_.topic = "alerts";
        output_.timeout = timeout;
        auto sink = openKafkaSink(output_, metrics_);
        ASSERT_TRUE(sink.ok()) << sink.message();
        sink_ = std::move(*sink);
        ASSERT_TRUE(writeOne("r0").ok());
    }
    Status writeOne(const std::string& rule) {
        return sink_->write({makeAlert("agent-1", rule, Severity::kLow)});
    }
    // The service's retries, bounded.
    Status retried(const std::string& rule, int attempts) {
        Status st = Error{"not tried"};
        for (int i = 0; i < attempts && !st.ok(); ++i) st = writeOne(rule);
        return st;
    }

    KafkaMock mock_{"alerts"};
    metrics::Registry metrics_;
    KafkaOutput output_;
    std::unique_ptr<AlertSink> sink_;
};

TEST_F(KafkaOutputTest, BatchAcknowledgedAndConsumedBack) {
    open(10s);
    std::vector<Alert> alerts;
    for (int i = 0; i < 50; ++i) {
        alerts.push_back(
            makeAlert("agent-" + std::to_string(i % 7), "r" + std::to_string(i), Severity::kHigh));
    }
    Status st = sink_->write(alerts);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(metrics_.counterTotal("vigil_hub_output_messages_total"), 51u);

    auto got = consume(output_.brokers, output_.topic, alerts.size() + 1);
    ASSERT_EQ(got.size(), alerts.size() + 1);
    for (size_t i = 0; i < alerts.size(); ++i) {
        EXPECT_EQ(got[i + 1].first, alerts[i].agent_id);
        EXPECT_EQ(got[i + 1].second, alerts[i].json);
    }
}

TEST_F(KafkaOutputTest, BrokerDownFailsWithinTimeoutThenRecovers) {
    open(1500ms);
    ASSERT_EQ(rd_kafka_mock_broker_set_down(mock_.cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    const auto start = Clock::now();
    Status st = writeOne("r1");
    const auto took = Clock::now() - start;
    ASSERT_FALSE(st.ok());
    EXPECT_LT(took, 2500ms);
    EXPECT_NE(st.message().find("not acknowledged"), std::string::npos) << st.message();

    ASSERT_EQ(rd_kafka_mock_broker_set_up(mock_.cluster(), 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    Status back = retried("r2", 10);
    EXPECT_TRUE(back.ok()) << back.message();
}

TEST_F(KafkaOutputTest, BrokerErrorIsNamed) {
    open(5s);
    rd_kafka_mock_push_request_errors(mock_.cluster(), kProduceApiKey, 1,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    const auto start = Clock::now();
    Status st = writeOne("r1");
    ASSERT_FALSE(st.ok());
    EXPECT_LT(Clock::now() - start, 5s);
    EXPECT_NE(st.message().find("Message size too large"), std::string::npos) << st.message();
    EXPECT_EQ(metrics_.counterTotal("vigil_hub_output_errors_total"), 1u);

    Status next = retried("r2", 5);
    EXPECT_TRUE(next.ok()) << next.message();
}

// ---- configuration ------------------------------------------------------------------------

TEST(OutputsConfig, ReadsMappingsAndLists) {
    const std::string text = R"(alerts:
  syslog:
    - address: tcp://siem.example:6514
      facility: local3
      app_name: hub
      hostname: hub-1
      timeout: 2s
    - address: unix:///dev/log
      facility: 4
      bom: false
  webhook:
    url: https://soar.example/hook?x=1
    headers: {Authorization: "Bearer abc"}
    hmac_secret: k
    ca_file: /etc/ssl/certs/ca-certificates.crt
    timeout: 3s
    max_batch: 100
  kafka:
    brokers: [k1:9092, "k2:9092"]
    topic: t
    timeout: 20s
    properties: {security.protocol: SASL_SSL, sasl.mechanisms: PLAIN}
)";
    auto doc = config::Document::loadString(text, "hub.yaml");
    ASSERT_TRUE(doc.ok());
    OutputsConfig out;
    readOutputs(doc->root().child("alerts"), out);
    EXPECT_TRUE(doc->ok()) << doc->problems().toString();
    ASSERT_EQ(out.syslog.size(), 2u);
    EXPECT_EQ(out.syslog[0].address, "tcp://siem.example:6514");
    EXPECT_EQ(out.syslog[0].facility, 19);
    EXPECT_EQ(out.syslog[0].app_name, "hub");
    EXPECT_EQ(out.syslog[0].hostname, "hub-1");
    EXPECT_EQ(out.syslog[0].timeout, 2s);
    EXPECT_TRUE(out.syslog[0].bom);
    EXPECT_EQ(out.syslog[1].facility, 4);
    EXPECT_FALSE(out.syslog[1].bom);
    ASSERT_EQ(out.webhook.size(), 1u);
    EXPECT_EQ(out.webhook[0].url, "https://soar.example/hook?x=1");
    EXPECT_EQ(out.webhook[0].headers.at("Authorization"), "Bearer abc");
    EXPECT_EQ(out.webhook[0].hmac_secret, "k");
    EXPECT_EQ(out.webhook[0].timeout, 3s);
    EXPECT_EQ(out.webhook[0].max_batch, 100u);
    ASSERT_EQ(out.kafka.size(), 1u);
    EXPECT_EQ(out.kafka[0].brokers, "k1:9092,k2:9092");
    EXPECT_EQ(out.kafka[0].topic, "t");
    EXPECT_EQ(out.kafka[0].timeout, 20s);
    EXPECT_EQ(out.kafka[0].properties.at("security.protocol"), "SASL_SSL");
    EXPECT_FALSE(out.empty());

    // Nothing configured: empty, no problem.
    auto none = config::Document::loadString("alerts: {jsonl: /x}\n", "n.yaml");
    OutputsConfig empty;
    readOutputs(none->root().child("alerts"), empty);
    EXPECT_TRUE(none->ok());
    EXPECT_TRUE(empty.empty());

    // The example parses as it is once uncommented.
    std::string example = exampleOutputsConfig(), uncommented = "alerts:\n";
    for (size_t pos = 0; pos < example.size();) {
        size_t nl = example.find('\n', pos);
        std::string line = example.substr(pos, nl - pos);
        pos = nl == std::string::npos ? example.size() : nl + 1;
        const size_t hash = line.find("# ");
        if (hash == std::string::npos) continue;
        line.erase(hash, 2);
        if (const size_t c = line.find(" #"); c != std::string::npos) line.resize(c);
        if (line.find_first_not_of(' ') != std::string::npos) uncommented += line + "\n";
    }
    auto ex = config::Document::loadString(uncommented, "example.yaml");
    ASSERT_TRUE(ex.ok()) << ex.message() << "\n" << uncommented;
    OutputsConfig exo;
    readOutputs(ex->root().child("alerts"), exo);
    EXPECT_TRUE(ex->ok()) << ex->problems().toString() << "\n" << uncommented;
    EXPECT_EQ(exo.syslog.size() + exo.webhook.size() + exo.kafka.size(), 3u);
}

struct BadCase {
    const char* yaml;  // under alerts:
    const char* key;
    const char* message;
};

TEST(OutputsConfig, EveryBadInputIsAPositionedProblem) {
    const BadCase cases[] = {
        {"  syslog: {address: http://x:514}\n", "alerts.syslog.address", "unsupported scheme"},
        {"  syslog: {address: 'tcp://x:99999'}\n", "alerts.syslog.address", "bad port"},
        {"  syslog: {address: 'unix://dev/log'}\n", "alerts.syslog.address", "absolute"},
        {"  syslog: {app_name: x}\n", "alerts.syslog", "address is required"},
        {"  syslog: {address: 'udp://h', facility: local9}\n", "alerts.syslog.facility",
         "unknown facility"},
        {"  syslog: {address: 'udp://h', facility: 24}\n", "alerts.syslog.facility", "between"},
        {"  syslog: {address: 'udp://h', app_name: 'a b'}\n", "alerts.syslog.app_name",
         "printable"},
        {"  syslog: {address: 'udp://h', port: 1}\n", "alerts.syslog.port", "unknown key"},
        {"  syslog: [{address: 'udp://h'}, {adress: 'udp://h'}]\n", "alerts.syslog[1].adress",
         "unknown key"},
        {"  syslog: udp://h\n", "alerts.syslog", "mapping or a list"},
        {"  webhook: {url: 'ftp://x/'}\n", "alerts.webhook.url", "unsupported URL scheme"},
        {"  webhook: {url: 'https://u:p@x/'}\n", "alerts.webhook.url", "user info"},
        {"  webhook: {timeout: 1s}\n", "alerts.webhook", "url is required"},
        {"  webhook: {url: 'http://x/', max_batch: 0}\n", "alerts.webhook.max_batch", "between"},
        {"  webhook: {url: 'http://x/', timeout: soon}\n", "alerts.webhook.timeout", "duration"},
        {"  webhook: {url: 'http://x/', headers: {'Bad Name': v}}\n",
         "alerts.webhook.headers.Bad Name", "header name"},
        {"  webhook: {url: 'http://x/', headers: {Content-Type: text/plain}}\n",
         "alerts.webhook.headers.Content-Type", "set by the webhook"},
        {"  kafka: {topic: t}\n", "alerts.kafka", "brokers is required"},
        {"  kafka: {brokers: 'k:9092', topic: ''}\n", "alerts.kafka.topic", "empty"},
        {"  kafka: {brokers: 'k:9092', properties: {acks: '1'}}\n", "alerts.kafka.properties.acks",
         "set by the kafka output"},
        {"  kafka: {brokers: 'k:9092', properties: {no.such.property: x}}\n",
         "alerts.kafka.properties.no.such.property", "No such configuration property"},
        {"  kafka: {brokers: 'k:9092', properties: {security.protocol: carrier-pigeon}}\n",
         "alerts.kafka.properties.security.protocol", "Invalid value"},
    };
    for (const BadCase& c : cases) {
        SCOPED_TRACE(c.yaml);
        auto doc = config::Document::loadString(std::string("alerts:\n") + c.yaml, "hub.yaml");
        ASSERT_TRUE(doc.ok()) << doc.message();
        OutputsConfig out;
        readOutputs(doc->root().child("alerts"), out);
        ASSERT_FALSE(doc->ok());
        bool found = false;
        for (const auto& p : doc->problems().list()) {
            if (p.key == c.key && p.message.find(c.message) != std::string::npos) {
                found = true;
                EXPECT_EQ(p.file, "hub.yaml");
                EXPECT_EQ(p.line, 2) << p.toString();
                EXPECT_GT(p.column, 1) << p.toString();
            }
        }
        EXPECT_TRUE(found) << doc->problems().toString();
    }
}

TEST(OutputsConfig, OpenOutputsMakesEverySink) {
    metrics::Registry metrics;
    OutputsConfig c;
    c.syslog.push_back({});
    c.syslog[0].address = "udp://127.0.0.1:9";
    c.webhook.push_back({});
    c.webhook[0].url = "http://127.0.0.1:9/hook";
    c.kafka.push_back({});
    c.kafka[0].brokers = "127.0.0.1:9";
    auto sinks = openOutputs(c, metrics);
    ASSERT_TRUE(sinks.ok()) << sinks.message();
    ASSERT_EQ(sinks->size(), 3u);
    EXPECT_STREQ((*sinks)[0]->name(), "syslog udp://127.0.0.1:9");
    EXPECT_STREQ((*sinks)[1]->name(), "webhook http://127.0.0.1:9/hook");
    EXPECT_STREQ((*sinks)[2]->name(), "kafka vigil-alerts");

    c.webhook[0].ca_file = "/nonexistent/ca.pem";
    auto bad = openOutputs(c, metrics);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.message().find("ca_file"), std::string::npos) << bad.message();
}

}  // namespace
}  // namespace vigil::hub
