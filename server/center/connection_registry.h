// The center's table of connected agents (one Transfer stream each): what /conn/* reports, where
// commands for an agent go, and the connection count used as the discovery weight.
// Thread-safety: every method is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "libs/common/result.h"
#include "libs/wire/command.h"

namespace vigil::center {

// What the registry and the admin API need from a live agent stream.
class AgentConnection {
public:
    virtual ~AgentConnection() = default;
    // Queues a Command for the agent (written after the ones already queued). False when the
    // stream is closing.
    virtual bool sendCommand(const wire::AgentCommand& command) = 0;
    // Ends the stream with UNAVAILABLE so the agent reconnects (possibly elsewhere).
    virtual void reset(const std::string& reason) = 0;

    struct Info {
        std::string agent_id;
        std::string peer;            // ip:port
        std::string cert_cn;         // client certificate common name
        std::string hostname, version, product;
        std::vector<std::string> intranet_ipv4, extranet_ipv4, intranet_ipv6, extranet_ipv6;
        int64_t connected_at = 0;    // unix seconds
        int64_t last_batch_at = 0;
        uint64_t batches = 0, records = 0, bytes = 0, acked_seq = 0, commands = 0;
    };
    virtual Info info() const = 0;
};

class ConnectionRegistry {
public:
    explicit ConnectionRegistry(size_t max_connections) : max_(max_connections) {}

    // Claims a slot for a new stream (before its agent id is known). False when full.
    bool admit();
    // Releases a slot claimed by admit() (stream ended).
    void release();
    // Binds agent_id to a live connection. Fails when another live stream has this id.
    Status bind(const std::string& agent_id, std::shared_ptr<AgentConnection> conn);
    // Removes the binding if it still points at `conn`.
    void unbind(const std::string& agent_id, const AgentConnection* conn);

    std::shared_ptr<AgentConnection> find(const std::string& agent_id) const;
    std::vector<std::shared_ptr<AgentConnection>> all() const;
    std::vector<std::string> agentIds() const;
    size_t streams() const { return streams_.load(); }  // admitted streams
    size_t agents() const;                              // bound agent ids
    size_t maxConnections() const { return max_; }

private:
    const size_t max_;
    std::atomic<size_t> streams_{0};
    mutable std::mutex mu_;
    std::map<std::string, std::shared_ptr<AgentConnection>> agents_;
};

}  // namespace vigil::center
