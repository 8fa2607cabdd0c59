// The manager's cluster client: discovery look-ups and signed calls to centers and hubs.
#include "server/manager/cluster/cluster_client.h"

#include <httplib.h>

#include <set>

#include "server/common/api_router.h"
#include "server/common/service_config.h"

namespace vigil::manager::cluster {

namespace {

using nlohmann::json;

int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void addAddresses(const config::Node& node, const char* key, std::vector<std::string>& out) {
    for (const auto& a : node.strList(key)) {
        if (auto hp = server::parseHostPort(a); !hp.ok()) {
            node.problem(key, "'" + a + "': " + hp.message());
        } else {
            out.push_back(a);
        }
    }
}

std::unique_ptr<httplib::Client> clientFor(const std::string& address,
                                           std::chrono::milliseconds timeout, Error& error) {
    auto hp = server::parseHostPort(address);
    if (!hp.ok()) {
        error = makeError("{}: {}", address, hp.message());
        return nullptr;
    }
    auto c = std::make_unique<httplib::Client>(hp->host, hp->port);
    c->set_connection_timeout(timeout);
    c->set_read_timeout(timeout);
    c->set_write_timeout(timeout);
    return c;
}

}  // namespace

void readClusterConfig(const config::Node& root, ClusterOptions& out) {
    if (!root.has("cluster")) return;
    config::Node c = root.child("cluster");
    c.allowOnly({"discovery", "centers", "keys_file", "access_key", "secret_key", "timeout",
                 "advertise", "register_interval", "center_name", "hub_name"});
    addAddresses(c, "discovery", out.discovery);
    addAddresses(c, "centers", out.centers);
    const std::string file = c.str("keys_file");
    if (!file.empty()) {
        if (auto loaded = server::loadKeysFile(file); !loaded.ok()) {
            c.problem("keys_file", loaded.message());
        } else {
            out.keys = *loaded;
        }
    }
    const std::string ak = c.str("access_key");
    const std::string sk = c.str("secret_key");
    if (!sk.empty()) {
        if (ak.empty()) c.problem("secret_key", "needs access_key");
        out.keys[ak] = sk;
    }
    if (auto key = server::signingKey(out.keys, ak); key.ok()) {
        out.key = *key;
    } else {
        c.problem("access_key", key.message());
    }
    if (out.configured() && out.keys.empty()) {
        c.problem("keys_file",
                  "the centers' and hubs' APIs are signed: give keys_file or access_key and "
                  "secret_key");
    }
    out.timeout = c.duration("timeout", out.timeout, std::chrono::milliseconds(100));
    out.advertise = c.str("advertise");
    if (!out.advertise.empty()) {
        if (auto hp = server::parseHostPort(out.advertise); !hp.ok()) {
            c.problem("advertise", hp.message());
        }
    }
    out.register_interval =
        c.duration("register_interval", out.register_interval, std::chrono::seconds(1));
    out.center_name = c.str("center_name", out.center_name);
    out.hub_name = c.str("hub_name", out.hub_name);
}

std::string Instance::address() const {
    return server::HostPort{ip, port}.toString();
}

ClusterClient::ClusterClient(ClusterOptions options, metrics::Registry* metrics)
    : options_(std::move(options)) {
    if (!metrics) return;
    const char* name = "vigil_manager_cluster_requests_total";
    const char* help = "Requests to discovery, centers and hubs by result";
    ok_ = &metrics->counter(name, help, {{"result", "ok"}});
    errors_ = &metrics->counter(name, help, {{"result", "error"}});
}

template <typename R>
R ClusterClient::counted(R result) const {
    if (metrics::Counter* c = result.ok() ? ok_ : errors_) c->inc();
    return result;
}

Result<json> ClusterClient::call(const std::string& address, const std::string& method,
                                 const std::string& path, const std::string& body) const {
    return counted(send(address, method, path, body));
}

Result<json> ClusterClient::send(const std::string& address, const std::string& method,
                                 const std::string& path, const std::string& body) const {
    Error error;
    auto client = clientFor(address, options_.timeout, error);
    if (!client) return error;
    auto [plain_path, query] = server::splitTarget(path);
    httplib::Headers headers;
    if (!options_.key.access_key.empty()) {
        auto s = server::sign(options_.key, method, plain_path, query, body, unixNow());
        headers.emplace("AccessKey", s.access_key);
        headers.emplace("TimeStamp", s.timestamp);
        headers.emplace("Signature", s.signature);
    }
    httplib::Result res = method == "GET"
                              ? client->Get(path.c_str(), headers)
                              : client->Post(path.c_str(), headers, body, "application/json");
    if (!res) {
        return makeError("{} {} {}: {}", address, method, plain_path,
                         httplib::to_string(res.error()));
    }
    auto doc = json::parse(res->body, nullptr, false);
    int code = -1;
    std::string msg;
    if (doc.is_object()) {
        if (auto c = doc.find("code"); c != doc.end() && c->is_number_integer()) code = *c;
        if (auto m = doc.find("msg"); m != doc.end() && m->is_string()) msg = *m;
    }
    if (res->status != 200 || code != 0) {
        return makeError("{} {} {}: HTTP {}: {}", address, method, plain_path, res->status,
                         msg.empty() ? res->body.substr(0, 200) : msg);
    }
    return doc.value("data", json());
}

Status ClusterClient::probe(const std::string& address, const std::string& path) const {
    Error error;
    auto client = clientFor(address, options_.timeout, error);
    if (!client) return counted(Status(error));
    auto res = client->Get(path.c_str());
    if (!res) return counted(Status(makeError("{}: {}", address, httplib::to_string(res.error()))));
    if (res->status != 200) return counted(Status(makeError("{}: HTTP {}", address, res->status)));
    return counted(okStatus());
}

Result<std::vector<Instance>> ClusterClient::instances(const std::string& name) const {
    if (options_.discovery.empty()) return makeError("no discovery replica is configured");
    std::string problems;
    for (const auto& replica : options_.discovery) {
        auto data = call(replica, "GET", "/registry/detail?name=" + name + "&count=100");
        if (!data.ok()) {
            problems += (problems.empty() ? "" : "; ") + data.message();
            continue;
        }
        std::vector<Instance> out;
        if (!data->is_array()) return out;
        for (const auto& item : *data) {
            if (!item.is_object()) continue;
            Instance i;
            i.name = item.value("name", "");
            i.ip = item.value("ip", "");
            i.port = item.value("port", 0);
            i.weight = item.value("weight", int64_t{0});
            i.status = item.value("status", "");
            if (auto e = item.find("extra"); e != item.end() && e->is_object()) i.extra = *e;
            out.push_back(std::move(i));
        }
        return out;
    }
    return makeError("no discovery replica answered: {}", problems);
}

std::vector<Center> ClusterClient::centers(std::string* problem) const {
    std::vector<Center> out;
    std::set<std::string> seen;
    for (const auto& api : options_.centers) {
        if (seen.insert(api).second) out.push_back(Center{api, "", -1, ""});
    }
    if (options_.discovery.empty()) return out;
    auto found = instances(options_.center_name);
    if (!found.ok()) {
        if (problem) *problem = found.message();
        return out;
    }
    for (const auto& i : *found) {
        // The center registers its gRPC address; its admin API port is in extra.http_port.
        int http_port = 0;
        if (auto p = i.extra.find("http_port"); p != i.extra.end()) {
            if (p->is_string()) http_port = std::atoi(p->get<std::string>().c_str());
            if (p->is_number_integer()) http_port = p->get<int>();
        }
        if (http_port <= 0 || http_port > 65535) continue;
        const std::string api = server::HostPort{i.ip, http_port}.toString();
        Center c{api, i.address(), i.weight, i.status};
        if (seen.insert(api).second) {
            out.push_back(std::move(c));
        } else {
            for (auto& known : out) {
                if (known.api == api) known = c;
            }
        }
    }
    return out;
}

AgentLocations ClusterClient::locateAgents() const {
    AgentLocations loc;
    std::string problem;
    for (const auto& c : centers(&problem)) {
        auto ids = call(c.api, "GET", "/conn/list");
        if (!ids.ok()) {
            loc.center_errors[c.api] = ids.message();
            continue;
        }
        if (!ids->is_array()) continue;
        for (const auto& id : *ids) {
            if (id.is_string()) loc.center_of.emplace(id.get<std::string>(), c.api);
        }
    }
    if (!problem.empty()) loc.center_errors["discovery"] = problem;
    return loc;
}

}  // namespace vigil::manager::cluster
