// Helpers for discovery's integration tests: free loopback ports, signed HTTP calls, bounded
// waits, and replicas assembled with short test timings.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/common/auth.h"
#include "server/discovery/discovery_service.h"
#include "tests/support/free_port.h"

namespace vigil::discovery::testing {

inline const server::AkSk kTestKey{"test-ak", "test-secret-0123456789abcdef"};


// Polls `done` every 20 ms until it is true or `timeout` passes; returns its last value.
bool waitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout);

struct HttpAnswer {
    int status = 0;  // 0: no answer
    nlohmann::json body;
};

// POST a JSON body to 127.0.0.1:port, signed with `key` unless its access key is empty.
HttpAnswer postJson(int port, const std::string& path, const nlohmann::json& body,
                    const server::AkSk& key = kTestKey);
HttpAnswer getJson(int port, const std::string& target);

// The ips of GET /registry/detail?name=<name> (empty on any error).
std::vector<std::string> detailIps(int port, const std::string& name);

// Options of a replica on 127.0.0.1:port with kTestKey, fast replication timings.
DiscoveryOptions replicaOptions(int port, std::vector<std::string> peers = {},
                                std::chrono::milliseconds evict_after = std::chrono::seconds(105));

nlohmann::json registration(const std::string& name, const std::string& ip, int port,
                            int64_t weight);

}  // namespace vigil::discovery::testing
