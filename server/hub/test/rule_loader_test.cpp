// Rule loading (rule_loader.h): what loads, and every diagnostic with its exact position.
#include <gtest/gtest.h>

#include "server/hub/engine.h"
#include "server/hub/rule_loader.h"

namespace vigil::hub {
namespace {

std::string firstError(const LoadResult& r) {
    return r.diagnostics.empty() ? std::string("(none)") : r.diagnostics[0].toString();
}

TEST(RuleLoader, VigilRuleLoadsWithEveryPart) {
    auto r = loadRulesFromText(R"(rules:
  - id: r1
    name: Reverse shell
    data_types: [59, 42]
    severity: critical
    mitre: [T1059]
    description: d
    suggestion: s
    checks:
      shell: {field: exe, ends_with: [/bash, /sh]}
      sock: {field: stdin, starts_with: "socket:", nocase: true}
    condition: shell and not sock
    append: {tag: x}
    frequency: {window: 2m, group_by: [agent_id], count: 3, reset_on_hit: false}
    samples:
      - {match: true, fields: {exe: /bin/bash}}
)",
                               "t.yaml");
    ASSERT_EQ(r.errors(), 0u) << firstError(r);
    ASSERT_EQ(r.rules.size(), 1u);
    const Rule& rule = r.rules[0];
    EXPECT_EQ(rule.id, "r1");
    EXPECT_EQ(rule.name, "Reverse shell");
    EXPECT_EQ(rule.data_types, (std::vector<int32_t>{59, 42}));
    EXPECT_EQ(rule.severity, Severity::kCritical);
    EXPECT_EQ(rule.mitre, std::vector<std::string>{"T1059"});
    EXPECT_EQ(rule.selections.size(), 2u);
    EXPECT_EQ(rule.condition->toString(), "(shell and not sock)");
    EXPECT_EQ(rule.append.at("tag"), "x");
    ASSERT_TRUE(rule.frequency.has_value());
    EXPECT_EQ(rule.frequency->window_ms, 120000);
    EXPECT_EQ(rule.frequency->threshold, 3);
    EXPECT_FALSE(rule.frequency->reset_on_hit);
    ASSERT_EQ(rule.samples.size(), 1u);
    EXPECT_EQ(rule.samples[0].data_type, 59);
    EXPECT_EQ(rule.loc.toString(), "t.yaml:2:5");
}

TEST(RuleLoader, DefaultConditionIsAllChecks) {
    auto r = loadRulesFromText(R"(- id: a
  data_type: 59
  checks:
    x: {field: exe, equals: /bin/sh}
    y: {field: uid, gt: 0}
)",
                               "t.yaml");
    ASSERT_EQ(r.errors(), 0u) << firstError(r);
    EXPECT_EQ(r.rules[0].condition->toString(), "(x and y)");
}

struct Golden {
    const char* name;
    const char* yaml;
    const char* error;
};

class RuleLoaderErrors : public ::testing::TestWithParam<Golden> {};

TEST_P(RuleLoaderErrors, NameFileLineAndColumn) {
    auto r = loadRulesFromText(GetParam().yaml, "t.yaml");
    EXPECT_EQ(r.failed, 1u);
    EXPECT_TRUE(r.rules.empty());
    ASSERT_FALSE(r.diagnostics.empty());
    EXPECT_EQ(r.diagnostics[0].toString(), GetParam().error);
}

INSTANTIATE_TEST_SUITE_P(
    Golden, RuleLoaderErrors,
    ::testing::Values(
        Golden{"unknown_operator", R"(- id: r1
  data_type: 59
  checks:
    a: {field: exe, equal: /bin/sh}
)",
               "t.yaml:4:21: error: [r1] check a: unknown key 'equal' (field, an operator, nocase, "
               "other_field, all)"},
        Golden{"two_operators", R"(- id: r1
  data_type: 59
  checks:
    a: {field: exe, equals: x, contains: y}
)",
               "t.yaml:4:32: error: [r1] check a: two operators ('equals' and 'contains')"},
        Golden{"missing_field", R"(- id: r1
  data_type: 59
  checks:
    a: {equals: x}
)",
               "t.yaml:4:8: error: [r1] check a: missing field"},
        Golden{"unknown_name_in_condition", R"(- id: r1
  data_type: 59
  checks:
    shell: {field: exe, equals: x}
  condition: shell and sokc
)",
               "t.yaml:5:24: error: [r1] condition: unknown name 'sokc'"},
        Golden{"no_data_type", R"(- id: r1
  checks:
    a: {field: exe, equals: x}
)",
               "t.yaml:1:3: error: [r1] rule needs data_type (or data_types)"},
        Golden{"bad_severity", R"(- id: r1
  data_type: 59
  severity: urgent
  checks:
    a: {field: exe, equals: x}
)",
               "t.yaml:3:13: error: [r1] severity: expected info, low, medium, high or critical"},
        Golden{"bad_window", R"(- id: r1
  data_type: 59
  checks:
    a: {field: exe, equals: x}
  frequency: {window: 5y, count: 3}
)",
               "t.yaml:5:23: error: [r1] window: unknown unit 'y' (ms, s, m, h)"},
        Golden{"unknown_rule_key", R"(- id: r1
  data_type: 59
  checks:
    a: {field: exe, equals: x}
  frequncy: {window: 5s, count: 3}
)",
               "t.yaml:5:3: error: [r1] unknown key 'frequncy' (see docs/hub.md: Vigil rules)"},
        Golden{"after_unknown_rule", R"(- id: r1
  data_type: 4000
  checks:
    a: {field: status, equals: Accepted}
  after: {rule: brute, within: 10m, same: [sip]}
)",
               "t.yaml:5:10: error: [r1] after: no loaded rule has id brute"},
        Golden{"after_without_within", R"(- id: r1
  data_type: 4000
  checks:
    a: {field: status, equals: Accepted}
  after: {rule: r1, same: [sip]}
)",
               "t.yaml:5:10: error: [r1] after: needs within: <duration>"},
        // yaml-cpp 0.7's LoadAll would loop for ever here (rule_loader.cpp StuckParserCheck).
        Golden{"stray_comma", "- id: r1\n  data_type: 1\n,\n",
               "t.yaml:3:1: error: unexpected character here (a stray ',' or a flow collection "
               "that is not closed?)"},
        Golden{"yaml_syntax", "- id: r1\n  data_type: [59\n",
               "t.yaml:3:1: error: end of sequence flow not found"},
        Golden{"sigma_modifier", R"(title: t
id: s1
logsource: {product: linux, category: process_creation}
detection:
  sel:
    CommandLine|utf16le: x
  condition: sel
)",
               "t.yaml:6:5: error: [s1] unsupported modifier |utf16le (supported: contains, "
               "startswith, endswith, re, all, cidr, base64, base64offset, windash, cased, exists, "
               "fieldref, lt, lte, gt, gte)"},
        Golden{"sigma_field", R"(title: t
id: s1
logsource: {product: linux, category: process_creation}
detection:
  sel:
    Company: x
  condition: sel
)",
               "t.yaml:6:5: error: [s1] field Company has no Vigil mapping (see docs/hub.md)"},
        Golden{"sigma_category", R"(title: t
id: s1
logsource: {product: linux, category: clipboard}
detection:
  sel: {Image: x}
  condition: sel
)",
               "t.yaml:3:12: error: [s1] logsource category 'clipboard' maps to no Vigil record "
               "(process_creation, network_connection, file_event, file_create, file_rename, "
               "dns_query)"},
        Golden{"sigma_keywords", R"(title: t
id: s1
logsource: {product: linux, category: process_creation}
detection:
  keywords: [evil, worse]
  condition: keywords
)",
               "t.yaml:5:14: error: [s1] selection keywords: keyword lists (full-text search) are "
               "not supported; use field: value maps"}),
    [](const ::testing::TestParamInfo<Golden>& info) { return std::string(info.param.name); });

TEST(RuleLoader, DuplicateIdsAndOneBadRuleDoNotStopTheOthers) {
    auto r = loadRulesFromText(R"(- id: a
  data_type: 59
  checks: {x: {field: exe, equals: a}}
- id: a
  data_type: 59
  checks: {x: {field: exe, equals: b}}
- id: b
  data_type: 59
  checks: {x: {field: exe, regex: "("}}
- id: c
  data_type: 59
  checks: {x: {field: exe, equals: c}}
)",
                               "t.yaml");
    EXPECT_EQ(r.rules.size(), 2u);
    EXPECT_EQ(r.failed, 2u);
    ASSERT_EQ(r.diagnostics.size(), 2u);
    EXPECT_EQ(r.diagnostics[0].toString(), "t.yaml:4:3: error: [a] duplicate rule id a");
    EXPECT_EQ(r.diagnostics[1].toString(),
              "t.yaml:9:35: error: [b] check x: regex '(' does not compile: missing ): (");
}

TEST(RuleLoader, SigmaRenameTargetIsTheNewNameAndInitiatedIsDerived) {
    auto r = loadRulesFromText(R"(title: Renamed to a script in the web root
id: r1
logsource: {product: linux, category: file_rename}
detection:
  sel: {TargetFilename|endswith: .php, SourceFilename|startswith: /tmp/}
  condition: sel
---
title: Outbound to 4444
id: r2
logsource: {product: linux, category: network_connection}
detection:
  sel: {DestinationPort: 4444, Initiated: 'true'}
  condition: sel
)",
                               "t.yaml");
    ASSERT_EQ(r.errors(), 0u) << firstError(r);
    ASSERT_EQ(r.rules.size(), 2u);
    EXPECT_EQ(r.rules[0].selections[0].any[0].all[0].field, "new_name");
    EXPECT_EQ(r.rules[0].selections[0].any[0].all[1].field, "old_name");
    Engine engine(std::move(r.rules));
    auto event = [](int32_t dt, std::vector<std::pair<std::string, std::string>>& kv) {
        Event e;
        e.data_type = dt;
        for (const auto& [k, v] : kv) e.set(k, v);
        addDerivedFields(e);
        return e;
    };
    std::vector<std::pair<std::string, std::string>> rename{{"old_name", "/tmp/x"},
                                                            {"new_name", "/var/www/s.php"}};
    EXPECT_EQ(engine.evaluate(event(82, rename), nullptr).size(), 1u);
    std::vector<std::pair<std::string, std::string>> conn{{"dport", "4444"}};
    EXPECT_EQ(engine.evaluate(event(42, conn), nullptr).size(), 1u);  // connect: initiated
    EXPECT_EQ(engine.evaluate(event(43, conn), nullptr).size(), 0u);  // accept: not
}

TEST(RuleLoader, SigmaRuleMapsFieldsCategoryLevelAndTags) {
    auto r = loadRulesFromText(R"(title: Suspicious curl
id: 11111111-2222-3333-4444-555555555555
logsource:
  product: linux
  category: process_creation
detection:
  selection:
    Image|endswith: /curl
    CommandLine|contains|all: ['-o', '/tmp/']
  filter:
    ParentImage: /usr/bin/apt
  condition: selection and not filter
level: informational
tags: [attack.execution, attack.t1105]
---
title: Second
logsource: {product: linux, category: network_connection}
detection:
  sel: {DestinationPort: 4444}
  condition: sel
)",
                               "s.yml");
    ASSERT_EQ(r.errors(), 0u) << firstError(r);
    ASSERT_EQ(r.rules.size(), 2u);
    const Rule& a = r.rules[0];
    EXPECT_EQ(a.kind, Rule::Kind::kSigma);
    EXPECT_EQ(a.id, "11111111-2222-3333-4444-555555555555");
    EXPECT_EQ(a.name, "Suspicious curl");
    EXPECT_EQ(a.data_types, std::vector<int32_t>{59});
    EXPECT_EQ(a.severity, Severity::kInfo);
    EXPECT_EQ(a.mitre, std::vector<std::string>{"T1105"});
    ASSERT_EQ(a.selections.size(), 2u);
    EXPECT_EQ(a.selections[0].any[0].all[0].field, "exe");
    EXPECT_EQ(a.selections[0].any[0].all[1].field, "argv");
    EXPECT_EQ(a.selections[1].any[0].all[0].field, "parent_exe");
    const Rule& b = r.rules[1];
    EXPECT_EQ(b.id, "Second");  // no id: the title
    EXPECT_EQ(b.data_types, (std::vector<int32_t>{42, 43}));
}

TEST(RuleLoader, DirectoriesAndUnreadableFiles) {
    auto r = loadRules({"/nonexistent/rules.yaml"});
    EXPECT_EQ(r.failed, 1u);
    EXPECT_EQ(r.diagnostics[0].toString(),
              "/nonexistent/rules.yaml:0:0: error: cannot read the file");
}

}  // namespace
}  // namespace vigil::hub
