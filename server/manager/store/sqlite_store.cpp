// SQLite driver: prepared statements cached per connection, one writer, a pool of readers.
#include "server/manager/store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "libs/common/fs.h"
#include "server/manager/store/connection_pool.h"

namespace vigil::manager {

namespace {

class SqliteConnection : public sql::Connection {
public:
    SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    ~SqliteConnection() override {
        for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
        sqlite3_close_v2(db_);
    }

    sql::Dialect dialect() const override { return sql::Dialect::kSqlite; }

    Result<sql::Rows> query(std::string_view sql, const sql::Params& params) override {
        sql::Rows rows;
        auto st = run(sql, params, &rows);
        if (!st.ok()) return st.error();
        return rows;
    }

    Result<int64_t> execute(std::string_view sql, const sql::Params& params) override {
        auto st = run(sql, params, nullptr);
        if (!st.ok()) return st.error();
        return static_cast<int64_t>(sqlite3_changes64(db_));
    }

    Status executeScript(std::string_view sql) override {
        char* message = nullptr;
        const std::string text(sql);
        if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
            Error e = makeError("SQLite {}: {} (in: {:.120})", path_,
                                message ? message : sqlite3_errmsg(db_), text);
            sqlite3_free(message);
            return e;
        }
        return okStatus();
    }

private:
    Error fail(std::string_view sql) const {
        return makeError("SQLite {}: {} (in: {:.120})", path_, sqlite3_errmsg(db_), sql);
    }

    // The statement for `sql`, prepared once per connection.
    Result<sqlite3_stmt*> prepare(std::string_view sql) {
        auto it = cache_.find(std::string(sql));
        if (it != cache_.end()) return it->second;
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                               SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
            return fail(sql);
        }
        cache_.emplace(std::string(sql), stmt);
        return stmt;
    }

    Status run(std::string_view sql, const sql::Params& params, sql::Rows* rows) {
        auto prepared = prepare(sql);
        if (!prepared.ok()) return prepared.error();
        sqlite3_stmt* stmt = *prepared;
        // Reset however we leave: a statement left mid-step would hold its read snapshot.
        struct Reset {
            sqlite3_stmt* s;
            ~Reset() {
                sqlite3_reset(s);
                sqlite3_clear_bindings(s);
            }
        } reset{stmt};
        for (size_t i = 0; i < params.size(); ++i) {
            const int at = static_cast<int>(i + 1);
            int rc = SQLITE_OK;
            if (const auto* v = std::get_if<int64_t>(&params[i])) {
                rc = sqlite3_bind_int64(stmt, at, *v);
            } else if (const auto* d = std::get_if<double>(&params[i])) {
                rc = sqlite3_bind_double(stmt, at, *d);
            } else {
                const auto& s = std::get<std::string>(params[i]);
                rc = sqlite3_bind_text(stmt, at, s.data(), static_cast<int>(s.size()),
                                       SQLITE_STATIC);
            }
            if (rc != SQLITE_OK) return fail(sql);
        }
        const int columns = sqlite3_column_count(stmt);
        if (rows) *rows = sql::Rows(static_cast<size_t>(columns));
        for (;;) {
            const int rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE) return okStatus();
            if (rc != SQLITE_ROW) return fail(sql);
            if (!rows) continue;
            for (int c = 0; c < columns; ++c) {
                switch (sqlite3_column_type(stmt, c)) {
                    case SQLITE_INTEGER:
                        rows->add(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
                        break;
                    case SQLITE_FLOAT:
                        rows->add(sqlite3_column_double(stmt, c));
                        break;
                    case SQLITE_NULL:
                        rows->add(std::string());
                        break;
                    default: {
                        const auto* p = sqlite3_column_text(stmt, c);
                        const int n = sqlite3_column_bytes(stmt, c);
                        rows->add(
                            std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)));
                    }
                }
            }
        }
    }

    sqlite3* db_;
    std::string path_;
    std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

Result<std::unique_ptr<SqliteConnection>> openConnection(const std::string& path,
                                                         const StoreOptions& options, bool writer) {
    sqlite3* db = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
        Error e = makeError("SQLite {}: open: {}", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close_v2(db);
        return e;
    }
    auto conn = std::make_unique<SqliteConnection>(db, path);
    sqlite3_busy_timeout(db, static_cast<int>(options.sqlite_busy_timeout_ms));
    sqlite3_extended_result_codes(db, 1);
    // 64 MiB page cache and 256 MiB of the file mapped per connection: list queries walk index
    // pages of a 1M-alert table.
    std::string pragmas =
        "PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;"
        "PRAGMA temp_store = MEMORY;";
    pragmas += writer ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                      : "PRAGMA query_only = ON;";
    // Switching a new database to WAL takes an exclusive lock, and SQLite answers "database is
    // locked" at once, without its busy handler, while another process or thread opens the same
    // new file (seen in 1 of 10 concurrent opens): retried for as long as the busy timeout.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(options.sqlite_busy_timeout_ms);
    for (int attempt = 0;; ++attempt) {
        const int rc = sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, nullptr);
        if (rc == SQLITE_OK) break;
        if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) {
            return makeError("SQLite {}: {} (setting up the connection, attempt {})", path,
                             sqlite3_errmsg(db), attempt + 1);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5 + 5 * std::min(attempt, 19)));
    }
    return conn;
}

class SqliteDatabase : public sql::Database {
public:
    SqliteDatabase(std::string path, StoreOptions options, std::unique_ptr<SqliteConnection> w)
        : path_(std::move(path)),
          options_(std::move(options)),
          writer_(std::move(w)),
          readers_(options_.connections,
                   [this] { return openConnection(path_, options_, false); }) {}

    ~SqliteDatabase() override {
        // Lets SQLite refresh the planner's statistics where they went stale.
        (void)writer_->executeScript("PRAGMA optimize;");
    }

    sql::Dialect dialect() const override { return sql::Dialect::kSqlite; }
    std::string_view backend() const override { return "sqlite"; }

    Status write(const Work& work) override {
        std::lock_guard lock(write_mu_);
        return inTransaction(*writer_, "BEGIN IMMEDIATE", work);
    }

    Status read(const Work& work) override {
        auto reader = readers_.checkout();
        if (!reader.ok()) return reader.error();
        Status st = inTransaction(**reader, "BEGIN", work);
        readers_.checkin(std::move(*reader));
        return st;
    }

private:
    static Status inTransaction(SqliteConnection& c, const char* begin, const Work& work) {
        VIGIL_TRY(c.executeScript(begin));
        Status st = work(c);
        if (st.ok()) {
            st = c.executeScript("COMMIT");
            if (st.ok()) return st;
        }
        (void)c.executeScript("ROLLBACK");
        return st;
    }

    std::string path_;
    StoreOptions options_;
    std::mutex write_mu_;
    std::unique_ptr<SqliteConnection> writer_;
    ConnectionPool<SqliteConnection> readers_;
};

}  // namespace

Result<std::unique_ptr<sql::Database>> openSqliteDatabase(const std::string& path,
                                                          const StoreOptions& options) {
    if (path.empty()) return makeError("SQLite store: empty path (sqlite:///path/to/manager.db)");
    const std::string dir = fs::dirName(path);
    if (!dir.empty() && dir != "." && !fs::exists(dir)) {
        if (auto st = fs::makeDirs(dir, 0750); !st.ok()) {
            return makeError("SQLite store {}: {}", path, st.message());
        }
    }
    auto writer = openConnection(path, options, true);
    if (!writer.ok()) return writer.error();
    return std::unique_ptr<sql::Database>(
        std::make_unique<SqliteDatabase>(path, options, std::move(*writer)));
}

}  // namespace vigil::manager
