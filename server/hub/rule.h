// The hub's compiled rules (docs/hub.md): Vigil rules (YAML, Elkeid HUB semantics) and Sigma
// rules both compile to the same form: named selections, each an OR of alternatives that are
// each an AND of field matchers, combined by a condition. Immutable after loading; shared by
// every evaluation thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/hub/condition.h"
#include "server/hub/matcher.h"

namespace vigil::hub {

enum class Severity : uint8_t { kInfo, kLow, kMedium, kHigh, kCritical };
const char* severityName(Severity s);
std::optional<Severity> parseSeverity(std::string_view text);

// Where something was written: file, 1-based line and column.
struct SourceLoc {
    std::string file;
    int line = 0;
    int column = 0;
    std::string toString() const;  // "file:line:col"
};

struct FieldMatcher {
    std::string field;  // Vigil record field (Sigma names mapped)
    std::string other;  // for comparisons against another field ("" = none)
    Matcher matcher;
};

// AND of matchers.
struct Alternative {
    std::vector<FieldMatcher> all;
};

// OR of alternatives (a Sigma selection given as a list of maps; a Vigil check has one).
struct Selection {
    std::string name;
    std::vector<Alternative> any;
};

// A sample event shipped with a rule: `vigil-hub test` checks the verdict.
struct Sample {
    bool match = true;
    int32_t data_type = 0;
    std::map<std::string, std::string> fields;
    SourceLoc loc;
};

// Frequency rule: the condition's hits are counted per group over a sliding window; the rule
// fires when the count (or distinct values of a field, or the sum of a field) reaches the
// threshold, then the group restarts when reset_on_hit.
struct Frequency {
    int64_t window_ms = 0;
    std::vector<std::string> group_by;
    enum class Kind : uint8_t { kCount, kDistinct, kSum } kind = Kind::kCount;
    std::string field;  // distinct or sum
    double threshold = 0;
    bool reset_on_hit = true;
};

// Correlation: the rule fires only when rule `rule` fired for an earlier record (or this one)
// with the same values of the `same` fields no more than `within_ms` before this record.
struct After {
    std::string rule;
    int64_t within_ms = 0;
    std::vector<std::string> same;
    SourceLoc loc;
};

struct Rule {
    enum class Kind : uint8_t { kVigil, kSigma } kind = Kind::kVigil;
    std::string id;
    std::string name;
    std::vector<int32_t> data_types;  // empty: never evaluated
    Severity severity = Severity::kMedium;
    std::vector<std::string> mitre;
    std::string description;
    std::string suggestion;
    std::vector<Selection> selections;
    std::optional<Condition> condition;
    // A whitelist rule: an event it matches raises no alert from the rules in `applies_to`
    // (every rule when empty).
    bool whitelist = false;
    std::vector<std::string> applies_to;
    std::optional<Frequency> frequency;
    std::optional<After> after;  // checked after the condition, before frequency counting
    std::map<std::string, std::string> append;  // fields added to the alert
    std::vector<Sample> samples;
    SourceLoc loc;
    // False when its id is listed in the `.disabled` file of the directory it was loaded from
    // (rule_loader.h): loaded and checked, never evaluated.
    bool enabled = true;
};

}  // namespace vigil::hub
