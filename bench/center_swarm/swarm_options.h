// Settings of one load-generator run: which center, how many simulated agents, what traffic
// they send and how they connect and reconnect. A plain value type.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vigil::bench {

struct SwarmOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 6751;
    std::string server_name = "vigil-center";  // SNI, certificate name check and :authority
    std::string ca_file, cert_file, key_file;   // PEM; every simulated agent uses this client cert

    uint32_t agents = 100;
    uint32_t threads = 1;         // one epoll loop per thread; agents are split round-robin
    double connect_rate = 1000;   // first connection attempts per second, all threads (0: all at once)

    // Traffic: `batches_per_s` per agent at a fixed random phase each, or, with `flood`, a
    // window of `window` unacknowledged batches per agent kept full.
    double batches_per_s = 1.0;
    uint32_t records_per_batch = 20;
    bool flood = false;
    uint32_t window = 8;
    uint32_t max_unacked = 32;  // rate mode: a batch is skipped (counted) beyond this many

    // Connection management, defaults as in vigil-agent's CenterClient.
    std::chrono::milliseconds connect_timeout{10000};  // TCP + TLS + server SETTINGS (as vigil-agent)
    std::chrono::milliseconds backoff_initial{500};
    std::chrono::milliseconds backoff_max{30000};
    double backoff_jitter = 0.2;                       // +-20 % of each delay
    std::chrono::milliseconds healthy_session{5000};  // a session this long resets the backoff
    std::chrono::milliseconds keepalive{30000};        // HTTP/2 PING interval (0: none)
    std::chrono::milliseconds keepalive_timeout{10000};
    bool resume_sessions = true;  // TLS 1.3 session tickets kept per agent and offered again

    std::string agent_id_prefix = "swarm-";  // agent_id = prefix + 6-digit index
    uint32_t first_agent_index = 0;
    uint32_t max_message_bytes = 4u << 20;  // largest Command accepted from the center
    uint64_t seed = 0;                      // 0: random
};

}  // namespace vigil::bench
