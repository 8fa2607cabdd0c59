// The manager's server-sent events: broadcaster, per-client queues, the ingestion and sweep feed.
#include "server/manager/api/event_stream.h"

#include <algorithm>

#include "libs/common/log.h"
#include "server/manager/api/api_views.h"

namespace vigil::manager::api {

std::string formatServerEvent(const ServerEvent& event) {
    // Data is one line of JSON; a stray line break would end the field early.
    std::string data = event.data;
    std::replace(data.begin(), data.end(), '\n', ' ');
    std::replace(data.begin(), data.end(), '\r', ' ');
    return "event: " + event.type + "\ndata: " + data + "\n\n";
}

// ---- Subscription ---------------------------------------------------------------------------

Subscription::~Subscription() {
    owner_->remove(this);
}

std::vector<ServerEvent> Subscription::wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || ended_; });
    if (ended_) return {};
    std::vector<ServerEvent> out(std::make_move_iterator(queue_.begin()),
                                 std::make_move_iterator(queue_.end()));
    queue_.clear();
    return out;
}

bool Subscription::overflowed() const {
    std::lock_guard lock(mu_);
    return overflowed_;
}

bool Subscription::ended() const {
    std::lock_guard lock(mu_);
    return ended_;
}

bool Subscription::push(const ServerEvent& event) {
    {
        std::lock_guard lock(mu_);
        if (ended_) return true;
        if (queue_.size() >= capacity_) {
            overflowed_ = true;
            ended_ = true;
            queue_.clear();
        } else {
            queue_.push_back(event);
        }
    }
    cv_.notify_all();
    return !overflowed();
}

void Subscription::end() {
    {
        std::lock_guard lock(mu_);
        ended_ = true;
    }
    cv_.notify_all();
}

// ---- EventBroadcaster -----------------------------------------------------------------------

EventBroadcaster::EventBroadcaster(BroadcasterOptions options, metrics::Registry& metrics)
    : options_(options),
      published_(&metrics.counter("vigil_manager_events_published_total",
                                  "Server-sent events published (alert, host)")),
      slow_(&metrics.counter("vigil_manager_events_slow_clients_total",
                             "Event stream clients cut off because their queue was full")),
      clients_(&metrics.gauge("vigil_manager_events_clients", "Event stream clients now")) {}

EventBroadcaster::~EventBroadcaster() {
    close();
}

std::shared_ptr<Subscription> EventBroadcaster::subscribe() {
    std::lock_guard lock(mu_);
    if (closed_ || subs_.size() >= options_.max_clients) return nullptr;
    std::shared_ptr<Subscription> s(new Subscription(this, std::max<size_t>(1, options_.queue)));
    subs_.push_back(s.get());
    clients_->set(static_cast<double>(subs_.size()));
    return s;
}

void EventBroadcaster::remove(Subscription* s) {
    std::lock_guard lock(mu_);
    subs_.erase(std::remove(subs_.begin(), subs_.end(), s), subs_.end());
    clients_->set(static_cast<double>(subs_.size()));
}

void EventBroadcaster::publish(const ServerEvent& event) {
    std::lock_guard lock(mu_);
    published_->inc();
    for (Subscription* s : subs_) {
        if (s->ended()) continue;
        if (!s->push(event)) {
            slow_->inc();
            VIGIL_LOG_RATE_LIMITED(log::get("manager"), spdlog::level::warn,
                                   "events: a client read too slowly ({} events queued): cut off",
                                   options_.queue);
        }
    }
}

void EventBroadcaster::close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (Subscription* s : subs_) s->end();
}

size_t EventBroadcaster::clients() const {
    std::lock_guard lock(mu_);
    return subs_.size();
}

// ---- EventFeed ------------------------------------------------------------------------------

EventFeed::EventFeed(Store& store, EventBroadcaster& events, EventFeedOptions options)
    : store_(store), events_(events), options_(options) {}

EventFeed::~EventFeed() {
    stop();
}

void EventFeed::hostEvent(const Host& host, const char* change) {
    nlohmann::json j = hostJson(host);
    j["change"] = change;
    events_.publish({"host", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
}

void EventFeed::onStored(const IngestBatch& batch, const IngestResult& result) {
    // A batch of redeliveries only (every alert already stored) has nothing new to say; a mixed
    // one is sent whole (clients deduplicate by alert_id).
    if (result.alerts_inserted > 0) {
        for (const auto& a : batch.alerts) {
            events_.publish(
                {"alert", alertJson(a, false).dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace)});
        }
    }
    if (batch.hosts.empty()) return;
    std::lock_guard lock(mu_);
    if (!swept_) return;  // the first sweep learns every host
    for (Host h : batch.hosts) {
        auto it = known_.find(h.agent_id);
        if (it != known_.end() && it->second) continue;
        const char* change = it == known_.end() ? "new" : "online";
        known_[h.agent_id] = true;
        h.online = true;
        hostEvent(h, change);
    }
}

Status EventFeed::sweep() {
    HostQuery q;
    q.limit = kMaxPageSize;
    std::vector<Host> hosts;
    do {
        auto page = store_.listHosts(q);
        if (!page.ok()) return page.error();
        for (auto& h : page->items) hosts.push_back(std::move(h));
        q.cursor = page->next_cursor;
    } while (!q.cursor.empty());
    std::lock_guard lock(mu_);
    std::map<std::string, bool> next;
    for (const auto& h : hosts) {
        next[h.agent_id] = h.online;
        if (!swept_) continue;
        auto it = known_.find(h.agent_id);
        if (it == known_.end())
            hostEvent(h, "new");
        else if (it->second != h.online)
            hostEvent(h, h.online ? "online" : "offline");
    }
    known_ = std::move(next);
    swept_ = true;
    return okStatus();
}

void EventFeed::start() {
    std::lock_guard lock(run_mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] {
        std::unique_lock lock(run_mu_);
        do {
            lock.unlock();
            if (auto s = sweep(); !s.ok()) {
                VIGIL_LOG_RATE_LIMITED(log::get("manager"), spdlog::level::warn,
                                       "events: host sweep: {}", s.message());
            }
            lock.lock();
        } while (!run_cv_.wait_for(lock, options_.sweep_interval, [this] { return stopping_; }));
    });
}

void EventFeed::stop() {
    {
        std::lock_guard lock(run_mu_);
        stopping_ = true;
    }
    run_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

}  // namespace vigil::manager::api
