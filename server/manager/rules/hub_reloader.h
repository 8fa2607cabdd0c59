// Reloads the hubs' rules after the managed rules directory changed: a signed POST /hub/reload
// (AK/SK, server/common/auth.h) to every hub, with each hub's answer. The hub addresses come
// from a function, so the configured list (rules.hubs) can give way to the cluster view.
// Thread-safe: reloadAll() may run on any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/common/auth.h"

namespace vigil::manager::rules {

struct HubReloadResult {
    std::string hub;      // host:port
    bool ok = false;      // the hub runs the new rules
    int status = 0;       // HTTP status; 0 when there was no answer
    int64_t rules = -1;   // rules loaded (when ok)
    std::string message;  // why not (the hub's diagnostics on a 422)
};

nlohmann::json reloadResultsJson(const std::vector<HubReloadResult>& results);

class HubReloader {
public:
    using Addresses = std::function<std::vector<std::string>()>;
    HubReloader(Addresses hubs, server::AkSk key, std::chrono::milliseconds timeout);

    // Every hub, one after the other; never fails as a whole (each result says).
    std::vector<HubReloadResult> reloadAll() const;
    HubReloadResult reload(const std::string& hub) const;
    size_t hubCount() const { return hubs_().size(); }

private:
    Addresses hubs_;
    server::AkSk key_;
    std::chrono::milliseconds timeout_;
};

}  // namespace vigil::manager::rules
