// Swarm: N simulated agents against one center, on a few worker threads with one epoll loop
// each; builds the shared TLS context, session cache and record pool, starts and stops the
// workers and sums their counters.
// Thread-safety: start()/stop() from one thread; snapshot() and shared() from any thread.
// start() sets SIGPIPE to ignored if it was at its default (writes to a closed socket).
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "bench/center_swarm/record_pool.h"
#include "bench/center_swarm/swarm_options.h"
#include "bench/center_swarm/swarm_stats.h"
#include "bench/center_swarm/swarm_worker.h"
#include "bench/center_swarm/tls_client.h"
#include "libs/common/result.h"

namespace vigil::bench {

class Swarm {
public:
    explicit Swarm(SwarmOptions options);
    ~Swarm();
    Swarm(const Swarm&) = delete;
    Swarm& operator=(const Swarm&) = delete;

    // Validates the options, loads the certificates and starts the workers; agents then
    // connect at options.connect_rate.
    Status start();
    // Closes every connection and joins the workers. Idempotent.
    void stop();

    SwarmSnapshot snapshot() const;
    const SwarmShared& shared() const { return *shared_; }
    const SwarmOptions& options() const { return options_; }
    int64_t startNs() const { return start_ns_; }
    double averagePayloadBytes() const { return records_ ? records_->averagePayloadBytes() : 0; }

private:
    SwarmOptions options_;
    std::unique_ptr<TlsSessionCache> sessions_;
    std::unique_ptr<TlsClientContext> tls_;
    std::unique_ptr<RecordPool> records_;
    std::unique_ptr<SwarmShared> shared_;
    std::vector<std::unique_ptr<SwarmWorker>> workers_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    int64_t start_ns_ = 0;
};

// "host:port" -> options.host/port. False when malformed.
bool parseTarget(const std::string& target, SwarmOptions& options);

}  // namespace vigil::bench
