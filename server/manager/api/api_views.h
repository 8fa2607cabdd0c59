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

// The longest text filter and cursor the lists take.
inline constexpr size_t kMaxFilterBytes = 256;
inline constexpr size_t kMaxCursorBytes = 512;

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

// Reads one parameter into `out`, or sets `problem`; later reads are skipped after a problem.
template <typename T>
void read(Result<T> r, T& out, std::string& problem) {
    if (!problem.empty()) return;
    if (r.ok())
        out = std::move(r).value();
    else
        problem = r.message();
}

// A parameter that must be one of `choices` (the first is the default when absent).
template <typename E>
Result<E> choiceParam(const server::ApiRequest& request, std::string_view key,
                      std::initializer_list<std::pair<const char*, E>> choices) {
    const std::string value = request.param(key);
    std::string names;
    for (const auto& [name, v] : choices) {
        if (value.empty() || value == name) return v;
        names += names.empty() ? name : std::string(", ") + name;
    }
    return makeError("query parameter {} must be one of {}", key, names);
}

std::string lowerAscii(std::string s);

// `from`, `to`, `sort` (newest, oldest), `limit` and `cursor` of a list the store keeps in time
// order (tasks, the audit log) into `query`, or the first problem into `problem`.
template <typename Query>
void readTimeOrderedList(const server::ApiRequest& request, Query& query, std::string& problem) {
    read(timeParam(request, "from", 0), query.from_ms, problem);
    read(timeParam(request, "to", 0), query.to_ms, problem);
    read(choiceParam<bool>(request, "sort", {{"newest", false}, {"oldest", true}}),
         query.oldest_first, problem);
    read(limitParam(request), query.limit, problem);
    read(textParam(request, "cursor", kMaxCursorBytes), query.cursor, problem);
}

// A list the manager holds whole (users, host groups, rules) as one page: `items` sorted by the
// `sort` parameter — one of `sorts`, each a field of the items, "-field" for descending; the
// first is the default — then `limit` of them from the offset in `cursor`. {items,
// next_cursor, total}, or the problem with a parameter.
Result<nlohmann::json> memoryPage(nlohmann::json items, const server::ApiRequest& request,
                                  std::initializer_list<const char*> sorts);

// The filters and sort of the alert list (severity, status, rule_id, agent_id, from, to, q,
// sort; not limit and cursor) into `query`; the first problem, empty when none.
// (inventory_routes.cpp; the export uses the same.)
std::string readAlertFilters(const server::ApiRequest& request, AlertQuery& query);

// A store failure: 400 naming `cursor` for a cursor the store refused, else 500.
server::ApiReply storeError(const Error& error);

// 1 to `max` bytes of [A-Za-z0-9_-] (and '.' when `dot`): plugin and host group names.
bool validName(const std::string& name, size_t max, bool dot);

}  // namespace vigil::manager::api
