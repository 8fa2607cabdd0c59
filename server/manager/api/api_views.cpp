// JSON views of store rows and the shared query parameters of the manager's lists.
#include "server/manager/api/api_views.h"

#include <algorithm>
#include <cctype>

#include "libs/common/log.h"

namespace vigil::manager::api {

using nlohmann::json;

namespace {

// Stored JSON (plugins, alert bodies, audit details) parsed back; null when unreadable.
json parseStored(const std::string& text, json fallback) {
    if (text.empty()) return fallback;
    json v = json::parse(text, nullptr, false);
    return v.is_discarded() ? fallback : v;
}

}  // namespace

json userJson(const User& user) {
    return {{"username", user.username},
            {"role", roleName(user.role)},
            {"disabled", user.disabled},
            {"created_at_ms", user.created_at_ms}};
}

json hostJson(const Host& host) {
    return {{"agent_id", host.agent_id},
            {"hostname", host.hostname},
            {"version", host.version},
            {"platform", host.platform},
            {"intranet_ips", host.intranet_ips},
            {"extranet_ips", host.extranet_ips},
            {"first_seen_ms", host.first_seen_ms},
            {"last_heartbeat_ms", host.last_heartbeat_ms},
            {"online", host.online},
            {"cpu_percent", host.cpu_percent},
            {"rss_bytes", host.rss_bytes},
            {"drops", host.drops},
            {"plugins", parseStored(host.plugins_json, json::array())}};
}

json alertJson(const Alert& alert, bool full) {
    json out = {{"alert_id", alert.alert_id},
                {"rule_id", alert.rule_id},
                {"rule_name", alert.rule_name},
                {"severity", severityName(alert.severity)},
                {"mitre", alert.mitre},
                {"agent_id", alert.agent_id},
                {"hostname", alert.hostname},
                {"data_type", alert.data_type},
                {"argv", alert.argv},
                {"time_ms", alert.time_ms},
                {"hub_time_ms", alert.hub_time_ms},
                {"status", alertStatusName(alert.status)},
                {"status_comment", alert.status_comment},
                {"updated_by", alert.updated_by},
                {"updated_at_ms", alert.updated_at_ms}};
    if (full) {
        json body = parseStored(alert.json, json::object());
        auto member = [&](const char* key, json fallback) {
            auto it = body.is_object() ? body.find(key) : body.end();
            return it == body.end() ? fallback : *it;
        };
        out["process_tree"] = member("process_tree", json::array());
        out["description"] = member("description", "");
        out["suggestion"] = member("suggestion", "");
        out["alert"] = std::move(body);
    }
    return out;
}

json auditJson(const AuditEntry& e) {
    return {{"seq", e.seq},           {"time_ms", e.time_ms},
            {"username", e.username}, {"action", e.action},
            {"target", e.target},     {"detail", parseStored(e.detail_json, json::object())}};
}

json severityCountsJson(const SeverityCounts& counts) {
    json out = json::object();
    for (int s = 0; s < kSeverityCount; ++s) {
        out[std::string(severityName(static_cast<Severity>(s)))] = counts[s];
    }
    return out;
}

json topJson(const std::vector<TopEntry>& top) {
    json out = json::array();
    for (const auto& t : top)
        out.push_back({{"key", t.key}, {"label", t.label}, {"count", t.count}});
    return out;
}

Result<size_t> limitParam(const server::ApiRequest& request) {
    auto v = server::intParam(request, "limit", static_cast<int64_t>(kDefaultPageSize), 1,
                              static_cast<int64_t>(kMaxPageSize));
    if (!v.ok()) return v.error();
    return static_cast<size_t>(*v);
}

std::string lowerAscii(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

Result<json> memoryPage(json items, const server::ApiRequest& request,
                        std::initializer_list<const char*> sorts) {
    const std::string sort = request.param("sort");
    std::string chosen;
    std::string names;
    for (const char* name : sorts) {
        if (*name == '\0') continue;  // "": the list's own order, the default
        if (sort == name) chosen = name;
        names += names.empty() ? name : std::string(", ") + name;
    }
    if (!sort.empty() && chosen.empty()) {
        return makeError("query parameter sort must be one of {}", names);
    }
    if (sort.empty()) chosen = *sorts.begin();
    auto limit = limitParam(request);
    if (!limit.ok()) return limit.error();
    auto offset = server::intParam(request, "cursor", 0, 0, INT32_MAX);
    if (!offset.ok()) return makeError("query parameter cursor: bad cursor");

    std::vector<json> list =
        items.is_array() ? items.get<std::vector<json>>() : std::vector<json>{};
    if (!chosen.empty()) {
        const bool descending = chosen[0] == '-';
        const std::string key = descending ? chosen.substr(1) : chosen;
        std::stable_sort(list.begin(), list.end(), [&](const json& a, const json& b) {
            const json& x = a.contains(key) ? a[key] : json();
            const json& y = b.contains(key) ? b[key] : json();
            return descending ? y < x : x < y;
        });
    }
    json page = json::array();
    const size_t first = static_cast<size_t>(*offset);
    for (size_t i = first; i < list.size() && page.size() < *limit; ++i) {
        page.push_back(std::move(list[i]));
    }
    const size_t next = first + page.size();
    return json{{"items", std::move(page)},
                {"next_cursor", next < list.size() ? std::to_string(next) : ""},
                {"total", list.size()}};
}

Result<int64_t> timeParam(const server::ApiRequest& request, std::string_view key,
                          int64_t fallback) {
    return server::intParam(request, key, fallback, 0, INT64_MAX / 2);
}

Result<std::string> textParam(const server::ApiRequest& request, std::string_view key,
                              size_t max_bytes) {
    std::string v = request.param(key);
    if (v.size() > max_bytes) {
        return makeError("query parameter {} is longer than {} bytes", key, max_bytes);
    }
    return v;
}

server::ApiReply storeError(const Error& error) {
    if (error.message.rfind("bad cursor", 0) == 0) {
        return server::ApiReply::badRequest("query parameter cursor: " + error.message);
    }
    VIGIL_LOG_RATE_LIMITED(log::get("manager"), spdlog::level::err, "store: {}", error.message);
    return server::ApiReply::error(500, "store: " + error.message);
}

bool validName(const std::string& name, size_t max, bool dot) {
    if (name.empty() || name.size() > max) return false;
    for (unsigned char c : name) {
        if (!std::isalnum(c) && c != '_' && c != '-' && !(dot && c == '.')) return false;
    }
    return true;
}

}  // namespace vigil::manager::api
