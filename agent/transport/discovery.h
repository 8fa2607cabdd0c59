// Center look-up through vigil-discovery (Elkeid's ServiceDiscovery API):
// GET /registry/detail?name=<service>&count=N answers
// {"code":0,"data":[{"ip":"10.0.0.5","port":6751,"weight":12}, ...],"msg":"ok"}.
// Stateless functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/common/result.h"

namespace vigil::agent {

struct DiscoveredCenter {
    bool unhealthy = false;  // status orange/red (Vigil) or >= 3 (Elkeid): it missed registrations
    std::string address;  // host:port ([v6]:port for IPv6)
    double weight = 0;    // the center's load (current connections): lower is better
};

// Parses a /registry/detail answer. Healthy centers come first, then least-loaded (a stable sort
// by weight, so the discovery's own tie-breaking is kept). Entries without a valid ip/port are
// skipped; an error when the document is not the expected shape or code != 0.
Result<std::vector<DiscoveredCenter>> parseDiscoveryDetail(std::string_view body);

// Asks one discovery replica (host:port) for up to `count` centers of `service`, over plain
// HTTP with `timeout` for connecting and for reading.
Result<std::vector<DiscoveredCenter>> queryDiscovery(const std::string& discovery,
                                                     const std::string& service, int count,
                                                     std::chrono::milliseconds timeout);

// Splits "host:port" or "[v6]:port". False when malformed.
bool splitHostPort(std::string_view address, std::string& host, int& port);

}  // namespace vigil::agent
