// vigil-manager's REST API (/api/v1/..., DESIGN.md §3 and §5): login, sessions, users, hosts,
// alerts and the audit log over the Store, on an ApiRouter (server/common/api_router.h). Every
// route but login, the OpenAPI document, /healthz and /metrics needs "Authorization: Bearer
// <token>" (401 otherwise) and a role allowed to use it (403 otherwise); every change is written
// to the audit log. docs/manager.md lists the routes.
// Thread-safety: construct (which registers the routes) before the router serves; the handlers
// then run concurrently (the store and the authenticator are thread-safe).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/common/api_router.h"
#include "server/manager/auth/authenticator.h"
#include "server/manager/store/store.h"

namespace vigil::manager::api {

struct RouteInfo {
    std::string method;
    std::string pattern;  // router pattern, ":name" segments
    bool open = false;    // no session needed
};

class ManagerApi {
public:
    // Registers the routes on `router`. `store`, `auth` and `router` must outlive this object.
    ManagerApi(Store& store, auth::Authenticator& auth, server::ApiRouter& router);
    ManagerApi(const ManagerApi&) = delete;
    ManagerApi& operator=(const ManagerApi&) = delete;

    // Every route registered, in order (the OpenAPI test walks them).
    const std::vector<RouteInfo>& routes() const { return routes_; }

private:
    using Handler = std::function<server::ApiReply(const server::ApiRequest&, const Session&)>;

    // A route needing a session of `min_role` or a more powerful one (admin > operator >
    // read_only).
    void add(const std::string& method, const std::string& pattern, Role min_role, Handler handler,
             server::Body body = server::Body::kJson);
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

    Store& store_;
    auth::Authenticator& auth_;
    server::ApiRouter& router_;
    std::vector<RouteInfo> routes_;
};

// The OpenAPI 3 document served at /api/v1/openapi.json.
nlohmann::json openApiDocument();
// "/api/v1/users/:name" as OpenAPI spells it: "/api/v1/users/{name}".
std::string openApiPath(const std::string& pattern);

}  // namespace vigil::manager::api
