// The store's schema, version by version (docs/manager-store.md explains the tables and indexes).
#include "server/manager/store/migrations.h"

#include <chrono>

#include "libs/common/log.h"

namespace vigil::manager {

namespace {

// Most DDL is the same in both dialects; a template names what differs:
//   ${SEQ}  an auto-assigned 64-bit primary key
//   ${ROWID}  a 64-bit primary key given by the writer (SQLite: the rowid itself)
//   ${KEY}  a text column that is compared or sorted: byte order in both (PostgreSQL's "C"
//           collation is SQLite's BINARY), so keyset cursors and results agree
//   ${CLUSTERED}  after a table stored in primary key order where the dialect can (SQLite's
//           WITHOUT ROWID: a range of the key reads its rows without a second lookup)
Migration forBothDialects(int version, std::string description, const std::string& sql) {
    using Words = std::vector<std::pair<std::string, std::string>>;
    auto expand = [&](const Words& words) {
        std::string out = sql;
        for (const auto& [from, to] : words) {
            for (size_t at = out.find(from); at != std::string::npos; at = out.find(from, at)) {
                out.replace(at, from.size(), to);
            }
        }
        return out;
    };
    return Migration{version, std::move(description),
                     expand({{"${SEQ}", "INTEGER PRIMARY KEY"},
                             {"${ROWID}", "INTEGER PRIMARY KEY"},
                             {"${KEY}", "TEXT"},
                             {"${CLUSTERED}", " WITHOUT ROWID"}}),
                     expand({{"${SEQ}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
                             {"${ROWID}", "BIGINT PRIMARY KEY"},
                             {"${KEY}", "TEXT COLLATE \"C\""},
                             {"${CLUSTERED}", ""}})};
}

const char* kSchemaV1 = R"SQL(
CREATE TABLE hosts (
    agent_id ${KEY} PRIMARY KEY,
    hostname ${KEY} NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL DEFAULT '',
    intranet_ips TEXT NOT NULL DEFAULT '',
    extranet_ips TEXT NOT NULL DEFAULT '',
    first_seen_ms BIGINT NOT NULL,
    last_heartbeat_ms BIGINT NOT NULL,
    cpu_percent DOUBLE PRECISION NOT NULL DEFAULT 0,
    rss_bytes BIGINT NOT NULL DEFAULT 0,
    drops BIGINT NOT NULL DEFAULT 0,
    plugins TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX hosts_by_hostname ON hosts (hostname, agent_id);
CREATE INDEX hosts_by_heartbeat ON hosts (last_heartbeat_ms, agent_id);

CREATE TABLE alerts (
    seq ${SEQ},
    alert_id ${KEY} NOT NULL UNIQUE,
    rule_id ${KEY} NOT NULL,
    rule_name TEXT NOT NULL,
    severity SMALLINT NOT NULL CHECK (severity BETWEEN 0 AND 4),
    mitre TEXT NOT NULL DEFAULT '',
    agent_id ${KEY} NOT NULL,
    hostname TEXT NOT NULL DEFAULT '',
    data_type INTEGER NOT NULL,
    argv TEXT NOT NULL DEFAULT '',
    time_ms BIGINT NOT NULL,
    hub_time_ms BIGINT NOT NULL,
    status SMALLINT NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 3),
    status_comment TEXT NOT NULL DEFAULT '',
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at_ms BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE alert_bodies (
    seq ${ROWID} REFERENCES alerts (seq) ON DELETE CASCADE,
    body TEXT NOT NULL
);
CREATE INDEX alerts_by_time ON alerts (time_ms, seq);
CREATE INDEX alerts_by_severity ON alerts (severity, time_ms, seq);
CREATE INDEX alerts_by_status ON alerts (status, time_ms, seq);
CREATE INDEX alerts_by_rule ON alerts (rule_id, time_ms, seq);
CREATE INDEX alerts_by_agent ON alerts (agent_id, time_ms, seq);

CREATE TABLE alert_counts_hour (
    hour_ms BIGINT NOT NULL,
    severity SMALLINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (hour_ms, severity)
)${CLUSTERED};
CREATE TABLE alert_counts_rule_day (
    day_ms BIGINT NOT NULL,
    rule_id ${KEY} NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day_ms, rule_id)
)${CLUSTERED};
CREATE TABLE alert_counts_host_day (
    day_ms BIGINT NOT NULL,
    agent_id ${KEY} NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day_ms, agent_id)
)${CLUSTERED};
CREATE TABLE alert_counts_status (
    status SMALLINT NOT NULL,
    severity SMALLINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (status, severity)
)${CLUSTERED};

CREATE TABLE users (
    username ${KEY} PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'read_only')),
    password_hash TEXT NOT NULL,
    disabled SMALLINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE sessions (
    token_hash ${KEY} PRIMARY KEY,
    username ${KEY} NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (username);
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

CREATE TABLE audit_log (
    seq ${SEQ},
    time_ms BIGINT NOT NULL,
    username ${KEY} NOT NULL,
    action ${KEY} NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_time ON audit_log (time_ms, seq);
CREATE INDEX audit_by_user ON audit_log (username, time_ms, seq);

CREATE TABLE tasks (
    task_id ${KEY} PRIMARY KEY,
    agent_ids TEXT NOT NULL,
    data_type INTEGER NOT NULL,
    object_name TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX tasks_by_time ON tasks (created_at_ms, task_id);
CREATE TABLE task_results (
    task_id ${KEY} NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    agent_id ${KEY} NOT NULL,
    status TEXT NOT NULL,
    result TEXT NOT NULL DEFAULT '',
    time_ms BIGINT NOT NULL,
    PRIMARY KEY (task_id, agent_id)
);
)SQL";

// Host groups and their plugin sets (the centers' plugin configs); a host is in one group at most.
const char* kSchemaV2 = R"SQL(
CREATE TABLE host_groups (
    name ${KEY} PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    plugins TEXT NOT NULL DEFAULT '[]',
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE host_group_members (
    agent_id ${KEY} PRIMARY KEY,
    group_name ${KEY} NOT NULL REFERENCES host_groups (name) ON DELETE CASCADE
);
CREATE INDEX host_group_members_by_group ON host_group_members (group_name, agent_id);
)SQL";

// Serialises migrations of concurrent processes on PostgreSQL (any constant; "vigi").
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(1986488169)";

const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "description TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)";

Result<bool> versionTableExists(sql::Connection& c) {
    auto rows = c.dialect() == sql::Dialect::kSqlite
                    ? c.query(
                          "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                          "name = 'schema_migrations'")
                    : c.query(
                          "SELECT COUNT(*) FROM information_schema.tables WHERE "
                          "table_schema = current_schema() AND table_name = "
                          "'schema_migrations'");
    if (!rows.ok()) return rows.error();
    return rows->integer(0, 0) > 0;
}

Result<int> versionIn(sql::Connection& c) {
    auto rows = c.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!rows.ok()) return rows.error();
    return static_cast<int>(rows->integer(0, 0));
}

// Locks (PostgreSQL), creates the version table when missing, and checks the version is one
// this list knows. Returns the version.
Result<int> prepare(sql::Connection& c, int latest) {
    if (c.dialect() == sql::Dialect::kPostgres) {
        auto locked = c.query(kMigrationLock);
        if (!locked.ok()) return locked.error();
    }
    VIGIL_TRY(c.executeScript(kCreateVersionTable));
    auto version = versionIn(c);
    if (!version.ok()) return version.error();
    if (*version > latest) {
        return makeError(
            "the store's schema is at version {}, newer than the {} this vigil-manager knows: "
            "run a vigil-manager at least as new as the one that last opened it (or point it "
            "at another database)",
            *version, latest);
    }
    return *version;
}

int64_t wallNowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

const std::vector<Migration>& storeMigrations() {
    static const std::vector<Migration> list = {
        forBothDialects(1, "hosts, alerts with summary counts, users, sessions, audit log, tasks",
                        kSchemaV1),
        forBothDialects(2, "host groups with their plugin sets", kSchemaV2),
    };
    return list;
}

int latestSchemaVersion() {
    return storeMigrations().back().version;
}

Result<int> schemaVersion(sql::Database& db) {
    int version = 0;
    Status st = db.read([&](sql::Connection& c) -> Status {
        auto exists = versionTableExists(c);
        if (!exists.ok()) return exists.error();
        if (!*exists) return okStatus();
        auto v = versionIn(c);
        if (!v.ok()) return v.error();
        version = *v;
        return okStatus();
    });
    if (!st.ok()) return st.error();
    return version;
}

Status migrate(sql::Database& db, const std::vector<Migration>& list) {
    const int latest = list.empty() ? 0 : list.back().version;
    VIGIL_TRY(db.write([&](sql::Connection& c) -> Status {
        auto v = prepare(c, latest);
        return v.ok() ? okStatus() : Status(v.error());
    }));
    auto logger = log::get("manager.store");
    for (const auto& m : list) {
        VIGIL_TRY(db.write([&](sql::Connection& c) -> Status {
            auto version = prepare(c, latest);
            if (!version.ok()) return version.error();
            if (*version >= m.version) return okStatus();  // applied (maybe by another process)
            const std::string& ddl = c.dialect() == sql::Dialect::kSqlite ? m.sqlite : m.postgres;
            if (auto st = c.executeScript(ddl); !st.ok()) {
                return makeError("schema migration {} ({}): {}", m.version, m.description,
                                 st.message());
            }
            auto recorded = c.execute(
                "INSERT INTO schema_migrations (version, description, applied_at_ms) "
                "VALUES (?, ?, ?)",
                {int64_t{m.version}, m.description, wallNowMs()});
            if (!recorded.ok()) return recorded.error();
            logger->info("{} store: schema migrated to version {} ({})", db.backend(), m.version,
                         m.description);
            return okStatus();
        }));
    }
    return okStatus();
}

}  // namespace vigil::manager
