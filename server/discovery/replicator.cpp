// Replicator: per-peer queues and sender threads for /registry/sync, snapshots, backoff.
#include "server/discovery/replicator.h"

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "libs/common/backoff.h"
#include "libs/common/log.h"
#include "server/common/service_config.h"
#include "server/discovery/codec.h"

namespace vigil::discovery {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

enum class SendResult { kOk, kSelf, kFailed, kRejected };

int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct Replicator::Peer {
    std::string address;
    std::unique_ptr<httplib::Client> client;

    std::mutex mu;
    std::condition_variable cv;
    std::deque<Change> queue;
    Clock::time_point first_queued{};
    Clock::time_point next_attempt{};
    Clock::time_point next_snapshot{};
    bool hello_pending = true;    // ask the peer for its snapshot
    bool needs_snapshot = false;  // send ours
    bool stopping = false;

    std::atomic<bool> up{false};
    std::atomic<bool> is_self{false};
    bool failing = false;
    std::thread thread;
};

Replicator::Replicator(ReplicatorOptions options, Registry& registry, metrics::Registry& metrics)
    : options_(std::move(options)), registry_(registry), metrics_(metrics) {
    if (options_.batch == 0) options_.batch = 1;
    if (options_.snapshot_batch == 0) options_.snapshot_batch = 1;
    for (const auto& address : options_.peers) {
        auto p = std::make_unique<Peer>();
        p->address = address;
        metrics_.callbackGauge("vigil_discovery_peer_up", "1 when the peer accepted the last sync",
                               [peer = p.get()] { return peer->up.load() ? 1.0 : 0.0; },
                               {{"peer", address}});
        peers_.push_back(std::move(p));
    }
}

Replicator::~Replicator() {
    stop();
}

void Replicator::start() {
    const auto now = Clock::now();
    for (auto& p : peers_) {
        if (p->thread.joinable()) continue;
        p->stopping = false;
        p->next_snapshot = now + options_.snapshot_interval;
        p->thread = std::thread([this, peer = p.get()] { run(*peer); });
    }
}

void Replicator::stop() {
    for (auto& p : peers_) {
        {
            std::lock_guard lock(p->mu);
            p->stopping = true;
        }
        p->cv.notify_all();
    }
    for (auto& p : peers_) {
        if (p->thread.joinable()) p->thread.join();
    }
}

size_t Replicator::peersUp() const {
    size_t n = 0;
    for (const auto& p : peers_) n += p->up.load() ? 1 : 0;
    return n;
}

void Replicator::publish(const std::vector<Change>& changes) {
    if (changes.empty()) return;
    const auto now = Clock::now();
    for (auto& p : peers_) {
        if (p->is_self) continue;
        {
            std::lock_guard lock(p->mu);
            if (p->queue.size() + changes.size() > options_.queue_limit) {
                // A snapshot carries the same information in bounded size.
                p->queue.clear();
                p->needs_snapshot = true;
                continue;
            }
            if (p->queue.empty()) p->first_queued = now;
            p->queue.insert(p->queue.end(), changes.begin(), changes.end());
        }
        p->cv.notify_all();
    }
}

void Replicator::snapshotRequested(const std::string& source) {
    bool matched = false;
    for (auto& p : peers_) matched = matched || p->address == source;
    const auto now = Clock::now();
    for (auto& p : peers_) {
        if (p->is_self || (matched && p->address != source)) continue;
        {
            std::lock_guard lock(p->mu);
            p->needs_snapshot = true;
            p->next_attempt = now;  // it just showed it is up
        }
        p->cv.notify_all();
    }
}

void Replicator::run(Peer& peer) {
    auto log = vigil::log::get("replication");
    auto hp = server::parseHostPort(peer.address);
    if (!hp.ok()) {
        log->error("peer {}: {}; not replicating to it", peer.address, hp.message());
        return;
    }
    peer.client = std::make_unique<httplib::Client>(hp->host, hp->port);
    const auto timeout_us =
        std::chrono::duration_cast<std::chrono::microseconds>(options_.timeout).count();
    peer.client->set_connection_timeout(timeout_us / 1000000, timeout_us % 1000000);
    peer.client->set_read_timeout(timeout_us / 1000000, timeout_us % 1000000);
    peer.client->set_write_timeout(timeout_us / 1000000, timeout_us % 1000000);
    // One connection per request: a kept-alive connection would hold a worker of the peer's
    // server and delay its shutdown, and could be closed under us just as we reuse it.
    peer.client->set_keep_alive(false);
    Backoff backoff(std::chrono::milliseconds(200), options_.backoff_max, 0.2);

    auto counter = [&](const char* result) -> metrics::Counter& {
        return metrics_.counter("vigil_discovery_sync_requests_total",
                                "Sync requests sent to peers, by result",
                                {{"peer", peer.address}, {"result", result}});
    };
    metrics::Counter& changes_sent =
        metrics_.counter("vigil_discovery_sync_changes_sent_total", "Changes delivered to peers",
                         {{"peer", peer.address}});

    // One signed POST /registry/sync.
    // `items` are serialised changes, joined into the "data" array here.
    auto post = [&](const std::vector<std::string>& items, bool request_snapshot) -> SendResult {
        json head{{"source", options_.source}, {"node", options_.node_id}};
        if (request_snapshot) head["request_snapshot"] = true;
        std::string text = head.dump(-1, ' ', false, json::error_handler_t::replace);
        text.pop_back();  // '}'
        text += ",\"data\":[";
        for (size_t i = 0; i < items.size(); ++i) {
            if (i) text += ',';
            text += items[i];
        }
        text += "]}";
        httplib::Headers headers;
        if (!options_.key.access_key.empty()) {
            server::SignedHeaders s =
                server::sign(options_.key, "POST", "/registry/sync", "", text, unixNow());
            headers.emplace("AccessKey", s.access_key);
            headers.emplace("TimeStamp", s.timestamp);
            headers.emplace("Signature", s.signature);
        }
        auto res = peer.client->Post("/registry/sync", headers, text, "application/json");
        if (!res) {
            counter("error").inc();
            if (!peer.failing)
                log->warn("peer {}: sync failed: {}", peer.address,
                          httplib::to_string(res.error()));
            return SendResult::kFailed;
        }
        auto answer = json::parse(res->body, nullptr, false);
        std::string msg = answer.is_object() && answer.contains("msg") && answer["msg"].is_string()
                              ? answer["msg"].get<std::string>()
                              : res->body.substr(0, 200);
        if (res->status == 200 && answer.is_object() && answer.value("code", -1) == 0) {
            counter("ok").inc();
            const json& d = answer["data"];
            if (d.is_object() && d.value("self", false)) return SendResult::kSelf;
            changes_sent.inc(items.size());
            return SendResult::kOk;
        }
        if (res->status == 401) {
            counter("unauthorized").inc();
            if (!peer.failing)
                log->error(
                    "peer {} refuses our signature ({}): every replica needs the same auth keys",
                    peer.address, msg);
            return SendResult::kFailed;
        }
        if (res->status >= 400 && res->status < 500) {
            counter("rejected").inc();
            log->error("peer {} rejected a sync: HTTP {}: {}", peer.address, res->status, msg);
            return SendResult::kRejected;
        }
        counter("error").inc();
        if (!peer.failing)
            log->warn("peer {}: sync failed: HTTP {}: {}", peer.address, res->status, msg);
        return SendResult::kFailed;
    };

    // Requests of at most `per_request` changes and about max_request_bytes each.
    auto sendChanges = [&](const std::vector<Change>& changes, size_t per_request) -> SendResult {
        std::vector<std::string> items;
        size_t bytes = 0;
        for (size_t i = 0; i < changes.size(); ++i) {
            // Ages are taken as late as possible: just before this request goes out.
            std::string item = changeJson(changes[i], registry_.nowMs())
                                   .dump(-1, ' ', false, json::error_handler_t::replace);
            if (!items.empty() &&
                (items.size() >= per_request || bytes + item.size() > options_.max_request_bytes)) {
                SendResult r = post(items, false);
                if (r != SendResult::kOk) return r;
                items.clear();
                bytes = 0;
            }
            bytes += item.size() + 1;
            items.push_back(std::move(item));
        }
        return items.empty() ? SendResult::kOk : post(items, false);
    };

    enum class Task { kHello, kSnapshot, kBatch };
    while (true) {
        Task task;
        std::vector<Change> batch;
        {
            std::unique_lock lock(peer.mu);
            while (true) {
                if (peer.stopping) {
                    // Last changes (an eviction just made, say) go out once, if the peer is up.
                    if (peer.queue.empty() || peer.failing || peer.is_self) return;
                    task = Task::kBatch;
                    batch.assign(peer.queue.begin(), peer.queue.end());
                    peer.queue.clear();
                    break;
                }
                if (peer.is_self) {
                    peer.cv.wait(lock);
                    continue;
                }
                const auto now = Clock::now();
                if (now < peer.next_attempt) {
                    peer.cv.wait_until(lock, peer.next_attempt);
                    continue;
                }
                const bool batch_due =
                    !peer.queue.empty() && (peer.queue.size() >= options_.batch ||
                                            now - peer.first_queued >= options_.flush_interval);
                if (peer.hello_pending) {
                    task = Task::kHello;
                } else if (peer.needs_snapshot || now >= peer.next_snapshot) {
                    task = Task::kSnapshot;
                    // The snapshot, taken after this, holds everything queued so far.
                    peer.queue.clear();
                    peer.needs_snapshot = false;
                    peer.next_snapshot = now + options_.snapshot_interval;
                } else if (batch_due) {
                    task = Task::kBatch;
                    const size_t n = std::min(options_.batch, peer.queue.size());
                    batch.assign(peer.queue.begin(),
                                 peer.queue.begin() + static_cast<std::ptrdiff_t>(n));
                    peer.queue.erase(peer.queue.begin(),
                                     peer.queue.begin() + static_cast<std::ptrdiff_t>(n));
                    peer.first_queued = now;
                } else {
                    auto wake = peer.next_snapshot;
                    if (!peer.queue.empty())
                        wake = std::min(wake, peer.first_queued + options_.flush_interval);
                    peer.cv.wait_until(lock, wake);
                    continue;
                }
                break;
            }
        }

        SendResult result;
        switch (task) {
            case Task::kHello:
                result = post({}, true);
                break;
            case Task::kSnapshot:
                result = sendChanges(registry_.snapshot(), options_.snapshot_batch);
                break;
            case Task::kBatch:
                result = sendChanges(batch, options_.batch);
                break;
        }

        std::lock_guard lock(peer.mu);
        switch (result) {
            case SendResult::kSelf:
                log->info("peer {} is this replica itself; not replicating to it", peer.address);
                peer.is_self = true;
                peer.queue.clear();
                break;
            case SendResult::kOk:
            case SendResult::kRejected:  // logged; retrying the same content would fail again
                if (task == Task::kHello) peer.hello_pending = false;
                if (peer.failing) log->info("peer {} is reachable again", peer.address);
                peer.failing = false;
                peer.up = result == SendResult::kOk;
                backoff.reset();
                break;
            case SendResult::kFailed: {
                // Whatever it missed, it gets as a snapshot once it answers (it may have
                // restarted).
                peer.failing = true;
                peer.up = false;
                peer.needs_snapshot = true;
                peer.next_attempt = Clock::now() + backoff.next();
                break;
            }
        }
    }
}

}  // namespace vigil::discovery
