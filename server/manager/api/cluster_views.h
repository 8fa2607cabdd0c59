// Helpers shared by the manager routes that reach the cluster (tasks, host groups, services):
// reading lists of agent ids from a body and the answer when no cluster is configured.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/common/api_router.h"

namespace vigil::manager::api {

inline constexpr size_t kMaxAgentIdBytes = 256;

// The strings of the array `key` (each 1..256 bytes, at most `max_items`, repeats dropped in
// order); a problem is recorded on `f`.
inline std::vector<std::string> agentIdsField(server::JsonFields& f, std::string_view key,
                                              bool required, size_t max_items) {
    std::vector<std::string> ids;
    std::set<std::string> seen;
    const nlohmann::json* list = f.array(key, required, max_items);
    if (!list) return ids;
    for (const auto& id : *list) {
        if (!id.is_string() || id.get_ref<const std::string&>().empty() ||
            id.get_ref<const std::string&>().size() > kMaxAgentIdBytes) {
            f.fail(key, "must be a list of agent ids (strings of 1-256 bytes)");
            return {};
        }
        if (seen.insert(id.get<std::string>()).second) ids.push_back(id.get<std::string>());
    }
    return ids;
}

inline server::ApiReply noCluster() {
    return server::ApiReply::error(
        503,
        "no cluster configured: set cluster.discovery (or cluster.centers) and the keys in "
        "the manager's configuration");
}

}  // namespace vigil::manager::api
