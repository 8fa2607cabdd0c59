// A hub whitelist rule made from an alert (POST /api/v1/alerts/:id/whitelist): the alert's
// record fields chosen by a person, matched exactly, silencing the alert's rule only (Vigil
// rule `whitelist: true`, `applies_to: [rule id]`, docs/hub.md). Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "libs/common/result.h"

namespace vigil::manager::rules {

struct WhitelistSpec {
    std::string rule_id;  // the alert's rule
    int32_t data_type = 0;
    std::vector<std::pair<std::string, std::string>> fields;  // field -> exact value
    std::string comment;
    std::string alert_id;
    std::string created_by;
};

// "wl_<rule id>_<12 hex of the fields' hash>": the same choice gives the same id (and file).
std::string whitelistId(const WhitelistSpec& spec);
// The pack it is installed as: "whitelist-<hash>", see packName().
std::string whitelistPackName(const WhitelistSpec& spec);
// The rule file: `rules:` with one whitelist rule; empty values become is_null checks.
Result<std::string> whitelistYaml(const WhitelistSpec& spec);

}  // namespace vigil::manager::rules
