// GET /api/v1/events over real HTTP on loopback, over each backend: an httplib client reads the
// stream while the bus ingestion stores alerts and heartbeats (embedded buses in a temp dir)
// and the host sweep sees a host go offline; keepalives; ?token=; limits; a slow client cut
// off without blocking the publisher.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "libs/wire/buffer.h"
#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "server/bus/bus.h"
#include "server/common/api_server.h"
#include "server/manager/api/api_views.h"
#include "server/manager/api/event_stream.h"
#include "server/manager/api/test/api_fixture.h"
#include "server/manager/ingest/ingest.h"

namespace vigil::manager::api::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Reads an event stream on its own thread until stop() or the server ends it.
class StreamReader {
public:
    StreamReader(int port, std::string target) {
        thread_ = std::thread([this, port, target] {
            httplib::Client c("127.0.0.1", port);
            c.set_read_timeout(10, 0);
            auto res = c.Get(
                target.c_str(),
                [this](const httplib::Response& r) {
                    std::lock_guard lock(mu_);
                    status_ = r.status;
                    content_type_ = r.get_header_value("Content-Type");
                    return true;
                },
                [this](const char* data, size_t n) {
                    std::lock_guard lock(mu_);
                    text_.append(data, n);
                    cv_.notify_all();
                    return !stop_;
                });
            std::lock_guard lock(mu_);
            done_ = true;
            if (res && status_ == 0) status_ = res->status;
            if (res && text_.empty()) text_ = res->body;
            cv_.notify_all();
        });
    }
    ~StreamReader() {
        stop();
        thread_.join();
    }
    void stop() {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    // Waits (bounded) until the stream holds `needle`.
    bool waitFor(const std::string& needle, std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] {
            return text_.find(needle) != std::string::npos || done_;
        }) && text_.find(needle) != std::string::npos;
    }
    bool waitDone(std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return done_; });
    }
    std::string text() {
        std::lock_guard lock(mu_);
        return text_;
    }
    int status() {
        std::lock_guard lock(mu_);
        return status_;
    }
    std::string contentType() {
        std::lock_guard lock(mu_);
        return content_type_;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::string text_;
    std::string content_type_;
    int status_ = 0;
    bool stop_ = false;
    bool done_ = false;
    std::thread thread_;
};

// The JSON of the first `event: <type>` whose data holds `needle`.
json eventData(const std::string& text, const std::string& type, const std::string& needle) {
    const std::string head = "event: " + type + "\ndata: ";
    for (size_t at = text.find(head); at != std::string::npos; at = text.find(head, at + 1)) {
        const size_t start = at + head.size();
        const size_t end = text.find('\n', start);
        const std::string data = text.substr(start, end - start);
        if (data.find(needle) != std::string::npos) return json::parse(data, nullptr, false);
    }
    return nullptr;
}

class EventsTest : public ApiFixture {
protected:
    void SetUp() override {
        ApiFixture::SetUp();
        if (HasFatalFailure()) return;
        records_.dir = dir_ + "/records-bus";
        records_.partitions = 2;
        alerts_.dir = dir_ + "/alerts-bus";
        alerts_.partitions = 2;
        append(records_, "agent-0", 1000, heartbeat("agent-0"));  // creates both buses
        append(alerts_, "agent-0", 9000, hubAlertJson(0));
        IngestConfig ic;
        ic.records_bus = records_;
        ic.alerts_bus = alerts_;
        auto in = Ingest::open(*store_, ic, metrics_);
        ASSERT_TRUE(in.ok()) << in.message();
        ingest_ = std::move(*in);
        ASSERT_TRUE(ingest_->pollRecordsOnce(1s).ok());
        ASSERT_TRUE(ingest_->pollAlertsOnce(1s).ok());

        BroadcasterOptions bo;
        bo.max_clients = 2;
        events_ = std::make_unique<EventBroadcaster>(bo, metrics_);
        feed_ = std::make_unique<EventFeed>(*store_, *events_);
        ingest_->setObserver(
            [this](const IngestBatch& b, const IngestResult& r) { feed_->onStored(b, r); });
        server::ApiServerOptions o;
        o.name = "manager";
        o.threads = 6;
        http_ = std::make_unique<server::ApiServer>(o, metrics_);
        ManagerServices services;
        services.events = events_.get();
        services.keepalive = 300ms;
        http_api_ = std::make_unique<ManagerApi>(*store_, *auth_, http_->router(), services);
        ASSERT_TRUE(http_->start().ok());
        makeApi(services);
        token_ = userToken("reader", "read_only");
    }
    void TearDown() override {
        if (events_) events_->close();
        if (http_) http_->stop();
        http_.reset();
        http_api_.reset();
        feed_.reset();
        ingest_.reset();
        events_.reset();
        ApiFixture::TearDown();
    }

    static std::string heartbeat(const std::string& agent) {
        wire::Buffer body;
        wire::encodePayload(body, {{"cpu", "0.01"}, {"rss", "1000"}, {"platform", "debian"}});
        vigil::bus::MQData mq;
        mq.set_data_type(1000);
        mq.set_agent_time(kT0 / 1000);
        mq.set_agent_id(agent);
        mq.set_hostname("host-" + agent);
        mq.set_body(std::string(body.data(), body.size()));
        return mq.SerializeAsString();
    }
    std::string hubAlertJson(int i) {
        return hubAlert(i, "curl_seen", 1, "high", kT0 / 1000, {{"exe", "/usr/bin/curl"}}).json;
    }
    void append(const bus::BusOptions& options, const std::string& key, int32_t type,
                const std::string& value) {
        metrics::Registry reg;
        bus::BusOptions o = options;
        o.writer = true;
        auto b = bus::Bus::open(o, reg);
        ASSERT_TRUE(b.ok()) << b.message();
        const std::vector<bus::Message> msgs{{key, type, value}};
        ASSERT_TRUE((*b)->producer().append(msgs).ok());
    }

    bus::BusOptions records_, alerts_;
    std::unique_ptr<Ingest> ingest_;
    std::unique_ptr<EventBroadcaster> events_;
    std::unique_ptr<EventFeed> feed_;
    std::unique_ptr<server::ApiServer> http_;
    std::unique_ptr<ManagerApi> http_api_;
    std::string token_;
};

TEST_P(EventsTest, AlertsAndHostChangesArriveWhileIngesting) {
    ASSERT_TRUE(feed_->sweep().ok());  // learns agent-0
    StreamReader reader(http_->port(), "/api/v1/events?token=" + token_);
    ASSERT_TRUE(reader.waitFor(": connected\n\n")) << reader.text();
    EXPECT_EQ(reader.status(), 200);
    EXPECT_EQ(reader.contentType(), "text/event-stream");
    ASSERT_EQ(events_->clients(), 1u);

    // A new alert through the bus ingestion: one `alert` event, the list's view of it.
    append(alerts_, "agent-1", 9000, hubAlertJson(7));
    ASSERT_TRUE(ingest_->pollAlertsOnce(1s).ok());
    ASSERT_TRUE(reader.waitFor("alert-7")) << reader.text();
    const json got = eventData(reader.text(), "alert", "alert-7");
    auto listed = call("GET", "/api/v1/alerts?q=host-1&limit=1", token_);
    ASSERT_EQ(listed.status, 200);
    EXPECT_EQ(got, listed.data()["items"][0]);

    // A redelivered alert (already stored) says nothing.
    append(alerts_, "agent-1", 9000, hubAlertJson(7));
    ASSERT_TRUE(ingest_->pollAlertsOnce(1s).ok());

    // A new host's first heartbeat.
    append(records_, "agent-9", 1000, heartbeat("agent-9"));
    ASSERT_TRUE(ingest_->pollRecordsOnce(1s).ok());
    ASSERT_TRUE(reader.waitFor("agent-9")) << reader.text();
    json host = eventData(reader.text(), "host", "agent-9");
    EXPECT_EQ(host["change"], "new");
    EXPECT_EQ(host["hostname"], "host-agent-9");
    EXPECT_EQ(host["online"], true);

    // Keepalives while nothing happens.
    ASSERT_TRUE(reader.waitFor(": keepalive\n\n", 3s)) << reader.text();

    // Time passes without heartbeats: the sweep sees both hosts go offline.
    setNow(kT0 + 10 * 60 * 1000);
    ASSERT_TRUE(feed_->sweep().ok());
    ASSERT_TRUE(reader.waitFor("\"offline\"")) << reader.text();
    host = eventData(reader.text(), "host", "\"agent-9\"");
    ASSERT_TRUE(reader.waitFor("agent-0"));
    const std::string text = reader.text();
    size_t alerts = 0;
    for (size_t at = text.find("event: alert"); at != std::string::npos;
         at = text.find("event: alert", at + 1))
        ++alerts;
    EXPECT_EQ(alerts, 1u) << text;
    EXPECT_NE(text.find("\"change\":\"offline\""), std::string::npos) << text;
    EXPECT_GE(events_->published(), 4u);
}

TEST_P(EventsTest, TokenClientLimitAndEnd) {
    httplib::Client c("127.0.0.1", http_->port());
    c.set_read_timeout(5, 0);
    auto r = c.Get("/api/v1/events");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    r = c.Get("/api/v1/events?token=wrong");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    // The header works too; two clients at most here (max_clients 2).
    StreamReader a(http_->port(), "/api/v1/events?token=" + token_);
    StreamReader b(http_->port(), "/api/v1/events?token=" + token_);
    ASSERT_TRUE(a.waitFor(": connected"));
    ASSERT_TRUE(b.waitFor(": connected"));
    r = c.Get("/api/v1/events", {{"Authorization", "Bearer " + token_}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    // Closing the broadcaster (vigil-manager stopping) ends the streams.
    events_->close();
    EXPECT_TRUE(a.waitDone());
    EXPECT_TRUE(b.waitDone());
    for (int i = 0; i < 100 && events_->clients() > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(events_->clients(), 0u);
}

TEST_P(EventsTest, ExpiredSessionEndsTheStream) {
    StreamReader reader(http_->port(), "/api/v1/events?token=" + token_);
    ASSERT_TRUE(reader.waitFor(": connected"));
    setNow(kT0 + 13 * 3600 * 1000LL);  // past the 12 h session
    EXPECT_TRUE(reader.waitFor("event: session_expired")) << reader.text();
    EXPECT_TRUE(reader.waitDone());
}

TEST(EventBroadcaster, SlowClientIsCutOffPublisherNeverBlocks) {
    metrics::Registry m;
    BroadcasterOptions o;
    o.queue = 3;
    o.max_clients = 4;
    EventBroadcaster events(o, m);
    auto slow = events.subscribe();
    auto fast = events.subscribe();
    ASSERT_TRUE(slow && fast);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i) {
        events.publish({"alert", "{\"n\":" + std::to_string(i) + "}"});
        if (i % 2 == 1) {
            auto got = fast->wait(0ms);
            EXPECT_EQ(got.size(), 2u);
        }
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    EXPECT_TRUE(slow->overflowed());
    EXPECT_TRUE(slow->ended());
    EXPECT_TRUE(slow->wait(10ms).empty());
    EXPECT_FALSE(fast->overflowed());
    EXPECT_EQ(events.slowClients(), 1u);
    EXPECT_EQ(events.published(), 10u);
    EXPECT_NE(m.renderPrometheus().find("vigil_manager_events_slow_clients_total 1"),
              std::string::npos);
    slow.reset();
    EXPECT_EQ(events.clients(), 1u);
    EXPECT_EQ(formatServerEvent({"host", "{\"a\":\"x\ny\"}"}),
              "event: host\ndata: {\"a\":\"x y\"}\n\n");
}

INSTANTIATE_TEST_SUITE_P(Backends, EventsTest, backends());

}  // namespace
}  // namespace vigil::manager::api::testing
