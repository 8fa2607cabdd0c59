// Swarm: set-up of the shared state and the worker threads.
#include "bench/center_swarm/swarm.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>

#include <cstring>

namespace vigil::bench {
namespace {

Result<sockaddr_in> resolve(const std::string& host, uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1) return addr;
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || !res) return makeError("cannot resolve {}: {}", host, gai_strerror(rc));
    addr.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return addr;
}

}  // namespace

bool parseTarget(const std::string& target, SwarmOptions& options) {
    const size_t colon = target.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == target.size()) return false;
    unsigned long port = 0;
    for (size_t i = colon + 1; i < target.size(); ++i) {
        if (target[i] < '0' || target[i] > '9') return false;
        port = port * 10 + static_cast<unsigned long>(target[i] - '0');
        if (port > 65535) return false;
    }
    if (port == 0) return false;
    options.host = target.substr(0, colon);
    options.port = static_cast<uint16_t>(port);
    return true;
}

Swarm::Swarm(SwarmOptions options) : options_(std::move(options)) {}

Swarm::~Swarm() {
    stop();
}

Status Swarm::start() {
    const SwarmOptions& o = options_;
    if (o.agents == 0) return makeError("--agents must be at least 1");
    if (o.threads == 0 || o.threads > 64) return makeError("--threads must be 1..64");
    if (o.records_per_batch == 0) return makeError("--records-per-batch must be at least 1");
    if (o.flood && o.window == 0) return makeError("--window must be at least 1");
    if (!o.flood && o.max_unacked == 0) return makeError("--max-unacked must be at least 1");
    if (o.batches_per_s < 0 || o.connect_rate < 0) return makeError("rates cannot be negative");
    if (o.ca_file.empty() || o.cert_file.empty() || o.key_file.empty()) {
        return makeError("the CA, the agent certificate and its key are required");
    }
    auto addr = resolve(o.host, o.port);
    if (!addr) return addr.error();

    if (o.resume_sessions) sessions_ = std::make_unique<TlsSessionCache>(o.agents);
    TlsClientOptions tls_options;
    tls_options.ca_file = o.ca_file;
    tls_options.cert_file = o.cert_file;
    tls_options.key_file = o.key_file;
    tls_options.server_name = o.server_name;
    tls_options.resume_sessions = o.resume_sessions;
    auto tls = TlsClientContext::create(tls_options, sessions_.get());
    if (!tls) return tls.error();
    tls_ = std::move(tls.value());
    records_ = std::make_unique<RecordPool>(512, o.seed ? o.seed : 1);
    shared_ = std::make_unique<SwarmShared>(o.agents);

    struct sigaction old{};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
        signal(SIGPIPE, SIG_IGN);
    }

    SwarmEnv env;
    env.options = &options_;
    env.tls = tls_.get();
    env.sessions = sessions_.get();
    env.records = records_.get();
    env.shared = shared_.get();
    env.target = addr.value();
    const uint32_t threads = std::min(o.threads, o.agents);
    for (uint32_t t = 0; t < threads; ++t) {
        workers_.push_back(std::make_unique<SwarmWorker>(env, t));
        VIGIL_TRY(workers_.back()->init());
    }
    start_ns_ = monoNs();
    // Agent i first tries at start + i / connect_rate: the ramp-up is one global sequence.
    const double step_ns = o.connect_rate > 0 ? 1e9 / o.connect_rate : 0;
    for (uint32_t i = 0; i < o.agents; ++i) {
        workers_[i % threads]->addAgent(i, start_ns_ + static_cast<int64_t>(step_ns * i));
    }
    stop_.store(false);
    for (auto& w : workers_) {
        threads_.emplace_back([this, worker = w.get()] { worker->run(stop_); });
    }
    return okStatus();
}

void Swarm::stop() {
    stop_.store(true);
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
}

SwarmSnapshot Swarm::snapshot() const {
    SwarmSnapshot s;
    s.mono_ns = monoNs();
    for (const auto& w : workers_) s.addWorker(w->counters());
    return s;
}

}  // namespace vigil::bench
