// The store written once over the SQL layer (sql.h): the same statements run on SQLite and on
// PostgreSQL. Split by entity: sql_store.cpp (ingest, hosts), sql_store_alerts.cpp,
// sql_store_accounts.cpp (users, sessions, audit), sql_store_tasks.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/manager/store/sql.h"
#include "server/manager/store/store.h"

namespace vigil::manager {

class SqlStore final : public Store {
public:
    SqlStore(std::unique_ptr<sql::Database> db, StoreOptions options);

    std::string_view backend() const override { return db_->backend(); }

    Result<IngestResult> ingest(const IngestBatch& batch) override;

    Result<Page<Alert>> listAlerts(const AlertQuery& query) override;
    Result<std::optional<Alert>> getAlert(const std::string& alert_id) override;
    Result<bool> updateAlertStatus(const AlertStatusUpdate& update) override;
    Result<AlertStats> alertStats(const AlertStatsQuery& query) override;
    Result<StatusCounts> alertStatusCounts() override;

    Result<Page<Host>> listHosts(const HostQuery& query) override;
    Result<std::optional<Host>> getHost(const std::string& agent_id) override;
    Result<std::map<std::string, std::string>> hostnames(
        const std::vector<std::string>& agent_ids) override;
    Result<HostCounts> hostCounts() override;
    Result<std::vector<std::string>> deleteOfflineHosts(
        const std::vector<std::string>& agent_ids) override;

    Result<bool> createUser(const User& user) override;
    Result<std::optional<User>> getUser(const std::string& username) override;
    Result<std::vector<User>> listUsers() override;
    Result<bool> updateUser(const std::string& username, const UserUpdate& update) override;
    Result<bool> deleteUser(const std::string& username) override;

    Result<bool> createSession(const Session& session) override;
    Result<std::optional<Session>> getSession(const std::string& token_hash) override;
    Result<bool> deleteSession(const std::string& token_hash) override;
    Result<int64_t> deleteUserSessions(const std::string& username) override;
    Result<int64_t> deleteExpiredSessions() override;

    Status appendAudit(const AuditEntry& entry) override;
    Result<Page<AuditEntry>> listAudit(const AuditQuery& query) override;

    Result<bool> createTask(const Task& task) override;
    Result<std::optional<Task>> getTask(const std::string& task_id) override;
    Result<Page<Task>> listTasks(const TaskQuery& query) override;
    Result<std::vector<TaskResult>> taskResults(const std::string& task_id) override;

    Result<bool> putHostGroup(const HostGroup& group) override;
    Result<std::optional<HostGroup>> getHostGroup(const std::string& name) override;
    Result<std::vector<HostGroup>> listHostGroups() override;
    Result<bool> deleteHostGroup(const std::string& name) override;

private:
    int64_t now() const;
    // Last heartbeats at or after this are online.
    int64_t onlineSince() const { return now() - options_.host_offline_after_ms; }

    // The rows `statement` returns, each made into a T by from_row(rows, row).
    template <typename T, typename FromRow>
    Result<std::vector<T>> readAll(const std::string& statement, const sql::Params& params,
                                   FromRow from_row) {
        std::vector<T> items;
        VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
            auto rows = c.query(statement, params);
            if (!rows.ok()) return rows.error();
            items.clear();
            for (size_t r = 0; r < rows->size(); ++r) items.push_back(from_row(*rows, r));
            return okStatus();
        }));
        return items;
    }
    // The row `statement` returns as a T, or nothing without a row.
    template <typename T, typename FromRow>
    Result<std::optional<T>> readOne(const std::string& statement, const sql::Params& params,
                                     FromRow from_row) {
        auto items = readAll<T>(statement, params, from_row);
        if (!items.ok()) return items.error();
        if (items->empty()) return std::optional<T>();
        return std::optional<T>(std::move(items->front()));
    }
    // Runs one statement in a write transaction; the rows it changed.
    Result<int64_t> writeOne(const std::string& statement, const sql::Params& params);

    // Parts of ingest, inside its transaction.
    Status insertAlertRows(sql::Connection& c, const std::vector<Alert>& alerts,
                           IngestResult& result);
    Status upsertHostRows(sql::Connection& c, const std::vector<Host>& hosts, IngestResult& result);
    Status recordTaskResults(sql::Connection& c, const std::vector<TaskResult>& results,
                             IngestResult& result);

    Host hostFromRow(const sql::Rows& rows, size_t r) const;

    std::unique_ptr<sql::Database> db_;
    StoreOptions options_;
};

// Text lists as the store keeps them: comma-joined (IPs, MITRE ids; neither holds a comma).
std::string joinList(const std::vector<std::string>& items);
std::vector<std::string> splitList(const std::string& text);

// A page size from a query: 0 means the default, more than the maximum is clamped.
size_t pageSize(size_t limit);

// `t` rounded down (floorTo) or up (ceilTo) to a multiple of `unit`.
int64_t floorTo(int64_t t, int64_t unit);
int64_t ceilTo(int64_t t, int64_t unit);
inline constexpr int64_t kHourMs = 3600 * 1000;
inline constexpr int64_t kDayMs = 24 * kHourMs;

// Runs `head` + "(?, ...), (?, ...)" + `tail` over `values` (rows of `columns` values, flat),
// up to 100 rows a statement; `on_rows` gets the rows each statement returns (RETURNING).
// Returns the rows changed.
Result<int64_t> insertRows(sql::Connection& c, std::string_view head, std::string_view tail,
                           size_t columns, const sql::Params& values,
                           const std::function<void(const sql::Rows&)>& on_rows = {});

// Adds to a summary table's counters: `values` are rows of (key columns..., n); a key already
// there gets n added. `keys` names the key columns ("hour_ms, severity").
Status addCounts(sql::Connection& c, std::string_view table, std::string_view keys,
                 const sql::Params& values);

// Items of `rows` that fit a page of `limit` and the cursor of the next page when there are more
// (the query asked for limit + 1 rows); `cursor_of` makes the cursor of an item.
template <typename T, typename CursorOf>
Page<T> makePage(std::vector<T> items, size_t limit, CursorOf cursor_of) {
    Page<T> page;
    if (items.size() > limit) {
        items.resize(limit);
        page.next_cursor = cursor_of(items.back());
    }
    page.items = std::move(items);
    return page;
}

}  // namespace vigil::manager
