// SqlStore: the ingest transaction (hosts, alerts, task results) and the host queries.
#include "server/manager/store/sql_store.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_map>

#include "server/manager/store/cursor.h"

namespace vigil::manager {

namespace {

constexpr size_t kRowsPerStatement = 100;

constexpr const char* kHostColumns =
    "agent_id, hostname, version, platform, intranet_ips, extranet_ips, first_seen_ms, "
    "last_heartbeat_ms, cpu_percent, rss_bytes, drops, plugins";

// The characters (not bytes) of UTF-8 text: SQL's substr() counts characters.
int64_t utf8Length(std::string_view s) {
    return std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; });
}

}  // namespace

std::string joinList(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) {
        if (!out.empty()) out += ',';
        out += i;
    }
    return out;
}

std::vector<std::string> splitList(const std::string& text) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at < text.size()) {
        size_t comma = text.find(',', at);
        if (comma == std::string::npos) comma = text.size();
        if (comma > at) out.push_back(text.substr(at, comma - at));
        at = comma + 1;
    }
    return out;
}

size_t pageSize(size_t limit) {
    if (limit == 0) return kDefaultPageSize;
    return std::min(limit, kMaxPageSize);
}

int64_t floorTo(int64_t t, int64_t unit) {
    int64_t q = t / unit;
    if (t % unit != 0 && t < 0) --q;
    return q * unit;
}

int64_t ceilTo(int64_t t, int64_t unit) {
    const int64_t f = floorTo(t, unit);
    return f == t ? t : f + unit;
}

Result<int64_t> insertRows(sql::Connection& c, std::string_view head, std::string_view tail,
                           size_t columns, const sql::Params& values,
                           const std::function<void(const sql::Rows&)>& on_rows) {
    const size_t rows = values.size() / columns;
    int64_t changed = 0;
    sql::Params chunk;
    for (size_t first = 0; first < rows; first += kRowsPerStatement) {
        const size_t n = std::min(kRowsPerStatement, rows - first);
        chunk.assign(values.begin() + static_cast<ptrdiff_t>(first * columns),
                     values.begin() + static_cast<ptrdiff_t>((first + n) * columns));
        std::string statement(head);
        statement += sql::valueRows(n, columns);
        statement += tail;
        if (on_rows) {
            auto got = c.query(statement, chunk);
            if (!got.ok()) return got.error();
            changed += static_cast<int64_t>(got->size());
            on_rows(*got);
        } else {
            auto got = c.execute(statement, chunk);
            if (!got.ok()) return got.error();
            changed += *got;
        }
    }
    return changed;
}

Status addCounts(sql::Connection& c, std::string_view table, std::string_view keys,
                 const sql::Params& values) {
    const size_t columns = static_cast<size_t>(std::count(keys.begin(), keys.end(), ',')) + 2;
    auto added = insertRows(
        c, fmt::format("INSERT INTO {} ({}, n) VALUES ", table, keys),
        fmt::format(" ON CONFLICT ({}) DO UPDATE SET n = {}.n + excluded.n", keys, table), columns,
        values);
    return added.ok() ? okStatus() : Status(added.error());
}

SqlStore::SqlStore(std::unique_ptr<sql::Database> db, StoreOptions options)
    : db_(std::move(db)), options_(std::move(options)) {}

Result<int64_t> SqlStore::writeOne(const std::string& statement, const sql::Params& params) {
    int64_t changed = 0;
    VIGIL_TRY(db_->write([&](sql::Connection& c) -> Status {
        auto n = c.execute(statement, params);
        if (!n.ok()) return n.error();
        changed = *n;
        return okStatus();
    }));
    return changed;
}

int64_t SqlStore::now() const {
    if (options_.now_ms) return options_.now_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Result<IngestResult> SqlStore::ingest(const IngestBatch& batch) {
    IngestResult result;
    if (batch.hosts.empty() && batch.alerts.empty() && batch.task_results.empty()) return result;
    Status st = db_->write([&](sql::Connection& c) -> Status {
        result = IngestResult{};
        VIGIL_TRY(upsertHostRows(c, batch.hosts, result));
        VIGIL_TRY(insertAlertRows(c, batch.alerts, result));
        VIGIL_TRY(recordTaskResults(c, batch.task_results, result));
        return okStatus();
    });
    if (!st.ok()) return st.error();
    return result;
}

Status SqlStore::upsertHostRows(sql::Connection& c, const std::vector<Host>& hosts,
                                IngestResult& result) {
    if (hosts.empty()) return okStatus();
    // One row per host (PostgreSQL refuses to update a row twice in one statement): the latest
    // heartbeat, the later one of equals.
    std::unordered_map<std::string_view, const Host*> latest;
    std::vector<const Host*> order;
    for (const auto& h : hosts) {
        auto [it, fresh] = latest.try_emplace(h.agent_id, &h);
        if (fresh) {
            order.push_back(&h);
        } else if (h.last_heartbeat_ms >= it->second->last_heartbeat_ms) {
            it->second = &h;
        }
    }
    sql::Params values;
    values.reserve(order.size() * 12);
    for (const Host* first : order) {
        const Host& h = *latest[first->agent_id];
        values.insert(
            values.end(),
            {h.agent_id, h.hostname, h.version, h.platform, joinList(h.intranet_ips),
             joinList(h.extranet_ips), h.first_seen_ms ? h.first_seen_ms : h.last_heartbeat_ms,
             h.last_heartbeat_ms, h.cpu_percent, h.rss_bytes, h.drops, h.plugins_json});
    }
    // A heartbeat older than the stored one (a redelivery) changes nothing; a heartbeat without
    // plugins keeps the stored plugins.
    const std::string head = fmt::format("INSERT INTO hosts ({}) VALUES ", kHostColumns);
    const std::string tail =
        " ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname, "
        "version = excluded.version, platform = excluded.platform, "
        "intranet_ips = excluded.intranet_ips, extranet_ips = excluded.extranet_ips, "
        "last_heartbeat_ms = excluded.last_heartbeat_ms, cpu_percent = excluded.cpu_percent, "
        "rss_bytes = excluded.rss_bytes, drops = excluded.drops, "
        "plugins = CASE WHEN excluded.plugins = '' THEN hosts.plugins ELSE excluded.plugins END "
        "WHERE excluded.last_heartbeat_ms >= hosts.last_heartbeat_ms";
    auto changed = insertRows(c, head, tail, 12, values);
    if (!changed.ok()) return changed.error();
    result.hosts_upserted += static_cast<size_t>(*changed);
    return okStatus();
}

Status SqlStore::recordTaskResults(sql::Connection& c, const std::vector<TaskResult>& results,
                                   IngestResult& result) {
    if (results.empty()) return okStatus();
    std::map<std::string, bool> known;  // task_id -> exists
    std::map<std::pair<std::string, std::string>, const TaskResult*> last;
    for (const auto& r : results) {
        auto [it, fresh] = known.try_emplace(r.task_id, false);
        if (fresh) {
            auto rows = c.query("SELECT COUNT(*) FROM tasks WHERE task_id = ?", {r.task_id});
            if (!rows.ok()) return rows.error();
            it->second = rows->integer(0, 0) > 0;
        }
        if (!it->second) {
            ++result.task_results_unknown;
            continue;
        }
        last[{r.task_id, r.agent_id}] = &r;  // a result repeated in the batch: the last wins
    }
    sql::Params values;
    for (const auto& [key, r] : last) {
        values.insert(values.end(),
                      {r->task_id, r->agent_id, r->status, r->result_json, r->time_ms});
    }
    auto changed = insertRows(
        c, "INSERT INTO task_results (task_id, agent_id, status, result, time_ms) VALUES ",
        " ON CONFLICT (task_id, agent_id) DO UPDATE SET status = excluded.status, "
        "result = excluded.result, time_ms = excluded.time_ms",
        5, values);
    if (!changed.ok()) return changed.error();
    result.task_results_recorded += static_cast<size_t>(*changed);
    return okStatus();
}

Host SqlStore::hostFromRow(const sql::Rows& rows, size_t r) const {
    Host h;
    h.agent_id = rows.text(r, 0);
    h.hostname = rows.text(r, 1);
    h.version = rows.text(r, 2);
    h.platform = rows.text(r, 3);
    h.intranet_ips = splitList(rows.text(r, 4));
    h.extranet_ips = splitList(rows.text(r, 5));
    h.first_seen_ms = rows.integer(r, 6);
    h.last_heartbeat_ms = rows.integer(r, 7);
    h.cpu_percent = rows.real(r, 8);
    h.rss_bytes = rows.integer(r, 9);
    h.drops = rows.integer(r, 10);
    h.plugins_json = rows.text(r, 11);
    if (h.plugins_json.empty()) h.plugins_json = "[]";  // never reported
    h.online = h.last_heartbeat_ms >= onlineSince();
    return h;
}

Result<Page<Host>> SqlStore::listHosts(const HostQuery& q) {
    const size_t limit = pageSize(q.limit);
    const bool by_name = q.sort == HostSort::kHostname;
    const char* kind = by_name ? "hosts.hostname" : "hosts.heartbeat";
    sql::Where where;
    if (q.state != HostState::kAny) {
        where.add(
            q.state == HostState::kOnline ? "last_heartbeat_ms >= ?" : "last_heartbeat_ms < ?",
            {onlineSince()});
    }
    if (!q.hostname_prefix.empty()) {
        // The range bound lets the hostname index serve it; substr() is exact.
        where.add("hostname >= ? AND substr(hostname, 1, ?) = ?",
                  {q.hostname_prefix, utf8Length(q.hostname_prefix), q.hostname_prefix});
    }
    if (!q.cursor.empty()) {
        auto parts = decodeCursor(q.cursor, kind, 2);
        if (!parts.ok()) return parts.error();
        if (by_name) {
            where.after("hostname", (*parts)[0], "agent_id", (*parts)[1]);
        } else {
            auto t = cursorInteger((*parts)[0]);
            if (!t.ok()) return t.error();
            where.before("last_heartbeat_ms", *t, "agent_id", (*parts)[1]);
        }
    }
    const std::string statement =
        fmt::format("SELECT {} FROM hosts{} ORDER BY {} LIMIT ?", kHostColumns, where.sql(),
                    by_name ? "hostname, agent_id" : "last_heartbeat_ms DESC, agent_id DESC");
    where.params().emplace_back(static_cast<int64_t>(limit + 1));

    auto hosts = readAll<Host>(statement, where.params(), [this](const sql::Rows& rows, size_t r) {
        return hostFromRow(rows, r);
    });
    if (!hosts.ok()) return hosts.error();
    return makePage(std::move(*hosts), limit, [&](const Host& h) {
        return encodeCursor(
            kind, {by_name ? h.hostname : std::to_string(h.last_heartbeat_ms), h.agent_id});
    });
}

Result<std::optional<Host>> SqlStore::getHost(const std::string& agent_id) {
    return readOne<Host>(fmt::format("SELECT {} FROM hosts WHERE agent_id = ?", kHostColumns),
                         {agent_id},
                         [this](const sql::Rows& rows, size_t r) { return hostFromRow(rows, r); });
}

Result<std::map<std::string, std::string>> SqlStore::hostnames(
    const std::vector<std::string>& agent_ids) {
    constexpr size_t kIdsPerQuery = 500;  // well under SQLite's and libpq's parameter limits
    std::map<std::string, std::string> out;
    for (size_t i = 0; i < agent_ids.size(); i += kIdsPerQuery) {
        const size_t n = std::min(kIdsPerQuery, agent_ids.size() - i);
        sql::Params ids(agent_ids.begin() + static_cast<std::ptrdiff_t>(i),
                        agent_ids.begin() + static_cast<std::ptrdiff_t>(i + n));
        auto rows = readAll<std::pair<std::string, std::string>>(
            fmt::format("SELECT agent_id, hostname FROM hosts WHERE agent_id IN ({})",
                        sql::placeholders(n)),
            ids, [](const sql::Rows& rows, size_t r) {
                return std::make_pair(rows.text(r, 0), rows.text(r, 1));
            });
        if (!rows.ok()) return rows.error();
        for (auto& [id, name] : *rows) out[std::move(id)] = std::move(name);
    }
    return out;
}

Result<HostCounts> SqlStore::hostCounts() {
    HostCounts counts;
    VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
        auto rows = c.query(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN last_heartbeat_ms >= ? THEN 1 ELSE 0 END), 0) "
            "FROM hosts",
            {onlineSince()});
        if (!rows.ok()) return rows.error();
        counts.online = rows->integer(0, 1);
        counts.offline = rows->integer(0, 0) - counts.online;
        return okStatus();
    }));
    return counts;
}

Result<std::vector<std::string>> SqlStore::deleteOfflineHosts(
    const std::vector<std::string>& agent_ids) {
    std::vector<std::string> deleted;
    if (agent_ids.empty()) return deleted;
    const std::set<std::string> unique(agent_ids.begin(), agent_ids.end());
    const int64_t since = onlineSince();
    VIGIL_TRY(db_->write([&](sql::Connection& c) -> Status {
        deleted.clear();
        std::vector<std::string> ids(unique.begin(), unique.end());
        for (size_t first = 0; first < ids.size(); first += kRowsPerStatement) {
            const size_t n = std::min(kRowsPerStatement, ids.size() - first);
            sql::Params params{since};
            params.insert(params.end(), ids.begin() + static_cast<ptrdiff_t>(first),
                          ids.begin() + static_cast<ptrdiff_t>(first + n));
            // One statement decides and deletes: a host that just came online stays.
            auto rows = c.query(fmt::format("DELETE FROM hosts WHERE last_heartbeat_ms < ? AND "
                                            "agent_id IN ({}) RETURNING agent_id",
                                            sql::placeholders(n)),
                                params);
            if (!rows.ok()) return rows.error();
            for (size_t r = 0; r < rows->size(); ++r) deleted.push_back(rows->text(r, 0));
        }
        return okStatus();
    }));
    std::sort(deleted.begin(), deleted.end());
    return deleted;
}

}  // namespace vigil::manager
