// GET /api/v1/events: the server-sent event stream (text/event-stream) of new alerts and host
// state changes, with ": keepalive" comments; the session token may come as ?token= since a
// browser's EventSource cannot set headers.
#include <algorithm>

#include "server/manager/api/api_views.h"
#include "server/manager/api/manager_api.h"

namespace vigil::manager::api {

using server::ApiReply;
using server::ApiRequest;
using server::Body;

namespace {

// How long the stream waits for events between checks of the client and the server.
constexpr std::chrono::milliseconds kPoll{500};

}  // namespace

void ManagerApi::addEventRoutes() {
    add(
        "GET", "/api/v1/events", Role::kReadOnly,
        [this](const ApiRequest&, const Session& s) {
            if (!services_.events) {
                return ApiReply::error(503, "the event stream is not enabled");
            }
            auto sub = services_.events->subscribe();
            if (!sub) {
                return ApiReply::error(503,
                                       "too many event stream clients; retry later (each holds "
                                       "an HTTP worker: see http.threads)");
            }
            const auto keepalive = services_.keepalive;
            const int64_t expires_at = s.expires_at_ms;
            ApiReply a = ApiReply::streamed(
                "text/event-stream", [this, sub, keepalive, expires_at](server::StreamSink& sink) {
                    // A reconnecting EventSource waits retry ms.
                    if (!sink.write("retry: 3000\n: connected\n\n")) return true;
                    auto last_write = std::chrono::steady_clock::now();
                    for (;;) {
                        auto events = sub->wait(std::min(kPoll, keepalive));
                        if (sub->overflowed()) {
                            sink.write(": too slow, disconnected\n\n");
                            return true;
                        }
                        if (sub->ended() || !sink.alive()) return true;
                        if (auth_.now() >= expires_at) {
                            sink.write("event: session_expired\ndata: {}\n\n");
                            return true;
                        }
                        std::string buf;
                        for (const auto& e : events) buf += formatServerEvent(e);
                        const auto now = std::chrono::steady_clock::now();
                        if (buf.empty() && now - last_write >= keepalive) buf = ": keepalive\n\n";
                        if (buf.empty()) continue;
                        if (!sink.write(buf)) return true;
                        last_write = now;
                    }
                });
            a.headers.emplace_back("Cache-Control", "no-cache");
            a.headers.emplace_back("X-Accel-Buffering", "no");  // proxies: do not buffer
            return a;
        },
        Body::kRaw, /*query_token=*/true);
}

}  // namespace vigil::manager::api
