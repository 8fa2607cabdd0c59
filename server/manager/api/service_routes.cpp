// The manager API's services view: every discovery replica, center, hub and manager with its
// health and load (agents, records/s, events/s, alerts/s, lag), and rebalancing a center's agents
// (docs/manager.md "Services").
#include <map>
#include <memory>
#include <mutex>

#include "server/manager/api/api_views.h"
#include "server/manager/api/cluster_views.h"
#include "server/manager/api/manager_api.h"

namespace vigil::manager::api {

using nlohmann::json;
using server::ApiReply;
using server::ApiRequest;
using server::Body;
using server::JsonFields;

namespace {

constexpr size_t kMaxResetHosts = 100000;

// Per-second rates of the services' counters, from the previous GET /api/v1/services: null on
// the first look at a service and when the counter went backwards (a restart).
class RateSampler {
public:
    json rate(const std::string& key, uint64_t value, int64_t now_ms) {
        std::lock_guard lock(mu_);
        auto [it, fresh] = samples_.try_emplace(key, Sample{value, now_ms});
        if (fresh) return nullptr;
        Sample prev = it->second;
        if (now_ms - prev.at_ms < 500) return last_.count(key) ? last_[key] : json(nullptr);
        it->second = Sample{value, now_ms};
        if (value < prev.value) return last_[key] = nullptr;
        const double per_s = static_cast<double>(value - prev.value) * 1000.0 /
                             static_cast<double>(now_ms - prev.at_ms);
        return last_[key] = per_s;
    }

private:
    struct Sample {
        uint64_t value = 0;
        int64_t at_ms = 0;
    };
    std::mutex mu_;
    std::map<std::string, Sample> samples_;
    std::map<std::string, json> last_;
};

uint64_t counter(const json& stats, const char* key) {
    auto it = stats.find(key);
    return it != stats.end() && it->is_number_unsigned() ? it->get<uint64_t>()
           : it != stats.end() && it->is_number_integer() && it->get<int64_t>() > 0
               ? static_cast<uint64_t>(it->get<int64_t>())
               : 0;
}

}  // namespace

void ManagerApi::addServiceRoutes() {
    auto rates = std::make_shared<RateSampler>();
    add(
        "GET", "/api/v1/services", Role::kReadOnly,
        [this, rates](const ApiRequest&, const Session&) {
            cluster::ClusterClient* cluster = services_.cluster;
            if (!cluster) return noCluster();
            const int64_t now = auth_.now();
            json discovery = json::array();
            for (const auto& replica : cluster->options().discovery) {
                auto s = cluster->probe(replica, "/healthz");
                json one = {{"address", replica}, {"healthy", s.ok()}};
                if (!s.ok()) one["error"] = s.message();
                discovery.push_back(std::move(one));
            }

            json centers = json::array();
            std::string problem;
            for (const auto& c : cluster->centers(&problem)) {
                json one = {{"address", c.api}, {"grpc", c.grpc}, {"status", c.status}};
                auto stats = cluster->call(c.api, "GET", "/stats");
                one["healthy"] = stats.ok();
                if (stats.ok() && stats->is_object()) {
                    one["agents"] = stats->value("agents", 0);
                    one["records_total"] = counter(*stats, "records_total");
                    one["errors_total"] = counter(*stats, "errors_total");
                    one["records_per_s"] = rates->rate("center records " + c.api,
                                                       counter(*stats, "records_total"), now);
                    one["errors_per_s"] =
                        rates->rate("center errors " + c.api, counter(*stats, "errors_total"), now);
                } else {
                    if (!stats.ok()) one["error"] = stats.message();
                    if (c.weight >= 0) one["agents"] = c.weight;  // as registered
                }
                centers.push_back(std::move(one));
            }

            json hubs = json::array();
            auto hub_list = cluster->instances(cluster->options().hub_name);
            if (hub_list.ok()) {
                for (const auto& h : *hub_list) {
                    const std::string address = h.address();
                    json one = {{"address", address}, {"status", h.status}};
                    auto stats = cluster->call(address, "GET", "/hub/stats");
                    one["healthy"] =
                        stats.ok() && stats->is_object() && stats->value("healthy", false);
                    if (stats.ok() && stats->is_object()) {
                        one["lag_ms"] = stats->value("lag_ms", int64_t{0});
                        one["rules"] = stats->value("rules", 0);
                        one["records_total"] = counter(*stats, "records");
                        one["alerts_total"] = counter(*stats, "alerts");
                        one["events_per_s"] =
                            rates->rate("hub records " + address, counter(*stats, "records"), now);
                        one["alerts_per_s"] =
                            rates->rate("hub alerts " + address, counter(*stats, "alerts"), now);
                    } else if (!stats.ok()) {
                        one["error"] = stats.message();
                    }
                    hubs.push_back(std::move(one));
                }
            }

            json managers = json::array();
            auto manager_list = cluster->instances(cluster->options().manager_name);
            if (manager_list.ok()) {
                for (const auto& m : *manager_list) {
                    auto s = cluster->probe(m.address(), "/healthz");
                    json one = {
                        {"address", m.address()}, {"status", m.status}, {"healthy", s.ok()}};
                    if (!s.ok()) one["error"] = s.message();
                    managers.push_back(std::move(one));
                }
            }
            json data = {{"discovery", std::move(discovery)},
                         {"centers", std::move(centers)},
                         {"hubs", std::move(hubs)},
                         {"managers", std::move(managers)}};
            // Why hubs or managers may be missing: discovery did not answer.
            if (!problem.empty()) {
                data["error"] = problem;
            } else if (!hub_list.ok()) {
                data["error"] = hub_list.message();
            }
            return ApiReply::ok(std::move(data));
        },
        Body::kRaw);

    // Ends agents' streams on one center (its POST /conn/reset) so that they reconnect through
    // discovery, which sends them to the least-loaded center.
    add("POST", "/api/v1/services/centers/rebalance", Role::kAdmin,
        [this](const ApiRequest& req, const Session& s) {
            JsonFields f(req.json);
            std::string center = f.string("center", true, 300);
            const bool by_ids = req.json.is_object() && req.json.contains("agent_ids");
            std::vector<std::string> ids;
            int64_t count = 0;
            if (by_ids) {
                ids = agentIdsField(f, "agent_ids", true, kMaxResetHosts);
                if (f.ok() && ids.empty()) f.fail("agent_ids", "must name at least one host");
            } else {
                count = f.integer("count", true, 1, 1000000);
            }
            if (!f.ok()) return f.badRequest();
            cluster::ClusterClient* cluster = services_.cluster;
            if (!cluster) return noCluster();
            bool known = false;
            for (const auto& c : cluster->centers()) known = known || c.api == center;
            if (!known) {
                return ApiReply::notFound("no center with admin API " + center +
                                          " (GET /api/v1/services lists them)");
            }
            json body = by_ids ? json{{"type", "strict"}, {"id_list", ids}}
                               : json{{"type", "random"}, {"count", count}};
            auto answer = cluster->call(center, "POST", "/conn/reset", body.dump());
            if (!answer.ok()) return ApiReply::error(502, answer.message());
            json detail = body;
            detail["reset"] =
                answer->is_object() ? answer->value("reset", json::array()) : json::array();
            audit(s.username, "center.rebalance", center, detail);
            json data = answer->is_object() ? *answer : json::object();
            data["center"] = center;
            return ApiReply::ok(std::move(data));
        });
}

}  // namespace vigil::manager::api
