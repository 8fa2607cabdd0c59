// PostgreSQL driver over libpqxx: a connection pool; libpqxx's exceptions end here, as errors.
#include "server/manager/store/pg_store.h"

#include <pqxx/pqxx>

#include "server/manager/store/connection_pool.h"

namespace vigil::manager {

namespace {

// The first line of a libpqxx/libpq message (the rest repeats the query or points into it).
std::string firstLine(const char* what) {
    std::string s(what ? what : "");
    if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
    return s;
}

// One statement at a time inside the transaction the database opened.
class PgConnection : public sql::Connection {
public:
    explicit PgConnection(pqxx::transaction_base& txn) : txn_(txn) {}

    sql::Dialect dialect() const override { return sql::Dialect::kPostgres; }

    Result<sql::Rows> query(std::string_view sql, const sql::Params& params) override {
        auto r = run(sql, params);
        if (!r.ok()) return r.error();
        sql::Rows rows(static_cast<size_t>(r->columns()));
        for (const auto& row : *r) {
            for (const auto& field : row) {
                rows.add(field.is_null() ? std::string()
                                         : std::string(field.c_str(), field.size()));
            }
        }
        return rows;
    }

    Result<int64_t> execute(std::string_view sql, const sql::Params& params) override {
        auto r = run(sql, params);
        if (!r.ok()) return r.error();
        return static_cast<int64_t>(r->affected_rows());
    }

    Status executeScript(std::string_view sql) override {
        try {
            txn_.exec(std::string(sql));
            return okStatus();
        } catch (const std::exception& e) {
            return makeError("PostgreSQL: {}", firstLine(e.what()));
        }
    }

private:
    Result<pqxx::result> run(std::string_view sql, const sql::Params& params) {
        std::vector<std::string> values;
        values.reserve(params.size());
        for (const auto& p : params) {
            if (const auto* i = std::get_if<int64_t>(&p)) {
                values.push_back(std::to_string(*i));
            } else if (const auto* d = std::get_if<double>(&p)) {
                values.push_back(fmt::format("{}", *d));
            } else {
                values.push_back(std::get<std::string>(p));
            }
        }
        try {
            return txn_.exec_params(sql::numberPlaceholders(sql),
                                    pqxx::prepare::make_dynamic_params(values));
        } catch (const std::exception& e) {
            return makeError("PostgreSQL: {} (in: {:.120})", firstLine(e.what()), sql);
        }
    }

    pqxx::transaction_base& txn_;
};

class PgDatabase : public sql::Database {
public:
    PgDatabase(std::string url, StoreOptions options)
        : url_(std::move(url)),
          options_(std::move(options)),
          pool_(options_.connections, [this] { return connect(); }) {}

    sql::Dialect dialect() const override { return sql::Dialect::kPostgres; }
    std::string_view backend() const override { return "postgresql"; }

    Status write(const Work& work) override { return run<pqxx::work>(work); }
    Status read(const Work& work) override { return run<pqxx::read_transaction>(work); }

    // Opens the first connection now, so that a bad URL fails at open.
    Status connectOnce() {
        auto c = pool_.checkout();
        if (!c.ok()) return c.error();
        pool_.checkin(std::move(*c));
        return okStatus();
    }

private:
    template <typename Txn>
    Status run(const Work& work) {
        auto conn = pool_.checkout();
        if (!conn.ok()) return conn.error();
        Status st = okStatus();
        try {
            Txn txn(**conn);
            PgConnection c(txn);
            st = work(c);
            if (st.ok()) txn.commit();
        } catch (const std::exception& e) {
            st = makeError("PostgreSQL: {}", firstLine(e.what()));
        }
        // A connection the server dropped is closed; the next call opens another.
        const bool usable = (*conn)->is_open();
        pool_.checkin(std::move(*conn), usable);
        return st;
    }

    Result<std::unique_ptr<pqxx::connection>> connect() {
        try {
            auto c = std::make_unique<pqxx::connection>(url_);
            pqxx::nontransaction setup(*c);
            // NOTICEs (e.g. "relation already exists, skipping") are not ours to print.
            setup.exec("SET client_min_messages TO warning");
            setup.commit();
            return c;
        } catch (const std::exception& e) {
            return makeError("PostgreSQL {}: {}", sql::redactUrl(url_), firstLine(e.what()));
        }
    }

    std::string url_;
    StoreOptions options_;
    ConnectionPool<pqxx::connection> pool_;
};

}  // namespace

Result<std::unique_ptr<sql::Database>> openPgDatabase(const std::string& url,
                                                      const StoreOptions& options) {
    auto db = std::make_unique<PgDatabase>(url, options);
    VIGIL_TRY(db->connectOnce());
    return std::unique_ptr<sql::Database>(std::move(db));
}

}  // namespace vigil::manager
