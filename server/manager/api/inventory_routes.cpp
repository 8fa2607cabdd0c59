// The manager API's host, alert and audit routes: lists with filters, sorts and keyset cursors
// (the store's), details, the alert workflow and removing offline hosts.
#include "server/manager/api/api_views.h"
#include "server/manager/api/manager_api.h"

namespace vigil::manager::api {

using nlohmann::json;
using server::ApiReply;
using server::ApiRequest;
using server::Body;
using server::JsonFields;

namespace {

constexpr size_t kMaxCommentBytes = 4096;
constexpr size_t kMaxDeleteHosts = 10000;
constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;

}  // namespace

std::string readAlertFilters(const ApiRequest& req, AlertQuery& q) {
    std::string problem;
    read(listParam<Severity>(req, "severity", parseSeverity, "info, low, medium, high, critical"),
         q.severities, problem);
    read(listParam<AlertStatus>(req, "status", parseAlertStatus,
                                "new, confirmed, false_positive, resolved"),
         q.statuses, problem);
    read(textParam(req, "rule_id", kMaxFilterBytes), q.rule_id, problem);
    read(textParam(req, "agent_id", kMaxFilterBytes), q.agent_id, problem);
    read(timeParam(req, "from", 0), q.from_ms, problem);
    read(timeParam(req, "to", 0), q.to_ms, problem);
    read(textParam(req, "q", kMaxFilterBytes), q.text, problem);
    read(choiceParam<AlertSort>(
             req, "sort", {{"time", AlertSort::kTimeDesc}, {"severity", AlertSort::kSeverityDesc}}),
         q.sort, problem);
    if (problem.empty() && q.to_ms != 0 && q.to_ms <= q.from_ms) {
        problem = "query parameter to must be after from";
    }
    return problem;
}

// ---- hosts --------------------------------------------------------------------------------

void ManagerApi::addHostRoutes() {
    add(
        "GET", "/api/v1/hosts", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            HostQuery q;
            std::string problem;
            read(choiceParam<HostState>(req, "state",
                                        {{"any", HostState::kAny},
                                         {"online", HostState::kOnline},
                                         {"offline", HostState::kOffline}}),
                 q.state, problem);
            read(textParam(req, "prefix", kMaxFilterBytes), q.hostname_prefix, problem);
            read(choiceParam<HostSort>(req, "sort",
                                       {{"hostname", HostSort::kHostname},
                                        {"last_heartbeat", HostSort::kLastHeartbeatDesc}}),
                 q.sort, problem);
            read(limitParam(req), q.limit, problem);
            read(textParam(req, "cursor", kMaxCursorBytes), q.cursor, problem);
            if (!problem.empty()) return ApiReply::badRequest(problem);
            auto page = store_.listHosts(q);
            if (!page.ok()) return storeError(page.error());
            json data = pageJson(*page, hostJson);
            auto counts = store_.hostCounts();
            if (!counts.ok()) return storeError(counts.error());
            data["counts"] = {{"online", counts->online}, {"offline", counts->offline}};
            return ApiReply::ok(std::move(data));
        },
        Body::kRaw);

    // Before /hosts/:id, which would otherwise take "offline" for an agent id.
    add("DELETE", "/api/v1/hosts/offline", Role::kOperator,
        [this](const ApiRequest& req, const Session& s) {
            std::vector<std::string> ids;
            if (!req.json.is_null()) {
                JsonFields f(req.json);
                const json* list = f.array("agent_ids", true, kMaxDeleteHosts);
                if (list) {
                    for (const auto& id : *list) {
                        if (!id.is_string() || id.get_ref<const std::string&>().empty()) {
                            f.fail("agent_ids", "must be a list of agent ids (strings)");
                            break;
                        }
                        ids.push_back(id.get<std::string>());
                    }
                }
                if (!f.ok()) return f.badRequest();
            } else {
                // No list: every host offline now.
                HostQuery q;
                q.state = HostState::kOffline;
                q.limit = kMaxPageSize;
                do {
                    auto page = store_.listHosts(q);
                    if (!page.ok()) return storeError(page.error());
                    for (const auto& h : page->items) ids.push_back(h.agent_id);
                    q.cursor = page->next_cursor;
                } while (!q.cursor.empty() && ids.size() < kMaxDeleteHosts);
            }
            auto deleted = ids.empty()
                               ? Result<std::vector<std::string>>(std::vector<std::string>{})
                               : store_.deleteOfflineHosts(ids);
            if (!deleted.ok()) return storeError(deleted.error());
            if (!deleted->empty()) {
                audit(s.username, "host.delete_offline", std::to_string(deleted->size()),
                      {{"agent_ids", *deleted}});
            }
            return ApiReply::ok({{"deleted", *deleted}});
        });

    add(
        "GET", "/api/v1/hosts/:id", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            const std::string& id = req.path_params.at("id");
            auto host = store_.getHost(id);
            if (!host.ok()) return storeError(host.error());
            if (!*host) return ApiReply::notFound("no host " + id);
            json data = hostJson(**host);
            AlertQuery q;
            q.agent_id = id;
            q.limit = 10;
            auto recent = store_.listAlerts(q);
            if (!recent.ok()) return storeError(recent.error());
            data["recent_alerts"] =
                pageJson(*recent, [](const Alert& a) { return alertJson(a, false); })["items"];
            return ApiReply::ok(std::move(data));
        },
        Body::kRaw);
}

// ---- alerts -------------------------------------------------------------------------------

void ManagerApi::addAlertRoutes() {
    add(
        "GET", "/api/v1/alerts", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            AlertQuery q;
            std::string problem = readAlertFilters(req, q);
            read(limitParam(req), q.limit, problem);
            read(textParam(req, "cursor", kMaxCursorBytes), q.cursor, problem);
            if (!problem.empty()) return ApiReply::badRequest(problem);
            auto page = store_.listAlerts(q);
            if (!page.ok()) return storeError(page.error());
            return ApiReply::ok(
                pageJson(*page, [](const Alert& a) { return alertJson(a, false); }));
        },
        Body::kRaw);

    // Before /alerts/:id.
    add(
        "GET", "/api/v1/alerts/stats", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            AlertStatsQuery q;
            const int64_t now = auth_.now();
            std::string problem;
            int64_t top = 10;
            read(timeParam(req, "from", now - kDayMs), q.from_ms, problem);
            read(timeParam(req, "to", now), q.to_ms, problem);
            read(server::intParam(req, "bucket", kHourMs, kHourMs, 31 * kDayMs), q.bucket_ms,
                 problem);
            read(server::intParam(req, "top", 10, 1, 100), top, problem);
            if (problem.empty() && q.bucket_ms % kHourMs != 0) {
                problem = "query parameter bucket must be a whole number of hours (3600000 ms)";
            }
            if (problem.empty() && q.to_ms <= q.from_ms) {
                problem = "query parameter to must be after from";
            }
            if (problem.empty() && (q.to_ms - q.from_ms) / q.bucket_ms > 10000) {
                problem = "query parameter bucket is too small for the range (over 10000 buckets)";
            }
            if (!problem.empty()) return ApiReply::badRequest(problem);
            q.top = static_cast<size_t>(top);
            auto stats = store_.alertStats(q);
            if (!stats.ok()) return storeError(stats.error());
            auto status_counts = store_.alertStatusCounts();
            if (!status_counts.ok()) return storeError(status_counts.error());
            json buckets = json::array();
            for (const auto& b : stats->buckets) {
                buckets.push_back(
                    {{"start_ms", b.start_ms}, {"counts", severityCountsJson(b.counts)}});
            }
            json statuses = json::object();
            for (int st = 0; st < kAlertStatusCount; ++st) {
                statuses[std::string(alertStatusName(static_cast<AlertStatus>(st)))] =
                    severityCountsJson((*status_counts)[st]);
            }
            return ApiReply::ok({{"from_ms", stats->from_ms},
                                 {"to_ms", stats->to_ms},
                                 {"by_severity", severityCountsJson(stats->by_severity)},
                                 {"buckets", std::move(buckets)},
                                 {"top_from_ms", stats->top_from_ms},
                                 {"top_to_ms", stats->top_to_ms},
                                 {"top_rules", topJson(stats->top_rules)},
                                 {"top_hosts", topJson(stats->top_hosts)},
                                 {"by_status", std::move(statuses)}});
        },
        Body::kRaw);

    add(
        "GET", "/api/v1/alerts/:id", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            const std::string& id = req.path_params.at("id");
            auto alert = store_.getAlert(id);
            if (!alert.ok()) return storeError(alert.error());
            if (!*alert) return ApiReply::notFound("no alert " + id);
            return ApiReply::ok(alertJson(**alert, true));
        },
        Body::kRaw);

    add("PATCH", "/api/v1/alerts/:id", Role::kOperator,
        [this](const ApiRequest& req, const Session& s) {
            const std::string& id = req.path_params.at("id");
            JsonFields f(req.json);
            std::string status = f.string("status", true, 32);
            AlertStatusUpdate up;
            up.alert_id = id;
            up.comment = f.string("comment", false, kMaxCommentBytes);
            auto parsed = parseAlertStatus(status);
            if (f.ok() && !parsed) {
                f.fail("status", "must be new, confirmed, false_positive or resolved");
            }
            if (!f.ok()) return f.badRequest();
            up.status = *parsed;
            up.updated_by = s.username;
            up.updated_at_ms = auth_.now();
            auto before = store_.getAlert(id);
            if (!before.ok()) return storeError(before.error());
            if (!*before) return ApiReply::notFound("no alert " + id);
            auto updated = store_.updateAlertStatus(up);
            if (!updated.ok()) return storeError(updated.error());
            if (!*updated) return ApiReply::notFound("no alert " + id);
            audit(s.username, "alert.status", id,
                  {{"from", alertStatusName((*before)->status)},
                   {"to", status},
                   {"comment", up.comment}});
            auto after = store_.getAlert(id);
            if (!after.ok()) return storeError(after.error());
            return ApiReply::ok(*after ? alertJson(**after, false) : json(nullptr));
        });
}

// ---- audit --------------------------------------------------------------------------------

void ManagerApi::addAuditRoutes() {
    add(
        "GET", "/api/v1/audit", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            AuditQuery q;
            std::string problem;
            read(textParam(req, "user", kMaxFilterBytes), q.username, problem);
            read(textParam(req, "action", kMaxFilterBytes), q.action, problem);
            read(textParam(req, "target", kMaxFilterBytes), q.target, problem);
            readTimeOrderedList(req, q, problem);
            if (!problem.empty()) return ApiReply::badRequest(problem);
            auto page = store_.listAudit(q);
            if (!page.ok()) return storeError(page.error());
            return ApiReply::ok(pageJson(*page, auditJson));
        },
        Body::kRaw);
}

}  // namespace vigil::manager::api
