// Agent ID: stable across restarts. Order: explicit override; the id persisted in
// <work_dir>/agent-id; else derived from /etc/machine-id, DMI product_uuid and the first
// non-loopback MAC (hashed together, formatted as a UUID) and persisted; random if none exist.
#pragma once

#include <string>

#include "libs/common/result.h"

namespace vigil::agent {

struct AgentIdSources {
    std::string machine_id_file = "/etc/machine-id";
    std::string product_uuid_file = "/sys/class/dmi/id/product_uuid";
    std::string net_class_dir = "/sys/class/net";
};

// Returns the id and persists it when it was derived. An override is persisted too, so the
// same id survives a restart without the flag.
Result<std::string> resolveAgentId(const std::string& work_dir, const std::string& override_id,
                                   const AgentIdSources& sources = {});

}  // namespace vigil::agent
