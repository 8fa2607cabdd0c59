// The manager API's session check, audit helper, and the auth and user routes.
#include "server/manager/api/manager_api.h"

#include "libs/common/log.h"
#include "server/manager/api/api_views.h"

namespace vigil::manager::api {

using nlohmann::json;
using server::ApiReply;
using server::ApiRequest;
using server::Auth;
using server::Body;
using server::JsonFields;

namespace {

constexpr size_t kMinPasswordBytes = 8;
constexpr size_t kMaxUsernameBytes = 64;

// The token of "Authorization: Bearer <token>"; empty when absent or of another scheme.
std::string bearerToken(const ApiRequest& request) {
    std::string h = request.header("Authorization");
    constexpr std::string_view kScheme = "bearer ";
    if (h.size() <= kScheme.size()) return {};
    for (size_t i = 0; i < kScheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(h[i])) != kScheme[i]) return {};
    }
    size_t start = h.find_first_not_of(' ', kScheme.size());
    return start == std::string::npos ? std::string() : h.substr(start);
}

// Roles are ordered by power: admin (0) > operator (1) > read_only (2).
bool allowed(Role role, Role min_role) {
    return static_cast<int>(role) <= static_cast<int>(min_role);
}

bool validUsername(const std::string& name) {
    if (name.empty() || name.size() > kMaxUsernameBytes) return false;
    for (unsigned char c : name) {
        if (!std::isalnum(c) && c != '.' && c != '_' && c != '-' && c != '@') return false;
    }
    return true;
}

// Whether removing `username`'s admin powers (role change, disable, delete) leaves no enabled
// admin.
Result<bool> lastEnabledAdmin(Store& store, const std::string& username) {
    auto users = store.listUsers();
    if (!users.ok()) return users.error();
    size_t admins = 0;
    bool is_one = false;
    for (const auto& u : *users) {
        if (u.role != Role::kAdmin || u.disabled) continue;
        ++admins;
        if (u.username == username) is_one = true;
    }
    return is_one && admins == 1;
}

}  // namespace

ManagerApi::ManagerApi(Store& store, auth::Authenticator& auth, server::ApiRouter& router,
                       ManagerServices services)
    : store_(store), auth_(auth), router_(router), services_(services) {
    addAuthRoutes();
    addUserRoutes();
    addHostRoutes();
    addExportRoutes();  // before /alerts/:id
    addAlertRoutes();
    addRuleRoutes();
    addEventRoutes();
    addAuditRoutes();
    addTaskRoutes();
    addGroupRoutes();
    addServiceRoutes();
    addOpen(
        "GET", "/api/v1/openapi.json",
        [doc = openApiDocument().dump()](const ApiRequest&) {
            return ApiReply::text(doc, "application/json");
        },
        Body::kRaw);
    // /healthz and /metrics are the router's own; the store's health decides /healthz.
    routes_.push_back({"GET", "/healthz", true});
    routes_.push_back({"GET", "/metrics", true});
}

void ManagerApi::addOpen(const std::string& method, const std::string& pattern,
                         server::ApiHandler handler, Body body) {
    routes_.push_back({method, pattern, true});
    router_.route(method, pattern, std::move(handler), Auth::kOpen, body);
}

void ManagerApi::add(const std::string& method, const std::string& pattern, Role min_role,
                     Handler handler, Body body, bool query_token) {
    routes_.push_back({method, pattern, false});
    auto wrapped = [this, min_role, query_token,
                    handler = std::move(handler)](const ApiRequest& req) {
        std::string token = bearerToken(req);
        if (token.empty() && query_token) token = req.param("token");
        if (token.empty()) {
            return ApiReply::error(401,
                                   "authentication required: send \"Authorization: Bearer "
                                   "<token>\" (POST /api/v1/auth/login gives a token)");
        }
        auto session = auth_.authenticate(token);
        if (!session.ok()) return storeError(session.error());
        if (!*session) {
            return ApiReply::error(401, "session expired or unknown: log in again");
        }
        if (!allowed((*session)->role, min_role)) {
            return ApiReply::error(403, "role " + std::string(roleName((*session)->role)) +
                                            " may not use " + req.method + " " + req.path +
                                            " (needs " + std::string(roleName(min_role)) + ")");
        }
        return handler(req, **session);
    };
    router_.route(method, pattern, std::move(wrapped), Auth::kOpen, body);
}

void ManagerApi::audit(const std::string& username, const std::string& action,
                       const std::string& target, const json& detail) {
    AuditEntry e;
    e.time_ms = auth_.now();
    e.username = username;
    e.action = action;
    e.target = target;
    e.detail_json = detail.dump(-1, ' ', false, json::error_handler_t::replace);
    if (auto s = store_.appendAudit(e); !s.ok()) {
        router_.metrics()
            .counter("vigil_manager_audit_errors_total", "Audit entries the store refused")
            .inc();
        VIGIL_LOG_RATE_LIMITED(log::get("manager"), spdlog::level::err, "audit {} {} by {}: {}",
                               action, target, username, s.message());
    }
}

// ---- auth ---------------------------------------------------------------------------------

void ManagerApi::addAuthRoutes() {
    addOpen("POST", "/api/v1/auth/login", [this](const ApiRequest& req) {
        JsonFields f(req.json);
        std::string username = f.string("username", true, kMaxUsernameBytes);
        std::string password = f.string("password", true, auth::kMaxPasswordBytes);
        if (!f.ok()) return f.badRequest();
        const std::string ip = auth::remoteIp(req.remote);
        auto r = auth_.login(username, password, ip);
        switch (r.outcome) {
            case auth::LoginOutcome::kOk:
                audit(username, "auth.login", username, {{"remote", ip}});
                return ApiReply::ok(
                    {{"token", r.token},
                     {"expires_at_ms", r.session.expires_at_ms},
                     {"user", {{"username", username}, {"role", roleName(r.session.role)}}}});
            case auth::LoginOutcome::kBadCredentials:
                audit(username, "auth.login_failed", username, {{"remote", ip}});
                return ApiReply::error(401, "wrong username or password");
            case auth::LoginOutcome::kRateLimited: {
                int64_t seconds = (r.retry_after_ms + 999) / 1000;
                ApiReply a = ApiReply::error(
                    429, "too many failed logins for this user or address: retry in " +
                             std::to_string(seconds) + " s");
                a.data = {{"retry_after_s", seconds}};
                a.headers.emplace_back("Retry-After", std::to_string(seconds));
                return a;
            }
            case auth::LoginOutcome::kError:
                break;
        }
        return storeError(Error{r.error});
    });
    add("POST", "/api/v1/auth/logout", Role::kReadOnly,
        [this](const ApiRequest& req, const Session& s) {
            auto r = auth_.logout(bearerToken(req));
            if (!r.ok()) return storeError(r.error());
            audit(s.username, "auth.logout", s.username, json::object());
            return ApiReply::ok({{"logged_out", *r}});
        });
    add(
        "GET", "/api/v1/auth/me", Role::kReadOnly,
        [](const ApiRequest&, const Session& s) {
            return ApiReply::ok({{"username", s.username},
                                 {"role", roleName(s.role)},
                                 {"expires_at_ms", s.expires_at_ms}});
        },
        Body::kRaw);
}

// ---- users --------------------------------------------------------------------------------

void ManagerApi::addUserRoutes() {
    add(
        "GET", "/api/v1/users", Role::kAdmin,
        [this](const ApiRequest& req, const Session&) {
            // Filters: role, disabled (true/false), q (part of the name, any case).
            std::string problem;
            std::optional<Role> role;
            if (const std::string r = req.param("role"); !r.empty()) {
                role = parseRole(r);
                if (!role) problem = "query parameter role must be admin, operator or read_only";
            }
            std::optional<bool> disabled;
            read(choiceParam<std::optional<bool>>(
                     req, "disabled", {{"", std::nullopt}, {"true", true}, {"false", false}}),
                 disabled, problem);
            std::string q;
            read(textParam(req, "q", 64), q, problem);
            if (!problem.empty()) return ApiReply::badRequest(problem);
            q = lowerAscii(std::move(q));
            auto users = store_.listUsers();
            if (!users.ok()) return storeError(users.error());
            json items = json::array();
            for (const auto& u : *users) {
                if ((role && u.role != *role) || (disabled && u.disabled != *disabled) ||
                    (!q.empty() && lowerAscii(u.username).find(q) == std::string::npos)) {
                    continue;
                }
                items.push_back(userJson(u));
            }
            auto page = memoryPage(std::move(items), req,
                                   {"username", "-username", "created_at_ms", "-created_at_ms"});
            if (!page.ok()) return ApiReply::badRequest(page.message());
            return ApiReply::ok(std::move(*page));
        },
        Body::kRaw);

    add("POST", "/api/v1/users", Role::kAdmin, [this](const ApiRequest& req, const Session& s) {
        JsonFields f(req.json);
        User u;
        u.username = f.string("username", true, kMaxUsernameBytes);
        std::string password = f.string("password", true, auth::kMaxPasswordBytes);
        std::string role = f.string("role", false, 32);
        u.disabled = f.boolean("disabled", false, false);
        if (f.ok() && !validUsername(u.username)) {
            f.fail("username", "must be 1-64 letters, digits or . _ - @");
        }
        if (f.ok() && password.size() < kMinPasswordBytes) {
            f.fail("password", "must be at least 8 bytes");
        }
        auto parsed_role = role.empty() ? std::optional<Role>(Role::kReadOnly) : parseRole(role);
        if (f.ok() && !parsed_role) f.fail("role", "must be admin, operator or read_only");
        if (!f.ok()) return f.badRequest();
        u.role = *parsed_role;
        auto hash = auth_.hash(password);
        if (!hash.ok()) return ApiReply::error(500, hash.message());
        u.password_hash = *hash;
        u.created_at_ms = auth_.now();
        auto created = store_.createUser(u);
        if (!created.ok()) return storeError(created.error());
        if (!*created) return ApiReply::error(409, "user " + u.username + " already exists");
        audit(s.username, "user.create", u.username,
              {{"role", roleName(u.role)}, {"disabled", u.disabled}});
        ApiReply a = ApiReply::ok(userJson(u));
        a.status = 201;
        return a;
    });

    add("PATCH", "/api/v1/users/:name", Role::kAdmin,
        [this](const ApiRequest& req, const Session& s) {
            const std::string& name = req.path_params.at("name");
            JsonFields f(req.json);
            UserUpdate up;
            json detail = json::object();
            std::string role = f.string("role", false, 32);
            if (!role.empty()) {
                up.role = parseRole(role);
                if (!up.role) f.fail("role", "must be admin, operator or read_only");
                detail["role"] = role;
            }
            std::string password = f.string("password", false, auth::kMaxPasswordBytes);
            if (req.json.is_object() && req.json.contains("password")) {
                if (f.ok() && password.size() < kMinPasswordBytes) {
                    f.fail("password", "must be at least 8 bytes");
                }
                detail["password_changed"] = true;
            }
            if (req.json.is_object() && req.json.contains("disabled")) {
                up.disabled = f.boolean("disabled", true);
                detail["disabled"] = *up.disabled;
            }
            if (f.ok() && detail.empty()) {
                f.fail("role", "nothing to change: give role, password or disabled");
            }
            if (!f.ok()) return f.badRequest();
            bool demotes = (up.role && *up.role != Role::kAdmin) || up.disabled.value_or(false);
            if (demotes) {
                auto last = lastEnabledAdmin(store_, name);
                if (!last.ok()) return storeError(last.error());
                if (*last) {
                    return ApiReply::error(409, "user " + name +
                                                    " is the last enabled admin; make another "
                                                    "admin first");
                }
            }
            if (detail.contains("password_changed")) {
                auto hash = auth_.hash(password);
                if (!hash.ok()) return ApiReply::error(500, hash.message());
                up.password_hash = *hash;
            }
            auto updated = store_.updateUser(name, up);
            if (!updated.ok()) return storeError(updated.error());
            if (!*updated) return ApiReply::notFound("no user " + name);
            // A new password or a disabled account ends the user's sessions.
            if (up.password_hash || up.disabled.value_or(false)) {
                auto ended = store_.deleteUserSessions(name);
                if (!ended.ok()) return storeError(ended.error());
                detail["sessions_ended"] = *ended;
            }
            audit(s.username, "user.update", name, detail);
            auto user = store_.getUser(name);
            if (!user.ok()) return storeError(user.error());
            return ApiReply::ok(*user ? userJson(**user) : json(nullptr));
        });

    add(
        "DELETE", "/api/v1/users/:name", Role::kAdmin,
        [this](const ApiRequest& req, const Session& s) {
            const std::string& name = req.path_params.at("name");
            auto last = lastEnabledAdmin(store_, name);
            if (!last.ok()) return storeError(last.error());
            if (*last) {
                return ApiReply::error(409, "user " + name + " is the last enabled admin");
            }
            auto deleted = store_.deleteUser(name);
            if (!deleted.ok()) return storeError(deleted.error());
            if (!*deleted) return ApiReply::notFound("no user " + name);
            audit(s.username, "user.delete", name, json::object());
            return ApiReply::ok({{"deleted", name}});
        },
        Body::kRaw);
}

}  // namespace vigil::manager::api
