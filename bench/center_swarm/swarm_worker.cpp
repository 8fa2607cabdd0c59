// SwarmWorker: epoll loop, timer heap, nghttp2 heap accounting; SwarmShared transitions.
#include "bench/center_swarm/swarm_worker.h"

#include <sys/epoll.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "bench/center_swarm/sim_agent.h"

namespace vigil::bench {
namespace {


// nghttp2's allocator. Each block carries a 16-byte header with its size, so the worker counts
// exactly what its sessions hold. Blocks of 12 KB and more (each session's 16 KB frame buffer,
// of which only the first page is ever written here, since DATA payloads bypass it) are mapped
// on their own: their untouched pages never become resident, and they go back to the kernel
// when the session ends instead of feeding heap fragmentation.
struct alignas(16) H2Block {
    uint64_t size;    // bytes requested + header
    uint64_t mapped;  // 1: mmap'ed (size rounded up to pages)
};
constexpr size_t kH2MapThreshold = 12 * 1024;
constexpr size_t kPage = 4096;

void* h2Malloc(size_t n, void* ud) {
    const size_t total = n + sizeof(H2Block);
    H2Block* b;
    if (total >= kH2MapThreshold) {
        void* p = mmap(nullptr, (total + kPage - 1) & ~(kPage - 1), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return nullptr;
        b = static_cast<H2Block*>(p);
        b->mapped = 1;
    } else {
        b = static_cast<H2Block*>(std::malloc(total));
        if (!b) return nullptr;
        b->mapped = 0;
    }
    b->size = total;
    auto* c = static_cast<WorkerCounters*>(ud);
    (b->mapped ? c->h2_mapped_bytes : c->h2_heap_bytes).add(static_cast<int64_t>(total));
    return b + 1;
}

void h2Free(void* p, void* ud) {
    if (!p) return;
    H2Block* b = static_cast<H2Block*>(p) - 1;
    auto* c = static_cast<WorkerCounters*>(ud);
    (b->mapped ? c->h2_mapped_bytes : c->h2_heap_bytes).add(-static_cast<int64_t>(b->size));
    if (b->mapped) {
        munmap(b, (b->size + kPage - 1) & ~(kPage - 1));
    } else {
        std::free(b);
    }
}

void* h2Calloc(size_t nmemb, size_t size, void* ud) {
    if (size != 0 && nmemb > SIZE_MAX / size) return nullptr;
    void* p = h2Malloc(nmemb * size, ud);
    if (p && !(static_cast<H2Block*>(p) - 1)->mapped) std::memset(p, 0, nmemb * size);
    return p;  // mapped pages are zero already
}

void* h2Realloc(void* p, size_t n, void* ud) {
    if (!p) return h2Malloc(n, ud);
    if (n == 0) {
        h2Free(p, ud);
        return nullptr;
    }
    const size_t old = (static_cast<H2Block*>(p) - 1)->size - sizeof(H2Block);
    void* q = h2Malloc(n, ud);
    if (!q) return nullptr;
    std::memcpy(q, p, std::min(old, n));
    h2Free(p, ud);
    return q;
}

int64_t clockNs(clockid_t id) {
    timespec ts;
    clock_gettime(id, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

int64_t monoNs() {
    return clockNs(CLOCK_MONOTONIC);
}

int64_t realtimeNs() {
    return clockNs(CLOCK_REALTIME);
}

void SwarmShared::agentConnected(int64_t now_ns) {
    const int64_t n = connected.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (n == static_cast<int64_t>(agents)) {
        int64_t zero = 0;
        first_all_connected_ns.compare_exchange_strong(zero, now_ns);
        last_all_connected_ns.store(now_ns, std::memory_order_release);
        all_connected_events.fetch_add(1, std::memory_order_acq_rel);
    }
}

void SwarmShared::agentDisconnected(int64_t now_ns) {
    const int64_t before = connected.fetch_sub(1, std::memory_order_acq_rel);
    if (before == static_cast<int64_t>(agents)) {
        last_lost_all_ns.store(now_ns, std::memory_order_release);
    }
}

SwarmWorker::SwarmWorker(const SwarmEnv& env, uint32_t index)
    : env_(env), index_(index), rng_(env.options->seed ? env.options->seed + index
                                                       : std::random_device{}()) {
    h2_mem_.mem_user_data = &counters_;
    h2_mem_.malloc = h2Malloc;
    h2_mem_.free = h2Free;
    h2_mem_.calloc = h2Calloc;
    h2_mem_.realloc = h2Realloc;
    stream_config_.authority = env.options->server_name;
    stream_config_.max_message_bytes = env.options->max_message_bytes;
    stream_config_.mem = &h2_mem_;
    record_cursor_ = index * 97;
}

SwarmWorker::~SwarmWorker() {
    agents_.clear();
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Status SwarmWorker::init() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return makeError("epoll_create1: {}", std::strerror(errno));
    read_buf_ = std::make_unique<uint8_t[]>(kReadBufferBytes);
    return okStatus();
}

void SwarmWorker::addAgent(uint32_t slot, int64_t first_attempt_ns) {
    agents_.push_back(std::make_unique<SimAgent>(*this, slot));
    first_attempts_.push_back(first_attempt_ns);
}

bool SwarmWorker::watch(int fd, uint32_t events, SimAgent* agent) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = agent;
    return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool SwarmWorker::rewatch(int fd, uint32_t events, SimAgent* agent) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = agent;
    return epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0;
}

void SwarmWorker::schedule(SimAgent& agent, int64_t at_ns) {
    // One live timer per agent: a later request waits for the earlier timer, which re-arms;
    // an earlier one supersedes it (the old heap entry goes stale by generation).
    if (agent.timer_at_ != 0 && agent.timer_at_ <= at_ns) return;
    agent.timer_at_ = at_ns;
    timers_.push(Timer{at_ns, &agent, ++agent.timer_gen_});
}

void SwarmWorker::fireTimers(int64_t now_ns) {
    while (!timers_.empty() && timers_.top().at <= now_ns) {
        const Timer t = timers_.top();
        timers_.pop();
        if (t.gen != t.agent->timer_gen_ || t.agent->timer_at_ != t.at) continue;  // stale
        t.agent->timer_at_ = 0;
        counters_.loop_lag.record(static_cast<uint64_t>(now_ns - t.at) / 1000);
        t.agent->onTimer(now_ns);
    }
}

void SwarmWorker::run(const std::atomic<bool>& stop) {
    for (size_t i = 0; i < agents_.size(); ++i) agents_[i]->start(first_attempts_[i]);
    first_attempts_.clear();
    first_attempts_.shrink_to_fit();
    constexpr int kMaxEvents = 1024;
    epoll_event events[kMaxEvents];
    while (!stop.load(std::memory_order_relaxed)) {
        int64_t now = monoNs();
        fireTimers(now);
        int timeout_ms = 100;
        if (!timers_.empty()) {
            const int64_t wait_ns = timers_.top().at - monoNs();
            timeout_ms = wait_ns <= 0 ? 0
                                      : static_cast<int>(std::min<int64_t>(
                                            100, (wait_ns + 999'999) / 1'000'000));
        }
        const int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; ++i) {
            static_cast<SimAgent*>(events[i].data.ptr)->onIo(events[i].events);
        }
    }
    for (auto& a : agents_) a->stop();
}

}  // namespace vigil::bench
