// The hub's HTTP routes (docs/hub.md "HTTP API"), served by server::ApiServer on http.listen:
// GET /hub/stats and /hub/rules, POST /hub/reload, all AK/SK signed (the manager calls them);
// /metrics and /healthz come open from the router. Handlers run on the server's threads;
// HubService's stats, rules and reload are thread-safe.
#pragma once

#include "server/common/api_router.h"
#include "server/hub/hub_service.h"

namespace vigil::hub {

// Adds the routes; `service` must outlive the router. /healthz fails while the last fetch
// failed (the bus is unreachable).
void addHubRoutes(server::ApiRouter& router, HubService& service);

}  // namespace vigil::hub
