// Signed POST /hub/reload to each hub over cpp-httplib.
#include "server/manager/rules/hub_reloader.h"

#include <httplib.h>

#include "libs/common/httplib_error.h"
#include "server/common/service_config.h"

namespace vigil::manager::rules {

using nlohmann::json;

json reloadResultsJson(const std::vector<HubReloadResult>& results) {
    json out = json::array();
    for (const auto& r : results) {
        json j = {{"hub", r.hub}, {"ok", r.ok}, {"status", r.status}, {"message", r.message}};
        if (r.ok) j["rules"] = r.rules;
        out.push_back(std::move(j));
    }
    return out;
}

HubReloader::HubReloader(Addresses hubs, server::AkSk key, std::chrono::milliseconds timeout)
    : hubs_(std::move(hubs)), key_(std::move(key)), timeout_(timeout) {}

std::vector<HubReloadResult> HubReloader::reloadAll() const {
    std::vector<HubReloadResult> out;
    for (const auto& hub : hubs_()) out.push_back(reload(hub));
    return out;
}

HubReloadResult HubReloader::reload(const std::string& hub) const {
    HubReloadResult r;
    r.hub = hub;
    auto hp = server::parseHostPort(hub);
    if (!hp.ok()) {
        r.message = hp.message();
        return r;
    }
    httplib::Client client(hp->host, hp->port);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout_);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout_ - seconds);
    client.set_connection_timeout(seconds.count(), micros.count());
    client.set_read_timeout(seconds.count(), micros.count());
    client.set_write_timeout(seconds.count(), micros.count());
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    server::SignedHeaders h = server::sign(key_, "POST", "/hub/reload", "", "", now);
    httplib::Headers headers{
        {"AccessKey", h.access_key}, {"TimeStamp", h.timestamp}, {"Signature", h.signature}};
    auto res = client.Post("/hub/reload", headers, std::string(), "application/json");
    if (!res) {
        r.message = "POST /hub/reload: " + http::describeClientError(res.error(), 0);
        return r;
    }
    r.status = res->status;
    // The hub's envelope {"code":0,"msg":...,"data":{"rules":N}}; anything else is an error.
    const json body = json::parse(res->body, nullptr, false);
    auto member = [&body](const char* key) -> const json* {
        if (!body.is_object()) return nullptr;
        auto it = body.find(key);
        return it == body.end() ? nullptr : &*it;
    };
    const json* code = member("code");
    const json* msg = member("msg");
    const json* data = member("data");
    r.ok = res->status == 200 && code && code->is_number_integer() && *code == 0;
    if (r.ok) {
        const json* rules =
            data && data->is_object() && data->contains("rules") ? &(*data)["rules"] : nullptr;
        if (rules && rules->is_number_integer()) r.rules = rules->get<int64_t>();
        r.message = "ok";
    } else {
        r.message = msg && msg->is_string() ? msg->get<std::string>()
                                            : "HTTP " + std::to_string(res->status);
    }
    return r;
}

}  // namespace vigil::manager::rules
