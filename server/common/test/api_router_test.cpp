// ApiRouter driven in process: envelope, status codes, auth, JSON errors, metrics.
#include "server/common/api_router.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace vigil::server {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1700000000;
const AkSk kKey{"ak1", "secret-0123456789abcdef"};

class ApiRouterTest : public ::testing::Test {
protected:
    ApiRouterTest() { rebuild(false); }

    void rebuild(bool auth_disabled, bool with_keys = true) {
        ApiOptions o;
        o.name = "test";
        o.max_body_bytes = 1024;
        if (with_keys)
            o.verifier = std::make_shared<RequestVerifier>(
                std::map<std::string, std::string>{{kKey.access_key, kKey.secret_key}});
        o.auth_disabled = auth_disabled;
        o.now_unix = [] { return kNow; };
        router_ = std::make_unique<ApiRouter>(o, metrics_);
        router_->post(
            "/echo", [](const ApiRequest& r) { return ApiReply::ok(r.json); }, Auth::kSigned);
        router_->get(
            "/open",
            [](const ApiRequest& r) {
                return ApiReply::ok(json{{"name", r.param("name")}});
            },
            Auth::kOpen);
        router_->get(
            "/boom", [](const ApiRequest&) -> ApiReply { throw std::runtime_error("kaboom"); },
            Auth::kOpen);
        router_->get(
            "/hosts/:id/info",
            [](const ApiRequest& r) { return ApiReply::ok(r.path_params.at("id")); }, Auth::kOpen);
        router_->post(
            "/command/", [](const ApiRequest& r) { return ApiReply::ok(r.access_key); },
            Auth::kSigned);
        router_->post(
            "/fields",
            [](const ApiRequest& r) {
                JsonFields f(r.json);
                std::string name = f.string("name", true, 8);
                int64_t port = f.integer("port", true, 1, 65535);
                bool on = f.boolean("on", false, false);
                if (!f.ok()) return f.badRequest();
                return ApiReply::ok(json{{"name", name}, {"port", port}, {"on", on}});
            },
            Auth::kOpen);
    }

    HttpResponse call(std::string method, std::string target, std::string body = {},
                      bool signed_request = false, int64_t signed_at = kNow, AkSk key = kKey) {
        HttpRequest r;
        r.method = std::move(method);
        r.target = std::move(target);
        r.body = std::move(body);
        r.remote = "127.0.0.1:1";
        if (signed_request) {
            auto [path, query] = splitTarget(r.target);
            SignedHeaders h = sign(key, r.method, path, query, r.body, signed_at);
            r.headers = {{"AccessKey", h.access_key},
                         {"TimeStamp", h.timestamp},
                         {"Signature", h.signature}};
        }
        return router_->dispatch(r);
    }

    static json parse(const HttpResponse& r) { return json::parse(r.body); }

    uint64_t counted(const std::string& route, int status) {
        return metrics_.counterValue(
            "vigil_http_requests_total",
            {{"server", "test"}, {"route", route}, {"code", std::to_string(status)}});
    }

    metrics::Registry metrics_;
    std::unique_ptr<ApiRouter> router_;
};

TEST_F(ApiRouterTest, SignedWriteSucceedsWithTheEnvelope) {
    HttpResponse r = call("POST", "/echo", R"({"a":[1,2]})", true);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "application/json");
    json j = parse(r);
    EXPECT_EQ(j["code"], 0);
    EXPECT_EQ(j["msg"], "ok");
    EXPECT_EQ(j["data"], json::parse(R"({"a":[1,2]})"));
    EXPECT_EQ(counted("/echo", 200), 1u);
}

TEST_F(ApiRouterTest, UnsignedOrStaleWritesGet401) {
    HttpResponse r = call("POST", "/echo", R"({"a":1})");
    EXPECT_EQ(r.status, 401);
    json j = parse(r);
    EXPECT_EQ(j["code"], 401);
    EXPECT_NE(j["msg"].get<std::string>().find("AccessKey"), std::string::npos) << r.body;
    r = call("POST", "/echo", R"({"a":1})", true, kNow - 120);
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(parse(r)["msg"].get<std::string>().find("stale"), std::string::npos) << r.body;
    r = call("POST", "/echo", R"({"a":1})", true, kNow, AkSk{"ak1", "wrong-secret-000000000"});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(counted("/echo", 401), 3u);
}

TEST_F(ApiRouterTest, SignatureCoversTheTrailingSlashFreePath) {
    // Registered as "/command/", called as "/command/" and "/command": both signed correctly.
    EXPECT_EQ(parse(call("POST", "/command/", "{}", true))["data"], "ak1");
    EXPECT_EQ(parse(call("POST", "/command", "{}", true))["data"], "ak1");
}

TEST_F(ApiRouterTest, NoKeysConfiguredRefusesSignedRoutesUnlessDisabled) {
    rebuild(false, false);
    HttpResponse r = call("POST", "/echo", "{}", true);
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(parse(r)["msg"].get<std::string>().find("no access keys"), std::string::npos)
        << r.body;
    rebuild(true, false);
    EXPECT_EQ(call("POST", "/echo", "{}").status, 200);
}

TEST_F(ApiRouterTest, BadJsonIs400WithTheParseError) {
    HttpResponse r = call("POST", "/echo", R"({"a":)", true);
    EXPECT_EQ(r.status, 400);
    json j = parse(r);
    EXPECT_EQ(j["code"], 400);
    const std::string msg = j["msg"];
    EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
    EXPECT_NE(msg.find("line 1"), std::string::npos) << msg;
    // Deep nesting is refused before parsing.
    r = call("POST", "/echo", std::string(600, '['), true);
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(parse(r)["msg"].get<std::string>().find("nested deeper"), std::string::npos);
}

TEST_F(ApiRouterTest, OversizeBodyIs413) {
    HttpResponse r = call("POST", "/echo", "[" + std::string(2000, ' ') + "]", true);
    EXPECT_EQ(r.status, 413);
    EXPECT_NE(parse(r)["msg"].get<std::string>().find("over the limit of 1024"), std::string::npos)
        << r.body;
}

TEST_F(ApiRouterTest, HandlerExceptionIs500AndCounted) {
    HttpResponse r = call("GET", "/boom");
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(parse(r)["code"], 500);
    EXPECT_EQ(metrics_.counterValue("vigil_http_handler_exceptions_total",
                                    {{"server", "test"}, {"route", "/boom"}}),
              1u);
    // The router keeps serving.
    EXPECT_EQ(call("GET", "/open?name=x").status, 200);
}

TEST_F(ApiRouterTest, UnknownPathAndMethod) {
    HttpResponse r = call("GET", "/nope");
    EXPECT_EQ(r.status, 404);
    EXPECT_NE(parse(r)["msg"].get<std::string>().find("/nope"), std::string::npos);
    r = call("GET", "/echo");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(call("DELETE", "/open").status, 405);
    EXPECT_EQ(counted("unmatched", 404), 1u);
    EXPECT_EQ(counted("unmatched", 405), 2u);
    EXPECT_EQ(call("GET", "nopath").status, 400);
}

TEST_F(ApiRouterTest, QueryAndPathParameters) {
    EXPECT_EQ(parse(call("GET", "/open?name=a%20b+c&name=second"))["data"]["name"], "a b c");
    EXPECT_EQ(parse(call("GET", "/hosts/h%2F1/info"))["data"], "h/1");
    EXPECT_EQ(call("GET", "/hosts/info").status, 404);
}

TEST_F(ApiRouterTest, JsonFieldsNameTheProblem) {
    auto msg = [&](const std::string& body) {
        HttpResponse r = call("POST", "/fields", body);
        EXPECT_EQ(r.status, 400) << body;
        return parse(r)["msg"].get<std::string>();
    };
    EXPECT_EQ(msg(R"({"port":1})"), "body.name: is required");
    EXPECT_EQ(msg(R"({"name":"x","port":"80"})"),
              R"(body.port: must be an integer in 1..65535, got "80")");
    EXPECT_EQ(msg(R"({"name":"x","port":70000})"),
              "body.port: must be an integer in 1..65535, got 70000");
    EXPECT_EQ(msg(R"({"name":"x","port":1.5})"),
              "body.port: must be an integer in 1..65535, got 1.5");
    EXPECT_EQ(msg(R"({"name":"123456789","port":1})"), "body.name: is longer than 8 bytes");
    EXPECT_EQ(msg(R"({"name":"x","port":1,"on":"yes"})"),
              R"(body.on: must be true or false, got "yes")");
    EXPECT_EQ(msg(R"([1])"), "body: must be a JSON object, got [1]");
    EXPECT_EQ(msg(""), "body: must be a JSON object, got nothing");
    EXPECT_EQ(call("POST", "/fields", R"({"name":"x","port":1})").status, 200);
}

TEST_F(ApiRouterTest, InvalidUtf8IsRefusedNotThrown) {
    HttpResponse r = call("POST", "/fields", "{\"name\":\"\xff\xfe\",\"port\":1}");
    EXPECT_EQ(r.status, 400);
    EXPECT_NO_THROW(parse(r));
}

TEST_F(ApiRouterTest, HealthAndMetricsAreOpen) {
    HttpResponse h = call("GET", "/healthz");
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(parse(h)["data"]["status"], "ok");
    call("GET", "/open");
    HttpResponse m = call("GET", "/metrics");
    EXPECT_EQ(m.status, 200);
    EXPECT_NE(m.content_type.find("text/plain"), std::string::npos);
    EXPECT_NE(m.body.find(R"(vigil_http_requests_total{server="test",route="/open",code="200"} 1)"),
              std::string::npos)
        << m.body;
    router_->setHealthCheck([] { return Status(makeError("bus is down")); });
    HttpResponse bad = call("GET", "/healthz");
    EXPECT_EQ(bad.status, 503);
    EXPECT_EQ(parse(bad)["msg"], "unhealthy: bus is down");
}

TEST(ApiHelpersTest, IntParam) {
    ApiRequest r;
    r.params = {{"count", "5"}, {"bad", "5x"}, {"neg", "-1"}};
    EXPECT_EQ(*intParam(r, "count", 0, 0, 100), 5);
    EXPECT_EQ(*intParam(r, "absent", 7, 0, 100), 7);
    auto bad = intParam(r, "bad", 0, 0, 100);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.message(), R"(query parameter bad must be an integer in 0..100, got "5x")");
    EXPECT_FALSE(intParam(r, "neg", 0, 0, 100).ok());
}

TEST(ApiHelpersTest, QueryParsingAndEncoding) {
    auto q = parseQuery("a=1&b=x%41y&c&=z&d=%zz&a=2");
    EXPECT_EQ(q["a"], "1");
    EXPECT_EQ(q["b"], "xAy");
    EXPECT_EQ(q["c"], "");
    EXPECT_EQ(q["d"], "%zz");
    EXPECT_EQ(urlEncode("a b/é"), "a%20b%2F%C3%A9");
    EXPECT_EQ(splitTarget("/p?x=1?y").second, "x=1?y");
}

}  // namespace
}  // namespace vigil::server
