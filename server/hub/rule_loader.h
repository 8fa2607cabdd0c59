// Loading rule files as a pipeline (read -> collect -> compile, as Falco does): YAML is read
// with positions, each rule is collected into a description, then compiled (matchers,
// condition); every error and warning names file, line and column. A rule that fails is left
// out and counted; the others load.
//
// Vigil rules (docs/hub.md): a YAML list of rules, or a map with `rules:`. Sigma rules: one
// rule per YAML document (several documents per file allowed), recognised by `detection:`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/hub/rule.h"

namespace vigil::hub {

struct Diagnostic {
    SourceLoc loc;
    std::string rule;  // rule id, "" when not known yet
    std::string message;
    bool warning = false;
    std::string toString() const;  // "file:line:col: error: [rule] message"
};

struct LoadResult {
    std::vector<Rule> rules;
    std::vector<Diagnostic> diagnostics;
    size_t failed = 0;  // rules (or files) that did not load
    size_t errors() const;
};

// The list of disabled rules of a rules directory: one rule id per line, `#` comments and blank
// lines ignored. The rules it names load (and are checked) with Rule::enabled false, so the
// engine never evaluates them, whichever of the loaded paths defines them; an id that none of
// them defines is a warning.
inline constexpr const char* kDisabledListFile = ".disabled";

// Files, or directories (their *.yaml and *.yml files, sorted, not recursive; and the
// directory's kDisabledListFile).
LoadResult loadRules(const std::vector<std::string>& paths);
// The ids of a disabled list's text, in order (without comments, blanks and duplicates).
std::vector<std::string> parseDisabledList(std::string_view text);
// One file's text (tests, `check` of stdin).
LoadResult loadRulesFromText(std::string_view yaml, const std::string& file_name);

// Sigma field name -> Vigil field, "" when there is none (docs/hub.md lists them).
std::string sigmaField(std::string_view sigma_name);
// Sigma logsource category (product linux) -> data_types; empty when unsupported.
std::vector<int32_t> sigmaCategory(std::string_view category);

}  // namespace vigil::hub
