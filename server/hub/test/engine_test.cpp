// Evaluation (engine.h): conditions over loaded rules, whitelists, frequency windows over
// simulated time, the LRU cap on frequency state.
#include <gtest/gtest.h>

#include "server/hub/engine.h"
#include "server/hub/rule_loader.h"

namespace vigil::hub {
namespace {

Engine load(const char* yaml) {
    auto r = loadRulesFromText(yaml, "t.yaml");
    EXPECT_EQ(r.errors(), 0u) << (r.diagnostics.empty() ? "" : r.diagnostics[0].toString());
    return Engine(std::move(r.rules));
}

std::vector<std::string> ids(const std::vector<const Rule*>& hits) {
    std::vector<std::string> out;
    for (const Rule* r : hits) out.push_back(r->id);
    return out;
}

struct Ev {
    std::vector<std::pair<std::string, std::string>> kv;
    Event event(int32_t dt, int64_t t = 0) const {
        Event e;
        e.data_type = dt;
        e.time_ms = t;
        for (const auto& [k, v] : kv) e.set(k, v);
        return e;
    }
};

TEST(Engine, RulesRunOnlyForTheirDataTypes) {
    Engine e = load(R"(- id: shell
  data_type: 59
  checks: {x: {field: exe, ends_with: /sh}}
- id: conn
  data_type: 42
  checks: {x: {field: dport, equals: "4444"}}
)");
    Ev shell{{{"exe", "/bin/sh"}, {"dport", "4444"}}};
    EXPECT_EQ(ids(e.evaluate(shell.event(59), nullptr)), std::vector<std::string>{"shell"});
    EXPECT_EQ(ids(e.evaluate(shell.event(42), nullptr)), std::vector<std::string>{"conn"});
    EXPECT_TRUE(e.evaluate(shell.event(1), nullptr).empty());
}

TEST(Engine, WhitelistsDropTheHitsOfTheRulesTheyApplyTo) {
    Engine e = load(R"(- id: shell
  data_type: 59
  checks: {x: {field: exe, ends_with: /sh}}
- id: tmp
  data_type: 59
  checks: {x: {field: run_path, starts_with: /tmp}}
- id: allow_build
  data_type: 59
  whitelist: true
  applies_to: [shell]
  checks: {x: {field: ppid_argv, contains: make}}
- id: allow_all_ci
  data_type: 59
  whitelist: true
  checks: {x: {field: username, equals: ci}}
)");
    Ev base{{{"exe", "/bin/sh"}, {"run_path", "/tmp/x"}, {"ppid_argv", "bash"}}};
    EXPECT_EQ(ids(e.evaluate(base.event(59), nullptr)), (std::vector<std::string>{"shell", "tmp"}));
    Ev build{{{"exe", "/bin/sh"}, {"run_path", "/tmp/x"}, {"ppid_argv", "make -j2"}}};
    EXPECT_EQ(ids(e.evaluate(build.event(59), nullptr)), std::vector<std::string>{"tmp"});
    Ev ci{{{"exe", "/bin/sh"}, {"run_path", "/tmp/x"}, {"username", "ci"}}};
    EXPECT_TRUE(e.evaluate(ci.event(59), nullptr).empty());
}

TEST(Engine, CountFrequencyOverSimulatedTime) {
    Engine e = load(R"(- id: brute
  data_type: 4000
  checks: {x: {field: status, equals: Failed}}
  frequency: {window: 60s, group_by: [sip], count: 3}
)");
    FrequencyState st;
    Ev a{{{"status", "Failed"}, {"sip", "10.0.0.1"}}};
    Ev b{{{"status", "Failed"}, {"sip", "10.0.0.2"}}};
    EXPECT_TRUE(e.evaluate(a.event(4000, 0), &st).empty());
    EXPECT_TRUE(e.evaluate(a.event(4000, 10000), &st).empty());
    EXPECT_TRUE(e.evaluate(b.event(4000, 20000), &st).empty()) << "another group";
    EXPECT_EQ(e.evaluate(a.event(4000, 30000), &st).size(), 1u) << "3 in 60 s";
    // Reset on hit: the next two do not fire, the third does.
    EXPECT_TRUE(e.evaluate(a.event(4000, 31000), &st).empty());
    EXPECT_TRUE(e.evaluate(a.event(4000, 32000), &st).empty());
    EXPECT_EQ(e.evaluate(a.event(4000, 33000), &st).size(), 1u);
    // The window slides: three hits 61 s apart never fire.
    FrequencyState slow;
    for (int i = 0; i < 5; ++i) {
        EXPECT_TRUE(e.evaluate(a.event(4000, i * 31000), &slow).empty()) << i;
    }
    // Without state, frequency rules never fire.
    EXPECT_TRUE(e.evaluate(a.event(4000, 0), nullptr).empty());
}

TEST(Engine, DistinctAndSumFrequency) {
    Engine e = load(R"(- id: scan
  data_type: 42
  checks: {x: {field: dip, not_null: true}}
  frequency: {window: 10s, group_by: [exe], distinct: {field: dport, count: 3}}
- id: bytes
  data_type: 9
  checks: {x: {field: n, not_null: true}}
  frequency: {window: 10s, sum: {field: n, at_least: 100}}
)");
    FrequencyState st;
    auto conn = [&](const char* port, int64_t t) {
        Ev ev{{{"dip", "10.0.0.9"}, {"dport", port}, {"exe", "/x"}}};
        return e.evaluate(ev.event(42, t), &st).size();
    };
    EXPECT_EQ(conn("22", 0), 0u);
    EXPECT_EQ(conn("22", 1000), 0u) << "same port: still one distinct";
    EXPECT_EQ(conn("80", 2000), 0u);
    EXPECT_EQ(conn("443", 3000), 1u);
    EXPECT_EQ(conn("22", 20000), 0u) << "the window moved on and the group was reset";
    auto sum = [&](const char* n, int64_t t) {
        Ev ev{{{"n", n}}};
        return e.evaluate(ev.event(9, t), &st).size();
    };
    EXPECT_EQ(sum("60", 0), 0u);
    EXPECT_EQ(sum("30", 1000), 0u);
    EXPECT_EQ(sum("10", 2000), 1u);
}

TEST(Engine, FrequencyStateIsBoundedAndCountsEvictions) {
    Engine e = load(R"(- id: f
  data_type: 1
  checks: {x: {field: k, not_null: true}}
  frequency: {window: 60s, group_by: [k], count: 2}
)");
    FrequencyState st(FrequencyOptions{.max_groups = 10});
    for (int i = 0; i < 25; ++i) {
        std::string k = std::to_string(i);
        Ev ev{{{"k", k}}};
        e.evaluate(ev.event(1, i), &st);
    }
    EXPECT_EQ(st.groups(), 10u);
    EXPECT_EQ(st.evictions(), 15u);
}

TEST(Engine, AfterFiresOnlyWhenTheNamedRuleFiredForTheSameGroupWithinTheWindow) {
    Engine e = load(R"(- id: brute
  data_type: 4000
  checks: {failed: {field: status, equals: Failed}}
  frequency: {window: 60s, group_by: [agent_id, sip], count: 3}
- id: brute_then_success
  data_type: 4000
  checks: {ok: {field: status, equals: Accepted}}
  after: {rule: brute, within: 10m, same: [agent_id, sip]}
)");
    FrequencyState st;
    auto login = [&](const char* status, const char* sip, int64_t t) {
        Ev ev{{{"agent_id", "a1"}, {"status", status}, {"sip", sip}}};
        return ids(e.evaluate(ev.event(4000, t), &st));
    };
    // A success with no brute force before it: nothing.
    EXPECT_TRUE(login("Accepted", "203.0.113.9", 1'000).empty());
    EXPECT_TRUE(login("Failed", "203.0.113.9", 2'000).empty());
    EXPECT_TRUE(login("Failed", "203.0.113.9", 3'000).empty());
    EXPECT_EQ(login("Failed", "203.0.113.9", 4'000), std::vector<std::string>{"brute"});
    // Another address logging in: not correlated.
    EXPECT_TRUE(login("Accepted", "198.51.100.4", 5'000).empty());
    // The brute-forcing address gets in within 10 minutes.
    EXPECT_EQ(login("Accepted", "203.0.113.9", 60'000),
              std::vector<std::string>{"brute_then_success"});
    // ... and not once the window has passed.
    EXPECT_TRUE(login("Accepted", "203.0.113.9", 4'000 + 10 * 60'000 + 1).empty());
    // Without a state, correlations never fire.
    Ev ok{{{"agent_id", "a1"}, {"status", "Accepted"}, {"sip", "203.0.113.9"}}};
    EXPECT_TRUE(e.evaluate(ok.event(4000, 5'000), nullptr).empty());
}

TEST(Engine, AfterMemoryIsBoundedByTheSameCap) {
    Engine e = load(R"(- id: seen
  data_type: 1
  checks: {x: {field: k, not_null: true}}
- id: again
  data_type: 2
  checks: {x: {field: k, not_null: true}}
  after: {rule: seen, within: 1h, same: [k]}
)");
    FrequencyState st(FrequencyOptions{.max_groups = 4});
    for (int i = 0; i < 10; ++i) {
        Ev ev{{{"k", std::to_string(i)}}};
        e.evaluate(ev.event(1, i), &st);
    }
    EXPECT_EQ(st.groups(), 4u);
    EXPECT_EQ(st.evictions(), 6u);
    Ev old{{{"k", "0"}}}, recent{{{"k", "9"}}};
    EXPECT_TRUE(e.evaluate(old.event(2, 100), &st).empty());  // evicted: forgotten
    EXPECT_EQ(ids(e.evaluate(recent.event(2, 100), &st)), std::vector<std::string>{"again"});
}

}  // namespace
}  // namespace vigil::hub
