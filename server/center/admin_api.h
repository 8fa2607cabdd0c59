// The center's HTTP admin API (Elkeid paths, AK/SK signed): /conn/stat, /conn/list,
// /conn/count, /conn/reset and POST /command/ (commands to connected agents; task 1050 issues an
// upload token), plus GET /stats (totals for the manager) and POST /plugins/reload. /metrics and
// /healthz come from the router.
// Thread-safety: handlers run on the API server's threads; the objects they use are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "server/center/config_pusher.h"
#include "server/center/connection_registry.h"
#include "server/center/upload_store.h"
#include "server/common/api_router.h"

namespace vigil::center {

struct AdminApiContext {
    ConnectionRegistry* registry = nullptr;
    UploadStore* uploads = nullptr;
    ConfigPusher* pusher = nullptr;
    std::string product = "vigil-agent";
};

// Adds the admin routes to `router`.
void addAdminRoutes(server::ApiRouter& router, AdminApiContext ctx);

}  // namespace vigil::center
