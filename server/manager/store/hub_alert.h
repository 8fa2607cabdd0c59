// The hub's alert JSON (docs/hub.md "Alerts", data_type 9000 on the bus) as a store Alert: the
// columns the manager filters and sorts on, and the JSON kept whole.
#pragma once

#include <string_view>

#include "libs/common/result.h"
#include "server/manager/store/store.h"

namespace vigil::manager {

// Longest argv kept in the searched column (the JSON keeps all of it).
inline constexpr size_t kMaxAlertArgv = 4096;

// Parses one alert. Needs alert_id, rule_id, agent_id and a known severity; `time` (seconds)
// becomes time_ms, `hub_time` (milliseconds) hub_time_ms, fields.argv (else fields.exe) argv.
// Status new. Errors name what is missing or malformed.
Result<Alert> alertFromHubJson(std::string_view json);

}  // namespace vigil::manager
