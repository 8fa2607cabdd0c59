// DiscoveryService: wiring of registry, HTTP API, replication and expiry.
#include "server/discovery/discovery_service.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "libs/common/crypto.h"
#include "libs/common/log.h"
#include "server/discovery/discovery_api.h"

namespace vigil::discovery {

struct DiscoveryService::Impl {
    std::unique_ptr<Replicator> replicator;  // null without peers
    NullChangeSink null_sink;
    std::unique_ptr<DiscoveryApi> api;
    std::unique_ptr<server::ApiServer> server;
    std::thread sweeper;
    std::mutex mu;
    std::condition_variable cv;
    bool stopping = false;
    bool started = false;
};

DiscoveryService::DiscoveryService(DiscoveryOptions options, metrics::Registry& metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      node_id_(crypto::randomHex(8)),
      registry_(std::make_unique<Registry>(options_.registry)),
      impl_(std::make_unique<Impl>()) {
    if (options_.api.name.empty() || options_.api.name == "api") options_.api.name = "discovery";
}

DiscoveryService::~DiscoveryService() {
    stop();
}

Status DiscoveryService::start() {
    if (impl_->started) return makeError("discovery: already started");
    impl_->stopping = false;
    ReplicatorOptions ro = options_.replication;
    ro.node_id = node_id_;
    // Peers share this configuration: keep every sync well inside their body cap.
    ro.max_request_bytes = std::min(ro.max_request_bytes, options_.api.max_body_bytes / 2);
    ChangeSink* sink = &impl_->null_sink;
    if (!ro.peers.empty()) {
        impl_->replicator = std::make_unique<Replicator>(ro, *registry_, metrics_);
        sink = impl_->replicator.get();
    }
    impl_->api = std::make_unique<DiscoveryApi>(*registry_, *sink, metrics_,
                                                DiscoveryApiOptions{node_id_, 1000});
    impl_->server = std::make_unique<server::ApiServer>(options_.api, metrics_);
    impl_->api->install(impl_->server->router());
    // Changes published before the replicator starts wait in its queues.
    VIGIL_TRY(impl_->server->start());
    impl_->started = true;
    if (impl_->replicator) {
        impl_->replicator->setSource(options_.advertise.empty() ? impl_->server->address()
                                                                : options_.advertise);
        impl_->replicator->start();
    }
    metrics::Counter& expired = metrics_.counter(
        "vigil_discovery_evictions_total", "Instances evicted, by cause", {{"cause", "expiry"}});
    impl_->sweeper = std::thread([this, &expired, sink] {
        auto log = vigil::log::get("discovery");
        std::unique_lock lock(impl_->mu);
        while (
            !impl_->cv.wait_for(lock, options_.check_interval, [&] { return impl_->stopping; })) {
            lock.unlock();
            std::vector<Change> gone = registry_->expire();
            for (const auto& c : gone)
                log->info("{} {}:{} expired (no registration for {} ms)", c.instance.name,
                          c.instance.ip, c.instance.port, options_.registry.evict_after.count());
            expired.inc(gone.size());
            sink->publish(gone);
            lock.lock();
        }
    });
    return okStatus();
}

void DiscoveryService::stop() {
    if (!impl_->started) return;
    {
        std::lock_guard lock(impl_->mu);
        impl_->stopping = true;
    }
    impl_->cv.notify_all();
    if (impl_->sweeper.joinable()) impl_->sweeper.join();
    impl_->server->stop();  // no handler publishes after this
    if (impl_->replicator) impl_->replicator->stop();
    impl_->started = false;
}

int DiscoveryService::port() const {
    return impl_->server ? impl_->server->port() : 0;
}
std::string DiscoveryService::address() const {
    return impl_->server ? impl_->server->address() : std::string();
}
size_t DiscoveryService::peersUp() const {
    return impl_->replicator ? impl_->replicator->peersUp() : 0;
}

}  // namespace vigil::discovery
