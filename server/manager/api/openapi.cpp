// The OpenAPI 3 document of the manager's REST API, written by hand next to the routes it
// describes (manager_api_test checks that every registered route is in it).
#include <utility>

#include "server/manager/api/manager_api.h"

namespace vigil::manager::api {

using nlohmann::json;

namespace {

json queryParam(const char* name, const char* type, const char* description) {
    return {{"name", name},
            {"in", "query"},
            {"required", false},
            {"description", description},
            {"schema", {{"type", type}}}};
}

json pathParam(const char* name, const char* description) {
    return {{"name", name},
            {"in", "path"},
            {"required", true},
            {"description", description},
            {"schema", {{"type", "string"}}}};
}

json listParams(std::initializer_list<json> own) {
    json out = json::array();
    for (const auto& p : own) out.push_back(p);
    out.push_back(queryParam("limit", "integer", "Page size, 1-1000 (default 50)"));
    out.push_back(queryParam("cursor", "string", "next_cursor of the previous page"));
    return out;
}

json jsonBody(json properties, std::initializer_list<const char*> required) {
    json schema = {{"type", "object"}, {"properties", std::move(properties)}};
    if (required.size() > 0) schema["required"] = json(required);
    return {{"required", required.size() > 0},
            {"content", {{"application/json", {{"schema", std::move(schema)}}}}}};
}

json str() {
    return {{"type", "string"}};
}
json boolean() {
    return {{"type", "boolean"}};
}
json strEnum(std::initializer_list<const char*> values) {
    return {{"type", "string"}, {"enum", json(values)}};
}

// One operation. `role`: the least role allowed, empty for an open route.
json op(const char* summary, const char* role, json parameters = json::array(),
        json body = nullptr) {
    json o = {{"summary", summary},
              {"responses",
               {{"200", {{"$ref", "#/components/responses/Ok"}}},
                {"400", {{"$ref", "#/components/responses/Error"}}}}}};
    if (std::string(role).empty()) {
        o["security"] = json::array();
    } else {
        o["description"] = std::string("Needs role ") + role + " or a more powerful one.";
        o["responses"]["401"] = {{"$ref", "#/components/responses/Error"}};
        o["responses"]["403"] = {{"$ref", "#/components/responses/Error"}};
    }
    if (!parameters.empty()) o["parameters"] = std::move(parameters);
    if (!body.is_null()) o["requestBody"] = std::move(body);
    return o;
}

}  // namespace

std::string openApiPath(const std::string& pattern) {
    std::string out;
    size_t i = 0;
    while (i < pattern.size()) {
        if (pattern[i] == ':' && i > 0 && pattern[i - 1] == '/') {
            size_t j = pattern.find('/', i);
            if (j == std::string::npos) j = pattern.size();
            out += "{" + pattern.substr(i + 1, j - i - 1) + "}";
            i = j;
        } else {
            out += pattern[i++];
        }
    }
    return out;
}

json openApiDocument() {
    const json severities =
        queryParam("severity", "string", "Comma-separated: info, low, medium, high, critical");
    const json statuses =
        queryParam("status", "string", "Comma-separated: new, confirmed, false_positive, resolved");
    json paths = json::object();
    paths["/api/v1/auth/login"]["post"] =
        op("Log in: a session token (Authorization: Bearer) and its expiry. Failed logins are "
           "limited per username and per address (429 with a Retry-After header and "
           "data.retry_after_s).",
           "", json::array(),
           jsonBody({{"username", str()}, {"password", str()}}, {"username", "password"}));
    paths["/api/v1/auth/login"]["post"]["responses"]["401"] = {
        {"$ref", "#/components/responses/Error"}};
    paths["/api/v1/auth/login"]["post"]["responses"]["429"] = {
        {"$ref", "#/components/responses/Error"}};
    paths["/api/v1/auth/logout"]["post"] = op("End this session", "read_only");
    paths["/api/v1/auth/me"]["get"] = op("The session's user, role and expiry", "read_only");

    paths["/api/v1/users"]["get"] =
        op("List users", "admin",
           listParams({queryParam("role", "string", "admin, operator or read_only"),
                       queryParam("disabled", "string", "true or false"),
                       queryParam("q", "string", "Part of the username, any case"),
                       queryParam("sort", "string",
                                  "username (default), -username, created_at_ms, "
                                  "-created_at_ms")}));
    paths["/api/v1/users"]["post"] =
        op("Create a user (password of 8 bytes or more; role defaults to read_only)", "admin",
           json::array(),
           jsonBody({{"username", str()},
                     {"password", str()},
                     {"role", strEnum({"admin", "operator", "read_only"})},
                     {"disabled", boolean()}},
                    {"username", "password"}));
    paths["/api/v1/users/{name}"]["patch"] =
        op("Change a user's role, password or disabled flag (a new password or disabling ends "
           "the user's sessions; the last enabled admin cannot be demoted)",
           "admin", json::array({pathParam("name", "Username")}),
           jsonBody({{"role", strEnum({"admin", "operator", "read_only"})},
                     {"password", str()},
                     {"disabled", boolean()}},
                    {}));
    paths["/api/v1/users/{name}"]["delete"] = op("Delete a user and their sessions", "admin",
                                                 json::array({pathParam("name", "Username")}));

    paths["/api/v1/hosts"]["get"] =
        op("List hosts (with online/offline counts)", "read_only",
           listParams({queryParam("state", "string", "any (default), online or offline"),
                       queryParam("prefix", "string", "Hostname prefix (case-sensitive)"),
                       queryParam("sort", "string", "hostname (default) or last_heartbeat")}));
    paths["/api/v1/hosts/offline"]["delete"] =
        op("Delete offline hosts: those listed, or every host offline now (online hosts are "
           "kept)",
           "operator", json::array(),
           jsonBody({{"agent_ids", {{"type", "array"}, {"items", str()}}}}, {}));
    paths["/api/v1/hosts/{id}"]["get"] =
        op("A host with its plugins and recent alerts", "read_only",
           json::array({pathParam("id", "Agent id")}));

    paths["/api/v1/alerts"]["get"] = op(
        "List alerts, newest (or most severe) first", "read_only",
        listParams({severities, statuses, queryParam("rule_id", "string", "Rule id"),
                    queryParam("agent_id", "string", "Agent id"),
                    queryParam("from", "integer", "time_ms >= from (ms since the epoch)"),
                    queryParam("to", "integer", "time_ms < to (ms since the epoch)"),
                    queryParam("q", "string", "Substring of rule name, hostname or command line"),
                    queryParam("sort", "string", "time (default) or severity")}));
    paths["/api/v1/alerts/stats"]["get"] =
        op("Alert counts: by severity, per bucket, top rules and hosts, by status", "read_only",
           json::array({queryParam("from", "integer", "Start, ms (default: 24 h ago)"),
                        queryParam("to", "integer", "End, ms (default: now)"),
                        queryParam("bucket", "integer", "Chart bucket, whole hours in ms"),
                        queryParam("top", "integer", "Length of the top lists, 1-100")}));
    paths["/api/v1/alerts/{id}"]["get"] =
        op("An alert with the hub's JSON, process tree, description and suggestion", "read_only",
           json::array({pathParam("id", "Alert id")}));
    paths["/api/v1/alerts/{id}"]["patch"] =
        op("Set an alert's status (recorded in the audit log)", "operator",
           json::array({pathParam("id", "Alert id")}),
           jsonBody({{"status", strEnum({"new", "confirmed", "false_positive", "resolved"})},
                     {"comment", str()}},
                    {"status"}));

    paths["/api/v1/audit"]["get"] =
        op("The audit log, newest first (or oldest)", "read_only",
           listParams({queryParam("user", "string", "Username"),
                       queryParam("action", "string", "e.g. alert.status, user.create"),
                       queryParam("target", "string", "What was changed: a user, an alert id..."),
                       queryParam("sort", "string", "newest (default) or oldest"),
                       queryParam("from", "integer", "ms since the epoch"),
                       queryParam("to", "integer", "ms since the epoch")}));

    // Rules, whitelists, export and events (rule_routes.cpp, export_routes.cpp,
    // event_routes.cpp; docs/manager.md "Rules", "Export", "Events").
    json alert_filters = paths["/api/v1/alerts"]["get"]["parameters"];
    alert_filters.erase(alert_filters.end() - 2, alert_filters.end());  // no limit, cursor
    alert_filters.push_back(queryParam("format", "string", "csv (default), json or ndjson"));
    alert_filters.push_back(
        queryParam("max", "integer", "At most this many alerts (default 100000)"));
    paths["/api/v1/alerts/export"]["get"] =
        op("Export alerts (the list's filters), streamed as an attachment: CSV (RFC 4180, "
           "header row), a JSON array or NDJSON",
           "read_only", std::move(alert_filters));
    paths["/api/v1/alerts/{id}/whitelist"]["post"] =
        op("Whitelist the alert's record for its rule (exact values of the chosen fields) in "
           "the managed rules, reload the hubs, mark the alert false_positive",
           "operator", json::array({pathParam("id", "Alert id")}),
           jsonBody({{"fields", {{"type", "array"}, {"items", str()}}}, {"comment", str()}},
                    {"fields"}));
    paths["/api/v1/rules"]["get"] =
        op("Rules the hubs load: the managed rules directory (source managed, with packs and "
           "load diagnostics) and rules.hub_paths (source builtin)",
           "read_only",
           listParams(
               {queryParam("q", "string", "Substring of id, name or description"),
                queryParam("kind", "string", "vigil or sigma"),
                queryParam("source", "string", "builtin or managed"),
                queryParam("enabled", "string", "true or false"),
                queryParam("severity", "string", "Comma list of severities"),
                queryParam("sort", "string", "The hubs' order (default), id, -id, name or pack")}));
    paths["/api/v1/rules/{id}"]["patch"] =
        op("Enable or disable a managed or builtin rule (the managed directory's .disabled "
           "list; 409 when a list of hub_paths disables it); reloads the hubs",
           "operator", json::array({pathParam("id", "Rule id")}),
           jsonBody({{"enabled", boolean()}}, {"enabled"}));
    paths["/api/v1/rules/packs"]["post"] = op(
        "Install (or replace) a pack: the body is a YAML rule file or a .tar.gz of rule "
        "files, checked by vigil-hub check (400 with its diagnostics), installed atomically; "
        "reloads the hubs",
        "admin", json::array({queryParam("name", "string", "Pack name, [A-Za-z0-9._-]")}),
        json{{"required", true},
             {"content",
              {{"application/yaml", {{"schema", str()}}},
               {"application/gzip", {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}});
    paths["/api/v1/rules/packs/{name}"]["delete"] =
        op("Remove a pack of the managed directory (builtin rules are not packs; 409 when the "
           "other rules need it); reloads the hubs",
           "admin", json::array({pathParam("name", "Pack name")}));
    paths["/api/v1/rules/reload"]["post"] =
        op("POST /hub/reload to every hub; each hub's result", "operator");
    paths["/api/v1/events"]["get"] =
        op("Server-sent events (text/event-stream): alert, host, \": keepalive\" every 15 s; "
           "the token may be passed as ?token= (EventSource)",
           "read_only", json::array({queryParam("token", "string", "Session token")}));

    // Tasks, host groups (plugin configs), services (task_routes.cpp, group_routes.cpp,
    // service_routes.cpp); 503 without a cluster configured.
    const json ids = {{"type", "array"}, {"items", str()}};
    const json integer = {{"type", "integer"}};
    paths["/api/v1/tasks"]["get"] =
        op("List tasks, newest first (or oldest), with result counts by status", "read_only",
           listParams({queryParam("agent_id", "string", "Tasks sent to this host"),
                       queryParam("created_by", "string", "Username"),
                       queryParam("name", "string", "The plugin"),
                       queryParam("data_type", "integer", "The task's data_type"),
                       queryParam("from", "integer", "Created at or after (ms since the epoch)"),
                       queryParam("to", "integer", "Created before (ms since the epoch)"),
                       queryParam("sort", "string", "newest (default) or oldest")}));
    paths["/api/v1/tasks"]["post"] =
        op("Send a task to hosts through the center each is connected to: one result per host, "
           "sent, unreachable (on no center) or send_failed at once, then succeeded or failed "
           "from the agent's 5100 record (201)",
           "operator", json::array(),
           jsonBody({{"agent_ids", ids},
                     {"name", str()},
                     {"data_type", integer},
                     {"data", str()},
                     {"comment", str()}},
                    {"agent_ids", "name", "data_type"}));
    paths["/api/v1/tasks/agent-restart"]["post"] = op(
        "Restart the agents (agent task 1060, which restarts their plugins too) (201)", "operator",
        json::array(), jsonBody({{"agent_ids", ids}, {"comment", str()}}, {"agent_ids"}));
    paths["/api/v1/tasks/plugin-restart"]["post"] =
        op("Restart one plugin on the hosts (agent task 1061 {name}: graceful stop, immediate "
           "start, same config; each host's 5100 result says whether it runs again) (201)",
           "operator", json::array(),
           jsonBody({{"agent_ids", ids}, {"plugin", str()}, {"comment", str()}},
                    {"agent_ids", "plugin"}));
    paths["/api/v1/tasks/{id}"]["get"] = op("A task with every host's result", "read_only",
                                            json::array({pathParam("id", "Task id")}));
    const json plugin_entry = {{"type", "object"},
                               {"properties",
                                {{"name", str()},
                                 {"version", str()},
                                 {"sha256", str()},
                                 {"type", strEnum({"exec", "tar.gz"})},
                                 {"signature", str()},
                                 {"download_urls", ids},
                                 {"detail", str()}}},
                               {"required", {"name", "version", "sha256"}}};
    paths["/api/v1/groups"]["get"] = op(
        "Host groups with their plugin sets and members (default: hosts in no group)", "read_only",
        listParams({queryParam("q", "string", "Part of the name, any case"),
                    queryParam("sort", "string",
                               "By name with default first (default), name, -name, "
                               "-updated_at_ms")}));
    paths["/api/v1/groups/{name}"]["put"] =
        op("Create (201) or replace a group: its plugin set and members (a host in another group "
           "moves); the centers apply it at once",
           "operator", json::array({pathParam("name", "Group name, 1-64 of [A-Za-z0-9_.-]")}),
           jsonBody({{"description", str()},
                     {"plugins", {{"type", "array"}, {"items", plugin_entry}}},
                     {"agent_ids", ids}},
                    {"plugins"}));
    paths["/api/v1/groups/{name}"]["delete"] =
        op("Delete a group (its hosts get the default set)", "operator",
           json::array({pathParam("name", "Group name")}));
    paths["/internal/v1/plugin-config"]["get"] =
        op("For the centers (AK/SK signed, no session): the plugin config file's structure "
           "(plugins, agents) built from the groups; 404 while no group exists",
           "");
    paths["/api/v1/services"]["get"] =
        op("Discovery replicas, centers (agents, records/s), hubs (lag, events/s, alerts/s) and "
           "managers, each with healthy and the error when unreachable",
           "read_only");
    paths["/api/v1/services/centers/rebalance"]["post"] =
        op("End agents' streams on a center (random count, or the agent_ids) so they reconnect "
           "through discovery",
           "admin", json::array(),
           jsonBody({{"center", str()}, {"count", integer}, {"agent_ids", ids}}, {"center"}));

    paths["/api/v1/openapi.json"]["get"] = op("This document", "");
    paths["/healthz"]["get"] = op("Health (503 when the store fails)", "");
    paths["/metrics"]["get"] = op("Prometheus metrics", "");

    json envelope = {{"type", "object"},
                     {"properties",
                      {{"code", {{"type", "integer"}, {"description", "0 on success"}}},
                       {"msg", str()},
                       {"data", json::object()}}}};
    return {
        {"openapi", "3.0.3"},
        {"info",
         {{"title", "vigil-manager API"},
          {"version", "1"},
          {"description",
           "Every response is {code, msg, data}; errors carry the HTTP status as code and say "
           "what is wrong in msg."}}},
        {"paths", std::move(paths)},
        {"security", json::array({{{"bearer", json::array()}}})},
        {"components",
         {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
          {"schemas", {{"Envelope", envelope}}},
          {"responses",
           {{"Ok",
             {{"description", "Success"},
              {"content",
               {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Envelope"}}}}}}}}},
            {"Error",
             {{"description", "Error: code and msg say what"},
              {"content",
               {{"application/json",
                 {{"schema", {{"$ref", "#/components/schemas/Envelope"}}}}}}}}}}}}}};
}

}  // namespace vigil::manager::api
