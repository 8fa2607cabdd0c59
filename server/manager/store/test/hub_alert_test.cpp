// The hub's alert JSON as a store Alert (no database involved).
#include "server/manager/store/hub_alert.h"

#include <gtest/gtest.h>

namespace vigil::manager {
namespace {

TEST(HubAlertTest, ParsesTheHubsAlert) {
    const std::string json = R"({"alert_id": "agent-1-2-17-reverse_shell_socket_stdio",
        "rule_id": "reverse_shell_socket_stdio", "rule_name": "Shell with a socket on stdin",
        "severity": "critical", "mitre": ["T1059.004", 7], "data_type": 59,
        "agent_id": "agent-1", "hostname": "web-1", "time": 1700000000, "hub_time": 1700000000123,
        "fields": {"exe": "/bin/bash", "argv": "bash -i"}, "pid_tree": "201.bash<200.sshd"})";
    auto a = alertFromHubJson(json);
    ASSERT_TRUE(a.ok()) << a.message();
    EXPECT_EQ(a->alert_id, "agent-1-2-17-reverse_shell_socket_stdio");
    EXPECT_EQ(a->rule_id, "reverse_shell_socket_stdio");
    EXPECT_EQ(a->rule_name, "Shell with a socket on stdin");
    EXPECT_EQ(a->severity, Severity::kCritical);
    EXPECT_EQ(a->mitre, std::vector<std::string>{"T1059.004"});
    EXPECT_EQ(a->data_type, 59);
    EXPECT_EQ(a->agent_id, "agent-1");
    EXPECT_EQ(a->hostname, "web-1");
    EXPECT_EQ(a->time_ms, 1700000000000);
    EXPECT_EQ(a->hub_time_ms, 1700000000123);
    EXPECT_EQ(a->argv, "bash -i");
    EXPECT_EQ(a->status, AlertStatus::kNew);
    EXPECT_EQ(a->json, json);
}

TEST(HubAlertTest, FallsBackToExeAndCutsLongArgvOnACharacter) {
    auto a = alertFromHubJson(
        R"({"alert_id":"a","rule_id":"r","agent_id":"g","severity":"low","fields":{"exe":"/x"}})");
    ASSERT_TRUE(a.ok()) << a.message();
    EXPECT_EQ(a->argv, "/x");
    // 'é' is two bytes: a cut at kMaxAlertArgv would split one.
    std::string argv = "a";
    while (argv.size() < kMaxAlertArgv + 10) argv += "é";
    a = alertFromHubJson(R"({"alert_id":"a","rule_id":"r","agent_id":"g","severity":"low",)"
                         R"("fields":{"argv":")" +
                         argv + R"("}})");
    ASSERT_TRUE(a.ok()) << a.message();
    EXPECT_LE(a->argv.size(), kMaxAlertArgv);
    EXPECT_EQ(a->argv.size() % 2, 1u);
    EXPECT_EQ(argv.compare(0, a->argv.size(), a->argv), 0);
}

TEST(HubAlertTest, RefusesWhatItCannotStore) {
    EXPECT_FALSE(alertFromHubJson("not json").ok());
    EXPECT_FALSE(alertFromHubJson("[1]").ok());
    auto no_id = alertFromHubJson(R"({"rule_id":"r","agent_id":"g","severity":"low"})");
    ASSERT_FALSE(no_id.ok());
    EXPECT_NE(no_id.message().find("alert_id"), std::string::npos);
    auto bad = alertFromHubJson(R"({"alert_id":"a","rule_id":"r","agent_id":"g","severity":"x"})");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.message().find("severity"), std::string::npos);
}

}  // namespace
}  // namespace vigil::manager
