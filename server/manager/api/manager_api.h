// vigil-manager's REST API (/api/v1/..., DESIGN.md §3 and §5): login, sessions, users, hosts,
// alerts and the audit log over the Store, on an ApiRouter (server/common/api_router.h). Every
// route but login, the OpenAPI document, /healthz and /metrics needs "Authorization: Bearer
// <token>" (401 otherwise) and a role allowed to use it (403 otherwise); every change is written
// to the audit log. docs/manager.md lists the routes.
// Thread-safety: construct (which registers the routes) before the router serves; the handlers
// then run concurrently (the store and the authenticator are thread-safe).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/common/api_router.h"
#include "server/manager/api/event_stream.h"
#include "server/manager/auth/authenticator.h"
#include "server/manager/cluster/cluster_client.h"
#include "server/manager/rules/hub_reloader.h"
#include "server/manager/rules/rule_library.h"
#include "server/manager/store/store.h"

namespace vigil::manager::api {

// What the rule, whitelist and event routes use besides the store; a null member makes its
// routes answer 503 (not configured). Each must outlive the ManagerApi.
struct ManagerServices {
    rules::RuleLibrary* rules = nullptr;  // rules.dir
    rules::HubReloader* hubs = nullptr;   // rules.hubs
    EventBroadcaster* events = nullptr;
    // Tasks, plugin-config pushes and services (cluster.*); null: those routes answer 503.
    cluster::ClusterClient* cluster = nullptr;
    std::chrono::milliseconds keepalive{15000};  // ": keepalive" comments of the event stream
};

struct RouteInfo {
    std::string method;
    std::string pattern;  // router pattern, ":name" segments
    bool open = false;    // no session needed
};

class ManagerApi {
public:
    // Registers the routes on `router`. `store`, `auth` and `router` must outlive this object.
    ManagerApi(Store& store, auth::Authenticator& auth, server::ApiRouter& router,
               ManagerServices services = {});
    ManagerApi(const ManagerApi&) = delete;
    ManagerApi& operator=(const ManagerApi&) = delete;

    // Every route registered, in order (the OpenAPI test walks them).
    const std::vector<RouteInfo>& routes() const { return routes_; }

private:
    using Handler = std::function<server::ApiReply(const server::ApiRequest&, const Session&)>;

    // A route needing a session of `min_role` or a more powerful one (admin > operator >
    // read_only).
    // `query_token`: also accept the token as ?token= (EventSource cannot set headers).
    void add(const std::string& method, const std::string& pattern, Role min_role, Handler handler,
             server::Body body = server::Body::kJson, bool query_token = false);
    void addOpen(const std::string& method, const std::string& pattern, server::ApiHandler handler,
                 server::Body body = server::Body::kJson);
    // Appends to the audit log; a failure is logged and counted (the change itself is done).
    void audit(const std::string& username, const std::string& action, const std::string& target,
               const nlohmann::json& detail);

    void addAuthRoutes();
    void addUserRoutes();
    void addHostRoutes();
    void addAlertRoutes();
    void addAuditRoutes();
    void addTaskRoutes();     // task_routes.cpp
    void addGroupRoutes();    // group_routes.cpp (and the centers' /internal/v1/plugin-config)
    void addServiceRoutes();  // service_routes.cpp
    void addRuleRoutes();     // rule_routes.cpp: rules, packs, reload, whitelist from an alert
    void addExportRoutes();   // export_routes.cpp
    void addEventRoutes();    // event_routes.cpp
    // After a change of the managed rules: every hub's reload result (JSON array).
    nlohmann::json reloadHubs();

    Store& store_;
    auth::Authenticator& auth_;
    server::ApiRouter& router_;
    ManagerServices services_;
    std::vector<RouteInfo> routes_;
};

// The OpenAPI 3 document served at /api/v1/openapi.json.
nlohmann::json openApiDocument();
// "/api/v1/users/:name" as OpenAPI spells it: "/api/v1/users/{name}".
std::string openApiPath(const std::string& pattern);

}  // namespace vigil::manager::api
