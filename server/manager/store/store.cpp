// openStore: picks the backend by URL, migrates the schema; enum names; Store's helpers.
#include "server/manager/store/store.h"

#include <array>

#include "server/manager/store/migrations.h"
#include "server/manager/store/pg_store.h"
#include "server/manager/store/sql_store.h"
#include "server/manager/store/sqlite_store.h"

namespace vigil::manager {

namespace {

constexpr std::array<std::string_view, kSeverityCount> kSeverityNames = {"info", "low", "medium",
                                                                         "high", "critical"};
constexpr std::array<std::string_view, kAlertStatusCount> kStatusNames = {
    "new", "confirmed", "false_positive", "resolved"};
constexpr std::array<std::string_view, 3> kRoleNames = {"admin", "operator", "read_only"};

template <typename E, size_t N>
std::optional<E> parseName(const std::array<std::string_view, N>& names, std::string_view name) {
    for (size_t i = 0; i < N; ++i) {
        if (names[i] == name) return static_cast<E>(i);
    }
    return std::nullopt;
}

bool startsWith(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string_view severityName(Severity s) {
    return kSeverityNames.at(static_cast<size_t>(s));
}
std::optional<Severity> parseSeverity(std::string_view name) {
    return parseName<Severity>(kSeverityNames, name);
}
std::string_view alertStatusName(AlertStatus s) {
    return kStatusNames.at(static_cast<size_t>(s));
}
std::optional<AlertStatus> parseAlertStatus(std::string_view name) {
    return parseName<AlertStatus>(kStatusNames, name);
}
std::string_view roleName(Role r) {
    return kRoleNames.at(static_cast<size_t>(r));
}
std::optional<Role> parseRole(std::string_view name) {
    return parseName<Role>(kRoleNames, name);
}

Result<IngestResult> Store::insertAlerts(std::vector<Alert> alerts) {
    IngestBatch batch;
    batch.alerts = std::move(alerts);
    return ingest(batch);
}

Result<IngestResult> Store::upsertHosts(std::vector<Host> hosts) {
    IngestBatch batch;
    batch.hosts = std::move(hosts);
    return ingest(batch);
}

namespace sql {

Result<std::unique_ptr<Database>> openDatabase(const std::string& url,
                                               const StoreOptions& options) {
    if (startsWith(url, "sqlite://")) return openSqliteDatabase(url.substr(9), options);
    if (startsWith(url, "postgresql://") || startsWith(url, "postgres://")) {
        return openPgDatabase(url, options);
    }
    return makeError(
        "store URL '{}': expected sqlite:///path/to/manager.db or "
        "postgresql://user@host:port/dbname",
        redactUrl(url));
}

}  // namespace sql

Result<std::unique_ptr<Store>> openStore(const std::string& url, const StoreOptions& options) {
    auto db = sql::openDatabase(url, options);
    if (!db.ok()) return db.error();
    if (auto st = migrate(**db); !st.ok()) {
        return makeError("store {}: {}", sql::redactUrl(url), st.message());
    }
    return std::unique_ptr<Store>(std::make_unique<SqlStore>(std::move(*db), options));
}

}  // namespace vigil::manager
