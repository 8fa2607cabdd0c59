// GET /api/v1/alerts/export: the alert list's filters, streamed as CSV (RFC 4180), a JSON array
// or NDJSON, page by page through the store's keyset cursor (memory stays one page whatever the
// count), at most `max` alerts.
#include <cstdio>
#include <ctime>
#include <memory>

#include "libs/common/log.h"

#include "server/manager/api/api_views.h"
#include "server/manager/api/manager_api.h"

namespace vigil::manager::api {

using nlohmann::json;
using server::ApiReply;
using server::ApiRequest;
using server::Body;

namespace {

constexpr int64_t kDefaultExportMax = 100000;
constexpr int64_t kExportMaxCap = 10'000'000;
constexpr size_t kExportPage = 1000;

enum class ExportFormat { kCsv, kJson, kNdjson };

// One CSV cell (RFC 4180): quoted when it holds a comma, quote, CR or LF (quotes doubled). A
// cell a spreadsheet would take for a formula (= + - @, tab, CR first) gets a leading ' so that
// an attacker-chosen command line cannot run in the analyst's spreadsheet.
std::string csvCell(std::string_view v) {
    std::string text;
    if (!v.empty() && std::string_view("=+-@\t\r").find(v.front()) != std::string_view::npos)
        text += '\'';
    text += v;
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string out = "\"";
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string isoTime(int64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms % 1000));
    return out;
}

constexpr const char* kCsvHeader =
    "alert_id,time,time_ms,severity,status,rule_id,rule_name,mitre,agent_id,hostname,data_type,"
    "argv,status_comment,updated_by,updated_at_ms\r\n";

std::string csvRow(const Alert& a) {
    std::string mitre;
    for (const auto& m : a.mitre) mitre += (mitre.empty() ? "" : ";") + m;
    const std::string cells[] = {a.alert_id,
                                 isoTime(a.time_ms),
                                 std::to_string(a.time_ms),
                                 std::string(severityName(a.severity)),
                                 std::string(alertStatusName(a.status)),
                                 a.rule_id,
                                 a.rule_name,
                                 mitre,
                                 a.agent_id,
                                 a.hostname,
                                 std::to_string(a.data_type),
                                 a.argv,
                                 a.status_comment,
                                 a.updated_by,
                                 std::to_string(a.updated_at_ms)};
    std::string row;
    for (const auto& c : cells) row += (row.empty() ? "" : ",") + csvCell(c);
    return row + "\r\n";
}

std::string jsonText(const Alert& a) {
    return alertJson(a, false).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

void ManagerApi::addExportRoutes() {
    add(
        "GET", "/api/v1/alerts/export", Role::kReadOnly,
        [this](const ApiRequest& req, const Session& s) {
            AlertQuery q;
            std::string problem = readAlertFilters(req, q);
            const std::string format_name = req.param("format", "csv");
            ExportFormat format = ExportFormat::kCsv;
            if (format_name == "json")
                format = ExportFormat::kJson;
            else if (format_name == "ndjson")
                format = ExportFormat::kNdjson;
            else if (format_name != "csv" && problem.empty())
                problem = "query parameter format must be csv, json or ndjson";
            auto max = server::intParam(req, "max", kDefaultExportMax, 1, kExportMaxCap);
            if (problem.empty() && !max.ok()) problem = max.message();
            if (!problem.empty()) return ApiReply::badRequest(problem);
            q.limit = kExportPage;
            // The first page here, so that a store failure is still an error status.
            auto first = store_.listAlerts(q);
            if (!first.ok()) return storeError(first.error());
            const char* ext = format == ExportFormat::kCsv    ? "csv"
                              : format == ExportFormat::kJson ? "json"
                                                              : "ndjson";
            const char* type = format == ExportFormat::kCsv    ? "text/csv; charset=utf-8"
                               : format == ExportFormat::kJson ? "application/json"
                                                               : "application/x-ndjson";
            VIGIL_LOG_RATE_LIMITED(log::get("manager"), spdlog::level::info,
                                   "alert export ({}) by {}", ext, s.username);
            ApiReply a =
                ApiReply::streamed(type, [this, q, format, limit = static_cast<size_t>(*max),
                                          page = std::make_shared<Page<Alert>>(std::move(*first))](
                                             server::StreamSink& sink) mutable {
                    std::string buf;
                    if (format == ExportFormat::kCsv) buf = kCsvHeader;
                    if (format == ExportFormat::kJson) buf = "[";
                    size_t sent = 0;
                    for (;;) {
                        for (const auto& alert : page->items) {
                            if (sent == limit) break;
                            if (format == ExportFormat::kCsv) {
                                buf += csvRow(alert);
                            } else if (format == ExportFormat::kJson) {
                                buf += (sent > 0 ? ",\n" : "\n") + jsonText(alert);
                            } else {
                                buf += jsonText(alert) + "\n";
                            }
                            ++sent;
                        }
                        if (!buf.empty() && !sink.write(buf)) return false;  // client gone
                        buf.clear();
                        if (sent == limit || page->next_cursor.empty()) break;
                        if (!sink.alive()) return false;
                        q.cursor = page->next_cursor;
                        auto next = store_.listAlerts(q);
                        if (!next.ok()) {
                            // Headers are sent: end without the last chunk (a truncated body).
                            VIGIL_LOG_RATE_LIMITED(log::get("manager"), spdlog::level::err,
                                                   "alert export: store: {}", next.message());
                            return false;
                        }
                        *page = std::move(*next);
                    }
                    if (format == ExportFormat::kJson) return sink.write("\n]\n");
                    return true;
                });
            const int64_t now_s = auth_.now() / 1000;
            a.headers.emplace_back(
                "Content-Disposition",
                "attachment; filename=\"vigil-alerts-" + std::to_string(now_s) + "." + ext + "\"");
            a.headers.emplace_back("Cache-Control", "no-store");
            return a;
        },
        Body::kRaw);
}

}  // namespace vigil::manager::api
