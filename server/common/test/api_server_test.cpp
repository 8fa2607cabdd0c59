// ApiServer over real loopback sockets: the router's answers through cpp-httplib, errors that
// httplib detects itself (body over the cap), concurrent clients, stop.
#include "server/common/api_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace vigil::server {
namespace {

using nlohmann::json;

const AkSk kKey{"ak1", "secret-0123456789abcdef"};

int64_t now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class ApiServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        ApiServerOptions o;
        o.name = "t";
        o.max_body_bytes = 4096;
        o.threads = 4;
        o.verifier = std::make_shared<RequestVerifier>(
            std::map<std::string, std::string>{{kKey.access_key, kKey.secret_key}});
        server_ = std::make_unique<ApiServer>(o, metrics_);
        server_->post(
            "/write", [](const ApiRequest& r) { return ApiReply::ok(r.json); }, Auth::kSigned);
        server_->get(
            "/read", [](const ApiRequest& r) { return ApiReply::ok(r.param("q")); }, Auth::kOpen);
        server_->get(
            "/throw", [](const ApiRequest&) -> ApiReply { throw std::logic_error("bug"); },
            Auth::kOpen);
        ASSERT_TRUE(server_->start().ok());
        ASSERT_GT(server_->port(), 0);
        client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
        client_->set_connection_timeout(std::chrono::seconds(2));
        client_->set_read_timeout(std::chrono::seconds(5));
    }
    void TearDown() override { server_->stop(); }

    httplib::Result signedPost(const std::string& path, const std::string& body) {
        SignedHeaders h = sign(kKey, "POST", path, "", body, now());
        httplib::Headers headers{
            {"AccessKey", h.access_key}, {"TimeStamp", h.timestamp}, {"Signature", h.signature}};
        return client_->Post(path.c_str(), headers, body, "application/json");
    }

    metrics::Registry metrics_;
    std::unique_ptr<ApiServer> server_;
    std::unique_ptr<httplib::Client> client_;
};

TEST_F(ApiServerTest, ServesSignedWritesAndOpenReads) {
    auto r = signedPost("/write", R"({"k":"v"})");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(json::parse(r->body)["data"]["k"], "v");
    auto g = client_->Get("/read?q=hello%20world");
    ASSERT_TRUE(g);
    EXPECT_EQ(g->status, 200);
    EXPECT_EQ(json::parse(g->body)["data"], "hello world");
    EXPECT_EQ(g->get_header_value("Content-Type"), "application/json");
}

TEST_F(ApiServerTest, ErrorsCarryTheEnvelope) {
    auto unsigned_write = client_->Post("/write", R"({"k":1})", "application/json");
    ASSERT_TRUE(unsigned_write);
    EXPECT_EQ(unsigned_write->status, 401);
    EXPECT_EQ(json::parse(unsigned_write->body)["code"], 401);

    auto bad_json = signedPost("/write", "{nope");
    ASSERT_TRUE(bad_json);
    EXPECT_EQ(bad_json->status, 400);
    EXPECT_NE(json::parse(bad_json->body)["msg"].get<std::string>().find("not valid JSON"),
              std::string::npos);

    auto thrown = client_->Get("/throw");
    ASSERT_TRUE(thrown);
    EXPECT_EQ(thrown->status, 500);
    EXPECT_EQ(json::parse(thrown->body)["code"], 500);

    auto missing = client_->Get("/missing");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
    EXPECT_EQ(json::parse(missing->body)["code"], 404);
}

TEST_F(ApiServerTest, BodyOverTheCapIs413FromTheTransport) {
    auto r = client_->Post("/write", std::string(100000, 'x'), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    json j = json::parse(r->body);
    EXPECT_EQ(j["code"], 413);
    EXPECT_NE(j["msg"].get<std::string>().find("4096"), std::string::npos) << r->body;
    EXPECT_EQ(metrics_.counterValue("vigil_http_requests_total",
                                    {{"server", "t"}, {"route", "/write"}, {"code", "413"}}),
              1u);
    // Still serving.
    auto g = client_->Get("/read?q=1");
    ASSERT_TRUE(g);
    EXPECT_EQ(g->status, 200);
}

TEST_F(ApiServerTest, ConcurrentClientsAndMetrics) {
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            httplib::Client c("127.0.0.1", server_->port());
            for (int i = 0; i < 20; ++i) {
                auto r = c.Get("/read?q=x");
                if (r && r->status == 200) ++ok;
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), 160);
    auto m = client_->Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find(R"(vigil_http_requests_total{server="t",route="/read",code="200"} 160)"),
              std::string::npos)
        << m->body;
}

TEST(ApiServerStartTest, PortInUseIsAnErrorAndStopIsIdempotent) {
    metrics::Registry m;
    ApiServerOptions o;
    ApiServer a(o, m);
    ASSERT_TRUE(a.start().ok());
    o.port = a.port();
    ApiServer b(o, m);
    Status s = b.start();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(std::to_string(a.port())), std::string::npos) << s.message();
    a.stop();
    a.stop();
    b.stop();
}

TEST(ApiServerStartTest, StopRightAfterStartReturns) {
    metrics::Registry m;
    for (int i = 0; i < 5; ++i) {
        ApiServer a(ApiServerOptions{}, m);
        ASSERT_TRUE(a.start().ok());
        a.stop();
    }
}

}  // namespace
}  // namespace vigil::server
