// Integration test helpers for vigil-discovery.
#include "server/discovery/test/discovery_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <thread>

#include "server/common/api_router.h"

namespace vigil::discovery::testing {


bool waitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (done()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return done();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

namespace {

int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

HttpAnswer toAnswer(const httplib::Result& r) {
    HttpAnswer a;
    if (!r) return a;
    a.status = r->status;
    a.body = nlohmann::json::parse(r->body, nullptr, false);
    return a;
}

}  // namespace

HttpAnswer postJson(int port, const std::string& path, const nlohmann::json& body,
                    const server::AkSk& key) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(std::chrono::seconds(2));
    c.set_read_timeout(std::chrono::seconds(5));
    const std::string text = body.dump();
    httplib::Headers headers;
    if (!key.access_key.empty()) {
        auto h = server::sign(key, "POST", path, "", text, unixNow());
        headers = {
            {"AccessKey", h.access_key}, {"TimeStamp", h.timestamp}, {"Signature", h.signature}};
    }
    return toAnswer(c.Post(path.c_str(), headers, text, "application/json"));
}

HttpAnswer getJson(int port, const std::string& target) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(std::chrono::seconds(2));
    c.set_read_timeout(std::chrono::seconds(5));
    return toAnswer(c.Get(target.c_str()));
}

std::vector<std::string> detailIps(int port, const std::string& name) {
    HttpAnswer a = getJson(port, "/registry/detail?name=" + server::urlEncode(name));
    std::vector<std::string> out;
    if (a.status != 200 || !a.body.is_object() || !a.body["data"].is_array()) return out;
    for (const auto& e : a.body["data"]) out.push_back(e["ip"].get<std::string>());
    return out;
}

DiscoveryOptions replicaOptions(int port, std::vector<std::string> peers,
                                std::chrono::milliseconds evict_after) {
    DiscoveryOptions o;
    o.api.host = "127.0.0.1";
    o.api.port = port;
    o.api.threads = 4;
    o.api.keep_alive_timeout = std::chrono::seconds(1);
    o.api.verifier = std::make_shared<server::RequestVerifier>(
        std::map<std::string, std::string>{{kTestKey.access_key, kTestKey.secret_key}});
    o.registry.evict_after = evict_after;
    o.replication.peers = std::move(peers);
    o.replication.key = kTestKey;
    o.replication.flush_interval = std::chrono::milliseconds(200);
    o.replication.timeout = std::chrono::milliseconds(1000);
    o.replication.backoff_max = std::chrono::milliseconds(1000);
    o.check_interval = std::chrono::milliseconds(100);
    return o;
}

nlohmann::json registration(const std::string& name, const std::string& ip, int port,
                            int64_t weight) {
    return {{"name", name},
            {"ip", ip},
            {"port", port},
            {"weight", weight},
            {"extra", nlohmann::json::object()}};
}

}  // namespace vigil::discovery::testing
