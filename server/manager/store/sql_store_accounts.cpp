// SqlStore's users, sessions and audit log.
#include <fmt/ranges.h>

#include "server/manager/store/cursor.h"
#include "server/manager/store/sql_store.h"

namespace vigil::manager {

namespace {

constexpr const char* kUserColumns = "username, role, password_hash, disabled, created_at_ms";
constexpr const char* kAuditCursor = "audit";
constexpr const char* kAuditCursorOldest = "audit-oldest";

User userFromRow(const sql::Rows& rows, size_t r) {
    User u;
    u.username = rows.text(r, 0);
    u.role = parseRole(rows.text(r, 1)).value_or(Role::kReadOnly);
    u.password_hash = rows.text(r, 2);
    u.disabled = rows.integer(r, 3) != 0;
    u.created_at_ms = rows.integer(r, 4);
    return u;
}

}  // namespace

Result<bool> SqlStore::createUser(const User& user) {
    if (user.username.empty()) return makeError("a user needs a username");
    auto n =
        writeOne(fmt::format("INSERT INTO users ({}) VALUES (?, ?, ?, ?, ?) "
                             "ON CONFLICT (username) DO NOTHING",
                             kUserColumns),
                 {user.username, std::string(roleName(user.role)), user.password_hash,
                  int64_t{user.disabled ? 1 : 0}, user.created_at_ms ? user.created_at_ms : now()});
    if (!n.ok()) return n.error();
    return *n > 0;
}

Result<std::optional<User>> SqlStore::getUser(const std::string& username) {
    return readOne<User>(fmt::format("SELECT {} FROM users WHERE username = ?", kUserColumns),
                         {username}, userFromRow);
}

Result<std::vector<User>> SqlStore::listUsers() {
    return readAll<User>(fmt::format("SELECT {} FROM users ORDER BY username", kUserColumns), {},
                         userFromRow);
}

Result<bool> SqlStore::updateUser(const std::string& username, const UserUpdate& update) {
    std::vector<std::string> set;
    sql::Params params;
    if (update.role) {
        set.push_back("role = ?");
        params.emplace_back(std::string(roleName(*update.role)));
    }
    if (update.password_hash) {
        set.push_back("password_hash = ?");
        params.emplace_back(*update.password_hash);
    }
    if (update.disabled) {
        set.push_back("disabled = ?");
        params.emplace_back(int64_t{*update.disabled ? 1 : 0});
    }
    params.emplace_back(username);
    // Nothing to change: only whether the user exists.
    const std::string statement =
        set.empty() ? "SELECT COUNT(*) FROM users WHERE username = ?"
                    : fmt::format("UPDATE users SET {} WHERE username = ?", fmt::join(set, ", "));
    int64_t matched = 0;
    VIGIL_TRY(db_->write([&](sql::Connection& c) -> Status {
        if (set.empty()) {
            auto rows = c.query(statement, params);
            if (!rows.ok()) return rows.error();
            matched = rows->integer(0, 0);
            return okStatus();
        }
        auto n = c.execute(statement, params);
        if (!n.ok()) return n.error();
        matched = *n;
        return okStatus();
    }));
    return matched > 0;
}

Result<bool> SqlStore::deleteUser(const std::string& username) {
    auto n = writeOne("DELETE FROM users WHERE username = ?", {username});  // sessions cascade
    if (!n.ok()) return n.error();
    return *n > 0;
}

Result<bool> SqlStore::createSession(const Session& s) {
    int64_t created = 0;
    const int64_t at = s.created_at_ms ? s.created_at_ms : now();
    VIGIL_TRY(db_->write([&](sql::Connection& c) -> Status {
        auto user = c.query("SELECT COUNT(*) FROM users WHERE username = ?", {s.username});
        if (!user.ok()) return user.error();
        if (user->integer(0, 0) == 0) return makeError("session for unknown user '{}'", s.username);
        auto n = c.execute(
            "INSERT INTO sessions (token_hash, username, created_at_ms, expires_at_ms) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (token_hash) DO NOTHING",
            {s.token_hash, s.username, at, s.expires_at_ms});
        if (!n.ok()) return n.error();
        created = *n;
        return okStatus();
    }));
    return created > 0;
}

Result<std::optional<Session>> SqlStore::getSession(const std::string& token_hash) {
    std::optional<Session> session;
    VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
        auto rows = c.query(
            "SELECT s.token_hash, s.username, s.created_at_ms, s.expires_at_ms, u.role "
            "FROM sessions s JOIN users u ON u.username = s.username "
            "WHERE s.token_hash = ? AND s.expires_at_ms > ? AND u.disabled = 0",
            {token_hash, now()});
        if (!rows.ok()) return rows.error();
        if (rows->empty()) return okStatus();
        session =
            Session{rows->text(0, 0), rows->text(0, 1), rows->integer(0, 2), rows->integer(0, 3),
                    parseRole(rows->text(0, 4)).value_or(Role::kReadOnly)};
        return okStatus();
    }));
    return session;
}

Result<bool> SqlStore::deleteSession(const std::string& token_hash) {
    auto n = writeOne("DELETE FROM sessions WHERE token_hash = ?", {token_hash});
    if (!n.ok()) return n.error();
    return *n > 0;
}

Result<int64_t> SqlStore::deleteUserSessions(const std::string& username) {
    return writeOne("DELETE FROM sessions WHERE username = ?", {username});
}

Result<int64_t> SqlStore::deleteExpiredSessions() {
    return writeOne("DELETE FROM sessions WHERE expires_at_ms <= ?", {now()});
}

Status SqlStore::appendAudit(const AuditEntry& e) {
    auto n = writeOne(
        "INSERT INTO audit_log (time_ms, username, action, target, detail) VALUES (?, ?, ?, ?, ?)",
        {e.time_ms ? e.time_ms : now(), e.username, e.action, e.target,
         e.detail_json.empty() ? std::string("{}") : e.detail_json});
    return n.ok() ? okStatus() : Status(n.error());
}

Result<Page<AuditEntry>> SqlStore::listAudit(const AuditQuery& q) {
    const size_t limit = pageSize(q.limit);
    const char* kind = q.oldest_first ? kAuditCursorOldest : kAuditCursor;
    sql::Where where;
    where.equals("username", q.username).equals("action", q.action).equals("target", q.target);
    where.range("time_ms", q.from_ms, q.to_ms);
    if (!q.cursor.empty()) {
        auto parts = decodeCursor(q.cursor, kind, 2);
        if (!parts.ok()) return parts.error();
        auto t = cursorInteger((*parts)[0]);
        auto seq = cursorInteger((*parts)[1]);
        if (!t.ok()) return t.error();
        if (!seq.ok()) return seq.error();
        if (q.oldest_first) {
            where.after("time_ms", *t, "seq", *seq);
        } else {
            where.before("time_ms", *t, "seq", *seq);
        }
    }
    const char* order = q.oldest_first ? "ASC" : "DESC";
    const std::string statement = fmt::format(
        "SELECT seq, time_ms, username, action, target, detail FROM audit_log{} "
        "ORDER BY time_ms {}, seq {} LIMIT ?",
        where.sql(), order, order);
    where.params().emplace_back(static_cast<int64_t>(limit + 1));
    auto entries =
        readAll<AuditEntry>(statement, where.params(), [](const sql::Rows& rows, size_t r) {
            return AuditEntry{rows.integer(r, 0), rows.integer(r, 1), rows.text(r, 2),
                              rows.text(r, 3),    rows.text(r, 4),    rows.text(r, 5)};
        });
    if (!entries.ok()) return entries.error();
    return makePage(std::move(*entries), limit, [kind](const AuditEntry& e) {
        return encodeCursor(kind, {std::to_string(e.time_ms), std::to_string(e.seq)});
    });
}

}  // namespace vigil::manager
