// vigil-discovery's HTTP handlers over the Registry.
#include "server/discovery/discovery_api.h"

#include <climits>

#include "libs/common/log.h"
#include "server/discovery/codec.h"

namespace vigil::discovery {
namespace {

using nlohmann::json;
using server::ApiReply;
using server::ApiRequest;
using server::JsonFields;

constexpr int64_t kMaxUnixSeconds = 100'000'000'000;  // year ~5000: anything larger is garbage

struct ParsedChange {
    ChangeAction action;
    Instance instance;
    int64_t age_ms;
};

}  // namespace

DiscoveryApi::DiscoveryApi(Registry& registry, ChangeSink& sink, metrics::Registry& metrics,
                           DiscoveryApiOptions options)
    : registry_(registry),
      sink_(sink),
      metrics_(metrics),
      options_(std::move(options)),
      registrations_(metrics.counter("vigil_discovery_registrations_total",
                                     "Registrations received from services")),
      evictions_(metrics.counter("vigil_discovery_evictions_total", "Instances evicted, by cause",
                                 {{"cause", "request"}})),
      sync_applied_(metrics.counter("vigil_discovery_sync_changes_total",
                                    "Changes received from peers, by result",
                                    {{"result", "applied"}})),
      sync_ignored_(metrics.counter("vigil_discovery_sync_changes_total",
                                    "Changes received from peers, by result",
                                    {{"result", "ignored"}})),
      refused_full_(
          metrics.counter("vigil_discovery_refused_full_total",
                          "Registrations refused because the registry holds max_instances")) {
    metrics.callbackGauge("vigil_discovery_instances", "Instances currently registered",
                          [this] { return static_cast<double>(registry_.size()); });
}

void DiscoveryApi::install(server::ApiRouter& router) {
    using server::Auth;
    router.post(
        "/registry/register", [this](const ApiRequest& r) { return registerInstance(r); },
        Auth::kSigned);
    router.post(
        "/registry/evict", [this](const ApiRequest& r) { return evict(r); }, Auth::kSigned);
    router.post(
        "/registry/sync", [this](const ApiRequest& r) { return sync(r); }, Auth::kSigned);
    router.get(
        "/registry/detail", [this](const ApiRequest& r) { return detail(r); }, Auth::kOpen);
    router.get(
        "/registry/list", [this](const ApiRequest& r) { return list(r); }, Auth::kOpen);
}

ApiReply DiscoveryApi::registerInstance(const ApiRequest& request) {
    JsonFields f(request.json);
    Instance instance = readInstance(f, true);
    if (!f.ok()) return f.badRequest();
    auto change = registry_.registerInstance(std::move(instance));
    if (!change) {
        refused_full_.inc();
        return ApiReply::error(503, "registry is full (" +
                                        std::to_string(registry_.options().max_instances) +
                                        " instances); raise max_instances or evict stale services");
    }
    registrations_.inc();
    sink_.publish({*change});
    return ApiReply::ok(instanceJson(change->instance, Health::kGreen));
}

ApiReply DiscoveryApi::evict(const ApiRequest& request) {
    JsonFields f(request.json);
    Instance instance = readInstance(f, false);
    if (!f.ok()) return f.badRequest();
    bool existed = false;
    Change change = registry_.evict(instance.name, instance.ip, instance.port, &existed);
    if (existed) evictions_.inc();
    sink_.publish({change});
    return ApiReply::ok(json{{"evicted", existed}});
}

ApiReply DiscoveryApi::sync(const ApiRequest& request) {
    JsonFields f(request.json);
    const std::string source = f.string("source", true, 300);
    const std::string node = f.string("node", false, 64);
    const bool wants_snapshot = f.boolean("request_snapshot", false, false);
    const json* data = f.array("data", true, options_.max_sync_items);
    if (!f.ok()) return f.badRequest();
    if (!node.empty() && node == options_.node_id) return ApiReply::ok(json{{"self", true}});

    // Validate every change before applying any: a bad batch changes nothing.
    std::vector<ParsedChange> changes;
    changes.reserve(data->size());
    const int64_t now_unix = registry_.options().unix_s();
    for (size_t i = 0; i < data->size(); ++i) {
        const std::string where = "body.data[" + std::to_string(i) + "]";
        JsonFields item((*data)[i], where);
        const std::string action = item.string("action", true, 16);
        if (item.ok() && action != "REGISTER" && action != "EVICT")
            item.fail("action", "must be REGISTER or EVICT, got \"" + action + "\"");
        const json* registry = item.object("registry", true);
        if (!item.ok()) return item.badRequest();
        JsonFields r(*registry, where + ".registry");
        ParsedChange c{
            action == "REGISTER" ? ChangeAction::kRegister : ChangeAction::kEvict, {}, 0};
        c.instance = readInstance(r, c.action == ChangeAction::kRegister);
        c.age_ms = r.integer("age_ms", false, 0, INT64_MAX / 4, -1);
        c.instance.create_at = r.integer("create_at", false, 0, kMaxUnixSeconds, 0);
        c.instance.update_at = r.integer("update_at", false, 0, kMaxUnixSeconds, 0);
        if (!r.ok()) return r.badRequest();
        if (c.age_ms < 0) {
            // A peer that sends no age (Elkeid-shaped): trust its update_at, else "just now".
            c.age_ms = c.instance.update_at > 0
                           ? std::max<int64_t>(0, now_unix - c.instance.update_at) * 1000
                           : 0;
        }
        changes.push_back(std::move(c));
    }
    size_t applied = 0;
    for (const auto& c : changes) {
        if (registry_.apply(c.action, c.instance, c.age_ms)) ++applied;
    }
    sync_applied_.inc(applied);
    sync_ignored_.inc(changes.size() - applied);
    if (wants_snapshot) {
        log::get("discovery")->info("peer {} asks for a full snapshot", source);
        sink_.snapshotRequested(source);
    }
    return ApiReply::ok(json{{"applied", applied}, {"ignored", changes.size() - applied}});
}

ApiReply DiscoveryApi::detail(const ApiRequest& request) const {
    const std::string name = request.param("name");
    if (name.empty())
        return ApiReply::badRequest("query parameter name is required (e.g. ?name=hids_svr_grpc)");
    auto count = server::intParam(request, "count", 0, 0, INT_MAX);
    if (!count.ok()) return ApiReply::badRequest(count.message());
    json data = json::array();
    for (const auto& e : registry_.detail(name, static_cast<size_t>(*count)))
        data.push_back(instanceJson(e.instance, e.health));
    return ApiReply::ok(std::move(data));
}

ApiReply DiscoveryApi::list(const ApiRequest&) const {
    json data = json::array();
    for (const auto& n : registry_.list())
        data.push_back(json{{"name", n.name}, {"count", n.count}, {"healthy", n.healthy}});
    return ApiReply::ok(std::move(data));
}

}  // namespace vigil::discovery
