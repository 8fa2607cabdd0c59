// The Hyperscan prefilter never changes a verdict: synthetic events through the default pack and
// the bench Sigma rules give the same hits with and without it.
#include "server/hub/prefilter.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "server/hub/engine.h"
#include "server/hub/rule_loader.h"

namespace vigil::hub {
namespace {

std::string sourceDir() {
    const char* dir = std::getenv("VIGIL_SOURCE_DIR");
    return dir ? dir : ".";
}

std::vector<Rule> load(const std::vector<std::string>& paths) {
    LoadResult r = loadRules(paths);
    EXPECT_EQ(r.failed, 0u);
    return std::move(r.rules);
}

TEST(PrefilterTest, SkipsOnlyRulesThatCannotMatch) {
    LoadResult r = loadRulesFromText(R"(
- id: need_curl
  data_type: 59
  checks:
    c: {field: argv, contains: curl}
  condition: c
- id: not_curl
  data_type: 59
  checks:
    c: {field: argv, not_contains: curl}
  condition: c
)",
                                     "t.yaml");
    ASSERT_EQ(r.failed, 0u) << (r.diagnostics.empty() ? "" : r.diagnostics[0].toString());
    Engine engine(std::move(r.rules));
    Event ev;
    ev.data_type = 59;
    ev.set("argv", "wget http://x");
    auto hits = engine.evaluate(ev, nullptr);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0]->id, "not_curl");
    ev.set("argv", "CURL http://x");
    hits = engine.evaluate(ev, nullptr);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0]->id, "not_curl");
    ev.set("argv", "curl http://x");
    hits = engine.evaluate(ev, nullptr);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0]->id, "need_curl");
}

// Regex guards run on bytes while RE2 matches code points: an atom that can match one non-ASCII
// character (`.`, a negated class, \S \W \D) must still let the rule through when that
// character is 2-4 bytes long, and the rules must be behind the prefilter at all.
TEST(PrefilterTest, RegexGuardsKeepMultibyteMatches) {
    LoadResult r = loadRulesFromText(R"(
- id: dot
  data_type: 59
  checks: {c: {field: argv, regex: 'a.b'}}
- id: negated_class
  data_type: 59
  checks: {c: {field: argv, regex: 'x[^/]y'}}
- id: not_space
  data_type: 59
  checks: {c: {field: argv, regex: 'p\Sq'}}
- id: not_word
  data_type: 59
  checks: {c: {field: argv, regex: 'm\Wn'}}
- id: dot_star
  data_type: 59
  checks: {c: {field: argv, regex: '^/opt/.*/run$'}}
- id: escaped_dot_class
  data_type: 59
  checks: {c: {field: argv, regex: 'py[0-9.]+\.x'}}
- id: nocase_kelvin
  data_type: 59
  checks: {c: {field: argv, regex: '(kinsing|pspy(32|64)?s?)$', nocase: true}}
- id: inline_i_class
  data_type: 59
  checks: {c: {field: argv, regex: '(?i)linpea[a-z]'}}
- id: nocase_word
  data_type: 59
  checks: {c: {field: argv, regex: 'x\wz', nocase: true}}
)",
                                     "t.yaml");
    ASSERT_EQ(r.failed, 0u) << (r.diagnostics.empty() ? "" : r.diagnostics[0].toString());
    Engine with(r.rules, EngineOptions{true});
    Engine without(std::move(r.rules), EngineOptions{false});
    EXPECT_EQ(with.prefilteredRules(59), 9u);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"a\xC3\xA9"
         "b",
         "dot"},  // e acute: 2 bytes
        {"a\xE2\x82\xAC"
         "b",
         "dot"},  // euro sign: 3 bytes
        {"a\xF0\x9F\x98\x80"
         "b",
         "dot"},  // emoji: 4 bytes
        {"x\xC3\xA9y", "negated_class"},
        {"p\xE2\x82\xACq", "not_space"},
        {"m\xC2\xA0n", "not_word"},  // no-break space
        {"/opt/\xC3\xA9t\xC3\xA9/run", "dot_star"},
        {"py3.11.x", "escaped_dot_class"},
        {"/tmp/\xE2\x84\xAAinsing", "nocase_kelvin"},  // the Kelvin sign folds to k
        {"/tmp/PSPY64\xC5\xBF", "nocase_kelvin"},      // the long s folds to s
        {"LINPEA\xC5\xBF x", "inline_i_class"},        // [a-z] folds the long s
        {"x\xE2\x84\xAA"
         "z",
         "nocase_word"},  // \w folds the Kelvin sign
        {"aXXb", ""},     // two bytes, two characters: no match
        {"pyX.x", ""},
    };
    for (const auto& [argv, want] : cases) {
        Event ev;
        ev.data_type = 59;
        ev.set("argv", argv);
        auto a = with.evaluate(ev, nullptr);
        auto b = without.evaluate(ev, nullptr);
        std::vector<std::string> ia, ib;
        for (auto* x : a) ia.push_back(x->id);
        for (auto* x : b) ib.push_back(x->id);
        EXPECT_EQ(ia, ib) << argv;
        EXPECT_EQ(ia, want.empty() ? std::vector<std::string>{} : std::vector<std::string>{want})
            << argv;
    }
}

// Values drawn from the rules' own literals (so that rules fire) mixed with ordinary text.
TEST(PrefilterTest, SameVerdictsAsWithoutPrefilter) {
    const std::string src = sourceDir();
    const std::vector<std::string> paths = {src + "/hub/rules", src + "/hub/rules/sigma",
                                            src + "/bench/hub/sigma"};
    Engine with(load(paths), EngineOptions{true});
    Engine without(load(paths), EngineOptions{false});
    ASSERT_GT(with.ruleCount(), 100u);

    std::vector<std::string> words = {"/usr/bin/bash",
                                      "-c",
                                      "ls",
                                      "/tmp/x",
                                      "curl",
                                      "http://a",
                                      "|",
                                      "sh",
                                      "10.0.0.1",
                                      "443",
                                      "root",
                                      "/etc/passwd",
                                      " ",
                                      "nc",
                                      "-e",
                                      "python3",
                                      "base64",
                                      "-d",
                                      "/dev/tcp/1.2.3.4/80"};
    std::vector<std::string> fields = {
        "exe",   "argv", "comm",      "ppid_argv", "parent_exe",   "pid_tree", "username", "dip",
        "dport", "sip",  "file_path", "run_path",  "container_id", "exe_hash", "uid"};
    for (const auto& rule : with.rules()) {
        for (const auto& sel : rule.selections) {
            for (const auto& alt : sel.any) {
                for (const auto& fm : alt.all) {
                    fields.push_back(fm.field);
                    for (const auto& l : fm.matcher.literals()) {
                        if (!l.is_regex) words.push_back(l.text);
                    }
                }
            }
        }
    }
    std::mt19937 rng(42);
    auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
    const int32_t types[] = {59, 42, 43, 602, 82, 605, 601, 2};
    std::vector<std::string> storage;
    size_t total_hits = 0;
    for (int i = 0; i < 20000; ++i) {
        storage.clear();
        storage.reserve(64);
        Event ev;
        ev.data_type = types[rng() % std::size(types)];
        ev.time_ms = i * 10;
        const int n = 3 + static_cast<int>(rng() % 12);
        for (int f = 0; f < n; ++f) {
            std::string value;
            const int parts = static_cast<int>(rng() % 4);
            for (int p = 0; p < parts; ++p) {
                std::string w = pick(words);
                if (rng() % 3 == 0) {
                    for (auto& c : w) c = static_cast<char>(std::toupper(c));
                }
                value += w;
                if (rng() % 2) value += ' ';
            }
            storage.push_back(pick(fields));
            storage.push_back(std::move(value));
        }
        for (size_t k = 0; k + 1 < storage.size(); k += 2) ev.set(storage[k], storage[k + 1]);
        FrequencyState fa, fb;
        auto a = with.evaluate(ev, &fa);
        auto b = without.evaluate(ev, &fb);
        std::vector<std::string> ia, ib;
        for (auto* r : a) ia.push_back(r->id);
        for (auto* r : b) ib.push_back(r->id);
        ASSERT_EQ(ia, ib) << "event " << i;
        for (const auto& rule : with.rules()) {
            ASSERT_EQ(with.matches(rule, ev), without.matches(rule, ev));
        }
        total_hits += a.size();
    }
    // The events must exercise the rules, or the comparison proves nothing.
    EXPECT_GT(total_hits, 1000u);
}

}  // namespace
}  // namespace vigil::hub
