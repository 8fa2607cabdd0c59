// Discovery client: one short HTTP GET (libs/common/http), tolerant JSON parsing.
#include "agent/transport/discovery.h"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include "libs/common/http.h"
#include "libs/wire/http1.h"

namespace vigil::agent {

bool splitHostPort(std::string_view address, std::string& host, int& port) {
    std::string_view h, p;
    if (!address.empty() && address.front() == '[') {
        auto close = address.find(']');
        if (close == std::string_view::npos || close + 1 >= address.size() ||
            address[close + 1] != ':')
            return false;
        h = address.substr(1, close - 1);
        p = address.substr(close + 2);
    } else {
        auto colon = address.rfind(':');
        if (colon == std::string_view::npos) return false;
        h = address.substr(0, colon);
        p = address.substr(colon + 1);
    }
    int v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (h.empty() || ec != std::errc() || ptr != p.data() + p.size() || v <= 0 || v > 65535)
        return false;
    host.assign(h);
    port = v;
    return true;
}

Result<std::vector<DiscoveredCenter>> parseDiscoveryDetail(std::string_view body) {
    auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object())
        return makeError("discovery answer is not a JSON object");
    auto code = doc.find("code");
    if (code == doc.end() || !code->is_number_integer())
        return makeError("discovery answer has no integer \"code\"");
    if (code->get<int64_t>() != 0) {
        std::string msg;
        if (auto m = doc.find("msg"); m != doc.end() && m->is_string()) msg = m->get<std::string>();
        return makeError("discovery answered code {}: {}", code->get<int64_t>(), msg);
    }
    auto data = doc.find("data");
    if (data == doc.end() || !data->is_array())
        return makeError("discovery answer has no \"data\" array");
    std::vector<DiscoveredCenter> out;
    for (const auto& item : *data) {
        if (!item.is_object()) continue;
        auto ip = item.find("ip");
        auto port = item.find("port");
        if (ip == item.end() || !ip->is_string() || ip->get<std::string>().empty()) continue;
        if (port == item.end() || !port->is_number_integer()) continue;
        int64_t p = port->get<int64_t>();
        if (p <= 0 || p > 65535) continue;
        DiscoveredCenter c;
        std::string host = ip->get<std::string>();
        c.address = host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(p)
                                                        : host + ":" + std::to_string(p);
        if (auto w = item.find("weight"); w != item.end() && w->is_number())
            c.weight = w->get<double>();
        if (auto st = item.find("status"); st != item.end()) {
            if (st->is_string()) c.unhealthy = *st == "orange" || *st == "red";
            else if (st->is_number_integer()) c.unhealthy = st->get<int64_t>() >= 3;
        }
        out.push_back(std::move(c));
    }
    // Healthy centers first, then least loaded; the server's order (random among equals) is kept
    // within ties.
    std::stable_sort(out.begin(), out.end(), [](const DiscoveredCenter& a, const DiscoveredCenter& b) {
        if (a.unhealthy != b.unhealthy) return !a.unhealthy;
        return a.weight < b.weight;
    });
    return out;
}

Result<std::vector<DiscoveredCenter>> queryDiscovery(const std::string& discovery,
                                                     const std::string& service, int count,
                                                     std::chrono::milliseconds timeout) {
    std::string host;
    int port = 0;
    if (!splitHostPort(discovery, host, port))
        return makeError("bad discovery address \"{}\"", discovery);
    const std::string target = "/registry/detail?name=" + wire::urlEncode(service) +
                               "&count=" + std::to_string(count);
    auto res = http::get(host, port, target, timeout);
    if (!res.ok()) return makeError("discovery {} unreachable ({})", discovery, res.message());
    if (res->status != 200)
        return makeError("discovery {} answered HTTP {}", discovery, res->status);
    auto centers = parseDiscoveryDetail(res->body);
    if (!centers.ok()) return makeError("discovery {}: {}", discovery, centers.message());
    return centers;
}

}  // namespace vigil::agent
