// SqlStore's alerts: idempotent batch insert with the summary counters, the keyset-paginated
// list, the status workflow, the dashboard counts.
#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>

#include "server/manager/store/cursor.h"
#include "server/manager/store/sql_store.h"

namespace vigil::manager {

namespace {

constexpr const char* kAlertColumns =
    "seq, alert_id, rule_id, rule_name, severity, mitre, agent_id, hostname, data_type, argv, "
    "time_ms, hub_time_ms, status, status_comment, updated_by, updated_at_ms";
// The body, read only for the rows returned (alerts stay narrow for scans: the JSON is apart).
constexpr const char* kBodyColumn = ", (SELECT body FROM alert_bodies b WHERE b.seq = alerts.seq)";
constexpr const char* kTimeCursor = "alerts.time";
constexpr const char* kSeverityCursor = "alerts.severity";
constexpr int64_t kMaxBuckets = 10000;

Alert alertFromRow(const sql::Rows& rows, size_t r, bool with_json) {
    Alert a;
    a.seq = rows.integer(r, 0);
    a.alert_id = rows.text(r, 1);
    a.rule_id = rows.text(r, 2);
    a.rule_name = rows.text(r, 3);
    a.severity = static_cast<Severity>(rows.integer(r, 4));
    a.mitre = splitList(rows.text(r, 5));
    a.agent_id = rows.text(r, 6);
    a.hostname = rows.text(r, 7);
    a.data_type = static_cast<int32_t>(rows.integer(r, 8));
    a.argv = rows.text(r, 9);
    a.time_ms = rows.integer(r, 10);
    a.hub_time_ms = rows.integer(r, 11);
    a.status = static_cast<AlertStatus>(rows.integer(r, 12));
    a.status_comment = rows.text(r, 13);
    a.updated_by = rows.text(r, 14);
    a.updated_at_ms = rows.integer(r, 15);
    if (with_json) a.json = rows.text(r, 16);
    return a;
}

// Newest first, then the later insert first: the order of every alert list query.
bool newerFirst(const Alert& a, const Alert& b) {
    return std::tie(a.time_ms, a.seq) > std::tie(b.time_ms, b.seq);
}

// The filters of `q` except severity (each query of a fanned-out list adds its own).
sql::Where alertFilter(const AlertQuery& q, sql::Dialect dialect) {
    sql::Where where;
    where.equals("rule_id", q.rule_id).equals("agent_id", q.agent_id);
    if (!q.statuses.empty()) {
        where.add(fmt::format("status IN ({})", sql::placeholders(q.statuses.size())));
        for (auto s : q.statuses) where.params().emplace_back(int64_t{static_cast<int>(s)});
    }
    where.range("time_ms", q.from_ms, q.to_ms);
    if (!q.text.empty()) {
        // SQLite's LIKE ignores ASCII case; PostgreSQL needs ILIKE for the same answer.
        const char* like = dialect == sql::Dialect::kSqlite ? "LIKE" : "ILIKE";
        const std::string pattern = sql::likeContains(q.text);
        where.add(fmt::format("(rule_name {0} ? ESCAPE '\\' OR hostname {0} ? ESCAPE '\\' OR "
                              "argv {0} ? ESCAPE '\\')",
                              like),
                  {pattern, pattern, pattern});
    }
    return where;
}

// Counters of a summary table by key (in key order: concurrent writers lock counter rows in the
// same order), and as rows of (key, key, n) for addCounts.
template <typename Second>
using Counters = std::map<std::pair<int64_t, Second>, int64_t>;
template <typename Second>
sql::Params flatten(const Counters<Second>& counters) {
    sql::Params rows;
    for (const auto& [key, n] : counters) rows.insert(rows.end(), {key.first, key.second, n});
    return rows;
}

// Up to `limit` alerts matching `where`, newest first, appended to `out`.
Status queryAlerts(sql::Connection& c, sql::Where where, bool with_json, size_t limit,
                   std::vector<Alert>& out) {
    where.params().emplace_back(static_cast<int64_t>(limit));
    auto rows = c.query(fmt::format("SELECT {}{} FROM alerts{} "
                                    "ORDER BY time_ms DESC, seq DESC LIMIT ?",
                                    kAlertColumns, with_json ? kBodyColumn : "", where.sql()),
                        where.params());
    if (!rows.ok()) return rows.error();
    for (size_t r = 0; r < rows->size(); ++r) out.push_back(alertFromRow(*rows, r, with_json));
    return okStatus();
}

}  // namespace

Status SqlStore::insertAlertRows(sql::Connection& c, const std::vector<Alert>& alerts,
                                 IngestResult& result) {
    if (alerts.empty()) return okStatus();
    sql::Params values;
    values.reserve(alerts.size() * 15);
    std::unordered_map<std::string_view, const std::string*> bodies;
    for (const auto& a : alerts) {
        values.insert(values.end(),
                      {a.alert_id, a.rule_id, a.rule_name, int64_t{static_cast<int>(a.severity)},
                       joinList(a.mitre), a.agent_id, a.hostname, int64_t{a.data_type}, a.argv,
                       a.time_ms, a.hub_time_ms, int64_t{static_cast<int>(a.status)},
                       a.status_comment, a.updated_by, a.updated_at_ms});
        bodies.try_emplace(a.alert_id, &a.json);
    }
    // What was really inserted (RETURNING skips the duplicates) gets its body and grows the
    // summary counters.
    sql::Params body_rows;
    Counters<int64_t> by_hour, by_status;    // (hour, severity), (status, severity)
    Counters<std::string> by_rule, by_host;  // (day, rule_id), (day, agent_id)
    auto inserted_rows = [&](const sql::Rows& rows) {
        for (size_t r = 0; r < rows.size(); ++r) {
            body_rows.insert(body_rows.end(), {rows.integer(r, 0), *bodies.at(rows.text(r, 1))});
            const int64_t severity = rows.integer(r, 2), time_ms = rows.integer(r, 3);
            const int64_t day = floorTo(time_ms, kDayMs);
            ++by_hour[{floorTo(time_ms, kHourMs), severity}];
            ++by_rule[{day, rows.text(r, 4)}];
            ++by_host[{day, rows.text(r, 5)}];
            ++by_status[{rows.integer(r, 6), severity}];
        }
    };
    auto inserted = insertRows(
        c,
        "INSERT INTO alerts (alert_id, rule_id, rule_name, severity, mitre, agent_id, hostname, "
        "data_type, argv, time_ms, hub_time_ms, status, status_comment, updated_by, "
        "updated_at_ms) VALUES ",
        " ON CONFLICT (alert_id) DO NOTHING "
        "RETURNING seq, alert_id, severity, time_ms, rule_id, agent_id, status",
        15, values, inserted_rows);
    if (!inserted.ok()) return inserted.error();
    result.alerts_inserted += static_cast<size_t>(*inserted);
    result.alerts_duplicate += alerts.size() - static_cast<size_t>(*inserted);
    auto stored = insertRows(c, "INSERT INTO alert_bodies (seq, body) VALUES ", "", 2, body_rows);
    if (!stored.ok()) return stored.error();
    VIGIL_TRY(addCounts(c, "alert_counts_hour", "hour_ms, severity", flatten(by_hour)));
    VIGIL_TRY(addCounts(c, "alert_counts_rule_day", "day_ms, rule_id", flatten(by_rule)));
    VIGIL_TRY(addCounts(c, "alert_counts_host_day", "day_ms, agent_id", flatten(by_host)));
    return addCounts(c, "alert_counts_status", "status, severity", flatten(by_status));
}

Result<Page<Alert>> SqlStore::listAlerts(const AlertQuery& q) {
    const size_t limit = pageSize(q.limit);
    const bool by_severity = q.sort == AlertSort::kSeverityDesc;
    // The cursor: (severity,) time_ms, seq of the previous page's last alert.
    std::optional<std::array<int64_t, 3>> after;
    if (!q.cursor.empty()) {
        auto parts = decodeCursor(q.cursor, by_severity ? kSeverityCursor : kTimeCursor,
                                  by_severity ? 3 : 2);
        if (!parts.ok()) return parts.error();
        std::array<int64_t, 3> key{};
        for (size_t i = 0; i < parts->size(); ++i) {
            auto v = cursorInteger((*parts)[i]);
            if (!v.ok()) return v.error();
            key[i + (by_severity ? 0 : 1)] = *v;
        }
        after = key;
    }
    // A severity filter or sort runs one query per severity, each walking the (severity,
    // time_ms, seq) index in order: no database sorts a multi-value IN by index order.
    std::vector<int64_t> severities;
    for (auto s : q.severities) severities.push_back(static_cast<int>(s));
    if (severities.empty() && by_severity) {
        for (int s = 0; s < kSeverityCount; ++s) severities.push_back(s);
    }
    std::sort(severities.rbegin(), severities.rend());
    severities.erase(std::unique(severities.begin(), severities.end()), severities.end());

    std::vector<Alert> alerts;
    const sql::Where filter = alertFilter(q, db_->dialect());
    VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
        alerts.clear();
        if (severities.empty()) {
            sql::Where where = filter;
            if (after) where.before("time_ms", (*after)[1], "seq", (*after)[2]);
            return queryAlerts(c, where, q.with_json, limit + 1, alerts);
        }
        for (int64_t s : severities) {
            if (by_severity && after && s > (*after)[0]) continue;  // pages already shown
            sql::Where where = filter;
            where.add("severity = ?", {s});
            if (after && (!by_severity || s == (*after)[0])) {
                where.before("time_ms", (*after)[1], "seq", (*after)[2]);
            }
            // Sorted by severity, each severity's alerts follow the previous one's: stop once
            // the page is full. Sorted by time, every severity offers its newest.
            const size_t want = by_severity ? limit + 1 - alerts.size() : limit + 1;
            VIGIL_TRY(queryAlerts(c, where, q.with_json, want, alerts));
            if (by_severity && alerts.size() > limit) break;
        }
        if (!by_severity) {
            std::sort(alerts.begin(), alerts.end(), newerFirst);
            if (alerts.size() > limit + 1) alerts.resize(limit + 1);
        }
        return okStatus();
    }));
    return makePage(std::move(alerts), limit, [&](const Alert& a) {
        if (by_severity) {
            return encodeCursor(kSeverityCursor,
                                {std::to_string(static_cast<int>(a.severity)),
                                 std::to_string(a.time_ms), std::to_string(a.seq)});
        }
        return encodeCursor(kTimeCursor, {std::to_string(a.time_ms), std::to_string(a.seq)});
    });
}

Result<std::optional<Alert>> SqlStore::getAlert(const std::string& alert_id) {
    return readOne<Alert>(
        fmt::format("SELECT {}{} FROM alerts WHERE alert_id = ?", kAlertColumns, kBodyColumn),
        {alert_id}, [](const sql::Rows& rows, size_t r) { return alertFromRow(rows, r, true); });
}

Result<bool> SqlStore::updateAlertStatus(const AlertStatusUpdate& u) {
    bool found = false;
    const int64_t at = u.updated_at_ms ? u.updated_at_ms : now();
    VIGIL_TRY(db_->write([&](sql::Connection& c) -> Status {
        // The old status, locked until commit, to move its count.
        const char* lock = c.dialect() == sql::Dialect::kPostgres ? " FOR UPDATE" : "";
        auto old =
            c.query(fmt::format("SELECT severity, status FROM alerts WHERE alert_id = ?{}", lock),
                    {u.alert_id});
        if (!old.ok()) return old.error();
        found = !old->empty();
        if (!found) return okStatus();
        const int64_t severity = old->integer(0, 0), was = old->integer(0, 1);
        const int64_t status = static_cast<int>(u.status);
        auto updated = c.execute(
            "UPDATE alerts SET status = ?, status_comment = ?, updated_by = ?, updated_at_ms = ? "
            "WHERE alert_id = ?",
            {status, u.comment, u.updated_by, at, u.alert_id});
        if (!updated.ok()) return updated.error();
        if (was == status) return okStatus();
        return addCounts(c, "alert_counts_status", "status, severity",
                         {was, severity, int64_t{-1}, status, severity, int64_t{1}});
    }));
    return found;
}

Result<AlertStats> SqlStore::alertStats(const AlertStatsQuery& q) {
    if (q.bucket_ms <= 0 || q.bucket_ms % kHourMs != 0) {
        return makeError("alert stats: the bucket must be a whole number of hours");
    }
    AlertStats stats;
    stats.from_ms = floorTo(q.from_ms, kHourMs);
    const int64_t to = ceilTo(q.to_ms ? q.to_ms : now(), kHourMs);
    const int64_t buckets =
        std::max<int64_t>(1, ceilTo(to - stats.from_ms, q.bucket_ms) / q.bucket_ms);
    if (to < stats.from_ms || buckets > kMaxBuckets) {
        return makeError(
            "alert stats: {} buckets asked for, at most {}: a shorter range or a "
            "larger bucket",
            to < stats.from_ms ? -1 : buckets, kMaxBuckets);
    }
    stats.to_ms = stats.from_ms + buckets * q.bucket_ms;
    stats.buckets.resize(static_cast<size_t>(buckets));
    for (int64_t i = 0; i < buckets; ++i) {
        stats.buckets[static_cast<size_t>(i)].start_ms = stats.from_ms + i * q.bucket_ms;
    }
    stats.top_from_ms = floorTo(stats.from_ms, kDayMs);
    stats.top_to_ms = ceilTo(stats.to_ms, kDayMs);
    const auto top = static_cast<int64_t>(std::min<size_t>(q.top, kMaxPageSize));

    VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
        auto hours = c.query(
            "SELECT hour_ms, severity, n FROM alert_counts_hour WHERE hour_ms >= ? AND hour_ms < ?",
            {stats.from_ms, stats.to_ms});
        if (!hours.ok()) return hours.error();
        stats.by_severity = {};
        for (auto& b : stats.buckets) b.counts = {};
        for (size_t r = 0; r < hours->size(); ++r) {
            const auto bucket =
                static_cast<size_t>((hours->integer(r, 0) - stats.from_ms) / q.bucket_ms);
            const auto severity = static_cast<size_t>(hours->integer(r, 1));
            if (severity >= kSeverityCount) continue;
            stats.buckets[bucket].counts[severity] += hours->integer(r, 2);
            stats.by_severity[severity] += hours->integer(r, 2);
        }
        // The label of a top entry is the one its newest alert carries (an index lookup each):
        // the summary rows stay narrow, and the sum needs no label to carry along.
        auto topList = [&](const char* table, const char* key, const char* label,
                           std::vector<TopEntry>& out) -> Status {
            auto rows = c.query(fmt::format("SELECT {1}, SUM(n) AS total FROM {0} "
                                            "WHERE day_ms >= ? AND day_ms < ? GROUP BY {1} "
                                            "ORDER BY total DESC, {1} LIMIT ?",
                                            table, key),
                                {stats.top_from_ms, stats.top_to_ms, top});
            if (!rows.ok()) return rows.error();
            out.clear();
            const std::string label_query = fmt::format(
                "SELECT {} FROM alerts WHERE {} = ? ORDER BY time_ms DESC, seq DESC "
                "LIMIT 1",
                label, key);
            for (size_t r = 0; r < rows->size(); ++r) {
                auto named = c.query(label_query, {rows->text(r, 0)});
                if (!named.ok()) return named.error();
                out.push_back({rows->text(r, 0), named->empty() ? "" : named->text(0, 0),
                               rows->integer(r, 1)});
            }
            return okStatus();
        };
        VIGIL_TRY(topList("alert_counts_rule_day", "rule_id", "rule_name", stats.top_rules));
        return topList("alert_counts_host_day", "agent_id", "hostname", stats.top_hosts);
    }));
    return stats;
}

Result<StatusCounts> SqlStore::alertStatusCounts() {
    StatusCounts counts{};
    VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
        auto rows = c.query("SELECT status, severity, n FROM alert_counts_status");
        if (!rows.ok()) return rows.error();
        for (size_t r = 0; r < rows->size(); ++r) {
            const auto status = static_cast<size_t>(rows->integer(r, 0));
            const auto severity = static_cast<size_t>(rows->integer(r, 1));
            if (status < kAlertStatusCount && severity < kSeverityCount) {
                counts[status][severity] = rows->integer(r, 2);
            }
        }
        return okStatus();
    }));
    return counts;
}

}  // namespace vigil::manager
