// SwarmWorker: one thread's share of the simulated agents, run by one epoll loop with a timer
// heap; plus what all workers share (SwarmEnv, read-only) and the swarm-wide connection count
// that tells when every agent is connected (SwarmShared).
// Thread-safety: a worker's methods run on its own thread, except counters() (any thread).
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <queue>
#include <random>
#include <vector>

#include <nghttp2/nghttp2.h>

#include "bench/center_swarm/grpc_stream.h"
#include "bench/center_swarm/record_pool.h"
#include "bench/center_swarm/swarm_options.h"
#include "bench/center_swarm/swarm_stats.h"
#include "bench/center_swarm/tls_client.h"
#include "libs/common/result.h"
#include "libs/wire/batch.h"
#include "libs/wire/buffer.h"
#include "libs/wire/command.h"

namespace vigil::bench {

class SimAgent;

int64_t monoNs();
int64_t realtimeNs();

// Swarm-wide count of connected agents and the moments it reached or left "all connected".
// Thread-safe (atomics); times are CLOCK_MONOTONIC ns, 0 = never.
struct SwarmShared {
    explicit SwarmShared(uint32_t agents) : agents(agents) {}
    const uint32_t agents;
    std::atomic<int64_t> connected{0};
    std::atomic<int64_t> first_all_connected_ns{0};
    std::atomic<int64_t> last_all_connected_ns{0};
    std::atomic<int64_t> last_lost_all_ns{0};  // last time the count fell below `agents`
    std::atomic<uint64_t> all_connected_events{0};

    void agentConnected(int64_t now_ns);
    void agentDisconnected(int64_t now_ns);
};

// Read-only for the workers; outlives them.
struct SwarmEnv {
    const SwarmOptions* options = nullptr;
    const TlsClientContext* tls = nullptr;
    TlsSessionCache* sessions = nullptr;
    const RecordPool* records = nullptr;
    SwarmShared* shared = nullptr;
    sockaddr_in target{};
};

class SwarmWorker {
public:
    SwarmWorker(const SwarmEnv& env, uint32_t index);
    ~SwarmWorker();
    SwarmWorker(const SwarmWorker&) = delete;
    SwarmWorker& operator=(const SwarmWorker&) = delete;

    Status init();
    // Adds agent `slot`, first attempting to connect at `first_attempt_ns` (before run()).
    void addAgent(uint32_t slot, int64_t first_attempt_ns);
    // The event loop; returns after `stop` is set, with every connection closed.
    void run(const std::atomic<bool>& stop);
    const WorkerCounters& counters() const { return counters_; }
    size_t agentCount() const { return agents_.size(); }

    // For SimAgent (worker thread only).
    const SwarmEnv& env() const { return env_; }
    const SwarmOptions& options() const { return *env_.options; }
    WorkerCounters& stats() { return counters_; }
    const GrpcStreamConfig& streamConfig() const { return stream_config_; }
    bool watch(int fd, uint32_t events, SimAgent* agent);
    bool rewatch(int fd, uint32_t events, SimAgent* agent);
    void schedule(SimAgent& agent, int64_t at_ns);
    wire::BatchBuilder& builder() { return builder_; }
    wire::Buffer& batchBuffer() { return batch_buf_; }
    uint8_t* readBuffer() { return read_buf_.get(); }
    static constexpr size_t kReadBufferBytes = 64 * 1024;
    wire::AgentCommand& commandScratch() { return command_; }
    const PooledRecord& nextRecord() { return env_.records->at(record_cursor_++); }
    uint64_t random() { return rng_(); }
    double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

private:
    struct Timer {
        int64_t at;
        SimAgent* agent;
        uint32_t gen;
        bool operator>(const Timer& o) const { return at > o.at; }
    };
    void fireTimers(int64_t now_ns);

    SwarmEnv env_;
    uint32_t index_;
    int epoll_fd_ = -1;
    std::vector<std::unique_ptr<SimAgent>> agents_;
    std::vector<int64_t> first_attempts_;
    std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
    WorkerCounters counters_;
    nghttp2_mem h2_mem_{};
    GrpcStreamConfig stream_config_;
    wire::BatchBuilder builder_;
    wire::Buffer batch_buf_;
    std::unique_ptr<uint8_t[]> read_buf_;
    wire::AgentCommand command_;
    size_t record_cursor_ = 0;
    std::mt19937_64 rng_;
};

}  // namespace vigil::bench
