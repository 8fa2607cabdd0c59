// DiscoveryApi driven in process through an ApiRouter: request validation, envelope, signed
// writes, sync semantics (validated as a whole, never re-broadcast, self detection).
#include "server/discovery/discovery_api.h"

#include <gtest/gtest.h>

#include <mutex>

#include "server/discovery/codec.h"

namespace vigil::discovery {
namespace {

using nlohmann::json;
using server::HttpRequest;
using server::HttpResponse;

const server::AkSk kKey{"disc-ak", "disc-secret-0123456789"};
constexpr int64_t kNow = 1700000000;

class RecordingSink : public ChangeSink {
public:
    void publish(const std::vector<Change>& changes) override {
        std::lock_guard lock(mu_);
        published.insert(published.end(), changes.begin(), changes.end());
    }
    void snapshotRequested(const std::string& source) override {
        std::lock_guard lock(mu_);
        snapshot_requests.push_back(source);
    }
    std::vector<Change> published;
    std::vector<std::string> snapshot_requests;

private:
    std::mutex mu_;
};

class DiscoveryApiTest : public ::testing::Test {
protected:
    DiscoveryApiTest() {
        RegistryOptions ro;
        ro.max_detail = 5;
        registry_ = std::make_unique<Registry>(ro);
        server::ApiOptions o;
        o.name = "discovery";
        o.max_body_bytes = 64 * 1024;
        o.verifier = std::make_shared<server::RequestVerifier>(
            std::map<std::string, std::string>{{kKey.access_key, kKey.secret_key}});
        o.now_unix = [] { return kNow; };
        router_ = std::make_unique<server::ApiRouter>(o, metrics_);
        api_ = std::make_unique<DiscoveryApi>(*registry_, sink_, metrics_,
                                              DiscoveryApiOptions{"node-self", 50});
        api_->install(*router_);
    }

    HttpResponse post(const std::string& path, const std::string& body,
                      bool signed_request = true) {
        HttpRequest r;
        r.method = "POST";
        r.target = path;
        r.body = body;
        if (signed_request) {
            auto h = server::sign(kKey, "POST", path, "", body, kNow);
            r.headers = {{"AccessKey", h.access_key},
                         {"TimeStamp", h.timestamp},
                         {"Signature", h.signature}};
        }
        return router_->dispatch(r);
    }
    HttpResponse get(const std::string& target) {
        HttpRequest r;
        r.method = "GET";
        r.target = target;
        return router_->dispatch(r);
    }
    static json body(const HttpResponse& r) { return json::parse(r.body); }
    static std::string msg(const HttpResponse& r) { return body(r)["msg"].get<std::string>(); }

    metrics::Registry metrics_;
    std::unique_ptr<Registry> registry_;
    RecordingSink sink_;
    std::unique_ptr<server::ApiRouter> router_;
    std::unique_ptr<DiscoveryApi> api_;
};

TEST_F(DiscoveryApiTest, RegisterThenDetailInElkeidShape) {
    HttpResponse r = post(
        "/registry/register",
        R"({"name":"hids_svr_grpc","ip":"10.0.0.5","port":6751,"weight":12,"extra":{"http_port":"6752"}})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["code"], 0);
    ASSERT_EQ(sink_.published.size(), 1u);
    EXPECT_EQ(sink_.published[0].action, ChangeAction::kRegister);

    HttpResponse d = get("/registry/detail?name=hids_svr_grpc&count=3");
    ASSERT_EQ(d.status, 200);
    json j = body(d);
    EXPECT_EQ(j["code"], 0);
    EXPECT_EQ(j["msg"], "ok");
    ASSERT_EQ(j["data"].size(), 1u);
    const json& e = j["data"][0];
    EXPECT_EQ(e["name"], "hids_svr_grpc");
    EXPECT_EQ(e["ip"], "10.0.0.5");
    EXPECT_EQ(e["port"], 6751);
    EXPECT_EQ(e["weight"], 12);
    EXPECT_EQ(e["status"], "green");
    EXPECT_GT(e["create_at"].get<int64_t>(), 0);
    EXPECT_GT(e["update_at"].get<int64_t>(), 0);
    EXPECT_EQ(e["extra"]["http_port"], "6752");

    json l = body(get("/registry/list"));
    EXPECT_EQ(l["data"], json::parse(R"([{"name":"hids_svr_grpc","count":1,"healthy":1}])"));
}

TEST_F(DiscoveryApiTest, WritesMustBeSigned) {
    const std::string reg = R"({"name":"svc","ip":"10.0.0.5","port":6751})";
    HttpResponse r = post("/registry/register", reg, false);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(body(r)["code"], 401);
    EXPECT_EQ(post("/registry/evict", reg, false).status, 401);
    EXPECT_EQ(post("/registry/sync", R"({"source":"x:1","data":[]})", false).status, 401);
    EXPECT_EQ(registry_->size(), 0u);
    EXPECT_TRUE(sink_.published.empty());
    // Reads are open.
    EXPECT_EQ(get("/registry/detail?name=svc").status, 200);
    EXPECT_EQ(get("/registry/list").status, 200);
}

TEST_F(DiscoveryApiTest, BadRequestsNameTheProblemAndChangeNothing) {
    struct Case {
        std::string body, expected;
    };
    const std::vector<Case> cases = {
        {R"({"name":"svc","ip":"10.0.0.5","port":)", "request body is not valid JSON"},
        {R"([1,2])", "body: must be a JSON object"},
        {R"({"ip":"10.0.0.5","port":1})", "body.name: is required"},
        {R"({"name":"s v c","ip":"10.0.0.5","port":1})", "body.name: may only contain"},
        {R"({"name":"svc","ip":"10.0.0.5","port":"6751"})",
         "body.port: must be an integer in 1..65535"},
        {R"({"name":"svc","ip":"10.0.0.5","port":0})",
         "body.port: must be an integer in 1..65535, got 0"},
        {R"({"name":"svc","ip":"not an ip!","port":1})",
         "body.ip: must be an IP address or a host name"},
        {R"({"name":"svc","ip":7,"port":1})", "body.ip: must be a string"},
        {R"({"name":"svc","ip":"10.0.0.5","port":1,"weight":-1})",
         "body.weight: must be an integer in 0.."},
        {R"({"name":"svc","ip":"10.0.0.5","port":1,"weight":"3"})",
         "body.weight: must be an integer"},
        {R"({"name":"svc","ip":"10.0.0.5","port":1,"extra":[]})",
         "body.extra: must be a JSON object"},
        {R"({"name":"svc","ip":"10.0.0.5","port":1,"extra":{"x":")" + std::string(5000, 'a') +
             "\"}}",
         "body.extra: is larger than 4096 bytes"},
    };
    for (const auto& c : cases) {
        HttpResponse r = post("/registry/register", c.body);
        EXPECT_EQ(r.status, 400) << c.body;
        EXPECT_NE(msg(r).find(c.expected), std::string::npos) << "got: " << msg(r);
    }
    EXPECT_EQ(registry_->size(), 0u);
    EXPECT_TRUE(sink_.published.empty());
    // A huge body is refused before parsing, and the API keeps working.
    EXPECT_EQ(post("/registry/register", std::string(100 * 1024, '{')).status, 413);
    EXPECT_EQ(post("/registry/register", R"({"name":"svc","ip":"::1","port":1})").status, 200);
    EXPECT_EQ(
        post("/registry/register", R"({"name":"svc","ip":"center-1.example","port":1})").status,
        200);
}

TEST_F(DiscoveryApiTest, DetailParameters) {
    EXPECT_EQ(get("/registry/detail").status, 400);
    EXPECT_NE(msg(get("/registry/detail")).find("name is required"), std::string::npos);
    EXPECT_EQ(get("/registry/detail?name=svc&count=abc").status, 400);
    EXPECT_EQ(get("/registry/detail?name=svc&count=-1").status, 400);
    for (int i = 0; i < 8; ++i)
        ASSERT_EQ(
            post("/registry/register", R"({"name":"svc","ip":"10.0.0.)" + std::to_string(i) +
                                           R"(","port":1,"weight":)" + std::to_string(i) + "}")
                .status,
            200);
    EXPECT_EQ(body(get("/registry/detail?name=svc&count=2"))["data"].size(), 2u);
    EXPECT_EQ(body(get("/registry/detail?name=svc"))["data"].size(), 5u);  // capped
    EXPECT_EQ(body(get("/registry/detail?name=svc&count=1000"))["data"].size(), 5u);
    EXPECT_EQ(body(get("/registry/detail?name=svc&count=1"))["data"][0]["ip"], "10.0.0.0");
}

TEST_F(DiscoveryApiTest, EvictRemovesAndPublishes) {
    ASSERT_EQ(post("/registry/register", R"({"name":"svc","ip":"10.0.0.5","port":1})").status, 200);
    HttpResponse r = post("/registry/evict", R"({"name":"svc","ip":"10.0.0.5","port":1})");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(body(r)["data"]["evicted"], true);
    EXPECT_EQ(body(post("/registry/evict",
                        R"({"name":"svc","ip":"10.0.0.5","port":1})"))["data"]["evicted"],
              false);
    EXPECT_EQ(sink_.published.size(), 3u);
    EXPECT_EQ(sink_.published[1].action, ChangeAction::kEvict);
    EXPECT_TRUE(body(get("/registry/detail?name=svc"))["data"].empty());
}

TEST_F(DiscoveryApiTest, SyncAppliesWithoutRebroadcast) {
    json sync = {
        {"source", "127.0.0.1:9000"},
        {"node", "node-peer"},
        {"data",
         {{{"action", "REGISTER"},
           {"registry",
            {{"name", "svc"}, {"ip", "10.0.0.7"}, {"port", 6751}, {"weight", 4}, {"age_ms", 10}}}},
          {{"action", "REGISTER"},
           {"registry", {{"name", "svc"}, {"ip", "10.0.0.8"}, {"port", 6751}, {"weight", 2}}}}}}};
    HttpResponse r = post("/registry/sync", sync.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(body(r)["data"]["applied"], 2);
    EXPECT_TRUE(sink_.published.empty());  // received changes are not passed on
    json d = body(get("/registry/detail?name=svc"))["data"];
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0]["ip"], "10.0.0.8");
    // The same instances seen a minute ago are older information: ignored.
    for (auto& item : sync["data"]) item["registry"]["age_ms"] = 60000;
    EXPECT_EQ(body(post("/registry/sync", sync.dump()))["data"]["ignored"], 2);
    // An eviction.
    json evict = {{"source", "127.0.0.1:9000"},
                  {"data",
                   {{{"action", "EVICT"},
                     {"registry", {{"name", "svc"}, {"ip", "10.0.0.7"}, {"port", 6751}}}}}}};
    EXPECT_EQ(body(post("/registry/sync", evict.dump()))["data"]["applied"], 1);
    EXPECT_EQ(body(get("/registry/detail?name=svc"))["data"].size(), 1u);
}

TEST_F(DiscoveryApiTest, SyncIsValidatedAsAWhole) {
    json sync = {{"source", "p:1"},
                 {"data",
                  {{{"action", "REGISTER"},
                    {"registry", {{"name", "svc"}, {"ip", "10.0.0.7"}, {"port", 1}}}},
                   {{"action", "UPSERT"},
                    {"registry", {{"name", "svc"}, {"ip", "10.0.0.8"}, {"port", 1}}}}}}};
    HttpResponse r = post("/registry/sync", sync.dump());
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(msg(r), R"(body.data[1].action: must be REGISTER or EVICT, got "UPSERT")");
    sync["data"][1] = {{"action", "EVICT"},
                       {"registry", {{"name", "svc"}, {"ip", "10.0.0.8"}, {"port", -4}}}};
    EXPECT_NE(msg(post("/registry/sync", sync.dump())).find("body.data[1].registry.port"),
              std::string::npos);
    sync["data"][1] = 5;
    EXPECT_NE(msg(post("/registry/sync", sync.dump())).find("body.data[1]: must be a JSON object"),
              std::string::npos);
    EXPECT_EQ(registry_->size(), 0u);
    json many = {{"source", "p:1"}, {"data", json::array()}};
    for (int i = 0; i < 51; ++i) many["data"].push_back(sync["data"][0]);
    EXPECT_NE(msg(post("/registry/sync", many.dump())).find("at most 50"), std::string::npos);
    EXPECT_NE(msg(post("/registry/sync", R"({"data":[]})")).find("body.source: is required"),
              std::string::npos);
}

TEST_F(DiscoveryApiTest, SyncFromSelfAndSnapshotRequests) {
    json self = {{"source", "me:1"}, {"node", "node-self"}, {"data", json::array()}};
    EXPECT_EQ(body(post("/registry/sync", self.dump()))["data"]["self"], true);
    json hello = {{"source", "late:8088"},
                  {"node", "node-late"},
                  {"request_snapshot", true},
                  {"data", json::array()}};
    ASSERT_EQ(post("/registry/sync", hello.dump()).status, 200);
    ASSERT_EQ(sink_.snapshot_requests.size(), 1u);
    EXPECT_EQ(sink_.snapshot_requests[0], "late:8088");
}

TEST(CodecTest, ChangeJsonCarriesTheAge) {
    Change c;
    c.action = ChangeAction::kRegister;
    c.instance.name = "svc";
    c.instance.ip = "10.0.0.1";
    c.instance.port = 1;
    c.instance.weight = 3;
    c.at_ms = 1000;
    json j = changeJson(c, 1750);
    EXPECT_EQ(j["action"], "REGISTER");
    EXPECT_EQ(j["registry"]["age_ms"], 750);
    EXPECT_EQ(j["registry"]["weight"], 3);
    c.action = ChangeAction::kEvict;
    j = changeJson(c, 500);
    EXPECT_EQ(j["action"], "EVICT");
    EXPECT_EQ(j["registry"]["age_ms"], 0);
    EXPECT_FALSE(j["registry"].contains("weight"));
}

}  // namespace
}  // namespace vigil::discovery
