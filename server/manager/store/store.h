// The manager's storage (DESIGN.md §2, issue 6): hosts, alerts, users, sessions, the audit log and
// tasks behind one interface, with an SQLite backend (all-in-one) and a PostgreSQL backend
// (distributed). docs/manager-store.md describes the schema, the indexes and what each query costs.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/common/result.h"

namespace vigil::manager {

// Every time in the store is milliseconds since the Unix epoch (UTC).

// Alert severities, in increasing order (the hub's rule `severity`). Stored as the number.
enum class Severity : int { kInfo = 0, kLow = 1, kMedium = 2, kHigh = 3, kCritical = 4 };
inline constexpr int kSeverityCount = 5;
// The alert workflow. Stored as the number.
enum class AlertStatus : int { kNew = 0, kConfirmed = 1, kFalsePositive = 2, kResolved = 3 };
inline constexpr int kAlertStatusCount = 4;
enum class Role : int { kAdmin = 0, kOperator = 1, kReadOnly = 2 };

// Names as the API and the hub spell them: info low medium high critical; new confirmed
// false_positive resolved; admin operator read_only.
std::string_view severityName(Severity s);
std::optional<Severity> parseSeverity(std::string_view name);
std::string_view alertStatusName(AlertStatus s);
std::optional<AlertStatus> parseAlertStatus(std::string_view name);
std::string_view roleName(Role r);
std::optional<Role> parseRole(std::string_view name);

// One agent, as its heartbeats (1000, 1001) describe it.
struct Host {
    std::string agent_id;
    std::string hostname;
    std::string version;                    // agent version
    std::string platform;                   // OS, e.g. "debian 12 (6.1.0-18-amd64)"
    std::vector<std::string> intranet_ips;  // IPv4 and IPv6
    std::vector<std::string> extranet_ips;
    // Set by the store when the host is first upserted (to first_seen_ms when given, else
    // last_heartbeat_ms) and kept afterwards.
    int64_t first_seen_ms = 0;
    int64_t last_heartbeat_ms = 0;
    double cpu_percent = 0;  // the agent's own CPU use
    int64_t rss_bytes = 0;   // the agent's own resident memory
    int64_t drops = 0;       // records dropped by the agent, all causes
    // JSON array of the host's plugins and their state (name, version, status, cpu, rss, ...).
    // On upsert, empty keeps the stored value.
    std::string plugins_json;
    // Read only: last_heartbeat_ms is within StoreOptions::host_offline_after of now.
    bool online = false;
};

// One alert from the hub (docs/hub.md "Alerts"); alert_id is stable across redeliveries.
struct Alert {
    std::string alert_id;
    std::string rule_id;
    std::string rule_name;
    Severity severity = Severity::kInfo;
    std::vector<std::string> mitre;  // technique ids
    std::string agent_id;
    std::string hostname;
    int32_t data_type = 0;
    std::string argv;     // command line of the triggering process; free-text searched
    int64_t time_ms = 0;  // when the record happened (agent time)
    int64_t hub_time_ms = 0;
    AlertStatus status = AlertStatus::kNew;
    std::string status_comment;
    std::string updated_by;  // who set the status
    int64_t updated_at_ms = 0;
    std::string json;  // the hub's alert JSON, whole (lists return it only with with_json)
    int64_t seq = 0;   // read only: store-assigned insertion number
};

struct User {
    std::string username;
    Role role = Role::kReadOnly;
    std::string password_hash;  // opaque to the store (argon2id encoded string)
    bool disabled = false;
    int64_t created_at_ms = 0;
};

// Changes to a user; unset fields stay.
struct UserUpdate {
    std::optional<Role> role;
    std::optional<std::string> password_hash;
    std::optional<bool> disabled;
};

struct Session {
    std::string token_hash;  // the store never sees the token itself
    std::string username;
    int64_t created_at_ms = 0;
    int64_t expires_at_ms = 0;
    Role role = Role::kReadOnly;  // read only: the user's role when the session was read
};

struct AuditEntry {
    int64_t seq = 0;  // read only: store-assigned
    int64_t time_ms = 0;
    std::string username;
    std::string action;  // e.g. "alert.status", "user.create"
    std::string target;  // e.g. an alert_id, a username
    std::string detail_json = "{}";
};

// A task sent to one or many hosts (a plugin task or an agent task, DESIGN.md §3).
struct Task {
    std::string task_id;
    std::vector<std::string> agent_ids;
    int32_t data_type = 0;
    std::string object_name;  // the plugin (or the agent's product name)
    std::string payload;      // Task.data
    std::string created_by;
    int64_t created_at_ms = 0;
    // Read only: how many of its hosts are in each result status ("pending", ...).
    std::map<std::string, int64_t> status_counts;
};

// Where one host is with a task. createTask adds one "pending" result per target host; the
// manager's other statuses are its own (e.g. "sent", "succeeded", "failed").
struct TaskResult {
    std::string task_id;
    std::string agent_id;
    std::string status;
    std::string result_json;  // the 5100 record's fields, as JSON
    int64_t time_ms = 0;
};

inline constexpr const char* kTaskPending = "pending";

// A named set of hosts with the plugin set they should run (the centers push it as a config
// sync). A host is in at most one group; hosts in none get the group named kDefaultGroup.
struct HostGroup {
    std::string name;
    std::string description;
    // JSON array of {name, version, sha256, download_urls, detail, type, signature}: the config
    // entries the centers push (docs/center.md "Plugin configs").
    std::string plugins_json = "[]";
    std::vector<std::string> agent_ids;  // members, sorted
    std::string updated_by;
    int64_t updated_at_ms = 0;
};

inline constexpr const char* kDefaultGroup = "default";

// A page of a list and the cursor of the next one (empty on the last page). Cursors are opaque
// strings for clients to hand back unchanged, valid for the same query only.
template <typename T>
struct Page {
    std::vector<T> items;
    std::string next_cursor;
};

inline constexpr size_t kDefaultPageSize = 50;
inline constexpr size_t kMaxPageSize = 1000;  // larger limits are clamped

enum class AlertSort {
    kTimeDesc,      // newest first
    kSeverityDesc,  // most severe first, then newest first
};

// Filters of the alert list; every set filter must match. Sorted by the key, then by seq, so
// that pages are stable while alerts arrive: no alert appears twice across the pages of one
// query and none that existed at the first page is skipped.
struct AlertQuery {
    std::vector<Severity> severities;   // any of; empty = any
    std::vector<AlertStatus> statuses;  // any of; empty = any
    std::string rule_id;
    std::string agent_id;
    int64_t from_ms = 0;  // time_ms >= from_ms
    int64_t to_ms = 0;    // time_ms < to_ms; 0 = no upper bound
    // Case-insensitive (ASCII) substring of rule_name, hostname or argv. Costs a scan of the
    // alerts matching the other filters, newest first, until the page is full.
    std::string text;
    AlertSort sort = AlertSort::kTimeDesc;
    size_t limit = kDefaultPageSize;
    std::string cursor;
    bool with_json = false;
};

struct AlertStatusUpdate {
    std::string alert_id;
    AlertStatus status = AlertStatus::kNew;
    std::string comment;
    std::string updated_by;
    int64_t updated_at_ms = 0;  // 0 = now
};

using SeverityCounts = std::array<int64_t, kSeverityCount>;  // indexed by Severity

struct TimeBucketCount {
    int64_t start_ms = 0;
    SeverityCounts counts{};
};

struct TopEntry {
    std::string key;    // rule_id or agent_id
    std::string label;  // rule_name or hostname
    int64_t count = 0;
};

// Counts from summary tables kept with every insert: alerts per hour and severity, per day and
// rule, per day and host. Their cost follows the number of hours and days asked for, not the
// number of alerts.
struct AlertStatsQuery {
    int64_t from_ms = 0;
    int64_t to_ms = 0;                // 0 = now
    int64_t bucket_ms = 3600 * 1000;  // chart bucket: a whole number of hours
    size_t top = 10;                  // length of the top lists
};

struct AlertStats {
    // The range the severity counts and the chart cover: from_ms and to_ms widened to whole
    // hours (UTC).
    int64_t from_ms = 0;
    int64_t to_ms = 0;
    SeverityCounts by_severity{};
    std::vector<TimeBucketCount> buckets;  // oldest first, every bucket of the range
    // The range the top lists cover: widened to whole days (UTC).
    int64_t top_from_ms = 0;
    int64_t top_to_ms = 0;
    std::vector<TopEntry> top_rules;
    std::vector<TopEntry> top_hosts;
};

// All-time alert counts by status and severity (e.g. the open alerts): [status][severity].
using StatusCounts = std::array<SeverityCounts, kAlertStatusCount>;

enum class HostState { kAny, kOnline, kOffline };
enum class HostSort {
    kHostname,           // hostname ascending, then agent_id
    kLastHeartbeatDesc,  // most recent heartbeat first, then agent_id
};

struct HostQuery {
    HostState state = HostState::kAny;
    std::string hostname_prefix;  // case-sensitive
    HostSort sort = HostSort::kHostname;
    size_t limit = kDefaultPageSize;
    std::string cursor;
};

struct HostCounts {
    int64_t online = 0;
    int64_t offline = 0;
};

struct AuditQuery {
    std::string username;  // empty = any
    std::string action;    // empty = any
    std::string target;    // empty = any
    int64_t from_ms = 0;
    int64_t to_ms = 0;          // 0 = no upper bound
    bool oldest_first = false;  // else newest first
    size_t limit = kDefaultPageSize;
    std::string cursor;
};

struct TaskQuery {
    std::string created_by;     // empty = any
    std::string name;           // the plugin (object_name); empty = any
    int32_t data_type = 0;      // 0 = any
    std::string agent_id;       // tasks sent to this host; empty = any
    int64_t from_ms = 0;        // created at
    int64_t to_ms = 0;          // 0 = no upper bound
    bool oldest_first = false;  // else newest first
    size_t limit = kDefaultPageSize;
    std::string cursor;
};

// What the bus consumer writes in one transaction: everything or nothing, so it can commit its
// bus position once the call returns ok. Repeats are harmless: an alert_id already stored is
// skipped, a host heartbeat older than the stored one changes nothing, a task result replaces
// the host's previous one.
struct IngestBatch {
    std::vector<Host> hosts;
    std::vector<Alert> alerts;
    std::vector<TaskResult> task_results;
};

struct IngestResult {
    size_t alerts_inserted = 0;
    size_t alerts_duplicate = 0;  // alert_id already stored (or repeated in the batch)
    size_t hosts_upserted = 0;
    size_t task_results_recorded = 0;
    size_t task_results_unknown = 0;  // for a task_id the store does not have: dropped
};

struct StoreOptions {
    // A host is online while its last heartbeat is at most this old (agents beat every 60 s).
    int64_t host_offline_after_ms = 180 * 1000;
    // SQLite: reader connections (one writer connection besides). PostgreSQL: pool size.
    size_t connections = 4;
    // SQLite: how long a writer waits for another process's lock before failing.
    int64_t sqlite_busy_timeout_ms = 5000;
    // The clock (milliseconds since the epoch); tests replace it. Empty = the system clock.
    std::function<int64_t()> now_ms;
};

// The store. Every method is thread-safe: SQLite serialises writes on one connection and runs
// reads on a pool of reader connections (WAL mode, readers never wait for the writer);
// PostgreSQL runs each call on a connection of its pool. Methods never throw; failures (the
// database unreachable, a disk full, a bad cursor) come back as errors with a message a person
// can act on. Lookups return an empty optional when the row does not exist; creates return
// false when it already exists, updates and deletes false when it does not.
class Store {
public:
    virtual ~Store() = default;

    // "sqlite" or "postgresql".
    virtual std::string_view backend() const = 0;

    // Hosts, alerts and task results from the bus, in one transaction.
    virtual Result<IngestResult> ingest(const IngestBatch& batch) = 0;
    Result<IngestResult> insertAlerts(std::vector<Alert> alerts);
    Result<IngestResult> upsertHosts(std::vector<Host> hosts);

    // Alerts.
    virtual Result<Page<Alert>> listAlerts(const AlertQuery& query) = 0;
    virtual Result<std::optional<Alert>> getAlert(const std::string& alert_id) = 0;
    virtual Result<bool> updateAlertStatus(const AlertStatusUpdate& update) = 0;
    virtual Result<AlertStats> alertStats(const AlertStatsQuery& query) = 0;
    virtual Result<StatusCounts> alertStatusCounts() = 0;

    // Hosts.
    virtual Result<Page<Host>> listHosts(const HostQuery& query) = 0;
    virtual Result<std::optional<Host>> getHost(const std::string& agent_id) = 0;
    // agent_id -> hostname for those of `agent_ids` the store has (a task's results). The
    // default asks getHost for each; SqlStore reads them in a few queries.
    virtual Result<std::map<std::string, std::string>> hostnames(
        const std::vector<std::string>& agent_ids);
    virtual Result<HostCounts> hostCounts() = 0;
    // Deletes those of `agent_ids` that are offline now (their alerts stay); returns the ids
    // deleted. An online host is kept: it would come back with its next heartbeat anyway.
    virtual Result<std::vector<std::string>> deleteOfflineHosts(
        const std::vector<std::string>& agent_ids) = 0;

    // Users.
    virtual Result<bool> createUser(const User& user) = 0;
    virtual Result<std::optional<User>> getUser(const std::string& username) = 0;
    virtual Result<std::vector<User>> listUsers() = 0;  // by username
    virtual Result<bool> updateUser(const std::string& username, const UserUpdate& update) = 0;
    virtual Result<bool> deleteUser(const std::string& username) = 0;  // and its sessions

    // Sessions. getSession returns a session only while it has not expired and its user exists
    // and is enabled, with the user's current role.
    virtual Result<bool> createSession(const Session& session) = 0;
    virtual Result<std::optional<Session>> getSession(const std::string& token_hash) = 0;
    virtual Result<bool> deleteSession(const std::string& token_hash) = 0;
    virtual Result<int64_t> deleteUserSessions(const std::string& username) = 0;
    virtual Result<int64_t> deleteExpiredSessions() = 0;

    // The audit log (append only).
    virtual Status appendAudit(const AuditEntry& entry) = 0;
    virtual Result<Page<AuditEntry>> listAudit(const AuditQuery& query) = 0;

    // Tasks and their per-host results.
    virtual Result<bool> createTask(const Task& task) = 0;
    virtual Result<std::optional<Task>> getTask(const std::string& task_id) = 0;
    virtual Result<Page<Task>> listTasks(const TaskQuery& query) = 0;
    virtual Result<std::vector<TaskResult>> taskResults(const std::string& task_id) = 0;

    // Host groups (plugin configs). putHostGroup creates or replaces the group with its members
    // (a member of another group leaves that group); true when it was created. The defaults
    // answer "not supported" so that test doubles of the store need not implement them.
    virtual Result<bool> putHostGroup(const HostGroup& group);
    virtual Result<std::optional<HostGroup>> getHostGroup(const std::string& name);
    virtual Result<std::vector<HostGroup>> listHostGroups();  // by name, with members
    virtual Result<bool> deleteHostGroup(const std::string& name);
};

// Opens (creating and migrating the schema as needed) the store at `url`:
//   sqlite:///var/lib/vigil/manager.db            (sqlite://relative/path also works)
//   postgresql://user:password@host:5432/dbname   (any libpq URI; postgres:// too)
// Fails when the database's schema is newer than this binary knows.
Result<std::unique_ptr<Store>> openStore(const std::string& url, const StoreOptions& options = {});

}  // namespace vigil::manager
