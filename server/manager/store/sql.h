// The small SQL layer under the store: a connection that runs one statement with `?` parameters,
// and a database that runs a unit of work in one transaction. The SQLite and PostgreSQL drivers
// implement it; the store's queries are written once over it (sql_store.h).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "libs/common/result.h"
#include "server/manager/store/store.h"

namespace vigil::manager::sql {

enum class Dialect { kSqlite, kPostgres };

// A parameter or a result cell. There is no NULL: every column is NOT NULL, and a NULL result
// (e.g. an aggregate over nothing) reads as 0 or "".
using Value = std::variant<int64_t, double, std::string>;
using Params = std::vector<Value>;

// The rows a statement returned, cells kept as the driver gave them (SQLite typed, PostgreSQL
// as text); the getters convert.
class Rows {
public:
    Rows() = default;
    explicit Rows(size_t columns) : columns_(columns) {}

    size_t size() const { return columns_ == 0 ? 0 : cells_.size() / columns_; }
    bool empty() const { return size() == 0; }
    size_t columns() const { return columns_; }

    int64_t integer(size_t row, size_t col) const;
    double real(size_t row, size_t col) const;
    std::string text(size_t row, size_t col) const;

    // Appends the next cell (row by row, column by column): an int64_t, a double or a string.
    template <typename T>
    void add(T&& v) {
        cells_.emplace_back(std::forward<T>(v));
    }

private:
    const Value& at(size_t row, size_t col) const { return cells_[row * columns_ + col]; }

    size_t columns_ = 0;
    std::vector<Value> cells_;
};

// One connection inside one transaction; used by one thread at a time.
class Connection {
public:
    virtual ~Connection() = default;
    virtual Dialect dialect() const = 0;
    // Runs one statement whose `?` placeholders take `params` in order; returns its rows.
    virtual Result<Rows> query(std::string_view sql, const Params& params = {}) = 0;
    // Runs one statement; returns how many rows it changed.
    virtual Result<int64_t> execute(std::string_view sql, const Params& params = {}) = 0;
    // Runs several statements separated by ';', without parameters (schema migrations).
    virtual Status executeScript(std::string_view sql) = 0;
};

// A database: units of work run in one transaction each, committed when the work returns ok
// and rolled back otherwise. Thread-safe.
class Database {
public:
    using Work = std::function<Status(Connection&)>;

    virtual ~Database() = default;
    virtual Dialect dialect() const = 0;
    virtual std::string_view backend() const = 0;
    // A read-write transaction (SQLite: the one writer connection, BEGIN IMMEDIATE).
    virtual Status write(const Work& work) = 0;
    // A read-only transaction on a reader connection (one consistent snapshot on SQLite).
    virtual Status read(const Work& work) = 0;
};

// A WHERE clause made of the filters a query sets, with their parameters in order.
class Where {
public:
    // Adds `condition`, whose `?` take `params`.
    Where& add(std::string_view condition, std::initializer_list<Value> params = {});
    // "column = ?" when `value` is not empty.
    Where& equals(std::string_view column, const std::string& value);
    // "column >= from" unless from is 0, "column < to" unless to is 0.
    Where& range(std::string_view column, int64_t from, int64_t to);
    // Keyset pagination over (key, tiebreak): the rows after the given ones in descending order
    // (before) or ascending order (after). The range bound on key serves an index on (key,
    // tiebreak); the OR only separates equal keys.
    Where& before(std::string_view key, Value key_value, std::string_view tiebreak,
                  Value tiebreak_value);
    Where& after(std::string_view key, Value key_value, std::string_view tiebreak,
                 Value tiebreak_value);

    // " WHERE a AND b", or "" without conditions.
    std::string sql() const;
    Params& params() { return params_; }
    const Params& params() const { return params_; }

private:
    Where& keyset(std::string_view key, Value key_value, std::string_view tiebreak,
                  Value tiebreak_value, char op);

    std::vector<std::string> conditions_;
    Params params_;
};

// Opens the database of a store URL (see openStore) without touching its schema.
Result<std::unique_ptr<Database>> openDatabase(const std::string& url, const StoreOptions& options);

// `?` placeholders rewritten as $1, $2, ... (outside quoted strings), for PostgreSQL.
std::string numberPlaceholders(std::string_view sql);

// "?, ?, ?" with `n` placeholders, and `rows` such groups in parentheses: "(?, ?), (?, ?)".
std::string placeholders(size_t n);
std::string valueRows(size_t rows, size_t columns);

// `text` as a LIKE pattern matching it anywhere, with '\' escaping % _ and '\'.
std::string likeContains(std::string_view text);

// A URL with its password replaced by "***", for error messages.
std::string redactUrl(std::string_view url);

}  // namespace vigil::manager::sql
