// FakeDiscovery: cpp-httplib server with one route.
#include "tests/support/fake_discovery.h"

#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace vigil::testing {

struct FakeDiscovery::Impl {
    httplib::Server server;
    std::thread thread;
    int port = 0;
    mutable std::mutex mu;
    std::vector<DiscoveryEntry> centers;
    int raw_status = 0;
    std::string raw_body;
    uint64_t requests = 0;
    std::string last_name, last_count;
};

FakeDiscovery::FakeDiscovery() : impl_(std::make_unique<Impl>()) {
    Impl& d = *impl_;
    d.server.Get("/registry/detail", [&d](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(d.mu);
        ++d.requests;
        d.last_name = req.get_param_value("name");
        d.last_count = req.get_param_value("count");
        if (d.raw_status != 0) {
            res.status = d.raw_status;
            res.set_content(d.raw_body, "application/json");
            return;
        }
        nlohmann::json data = nlohmann::json::array();
        for (const auto& c : d.centers)
            data.push_back({{"ip", c.ip}, {"port", c.port}, {"weight", c.weight}});
        nlohmann::json doc{{"code", 0}, {"data", data}, {"msg", "ok"}};
        res.set_content(doc.dump(), "application/json");
    });
}

FakeDiscovery::~FakeDiscovery() {
    stop();
}

Status FakeDiscovery::start() {
    Impl& d = *impl_;
    if (d.thread.joinable()) return okStatus();
    d.port = d.server.bind_to_any_port("127.0.0.1");
    if (d.port <= 0) return makeError("fake discovery cannot bind 127.0.0.1");
    d.thread = std::thread([&d] { d.server.listen_after_bind(); });
    // listen_after_bind sets is_running() before it accepts; connections queue in the backlog
    // anyway.
    for (int i = 0; i < 200 && !d.server.is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return okStatus();
}

void FakeDiscovery::stop() {
    Impl& d = *impl_;
    if (!d.thread.joinable()) return;
    d.server.stop();
    d.thread.join();
}

int FakeDiscovery::port() const {
    return impl_->port;
}

std::string FakeDiscovery::address() const {
    return "127.0.0.1:" + std::to_string(impl_->port);
}

void FakeDiscovery::setCenters(std::vector<DiscoveryEntry> centers) {
    std::lock_guard lock(impl_->mu);
    impl_->centers = std::move(centers);
}

void FakeDiscovery::setRawAnswer(int status, std::string body) {
    std::lock_guard lock(impl_->mu);
    impl_->raw_status = status;
    impl_->raw_body = std::move(body);
}

uint64_t FakeDiscovery::requests() const {
    std::lock_guard lock(impl_->mu);
    return impl_->requests;
}

std::string FakeDiscovery::lastName() const {
    std::lock_guard lock(impl_->mu);
    return impl_->last_name;
}

std::string FakeDiscovery::lastCount() const {
    std::lock_guard lock(impl_->mu);
    return impl_->last_count;
}

}  // namespace vigil::testing
