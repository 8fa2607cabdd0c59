// libFuzzer target for rule files (server/hub/rule_loader.h): the input is a rule file's text,
// Vigil YAML rules or Sigma documents. Beyond "no crash, no hang", it checks that every
// diagnostic names the file with a position inside the text, that each loaded rule is complete
// (id, data_types, a condition over its own selections) and that loading twice gives the same
// result; then it evaluates every loaded rule on its own samples and on an event made of the
// input's lines, which runs the compiled matchers (RE2, CIDR, base64, wildcards) on fuzz data.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/hub/engine.h"
#include "server/hub/rule_loader.h"

namespace {

using namespace vigil::hub;

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

constexpr const char* kFile = "fuzz.yaml";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 64 * 1024) return 0;  // rule files are small; keep runs fast
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    LoadResult r = loadRulesFromText(text, kFile);

    int lines = 1;
    for (char c : text) lines += c == '\n';
    for (const auto& d : r.diagnostics) {
        FUZZ_CHECK(!d.message.empty());
        FUZZ_CHECK(d.loc.file == kFile);
        FUZZ_CHECK(d.loc.line >= 0 && d.loc.line <= lines + 1);
        FUZZ_CHECK(d.loc.column >= 0);
        FUZZ_CHECK(d.toString().find(kFile) == 0);
    }
    FUZZ_CHECK(r.failed <= r.diagnostics.size());
    for (const auto& rule : r.rules) {
        FUZZ_CHECK(!rule.id.empty());
        FUZZ_CHECK(!rule.data_types.empty());
        FUZZ_CHECK(rule.condition.has_value());
        FUZZ_CHECK(rule.condition->nameCount() == rule.selections.size());
        FUZZ_CHECK(rule.loc.file == kFile && rule.loc.line >= 1);
    }

    // Deterministic: a second load gives the same rules and diagnostics.
    LoadResult again = loadRulesFromText(text, kFile);
    FUZZ_CHECK(again.rules.size() == r.rules.size());
    FUZZ_CHECK(again.diagnostics.size() == r.diagnostics.size());
    for (size_t i = 0; i < r.diagnostics.size(); ++i) {
        FUZZ_CHECK(again.diagnostics[i].toString() == r.diagnostics[i].toString());
    }
    if (r.rules.empty()) return 0;

    // Evaluation over the samples and over an event built from the input's lines
    // ("key: value" -> field key = value), without the Hyperscan prefilter (its compile time
    // would dominate each run; prefilter_test checks that it agrees with plain evaluation).
    std::vector<std::string> keys, values;
    size_t start = 0;
    while (start < text.size() && keys.size() < 64) {
        size_t nl = text.find('\n', start);
        std::string_view line = text.substr(start, nl == std::string_view::npos ? nl : nl - start);
        if (size_t colon = line.find(':'); colon != std::string_view::npos) {
            std::string_view k = line.substr(0, colon), v = line.substr(colon + 1);
            while (!k.empty() && (k.front() == ' ' || k.front() == '-')) k.remove_prefix(1);
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            keys.emplace_back(k);
            values.emplace_back(v);
        }
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    Engine engine(std::move(r.rules), EngineOptions{.prefilter = false});
    FrequencyState freq(FrequencyOptions{.max_groups = 16});
    for (const auto& rule : engine.rules()) {
        for (const auto& s : rule.samples) {
            Event ev;
            ev.data_type = s.data_type;
            for (const auto& [k, v] : s.fields) ev.set(k, v);
            (void)engine.matches(rule, ev);
            (void)engine.evaluate(ev, &freq);
        }
        Event ev;
        ev.data_type = rule.data_types.front();
        for (size_t i = 0; i < keys.size(); ++i) ev.set(keys[i], values[i]);
        (void)engine.evaluate(ev, &freq);
    }
    FUZZ_CHECK(freq.groups() <= 32);
    return 0;
}
