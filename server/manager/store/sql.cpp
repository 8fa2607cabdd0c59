// The SQL layer's helpers shared by both drivers: result cells, placeholders, LIKE patterns.
#include "server/manager/store/sql.h"

#include <charconv>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace vigil::manager::sql {

int64_t Rows::integer(size_t row, size_t col) const {
    const Value& v = at(row, col);
    if (const auto* i = std::get_if<int64_t>(&v)) return *i;
    if (const auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
    const auto& s = std::get<std::string>(v);
    int64_t out = 0;
    std::from_chars(s.data(), s.data() + s.size(), out);
    return out;
}

double Rows::real(size_t row, size_t col) const {
    const Value& v = at(row, col);
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
    const auto& s = std::get<std::string>(v);
    double out = 0;
    std::from_chars(s.data(), s.data() + s.size(), out);
    return out;
}

std::string Rows::text(size_t row, size_t col) const {
    const Value& v = at(row, col);
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    return fmt::format("{}", std::get<double>(v));
}

Where& Where::add(std::string_view condition, std::initializer_list<Value> params) {
    conditions_.emplace_back(condition);
    params_.insert(params_.end(), params);
    return *this;
}

Where& Where::equals(std::string_view column, const std::string& value) {
    if (value.empty()) return *this;
    return add(fmt::format("{} = ?", column), {value});
}

Where& Where::range(std::string_view column, int64_t from, int64_t to) {
    if (from) add(fmt::format("{} >= ?", column), {from});
    if (to) add(fmt::format("{} < ?", column), {to});
    return *this;
}

Where& Where::keyset(std::string_view key, Value key_value, std::string_view tiebreak,
                     Value tiebreak_value, char op) {
    return add(fmt::format("{0} {2}= ? AND ({0} {2} ? OR {1} {2} ?)", key, tiebreak, op),
               {key_value, key_value, std::move(tiebreak_value)});
}

Where& Where::before(std::string_view key, Value key_value, std::string_view tiebreak,
                     Value tiebreak_value) {
    return keyset(key, std::move(key_value), tiebreak, std::move(tiebreak_value), '<');
}

Where& Where::after(std::string_view key, Value key_value, std::string_view tiebreak,
                    Value tiebreak_value) {
    return keyset(key, std::move(key_value), tiebreak, std::move(tiebreak_value), '>');
}

std::string Where::sql() const {
    if (conditions_.empty()) return "";
    return " WHERE " + fmt::format("{}", fmt::join(conditions_, " AND "));
}

std::string numberPlaceholders(std::string_view sql) {
    std::string out;
    out.reserve(sql.size() + 16);
    int n = 0;
    bool quoted = false;
    for (char c : sql) {
        if (c == '\'') quoted = !quoted;
        if (c == '?' && !quoted) {
            out += '$';
            out += std::to_string(++n);
        } else {
            out += c;
        }
    }
    return out;
}

std::string placeholders(size_t n) {
    std::string out;
    out.reserve(n * 3);
    for (size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
    return out;
}

std::string valueRows(size_t rows, size_t columns) {
    const std::string one = "(" + placeholders(columns) + ")";
    std::string out;
    out.reserve(rows * (one.size() + 2));
    for (size_t i = 0; i < rows; ++i) {
        if (i) out += ", ";
        out += one;
    }
    return out;
}

std::string likeContains(std::string_view text) {
    std::string out = "%";
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\') out += '\\';
        out += c;
    }
    out += '%';
    return out;
}

std::string redactUrl(std::string_view url) {
    const size_t scheme = url.find("://");
    if (scheme == std::string_view::npos) return std::string(url);
    const size_t start = scheme + 3;
    const size_t at = url.find('@', start);
    if (at == std::string_view::npos) return std::string(url);
    const size_t colon = url.find(':', start);
    if (colon == std::string_view::npos || colon > at) return std::string(url);
    return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

}  // namespace vigil::manager::sql
