// The manager API's host groups (plugin configs): groups of hosts with the plugin set they
// should run, and the signed /internal/v1/plugin-config the centers poll to apply them
// (docs/manager.md "Host groups and plugin configs", docs/center.md "Plugin configs").
#include <set>

#include "libs/common/log.h"
#include "server/manager/api/api_views.h"
#include "server/manager/api/cluster_views.h"
#include "server/manager/api/manager_api.h"

namespace vigil::manager::api {

using nlohmann::json;
using server::ApiReply;
using server::ApiRequest;
using server::Auth;
using server::Body;
using server::JsonFields;

namespace {

constexpr size_t kMaxGroupHosts = 100000;
constexpr size_t kMaxGroupPlugins = 64;
constexpr size_t kMaxDescriptionBytes = 1024;
constexpr size_t kMaxDetailBytes = 64 * 1024;
constexpr size_t kMaxUrls = 16;

bool hex64(const std::string& s) {
    if (s.size() != 64) return false;
    for (unsigned char c : s) {
        if (!std::isxdigit(c)) return false;
    }
    return true;
}

// One plugin entry as the centers' plugin config takes it (server/center/plugin_config.h): the
// same checks, so that a group the manager accepts is never refused by a center.
json pluginEntry(const json& item, const std::string& where, std::string& problem) {
    JsonFields f(item, where);
    json out;
    out["name"] = f.string("name", true, 128);
    out["version"] = f.string("version", true, 128);
    out["sha256"] = f.string("sha256", true, 64);
    std::string type = f.string("type", false, 16);
    out["type"] = type.empty() ? "exec" : type;
    std::string signature = f.string("signature", false, 64);
    if (!signature.empty()) out["signature"] = signature;
    out["detail"] = f.string("detail", false, kMaxDetailBytes);
    json urls = json::array();
    if (const json* list = f.array("download_urls", false, kMaxUrls)) {
        for (const auto& u : *list) {
            const bool http =
                u.is_string() && (u.get_ref<const std::string&>().rfind("http://", 0) == 0 ||
                                  u.get_ref<const std::string&>().rfind("https://", 0) == 0);
            if (!http) {
                f.fail("download_urls", "every entry must be an http:// or https:// URL");
                break;
            }
            urls.push_back(u);
        }
    }
    out["download_urls"] = std::move(urls);
    if (f.ok() && !validName(out["name"], 128, false)) {
        f.fail("name", "must be 1-128 of [A-Za-z0-9_-]");
    }
    if (f.ok() && out["version"].get_ref<const std::string&>().empty()) {
        f.fail("version", "is required");
    }
    if (f.ok() && !hex64(out["sha256"])) f.fail("sha256", "must be 64 hex digits");
    if (f.ok() && !signature.empty() && !hex64(signature)) {
        f.fail("signature", "must be 64 hex digits");
    }
    if (f.ok() && out["type"] != "exec" && out["type"] != "tar.gz") {
        f.fail("type", "must be exec or tar.gz");
    }
    if (!f.ok()) problem = f.problem();
    return out;
}

json parsedPlugins(const std::string& text) {
    json v = json::parse(text, nullptr, false);
    return v.is_array() ? v : json::array();
}

json groupJson(const HostGroup& g) {
    return {{"name", g.name},
            {"description", g.description},
            {"plugins", parsedPlugins(g.plugins_json)},
            {"agent_ids", g.agent_ids},
            {"updated_by", g.updated_by},
            {"updated_at_ms", g.updated_at_ms}};
}

}  // namespace

void ManagerApi::addGroupRoutes() {
    // After a change: every center re-reads the plugin config from the manager now and pushes
    // the agents whose set changed. Best effort: a center that misses it polls anyway.
    auto pushToCenters = [this]() {
        json out = json::array();
        if (!services_.cluster) return out;
        std::string problem;
        for (const auto& c : services_.cluster->centers(&problem)) {
            auto r = services_.cluster->call(c.api, "POST", "/plugins/reload", "{}");
            json one = {{"center", c.api}};
            if (r.ok()) {
                one["pushed"] = r->is_object() ? r->value("pushed", 0) : 0;
            } else {
                one["error"] = r.message();
                VIGIL_LOG_RATE_LIMITED(log::get("manager"), spdlog::level::warn,
                                       "plugin config not pushed now: {}", r.message());
            }
            out.push_back(std::move(one));
        }
        if (!problem.empty()) out.push_back({{"center", "discovery"}, {"error", problem}});
        return out;
    };

    add(
        "GET", "/api/v1/groups", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            auto q = textParam(req, "q", 128);  // part of the name, any case
            if (!q.ok()) return ApiReply::badRequest(q.message());
            auto groups = store_.listHostGroups();
            if (!groups.ok()) return storeError(groups.error());
            json items = json::array();
            bool has_default = false;
            for (const auto& g : *groups) {
                has_default = has_default || g.name == kDefaultGroup;
                items.push_back(groupJson(g));
            }
            if (!has_default) {
                HostGroup d;
                d.name = kDefaultGroup;
                d.description = "hosts in no other group";
                items.insert(items.begin(), groupJson(d));
            }
            if (!q->empty()) {
                const std::string needle = lowerAscii(*q);
                json kept = json::array();
                for (auto& g : items) {
                    if (lowerAscii(g["name"].get<std::string>()).find(needle) !=
                        std::string::npos) {
                        kept.push_back(std::move(g));
                    }
                }
                items = std::move(kept);
            }
            // Default: the store's order (by name, "default" first).
            auto page = memoryPage(std::move(items), req, {"", "name", "-name", "-updated_at_ms"});
            if (!page.ok()) return ApiReply::badRequest(page.message());
            return ApiReply::ok(std::move(*page));
        },
        Body::kRaw);

    add("PUT", "/api/v1/groups/:name", Role::kOperator,
        [this, pushToCenters](const ApiRequest& req, const Session& s) {
            HostGroup g;
            g.name = req.path_params.at("name");
            if (!validName(g.name, 64, true)) {
                return ApiReply::badRequest("group name must be 1-64 of [A-Za-z0-9_.-]");
            }
            JsonFields f(req.json);
            g.description = f.string("description", false, kMaxDescriptionBytes);
            g.agent_ids = agentIdsField(f, "agent_ids", false, kMaxGroupHosts);
            const json* list = f.array("plugins", true, kMaxGroupPlugins);
            if (!f.ok()) return f.badRequest();
            if (g.name == kDefaultGroup && !g.agent_ids.empty()) {
                return ApiReply::badRequest(
                    "body.agent_ids: the default group holds every host in no other group; it "
                    "has no members of its own");
            }
            json plugins = json::array();
            std::set<std::string> names;
            for (size_t i = 0; i < list->size(); ++i) {
                std::string problem;
                json e =
                    pluginEntry((*list)[i], "body.plugins[" + std::to_string(i) + "]", problem);
                if (!problem.empty()) return ApiReply::badRequest(problem);
                if (!names.insert(e["name"].get<std::string>()).second) {
                    return ApiReply::badRequest("body.plugins[" + std::to_string(i) +
                                                "].name: plugin '" + e["name"].get<std::string>() +
                                                "' is listed twice");
                }
                plugins.push_back(std::move(e));
            }
            g.plugins_json = plugins.dump();
            g.updated_by = s.username;
            g.updated_at_ms = auth_.now();
            auto created = store_.putHostGroup(g);
            if (!created.ok()) return storeError(created.error());
            audit(s.username, "group.put", g.name,
                  {{"created", *created}, {"plugins", names}, {"hosts", g.agent_ids.size()}});
            auto stored = store_.getHostGroup(g.name);
            if (!stored.ok()) return storeError(stored.error());
            json data = groupJson(*stored ? **stored : g);
            data["centers"] = pushToCenters();
            ApiReply a = ApiReply::ok(std::move(data));
            if (*created) a.status = 201;
            return a;
        });

    add(
        "DELETE", "/api/v1/groups/:name", Role::kOperator,
        [this, pushToCenters](const ApiRequest& req, const Session& s) {
            const std::string& name = req.path_params.at("name");
            auto deleted = store_.deleteHostGroup(name);
            if (!deleted.ok()) return storeError(deleted.error());
            if (!*deleted) return ApiReply::notFound("no group " + name);
            audit(s.username, "group.delete", name, json::object());
            return ApiReply::ok({{"deleted", name}, {"centers", pushToCenters()}});
        },
        Body::kRaw);

    // What the centers apply (plugins.manager in their configuration): the plugin config file's
    // structure, `plugins` for hosts in no group and `agents` for the members of each group.
    // Signed with the cluster keys; 404 while no group exists, so that a center never pushes an
    // empty set (which would stop every plugin) before anyone configured one.
    const std::string internal = "/internal/v1/plugin-config";
    routes_.push_back({"GET", internal, false});  // not open: signed instead of a session
    router_.route(
        "GET", internal,
        [this](const ApiRequest&) {
            auto groups = store_.listHostGroups();
            if (!groups.ok()) return storeError(groups.error());
            if (groups->empty()) {
                return ApiReply::notFound("no host group is defined yet (PUT /api/v1/groups/...)");
            }
            json out = {{"plugins", json::array()}, {"agents", json::object()}};
            for (const auto& g : *groups) {
                json plugins = parsedPlugins(g.plugins_json);
                if (g.name == kDefaultGroup) out["plugins"] = plugins;
                for (const auto& id : g.agent_ids) out["agents"][id] = {{"plugins", plugins}};
            }
            return ApiReply::ok(std::move(out));
        },
        Auth::kSigned, Body::kRaw);
}

}  // namespace vigil::manager::api
