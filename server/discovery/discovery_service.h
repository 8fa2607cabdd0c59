// DiscoveryService: one vigil-discovery replica assembled: Registry, DiscoveryApi on an
// ApiServer, Replicator to the peers and the expiry sweep. Used by main() and by tests that run
// several replicas in one process.
// Thread-safety: start/stop from one thread; the accessors are safe after start.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/common/api_server.h"
#include "server/discovery/registry.h"
#include "server/discovery/replicator.h"

namespace vigil::discovery {

struct DiscoveryOptions {
    server::ApiServerOptions api;   // name, host, port, threads, body cap, verifier, auth_disabled
    RegistryOptions registry;       // evict_after, max_instances, max_detail
    ReplicatorOptions replication;  // peers, key and timings; source/node_id are filled in
    std::string advertise;          // this replica's address for peers; default host:port
    std::chrono::milliseconds check_interval{1000};  // expiry sweep period
};

class DiscoveryService {
public:
    DiscoveryService(DiscoveryOptions options, metrics::Registry& metrics);
    ~DiscoveryService();  // stop()
    DiscoveryService(const DiscoveryService&) = delete;
    DiscoveryService& operator=(const DiscoveryService&) = delete;

    // Listens, then starts replication and the expiry sweep.
    Status start();
    // Stops serving, replicating and sweeping. Idempotent.
    void stop();

    int port() const;
    std::string address() const;  // host:port it listens on
    const std::string& nodeId() const { return node_id_; }
    Registry& registry() { return *registry_; }
    size_t peersUp() const;

private:
    struct Impl;
    DiscoveryOptions options_;
    metrics::Registry& metrics_;
    std::string node_id_;
    std::unique_ptr<Registry> registry_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::discovery
