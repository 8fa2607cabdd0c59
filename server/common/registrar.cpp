// Registrar: periodic signed registration with every discovery replica, eviction on stop.
#include "server/common/registrar.h"

#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "libs/common/backoff.h"
#include "libs/common/log.h"
#include "server/common/service_config.h"

namespace vigil::server {
namespace {

int64_t unixNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct Registrar::Impl {
    struct Replica {
        std::string address;
        std::unique_ptr<httplib::Client> client;  // null when the address is malformed
        bool ok = false;                          // the last registration succeeded
    };

    RegistrarOptions options;
    std::function<int()> weight;
    metrics::Registry& metrics;
    std::shared_ptr<spdlog::logger> log = log::get("registrar");
    std::vector<Replica> replicas;

    std::mutex mu;
    std::condition_variable cv;
    bool stopping = false;
    bool started = false;
    std::thread thread;
    std::atomic<bool> registered_once{false};

    Impl(RegistrarOptions o, std::function<int()> w, metrics::Registry& m)
        : options(std::move(o)), weight(std::move(w)), metrics(m) {
        for (const auto& address : options.discovery) {
            Replica r;
            r.address = address;
            auto hp = parseHostPort(address);
            if (!hp.ok()) {
                log->error("discovery replica {}: {}; it is skipped", address, hp.message());
            } else {
                r.client = std::make_unique<httplib::Client>(hp->host, hp->port);
                r.client->set_connection_timeout(std::chrono::seconds(2));
                r.client->set_read_timeout(std::chrono::seconds(3));
                r.client->set_write_timeout(std::chrono::seconds(3));
            }
            replicas.push_back(std::move(r));
        }
    }

    void count(const char* action, bool ok) {
        metrics
            .counter("vigil_registrar_requests_total",
                     "Requests to discovery replicas by action and result",
                     {{"action", action}, {"result", ok ? "ok" : "error"}})
            .inc();
    }

    // POSTs a signed JSON body; Ok when the replica answered HTTP 200 with code 0.
    Status post(Replica& r, const std::string& path, const std::string& body) {
        if (!r.client) return makeError("malformed address");
        httplib::Headers headers;
        if (!options.key.access_key.empty()) {
            SignedHeaders s = sign(options.key, "POST", path, "", body, unixNow());
            headers.emplace("AccessKey", s.access_key);
            headers.emplace("TimeStamp", s.timestamp);
            headers.emplace("Signature", s.signature);
        }
        auto res = r.client->Post(path.c_str(), headers, body, "application/json");
        if (!res) return makeError("{}", httplib::to_string(res.error()));
        std::string msg;
        int code = -1;
        auto doc = nlohmann::json::parse(res->body, nullptr, false);
        if (doc.is_object()) {
            if (auto c = doc.find("code"); c != doc.end() && c->is_number_integer())
                code = c->get<int>();
            if (auto m = doc.find("msg"); m != doc.end() && m->is_string())
                msg = m->get<std::string>();
        }
        if (res->status != 200 || code != 0)
            return makeError("HTTP {} code {}: {}", res->status, code,
                             msg.empty() ? res->body.substr(0, 200) : msg);
        return okStatus();
    }

    nlohmann::json identity() const {
        return {{"name", options.name}, {"ip", options.ip}, {"port", options.port}};
    }

    // Registers with every replica; true when all accepted.
    bool registerAll() {
        nlohmann::json body = identity();
        body["weight"] = weight ? weight() : 0;
        nlohmann::json extra = nlohmann::json::object();
        for (const auto& [k, v] : options.extra) extra[k] = v;
        body["extra"] = extra;
        const std::string text = body.dump();
        bool all = true;
        for (auto& r : replicas) {
            Status s = post(r, "/registry/register", text);
            count("register", s.ok());
            if (s.ok()) {
                if (!r.ok)
                    log->info("registered {} {}:{} with discovery {}", options.name, options.ip,
                              options.port, r.address);
                r.ok = true;
                registered_once = true;
            } else {
                if (r.ok || !r.client) {
                    log->warn("registration with discovery {} failed: {}", r.address, s.message());
                } else {
                    VIGIL_LOG_RATE_LIMITED(log, spdlog::level::warn,
                                           "registration with discovery {} failed: {}", r.address,
                                           s.message());
                }
                r.ok = false;
                all = false;
            }
        }
        metrics
            .gauge("vigil_registrar_replicas_ok",
                   "Discovery replicas that accepted the last registration")
            .set(static_cast<double>(
                std::count_if(replicas.begin(), replicas.end(), [](auto& r) { return r.ok; })));
        return all;
    }

    void evictAll() {
        const std::string text = identity().dump();
        for (auto& r : replicas) {
            if (!r.client) continue;
            r.client->set_connection_timeout(std::chrono::seconds(1));
            r.client->set_read_timeout(std::chrono::seconds(2));
            Status s = post(r, "/registry/evict", text);
            count("evict", s.ok());
            if (s.ok())
                log->info("evicted {} {}:{} from discovery {}", options.name, options.ip,
                          options.port, r.address);
            else
                log->warn("eviction from discovery {} failed: {} (it expires on its own)",
                          r.address, s.message());
        }
    }

    void run() {
        // After a failure, retry sooner than the interval (a discovery restart should not leave
        // the service unregistered for a whole interval).
        Backoff backoff(std::chrono::milliseconds(500), options.interval, 0.2);
        while (true) {
            const bool all = registerAll();
            auto wait = options.interval;
            if (all)
                backoff.reset();
            else
                wait = std::min(wait, backoff.next());
            std::unique_lock lock(mu);
            if (cv.wait_for(lock, wait, [&] { return stopping; })) return;
        }
    }
};

Registrar::Registrar(RegistrarOptions options, std::function<int()> weight,
                     metrics::Registry& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(weight), metrics)) {}

Registrar::~Registrar() {
    stop();
}

void Registrar::start() {
    if (impl_->started) return;
    impl_->started = true;
    impl_->stopping = false;
    impl_->thread = std::thread([this] { impl_->run(); });
}

void Registrar::stop() {
    if (!impl_->started) return;
    {
        std::lock_guard lock(impl_->mu);
        impl_->stopping = true;
    }
    impl_->cv.notify_all();
    if (impl_->thread.joinable()) impl_->thread.join();
    impl_->evictAll();
    impl_->started = false;
}

bool Registrar::registeredOnce() const {
    return impl_->registered_once.load();
}

}  // namespace vigil::server
