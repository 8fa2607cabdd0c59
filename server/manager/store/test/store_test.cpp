// The store suite, run against SQLite and against a real PostgreSQL: migrations, hosts, users and
// sessions, audit log, tasks, the ingest transaction, concurrency (alerts: store_alert_test.cpp).
#include <algorithm>
#include <functional>
#include <set>
#include <thread>

#include "server/manager/store/migrations.h"
#include "server/manager/store/test/store_fixture.h"

namespace vigil::manager::testing {
namespace {

constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

// ---- migrations ------------------------------------------------------------------------------

TEST_P(StoreTest, FreshDatabaseIsAtTheLatestSchema) {
    auto db = raw();
    ASSERT_TRUE(db);
    auto v = schemaVersion(*db);
    ASSERT_TRUE(v.ok()) << v.message();
    EXPECT_EQ(*v, latestSchemaVersion());
    EXPECT_EQ(store_->backend(), GetParam());
}

TEST_P(StoreTest, ReopenKeepsDataAndAppliesNothingTwice) {
    ASSERT_TRUE(store_->insertAlerts({makeAlert(1, 1, 1, Severity::kHigh, kT0)}).ok());
    store_.reset();
    auto again = open();
    ASSERT_TRUE(again.ok()) << again.message();
    auto got = (*again)->getAlert("alert-1");
    ASSERT_TRUE(got.ok()) << got.message();
    EXPECT_TRUE(got->has_value());
    auto db = raw();
    int64_t rows = -1;
    ASSERT_TRUE(db->read([&](sql::Connection& c) -> Status {
                      auto r = c.query("SELECT COUNT(*) FROM schema_migrations");
                      if (!r.ok()) return r.error();
                      rows = r->integer(0, 0);
                      return okStatus();
                  }).ok());
    EXPECT_EQ(rows, static_cast<int64_t>(storeMigrations().size()));
}

TEST_P(StoreTest, FailedMigrationRollsBackAndNewerSchemaIsRefused) {
    auto db = raw();
    ASSERT_TRUE(db);
    const int latest = latestSchemaVersion();
    auto list = storeMigrations();
    const std::string bad = "CREATE TABLE extra (x INTEGER); SELECT no_such_function()";
    list.push_back({latest + 1, "broken", bad, bad});
    Status st = migrate(*db, list);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("schema migration " + std::to_string(latest + 1)),
              std::string::npos)
        << st.message();
    EXPECT_EQ(*schemaVersion(*db), latest);
    // The failed migration's table went with its transaction.
    Status probe = db->read([](sql::Connection& c) -> Status {
        auto r = c.query("SELECT COUNT(*) FROM extra");
        return r.ok() ? okStatus() : Status(r.error());
    });
    EXPECT_FALSE(probe.ok());

    const std::string good = "CREATE TABLE extra (x INTEGER)";
    list.back() = {latest + 1, "extra table", good, good};
    ASSERT_TRUE(migrate(*db, list).ok());
    ASSERT_TRUE(migrate(*db, list).ok());  // idempotent
    EXPECT_EQ(*schemaVersion(*db), latest + 1);

    // This binary knows only `latest`: the database was written by a newer one.
    store_.reset();
    auto refused = open();
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.message().find("newer"), std::string::npos) << refused.message();
    EXPECT_NE(refused.message().find(std::to_string(latest + 1)), std::string::npos);
}

TEST_P(StoreTest, ConcurrentOpensOfAnEmptyDatabaseMigrateOnce) {
    const std::string url = freshUrl();
    std::vector<std::thread> threads;
    std::vector<std::string> errors(4);
    for (size_t i = 0; i < errors.size(); ++i) {
        threads.emplace_back([&, i] {
            auto s = open(url);
            if (!s.ok()) errors[i] = s.message();
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) EXPECT_EQ(e, "");
    auto s = open(url);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE((*s)->insertAlerts({makeAlert(1, 1, 1, Severity::kLow, kT0)}).ok());
}

TEST_P(StoreTest, BadUrlsAreRefusedWithAReason) {
    auto r = openStore("mysql://localhost/x");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("sqlite://"), std::string::npos) << r.message();
    auto pg = openStore("postgresql://nobody:secret@127.0.0.1:1/none");
    ASSERT_FALSE(pg.ok());
    EXPECT_EQ(pg.message().find("secret"), std::string::npos) << pg.message();
}

// ---- hosts -----------------------------------------------------------------------------------

TEST_P(StoreTest, HostUpsertKeepsFirstSeenAndIgnoresStaleHeartbeats) {
    Host h = makeHost(1, "web-1", kT0 - 10 * kMinute);
    auto r = store_->upsertHosts({h});
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r->hosts_upserted, 1u);

    h.last_heartbeat_ms = kT0;
    h.version = "1.9.1";
    h.cpu_percent = 1.5;
    h.rss_bytes = 20 << 20;
    h.drops = 77;
    h.plugins_json = "";  // a heartbeat without plugin news keeps them
    ASSERT_TRUE(store_->upsertHosts({h}).ok());
    auto got = must(store_->getHost("agent-1"));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->first_seen_ms, kT0 - 10 * kMinute);
    EXPECT_EQ(got->last_heartbeat_ms, kT0);
    EXPECT_EQ(got->version, "1.9.1");
    EXPECT_DOUBLE_EQ(got->cpu_percent, 1.5);
    EXPECT_EQ(got->rss_bytes, 20 << 20);
    EXPECT_EQ(got->drops, 77);
    EXPECT_EQ(got->intranet_ips, (std::vector<std::string>{"10.0.0.1", "fd00::1"}));
    EXPECT_EQ(got->extranet_ips, (std::vector<std::string>{"203.0.113.1"}));
    EXPECT_EQ(got->plugins_json, R"([{"name":"driver","status":"running"}])");

    // A redelivered older heartbeat, and two of one host in a batch (the latest wins).
    Host stale = makeHost(1, "web-1", kT0 - 5 * kMinute);
    stale.version = "1.0.0";
    Host newer = makeHost(1, "web-1-renamed", kT0 + kMinute);
    Host older = makeHost(1, "web-1-old", kT0 + 30000);
    ASSERT_TRUE(store_->upsertHosts({stale}).ok());
    EXPECT_EQ((must(store_->getHost("agent-1")))->version, "1.9.1");
    ASSERT_TRUE(store_->upsertHosts({newer, older}).ok());
    got = must(store_->getHost("agent-1"));
    EXPECT_EQ(got->hostname, "web-1-renamed");
    EXPECT_EQ(got->first_seen_ms, kT0 - 10 * kMinute);
    EXPECT_FALSE(must(store_->getHost("agent-2")).has_value());
}

TEST_P(StoreTest, HostnamesOfManyAgentsAtOnce) {
    std::vector<Host> hosts;
    for (int i = 1; i <= 1200; ++i) hosts.push_back(makeHost(i, "h" + std::to_string(i), kT0));
    ASSERT_TRUE(store_->upsertHosts(hosts).ok());
    // More ids than one query takes, some unknown.
    std::vector<std::string> ids;
    for (int i = 1; i <= 1300; i += 2) ids.push_back("agent-" + std::to_string(i));
    auto names = must(store_->hostnames(ids));
    EXPECT_EQ(names.size(), 600u);  // agent-1 ... agent-1199 (odd)
    EXPECT_EQ(names.at("agent-1"), "h1");
    EXPECT_EQ(names.at("agent-1199"), "h1199");
    EXPECT_EQ(names.count("agent-1201"), 0u);
    EXPECT_TRUE(must(store_->hostnames({})).empty());
}

TEST_P(StoreTest, HostsOnlineAndOfflineFollowTheClock) {
    std::vector<Host> hosts;
    for (int i = 0; i < 10; ++i)
        hosts.push_back(makeHost(i, "h" + std::to_string(i), kT0 - i * kMinute));
    ASSERT_TRUE(store_->upsertHosts(hosts).ok());
    // Offline after 180 s: hosts 0-3 are online at kT0 (3 minutes is the limit).
    auto counts = must(store_->hostCounts());
    EXPECT_EQ(counts.online, 4);
    EXPECT_EQ(counts.offline, 6);
    HostQuery q;
    q.state = HostState::kOnline;
    auto online = must(store_->listHosts(q));
    ASSERT_EQ(online.items.size(), 4u);
    for (const auto& h : online.items) EXPECT_TRUE(h.online) << h.agent_id;
    q.state = HostState::kOffline;
    auto offline = must(store_->listHosts(q));
    ASSERT_EQ(offline.items.size(), 6u);
    for (const auto& h : offline.items) EXPECT_FALSE(h.online) << h.agent_id;
    EXPECT_FALSE((must(store_->getHost("agent-9")))->online);

    setNow(kT0 + 2 * kMinute + 1);
    counts = must(store_->hostCounts());
    EXPECT_EQ(counts.online, 1);
    EXPECT_FALSE((must(store_->getHost("agent-1")))->online);
}

TEST_P(StoreTest, HostListSortsPagesAndFiltersByPrefix) {
    std::vector<Host> hosts;
    for (int i = 0; i < 25; ++i) {
        const std::string name = (i % 2 ? "web-" : "db-") + std::to_string(100 + i % 12);
        hosts.push_back(makeHost(i, name, kT0 - (i % 6) * 1000));  // equal names and times
    }
    ASSERT_TRUE(store_->upsertHosts(hosts).ok());
    auto collect = [&](HostQuery q) {
        std::vector<Host> all;
        for (int pages = 0; pages < 100; ++pages) {
            auto page = store_->listHosts(q);
            EXPECT_TRUE(page.ok()) << page.message();
            if (!page.ok()) break;
            all.insert(all.end(), page->items.begin(), page->items.end());
            if (page->next_cursor.empty()) break;
            q.cursor = page->next_cursor;
        }
        return all;
    };
    HostQuery q;
    q.limit = 4;
    auto by_name = collect(q);
    ASSERT_EQ(by_name.size(), 25u);
    for (size_t i = 1; i < by_name.size(); ++i) {
        EXPECT_LT(std::tie(by_name[i - 1].hostname, by_name[i - 1].agent_id),
                  std::tie(by_name[i].hostname, by_name[i].agent_id));
    }
    q.sort = HostSort::kLastHeartbeatDesc;
    auto by_beat = collect(q);
    ASSERT_EQ(by_beat.size(), 25u);
    for (size_t i = 1; i < by_beat.size(); ++i) {
        EXPECT_GT(std::tie(by_beat[i - 1].last_heartbeat_ms, by_beat[i - 1].agent_id),
                  std::tie(by_beat[i].last_heartbeat_ms, by_beat[i].agent_id));
    }
    q = {};
    q.limit = 3;
    q.hostname_prefix = "web-10";
    auto web = collect(q);
    std::set<std::string> expected;
    for (const auto& h : hosts) {
        if (h.hostname.rfind("web-10", 0) == 0) expected.insert(h.agent_id);
    }
    ASSERT_EQ(web.size(), expected.size());
    for (const auto& h : web) EXPECT_TRUE(expected.count(h.agent_id)) << h.hostname;
    q.hostname_prefix = "Web";  // case-sensitive
    EXPECT_TRUE(collect(q).empty());
}

TEST_P(StoreTest, OnlyOfflineHostsAreDeletedAndTheirAlertsStay) {
    ASSERT_TRUE(store_
                    ->upsertHosts({makeHost(1, "up", kT0), makeHost(2, "down", kT0 - kHour),
                                   makeHost(3, "down-too", kT0 - kDay)})
                    .ok());
    ASSERT_TRUE(store_->insertAlerts({makeAlert(1, 1, 2, Severity::kHigh, kT0 - kHour)}).ok());
    auto deleted = store_->deleteOfflineHosts({"agent-1", "agent-2", "agent-9", "agent-2"});
    ASSERT_TRUE(deleted.ok()) << deleted.message();
    EXPECT_EQ(*deleted, std::vector<std::string>{"agent-2"});
    EXPECT_TRUE(must(store_->getHost("agent-1")).has_value());
    EXPECT_FALSE(must(store_->getHost("agent-2")).has_value());
    EXPECT_TRUE(must(store_->getHost("agent-3")).has_value());
    EXPECT_TRUE(must(store_->getAlert("alert-1")).has_value());
    EXPECT_TRUE(must(store_->deleteOfflineHosts({})).empty());
}

// ---- users, sessions, audit ------------------------------------------------------------------

TEST_P(StoreTest, UsersCreateUpdateDelete) {
    ASSERT_TRUE(must(store_->createUser({"admin", Role::kAdmin, "$argon2id$v=19$a", false, 0})));
    ASSERT_TRUE(
        must(store_->createUser({"ann", Role::kReadOnly, "$argon2id$v=19$b", false, kT0 - 1})));
    auto again = store_->createUser({"admin", Role::kReadOnly, "x", false, 0});
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(*again);
    EXPECT_FALSE(store_->createUser({"", Role::kAdmin, "x", false, 0}).ok());

    auto admin = must(store_->getUser("admin"));
    ASSERT_TRUE(admin.has_value());
    EXPECT_EQ(admin->role, Role::kAdmin);
    EXPECT_EQ(admin->password_hash, "$argon2id$v=19$a");
    EXPECT_EQ(admin->created_at_ms, kT0);
    EXPECT_FALSE(admin->disabled);

    ASSERT_TRUE(
        must(store_->updateUser("ann", {Role::kOperator, std::string("$argon2id$new"), true})));
    auto ann = must(store_->getUser("ann"));
    EXPECT_EQ(ann->role, Role::kOperator);
    EXPECT_EQ(ann->password_hash, "$argon2id$new");
    EXPECT_TRUE(ann->disabled);
    EXPECT_EQ(ann->created_at_ms, kT0 - 1);
    ASSERT_TRUE(must(store_->updateUser("ann", {std::nullopt, std::nullopt, false})));
    EXPECT_FALSE((must(store_->getUser("ann")))->disabled);
    EXPECT_EQ((must(store_->getUser("ann")))->role, Role::kOperator);
    EXPECT_TRUE(must(store_->updateUser("ann", {})));
    EXPECT_FALSE(must(store_->updateUser("nobody", {Role::kAdmin, {}, {}})));

    auto users = must(store_->listUsers());
    ASSERT_EQ(users.size(), 2u);
    EXPECT_EQ(users[0].username, "admin");
    EXPECT_EQ(users[1].username, "ann");

    ASSERT_TRUE(must(store_->createSession({"tok-ann", "ann", 0, kT0 + kHour})));
    ASSERT_TRUE(must(store_->deleteUser("ann")));
    EXPECT_FALSE(must(store_->deleteUser("ann")));
    EXPECT_FALSE(must(store_->getUser("ann")).has_value());
    EXPECT_FALSE(must(store_->getSession("tok-ann")).has_value());
    EXPECT_EQ(must(store_->deleteUserSessions("ann")), 0);  // went with the user
}

TEST_P(StoreTest, SessionsExpireAndFollowTheirUser) {
    ASSERT_TRUE(must(store_->createUser({"op", Role::kOperator, "h", false, 0})));
    ASSERT_TRUE(must(store_->createSession({"tok-1", "op", 0, kT0 + kHour})));
    ASSERT_TRUE(must(store_->createSession({"tok-2", "op", 0, kT0 + 2 * kHour})));
    EXPECT_FALSE(must(store_->createSession({"tok-1", "op", 0, kT0 + 9 * kHour})));
    EXPECT_FALSE(store_->createSession({"tok-3", "ghost", 0, kT0 + kHour}).ok());

    auto s = must(store_->getSession("tok-1"));
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->username, "op");
    EXPECT_EQ(s->role, Role::kOperator);
    EXPECT_EQ(s->created_at_ms, kT0);
    EXPECT_EQ(s->expires_at_ms, kT0 + kHour);
    EXPECT_FALSE(must(store_->getSession("tok-none")).has_value());

    // The role is read at each lookup; a disabled user has no session.
    ASSERT_TRUE(must(store_->updateUser("op", {Role::kReadOnly, {}, {}})));
    EXPECT_EQ((must(store_->getSession("tok-1")))->role, Role::kReadOnly);
    ASSERT_TRUE(must(store_->updateUser("op", {{}, {}, true})));
    EXPECT_FALSE(must(store_->getSession("tok-1")).has_value());
    ASSERT_TRUE(must(store_->updateUser("op", {{}, {}, false})));

    setNow(kT0 + kHour);  // tok-1 expires at this instant
    EXPECT_FALSE(must(store_->getSession("tok-1")).has_value());
    EXPECT_TRUE(must(store_->getSession("tok-2")).has_value());
    EXPECT_EQ(must(store_->deleteExpiredSessions()), 1);
    EXPECT_EQ(must(store_->deleteExpiredSessions()), 0);
    EXPECT_TRUE(must(store_->deleteSession("tok-2")));
    EXPECT_FALSE(must(store_->deleteSession("tok-2")));

    ASSERT_TRUE(must(store_->createSession({"tok-4", "op", 0, kT0 + 3 * kHour})));
    ASSERT_TRUE(must(store_->createSession({"tok-5", "op", 0, kT0 + 3 * kHour})));
    EXPECT_EQ(must(store_->deleteUserSessions("op")), 2);
}

TEST_P(StoreTest, AuditLogAppendsAndListsNewestFirst) {
    for (int i = 0; i < 30; ++i) {
        AuditEntry e;
        e.time_ms = kT0 + (i / 3) * 1000;  // three entries per second
        e.username = i % 2 ? "alice" : "bob";
        e.action = i % 3 ? "alert.status" : "user.create";
        e.target = "t" + std::to_string(i);
        e.detail_json = fmt::format(R"({{"i":{}}})", i);
        ASSERT_TRUE(store_->appendAudit(e).ok());
    }
    ASSERT_TRUE(store_->appendAudit({0, 0, "carol", "login", "", ""}).ok());  // time = now
    auto collect = [&](AuditQuery q) {
        std::vector<std::string> targets;
        for (int pages = 0; pages < 100; ++pages) {
            auto page = store_->listAudit(q);
            EXPECT_TRUE(page.ok()) << page.message();
            if (!page.ok()) break;
            for (const auto& e : page->items) targets.push_back(e.target);
            if (page->next_cursor.empty()) break;
            q.cursor = page->next_cursor;
        }
        return targets;
    };
    AuditQuery q;
    q.limit = 4;
    q.from_ms = kT0 + 1;
    auto all = collect(q);
    ASSERT_EQ(all.size(), 27u);
    EXPECT_EQ(all.front(), "t29");
    EXPECT_EQ(all.back(), "t3");
    q.username = "alice";
    q.action = "alert.status";
    auto alice = collect(q);
    std::vector<std::string> expected;
    for (int i = 29; i >= 3; --i) {
        if (i % 2 && i % 3) expected.push_back("t" + std::to_string(i));
    }
    EXPECT_EQ(alice, expected);
    q = {};
    q.username = "carol";
    auto carol = must(store_->listAudit(q));
    ASSERT_EQ(carol.items.size(), 1u);
    EXPECT_EQ(carol.items[0].time_ms, kT0);
    EXPECT_EQ(carol.items[0].detail_json, "{}");
    q = {};
    q.to_ms = kT0 + 1000;
    auto first_second = must(store_->listAudit(q));
    ASSERT_EQ(first_second.items.size(), 4u);  // t0-t2 and carol's
    EXPECT_EQ(first_second.items[1].detail_json, R"({"i":2})");

    // Oldest first (its own cursors) and a target.
    q = {};
    q.limit = 4;
    q.from_ms = kT0 + 1;
    q.oldest_first = true;
    auto oldest = collect(q);
    EXPECT_EQ(oldest, std::vector<std::string>(all.rbegin(), all.rend()));
    q = {};
    q.target = "t7";
    auto t7 = must(store_->listAudit(q));
    ASSERT_EQ(t7.items.size(), 1u);
    EXPECT_EQ(t7.items[0].detail_json, R"({"i":7})");
}

// ---- tasks -----------------------------------------------------------------------------------

TEST_P(StoreTest, TasksTrackEveryHostsResult) {
    Task t;
    t.task_id = "task-1";
    t.agent_ids = {"agent-1", "agent-2", "agent-3", "agent-2"};
    t.data_type = 1060;
    t.object_name = "collector";
    t.payload = R"({"cmd":"restart"})";
    t.created_by = "alice";
    ASSERT_TRUE(must(store_->createTask(t)));
    EXPECT_FALSE(must(store_->createTask(t)));
    Task t2 = t;
    t2.task_id = "task-2";
    t2.agent_ids = {"agent-1"};
    t2.created_at_ms = kT0 + 1000;
    ASSERT_TRUE(must(store_->createTask(t2)));

    auto got = must(store_->getTask("task-1"));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->agent_ids, t.agent_ids);
    EXPECT_EQ(got->data_type, 1060);
    EXPECT_EQ(got->object_name, "collector");
    EXPECT_EQ(got->payload, t.payload);
    EXPECT_EQ(got->created_by, "alice");
    EXPECT_EQ(got->created_at_ms, kT0);
    EXPECT_EQ(got->status_counts, (std::map<std::string, int64_t>{{"pending", 3}}));

    IngestBatch batch;
    batch.task_results = {
        {"task-1", "agent-1", "failed", R"({"msg":"busy"})", kT0 + 10},
        {"task-1", "agent-1", "succeeded", R"({"msg":"ok"})", kT0 + 20},  // repeated: last wins
        {"task-1", "agent-3", "succeeded", "{}", kT0 + 30},
        {"task-9", "agent-1", "succeeded", "{}", kT0 + 40},  // unknown task
    };
    auto r = store_->ingest(batch);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r->task_results_recorded, 2u);
    EXPECT_EQ(r->task_results_unknown, 1u);
    ASSERT_TRUE(store_->ingest(batch).ok());  // redelivered

    auto results = must(store_->taskResults("task-1"));
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(results[0].agent_id, "agent-1");
    EXPECT_EQ(results[0].status, "succeeded");
    EXPECT_EQ(results[0].result_json, R"({"msg":"ok"})");
    EXPECT_EQ(results[0].time_ms, kT0 + 20);
    EXPECT_EQ(results[1].status, "pending");
    EXPECT_EQ(results[2].status, "succeeded");
    EXPECT_EQ((must(store_->getTask("task-1")))->status_counts,
              (std::map<std::string, int64_t>{{"pending", 1}, {"succeeded", 2}}));
    EXPECT_FALSE(must(store_->getTask("task-9")).has_value());
    EXPECT_TRUE(must(store_->taskResults("task-9")).empty());

    TaskQuery tq;
    tq.limit = 1;
    auto page = must(store_->listTasks(tq));
    ASSERT_EQ(page.items.size(), 1u);
    EXPECT_EQ(page.items[0].task_id, "task-2");
    EXPECT_EQ(page.items[0].status_counts.at("pending"), 1);
    const std::string newest_cursor = page.next_cursor;
    tq.cursor = newest_cursor;
    page = must(store_->listTasks(tq));
    ASSERT_EQ(page.items.size(), 1u);
    EXPECT_EQ(page.items[0].task_id, "task-1");
    EXPECT_TRUE(page.next_cursor.empty());

    // Oldest first, with a cursor of its own (a newest-first cursor is refused).
    tq = {};
    tq.limit = 1;
    tq.oldest_first = true;
    page = must(store_->listTasks(tq));
    ASSERT_EQ(page.items.size(), 1u);
    EXPECT_EQ(page.items[0].task_id, "task-1");
    tq.cursor = page.next_cursor;
    page = must(store_->listTasks(tq));
    ASSERT_EQ(page.items.size(), 1u);
    EXPECT_EQ(page.items[0].task_id, "task-2");
    tq.cursor = newest_cursor;
    EXPECT_FALSE(store_->listTasks(tq).ok());

    // Filters: a host's tasks, the creator, the plugin, the data_type, the time.
    auto ids = [&](TaskQuery q) {
        std::vector<std::string> out;
        for (const auto& task : must(store_->listTasks(q)).items) out.push_back(task.task_id);
        return out;
    };
    tq = {};
    tq.agent_id = "agent-3";
    EXPECT_EQ(ids(tq), std::vector<std::string>{"task-1"});
    tq.agent_id = "agent-1";
    EXPECT_EQ(ids(tq), (std::vector<std::string>{"task-2", "task-1"}));
    tq = {};
    tq.created_by = "bob";
    EXPECT_TRUE(ids(tq).empty());
    tq = {};
    tq.name = "collector";
    tq.data_type = 1060;
    EXPECT_EQ(ids(tq).size(), 2u);
    tq.data_type = 1061;
    EXPECT_TRUE(ids(tq).empty());
    tq = {};
    tq.from_ms = kT0 + 1;
    EXPECT_EQ(ids(tq), std::vector<std::string>{"task-2"});
}

// ---- the ingest transaction and concurrency --------------------------------------------------

TEST_P(StoreTest, IngestIsAllOrNothing) {
    IngestBatch batch;
    batch.hosts = {makeHost(1, "web-1", kT0)};
    batch.alerts = {makeAlert(1, 1, 1, Severity::kHigh, kT0),
                    makeAlert(2, 1, 1, static_cast<Severity>(9), kT0)};  // refused by the schema
    EXPECT_FALSE(store_->ingest(batch).ok());
    EXPECT_FALSE(must(store_->getHost("agent-1")).has_value());
    EXPECT_FALSE(must(store_->getAlert("alert-1")).has_value());
    EXPECT_EQ((must(store_->alertStatusCounts()))[0][static_cast<int>(Severity::kHigh)], 0);

    batch.alerts.pop_back();
    auto r = store_->ingest(batch);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r->hosts_upserted, 1u);
    EXPECT_EQ(r->alerts_inserted, 1u);
    EXPECT_TRUE(must(store_->getHost("agent-1")).has_value());
    auto empty = store_->ingest({});
    ASSERT_TRUE(empty.ok());
    EXPECT_EQ(empty->alerts_inserted, 0u);
}

TEST_P(StoreTest, ReadersAndAWriterRunTogether) {
    std::atomic<bool> done{false};
    std::atomic<int> errors{0}, reads{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&] {
            while (!done) {
                AlertQuery q;
                q.limit = 20;
                auto page = store_->listAlerts(q);
                auto stats = store_->alertStats({kT0 - kDay, kT0 + kDay});
                if (!page.ok() || !stats.ok()) ++errors;
                ++reads;
            }
        });
    }
    for (int b = 0; b < 20; ++b) {
        std::vector<Alert> batch;
        for (int i = 0; i < 50; ++i) {
            batch.push_back(
                makeAlert(b * 50 + i, i % 5, b % 7, static_cast<Severity>(i % 5), kT0 - i * 1000));
        }
        IngestBatch ib;
        ib.alerts = std::move(batch);
        ib.hosts = {makeHost(b % 7, "h", kT0 + b)};
        auto r = store_->ingest(ib);
        EXPECT_TRUE(r.ok()) << r.message();
    }
    done = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_GT(reads.load(), 0);
    EXPECT_EQ(listAllAlerts(*store_, {}, 1000).size(), 1000u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace vigil::manager::testing
