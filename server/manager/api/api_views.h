// What the manager's API shows of the store's rows (JSON views) and how it reads the query
// parameters shared by its lists. Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "libs/common/result.h"
#include "server/common/api_router.h"
#include "server/manager/store/store.h"

namespace vigil::manager::api {

nlohmann::json userJson(const User& user);
nlohmann::json hostJson(const Host& host);
// `full`: with the hub's alert JSON ("alert") and its process tree, description, suggestion.
nlohmann::json alertJson(const Alert& alert, bool full);
nlohmann::json auditJson(const AuditEntry& entry);
nlohmann::json severityCountsJson(const SeverityCounts& counts);
nlohmann::json topJson(const std::vector<TopEntry>& top);

// A list page: {"items": [...], "next_cursor": "..."}.
template <typename T, typename View>
nlohmann::json pageJson(const Page<T>& page, View view) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& item : page.items) items.push_back(view(item));
    return {{"items", std::move(items)}, {"next_cursor", page.next_cursor}};
}

// `limit` (1..1000, default 50).
Result<size_t> limitParam(const server::ApiRequest& request);
// A time in milliseconds since the epoch (>= 0), `fallback` when absent.
Result<int64_t> timeParam(const server::ApiRequest& request, std::string_view key,
                          int64_t fallback);
// A string of at most `max_bytes`.
Result<std::string> textParam(const server::ApiRequest& request, std::string_view key,
                              size_t max_bytes);
// A comma-separated list of names, each parsed by `parse` (an error names the parameter and
// lists `choices`).
template <typename T, typename Parse>
Result<std::vector<T>> listParam(const server::ApiRequest& request, std::string_view key,
                                 Parse parse, std::string_view choices) {
    std::vector<T> out;
    const std::string text = request.param(key);
    size_t i = 0;
    while (!text.empty() && i <= text.size()) {
        size_t j = text.find(',', i);
        if (j == std::string::npos) j = text.size();
        std::string_view name(text.data() + i, j - i);
        auto v = parse(name);
        if (!v) {
            return makeError("query parameter {} must be a comma-separated list of {}, got '{}'",
                             key, choices, name.substr(0, 40));
        }
        out.push_back(*v);
        i = j + 1;
    }
    return out;
}

// The filters and sort of the alert list (severity, status, rule_id, agent_id, from, to, q,
// sort; not limit and cursor) into `query`; the first problem, empty when none.
// (inventory_routes.cpp; the export uses the same.)
std::string readAlertFilters(const server::ApiRequest& request, AlertQuery& query);

// A store failure: 400 naming `cursor` for a cursor the store refused, else 500.
server::ApiReply storeError(const Error& error);

// 1 to `max` bytes of [A-Za-z0-9_-] (and '.' when `dot`): plugin and host group names.
bool validName(const std::string& name, size_t max, bool dot);

}  // namespace vigil::manager::api
