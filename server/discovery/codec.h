// JSON forms of discovery's instances and replication changes (Elkeid's registry shape:
// name, ip, port, weight, status, create_at, update_at, extra; plus "age_ms" in syncs), with
// the validation every incoming instance goes through. Stateless; thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "server/common/api_router.h"
#include "server/discovery/registry.h"

namespace vigil::discovery {

inline constexpr size_t kMaxNameBytes = 128;
inline constexpr size_t kMaxIpBytes = 255;
inline constexpr size_t kMaxExtraBytes = 4096;  // serialised "extra"

// Detail/registration answer for one instance.
nlohmann::json instanceJson(const Instance& instance, Health health);

// One element of a sync's "data": {"action": "REGISTER"|"EVICT", "registry": {..., "age_ms"}};
// the age is computed against `now_ms` (steady clock) at sending time.
nlohmann::json changeJson(const Change& change, int64_t now_ms);

// Reads name, ip, port (and, when `with_load`, weight and extra) from a request object; the
// first problem is left in `fields`. Names are [A-Za-z0-9_.:-]; ip an address or host name.
Instance readInstance(server::JsonFields& fields, bool with_load);

}  // namespace vigil::discovery
