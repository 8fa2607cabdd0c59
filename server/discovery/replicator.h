// Replicator: sends this replica's changes to every peer replica with signed POST
// /registry/sync, in batches (every flush_interval or `batch` changes). A peer that fails gets
// a full snapshot once it answers again (retried with backoff), every peer gets one every
// snapshot_interval, and at start this replica asks each peer for its snapshot, so a replica
// that starts late or restarts answers correctly within about a second of reaching its peers.
// Changes received from peers are never sent on (no loops). A peer address that turns out to
// be this replica itself (same node id) is skipped.
// Thread-safety: publish/snapshotRequested from any thread; start/stop from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "libs/common/metrics.h"
#include "server/common/auth.h"
#include "server/discovery/discovery_api.h"
#include "server/discovery/registry.h"

namespace vigil::discovery {

struct ReplicatorOptions {
    std::vector<std::string> peers;  // host:port of the other replicas (this one may be listed)
    std::string source;              // this replica's address, sent as "source"
    std::string node_id;             // this replica's id, sent as "node"
    server::AkSk key;                // signs the syncs (empty: unsigned, for auth.disabled peers)
    std::chrono::milliseconds flush_interval{1000};
    size_t batch = 100;                     // changes per sync request
    size_t snapshot_batch = 500;            // changes per request of a snapshot
    size_t max_request_bytes = 256 * 1024;  // a sync body stays about this size (peers' max_body)
    std::chrono::milliseconds snapshot_interval{30000};
    std::chrono::milliseconds timeout{2000};  // connect and read timeout of one request
    std::chrono::milliseconds backoff_max{5000};
    size_t queue_limit = 100000;  // past it, the queue is dropped for a snapshot
};

class Replicator : public ChangeSink {
public:
    Replicator(ReplicatorOptions options, Registry& registry, metrics::Registry& metrics);
    ~Replicator() override;  // stop()
    Replicator(const Replicator&) = delete;
    Replicator& operator=(const Replicator&) = delete;

    // This replica's address as peers should see it; before start() (known once bound).
    void setSource(std::string source) { options_.source = std::move(source); }
    void start();  // one sender thread per peer
    // Sends what is queued once more to the peers that are up, then joins (each within about
    // one request timeout).
    void stop();

    void publish(const std::vector<Change>& changes) override;
    void snapshotRequested(const std::string& source) override;

    // Peers that accepted the last request (for tests and the health check).
    size_t peersUp() const;

private:
    struct Peer;
    void run(Peer& peer);

    ReplicatorOptions options_;
    Registry& registry_;
    metrics::Registry& metrics_;
    std::vector<std::unique_ptr<Peer>> peers_;
};

}  // namespace vigil::discovery
