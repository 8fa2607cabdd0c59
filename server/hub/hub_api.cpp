// The hub's HTTP routes.
#include "server/hub/hub_api.h"

namespace vigil::hub {

using server::ApiReply;
using server::ApiRequest;
using server::Auth;

void addHubRoutes(server::ApiRouter& router, HubService& service) {
    router.get(
        "/hub/stats", [&service](const ApiRequest&) { return ApiReply::ok(service.statsJson()); },
        Auth::kSigned);
    router.get(
        "/hub/rules", [&service](const ApiRequest&) { return ApiReply::ok(service.rulesJson()); },
        Auth::kSigned);
    router.post(
        "/hub/reload",
        [&service](const ApiRequest&) {
            auto st = service.reload();
            if (!st.ok()) return ApiReply::error(422, st.message());
            return ApiReply::ok({{"rules", service.ruleCount()}});
        },
        Auth::kSigned, server::Body::kRaw);
    router.setHealthCheck([&service]() -> Status {
        if (!service.healthy()) return Error{"the last bus fetch failed: " + service.lastError()};
        return Status{};
    });
}

}  // namespace vigil::hub
