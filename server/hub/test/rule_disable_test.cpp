// Disabling rules with a directory's `.disabled` list (rule_loader.h): the listed rules, from any
// loaded directory, load with enabled false and the engine never evaluates them; ids defined
// nowhere are warnings.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "server/hub/engine.h"
#include "server/hub/rule_loader.h"

namespace vigil::hub {
namespace {

constexpr const char* kRules = R"(rules:
  - id: curl_pipe
    data_type: 59
    checks: {c: {field: argv, contains: "curl"}}
  - id: wget_pipe
    data_type: 59
    checks: {w: {field: argv, contains: "wget"}}
  - id: allow_build
    data_type: 59
    whitelist: true
    applies_to: [curl_pipe]
    checks: {b: {field: exe, equals: /usr/bin/builder}}
)";

class RuleDisableTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vigil-hub-disable-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        write("rules.yaml", kRules);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    void write(const std::string& name, const std::string& text) {
        std::ofstream(dir_ + "/" + name) << text;
    }
    // The ids that fire for an exec record of `exe` and `argv`.
    std::vector<std::string> fire(const Engine& engine, const std::string& exe,
                                  const std::string& argv) {
        Event ev;
        ev.data_type = 59;
        ev.set("exe", exe);
        ev.set("argv", argv);
        std::vector<std::string> out;
        for (const Rule* r : engine.evaluate(ev, nullptr)) out.push_back(r->id);
        return out;
    }
    const Rule* find(const LoadResult& r, const std::string& id) {
        for (const auto& rule : r.rules) {
            if (rule.id == id) return &rule;
        }
        return nullptr;
    }
    std::string dir_;
};

TEST_F(RuleDisableTest, WithoutListEveryRuleIsEnabled) {
    LoadResult r = loadRules({dir_});
    ASSERT_EQ(r.failed, 0u);
    ASSERT_EQ(r.rules.size(), 3u);
    for (const auto& rule : r.rules) EXPECT_TRUE(rule.enabled) << rule.id;
    Engine engine(std::move(r.rules));
    EXPECT_EQ(fire(engine, "/bin/sh", "curl x | sh"), std::vector<std::string>{"curl_pipe"});
}

TEST_F(RuleDisableTest, ListedRulesLoadButNeverFire) {
    write(".disabled", "# switched off by the manager\n\n  curl_pipe  \ncurl_pipe\n");
    LoadResult r = loadRules({dir_});
    ASSERT_EQ(r.failed, 0u);
    EXPECT_EQ(r.errors(), 0u);
    ASSERT_EQ(r.rules.size(), 3u);
    ASSERT_NE(find(r, "curl_pipe"), nullptr);
    EXPECT_FALSE(find(r, "curl_pipe")->enabled);
    EXPECT_TRUE(find(r, "wget_pipe")->enabled);
    Engine engine(std::move(r.rules));
    EXPECT_TRUE(fire(engine, "/bin/sh", "curl x | sh").empty());
    EXPECT_EQ(fire(engine, "/bin/sh", "curl x; wget y"), std::vector<std::string>{"wget_pipe"});
}

TEST_F(RuleDisableTest, DisabledWhitelistNoLongerDrops) {
    {
        Engine engine(loadRules({dir_}).rules);
        EXPECT_TRUE(fire(engine, "/usr/bin/builder", "curl x").empty());
    }
    write(".disabled", "allow_build\n");
    Engine engine(loadRules({dir_}).rules);
    EXPECT_EQ(fire(engine, "/usr/bin/builder", "curl x"), std::vector<std::string>{"curl_pipe"});
}

TEST_F(RuleDisableTest, UnknownIdIsAWarningWithItsLine) {
    write(".disabled", "wget_pipe\n# nothing\nno_such_rule\n");
    LoadResult r = loadRules({dir_});
    EXPECT_EQ(r.failed, 0u);
    EXPECT_EQ(r.errors(), 0u);
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_TRUE(r.diagnostics[0].warning);
    EXPECT_EQ(r.diagnostics[0].loc.line, 3);
    EXPECT_NE(r.diagnostics[0].toString().find(".disabled:3:1: warning: [no_such_rule]"),
              std::string::npos)
        << r.diagnostics[0].toString();
    EXPECT_FALSE(find(r, "wget_pipe")->enabled);
}

TEST_F(RuleDisableTest, ListAppliesToEveryLoadedDirectory) {
    // The managed directory's list (dir_/managed, loaded last, as the hubs do) switches off a
    // rule of the default pack (dir_); the pack's own list keeps working.
    std::filesystem::create_directory(dir_ + "/managed");
    std::ofstream(dir_ + "/managed/more.yaml")
        << "- id: nc_listen\n  data_type: 59\n  checks: {n: {field: argv, contains: 'nc -l'}}\n";
    std::ofstream(dir_ + "/managed/.disabled") << "curl_pipe\n";
    write(".disabled", "nc_listen\n");
    LoadResult r = loadRules({dir_, dir_ + "/managed"});
    ASSERT_EQ(r.failed, 0u);
    EXPECT_TRUE(r.diagnostics.empty()) << r.diagnostics[0].toString();
    EXPECT_FALSE(find(r, "curl_pipe")->enabled);
    EXPECT_FALSE(find(r, "nc_listen")->enabled);
    EXPECT_TRUE(find(r, "wget_pipe")->enabled);
    Engine engine(std::move(r.rules));
    EXPECT_TRUE(fire(engine, "/bin/sh", "curl x; nc -l 4444").empty());
    EXPECT_EQ(fire(engine, "/bin/sh", "wget y"), std::vector<std::string>{"wget_pipe"});
}

TEST_F(RuleDisableTest, IdDefinedNowhereInTheLoadedSetIsAWarning) {
    std::filesystem::create_directory(dir_ + "/managed");
    std::ofstream(dir_ + "/managed/.disabled") << "wget_pipe\ngone_rule\n";
    LoadResult r = loadRules({dir_, dir_ + "/managed"});
    ASSERT_EQ(r.failed, 0u);
    EXPECT_FALSE(find(r, "wget_pipe")->enabled);
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_TRUE(r.diagnostics[0].warning);
    EXPECT_EQ(r.diagnostics[0].toString(),
              dir_ +
                  "/managed/.disabled:2:1: warning: [gone_rule] disabled rule is not defined "
                  "in any loaded rule file");
    // Loaded alone, the managed directory defines none of them: two warnings, no error.
    r = loadRules({dir_ + "/managed"});
    EXPECT_EQ(r.errors(), 0u);
    EXPECT_EQ(r.diagnostics.size(), 2u);
}

TEST(DisabledList, Parse) {
    EXPECT_EQ(parseDisabledList("a\n b # why\n\n#c\na\r\nd"),
              (std::vector<std::string>{"a", "b", "d"}));
    EXPECT_TRUE(parseDisabledList("").empty());
}

}  // namespace
}  // namespace vigil::hub
