// vigil-manager: the REST API over the manager's store (docs/manager.md). Parses flags and
// config, opens (and migrates) the store, creates the first admin on first run, serves the API
// until SIGTERM/SIGINT.
#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>

#include "libs/common/cli.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "server/common/api_server.h"
#include "server/common/registrar.h"
#include "server/common/service_config.h"
#include "server/common/signal_wait.h"
#include "server/manager/api/manager_api.h"
#include "server/manager/auth/authenticator.h"
#include "server/manager/console/console_files.h"
#include "server/manager/ingest/ingest.h"
#include "server/manager/manager_config.h"

namespace {

// Removes expired sessions every few minutes until stopped (getSession already refuses them;
// this only keeps the table small).
class SessionSweeper {
public:
    explicit SessionSweeper(vigil::manager::Store& store)
        : thread_([this, &store] {
              std::unique_lock lock(mu_);
              while (!cv_.wait_for(lock, std::chrono::minutes(5), [this] { return stop_; })) {
                  lock.unlock();
                  auto n = store.deleteExpiredSessions();
                  if (!n.ok()) vigil::log::get("manager")->warn("sessions: {}", n.message());
                  lock.lock();
              }
          }) {}
    ~SessionSweeper() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
    using namespace vigil::manager;
    namespace server = vigil::server;
    CLI::App app{
        "vigil-manager: REST API (/api/v1/...) over the manager's store: users and sessions, "
        "hosts, alerts, the audit log (see docs/manager.md)."};
    std::string config_path;
    ManagerFlags flags;
    vigil::cli::StandardFlags std_flags;
    app.add_option("-c,--config", config_path, "YAML configuration file (see --print-config)");
    app.add_option("--listen", flags.listen,
                   "Listen on host:port (default 127.0.0.1:8080; port 0 = any)");
    app.add_option("--store", flags.store_url, "sqlite://PATH or postgresql://... (store.url)");
    app.add_option("--admin-password", flags.admin_password,
                   "First run only: the admin's password (default: random, printed to stderr)");
    vigil::cli::addLogFlags(app, flags.log_level, flags.log_file);
    vigil::cli::addStandardFlags(app, std_flags);
    CLI11_PARSE(app, argc, argv);

    if (auto rc =
            vigil::cli::infoExit(std_flags, "vigil-manager", VIGIL_VERSION, exampleManagerConfig)) {
        return *rc;
    }
    auto cfg = loadManagerConfig(config_path, flags);
    if (auto rc = vigil::cli::configExit(cfg, std_flags, "vigil-manager")) return *rc;

    if (auto rc = vigil::cli::initLogging("vigil-manager", cfg->log_level, cfg->log_file))
        return *rc;
    auto log = vigil::log::get("manager");
    server::blockTerminationSignals();
    ::signal(SIGPIPE, SIG_IGN);

    auto store = openStore(cfg->store_url, cfg->store);
    if (!store.ok()) {
        log->critical("store: {}", store.message());
        std::fprintf(stderr, "vigil-manager: store: %s\n", store.message().c_str());
        return 1;
    }
    vigil::metrics::Registry metrics;
    auth::Authenticator authenticator(**store, cfg->auth, metrics);
    auto generated = auth::bootstrapAdmin(**store, cfg->admin_password, cfg->auth.hash_cost,
                                          authenticator.now());
    if (!generated.ok()) {
        std::fprintf(stderr, "vigil-manager: first-run admin: %s\n", generated.message().c_str());
        return 1;
    }
    if (!generated->empty()) {
        // Shown once: only its argon2id hash is stored.
        std::fprintf(stderr, "first run: user admin, password %s\n", generated->c_str());
    }

    // Rules (the managed directory the hubs load) and server-sent events; see docs/manager.md.
    std::unique_ptr<rules::RuleLibrary> rule_library;
    std::unique_ptr<rules::HubReloader> hub_reloader;
    if (!cfg->rules.dir.empty()) {
        if (auto s = vigil::fs::makeDirs(cfg->rules.dir); !s.ok()) {
            std::fprintf(stderr, "vigil-manager: rules.dir: %s\n", s.message().c_str());
            return 1;
        }
        rule_library = std::make_unique<rules::RuleLibrary>(cfg->rules);
    }
    if (!cfg->rules.hubs.empty()) {
        auto key = server::signingKey(cfg->rules.keys, cfg->rules.access_key);
        if (!key.ok()) {
            std::fprintf(stderr, "vigil-manager: rules.keys_file: %s\n", key.message().c_str());
            return 1;
        }
        hub_reloader = std::make_unique<rules::HubReloader>(
            [hubs = cfg->rules.hubs] { return hubs; }, *key, cfg->rules.hub_timeout);
    }
    api::BroadcasterOptions bo;
    bo.max_clients = std::max<size_t>(1, cfg->http_threads / 2);  // keep workers for the API
    api::EventBroadcaster events(bo, metrics);
    api::EventFeed event_feed(**store, events);

    server::ApiServerOptions ao;
    ao.name = "manager";
    ao.host = cfg->http_host;
    ao.port = cfg->http_port;
    ao.threads = cfg->http_threads;
    ao.max_body_bytes = cfg->max_body_bytes;
    // The centers' signed requests (/internal/v1/plugin-config) are checked with cluster keys.
    if (!cfg->cluster.keys.empty()) {
        ao.verifier = std::make_shared<const server::RequestVerifier>(cfg->cluster.keys);
    }
    server::ApiServer http(ao, metrics);
    api::ManagerServices services;
    services.rules = rule_library.get();
    services.hubs = hub_reloader.get();
    services.events = &events;
    std::unique_ptr<cluster::ClusterClient> cluster_client;
    if (cfg->cluster.configured()) {
        cluster_client = std::make_unique<cluster::ClusterClient>(cfg->cluster, &metrics);
        services.cluster = cluster_client.get();
    } else {
        log->warn(
            "no cluster configured (cluster:): tasks, plugin configs and services answer 503");
    }
    // Without rules.hubs, the hubs registered with discovery (as vigil_hub) are reloaded,
    // signed with the cluster key.
    if (!hub_reloader && cluster_client && !cfg->cluster.discovery.empty()) {
        hub_reloader = std::make_unique<rules::HubReloader>(
            [c = cluster_client.get(), log] {
                std::vector<std::string> out;
                auto hubs = c->instances(c->options().hub_name);
                if (!hubs.ok()) log->warn("rules: no hub list from discovery: {}", hubs.message());
                if (hubs.ok()) {
                    for (const auto& h : *hubs) out.push_back(h.address());
                }
                return out;
            },
            cfg->cluster.key, cfg->rules.hub_timeout);
        services.hubs = hub_reloader.get();
    }
    api::ManagerApi routes(**store, authenticator, http.router(), services);
    http.router().setHealthCheck([&store]() -> vigil::Status {
        auto counts = (*store)->hostCounts();
        if (!counts.ok()) return vigil::Error{"store: " + counts.message()};
        return vigil::okStatus();
    });

    // Bus ingestion (heartbeats -> hosts, the hub's alerts, 5100 task results -> the store):
    // started before the API, stopped after it.
    std::unique_ptr<Ingest> ingest;
    if (cfg->ingest.read_records || cfg->ingest.read_alerts) {
        auto opened = Ingest::open(**store, cfg->ingest, metrics);
        if (!opened.ok()) {
            log->critical("ingest: {}", opened.message());
            std::fprintf(stderr, "vigil-manager: ingest: %s\n", opened.message().c_str());
            return 1;
        }
        ingest = std::move(*opened);
        ingest->setObserver([&event_feed](const IngestBatch& batch, const IngestResult& result) {
            event_feed.onStored(batch, result);
        });
        ingest->start();
    } else {
        log->warn("no bus configured (bus:, alerts_bus:): hosts and alerts are not updated");
    }

    // Last: the console's catch-all GET routes must not shadow an API route.
    auto console_files = console::serveConsole(cfg->console_dir, http.router());
    if (auto s = http.start(); !s.ok()) {
        log->critical("http: {}", s.message());
        std::fprintf(stderr, "vigil-manager: http: %s\n", s.message().c_str());
        return 1;
    }
    SessionSweeper sweeper(**store);
    // Registered with discovery as vigil_manager (the services view lists every manager).
    std::unique_ptr<server::Registrar> registrar;
    if (!cfg->cluster.discovery.empty()) {
        server::RegistrarOptions ro;
        ro.discovery = cfg->cluster.discovery;
        ro.name = cfg->cluster.manager_name;
        auto adv = server::parseHostPort(cfg->cluster.advertise.empty() ? http.address()
                                                                        : cfg->cluster.advertise);
        ro.ip = adv.ok() && adv->host != "0.0.0.0" ? adv->host : "127.0.0.1";
        ro.port = cfg->cluster.advertise.empty() ? http.port() : adv->port;
        ro.interval = cfg->cluster.register_interval;
        ro.key = cfg->cluster.key;
        registrar = std::make_unique<server::Registrar>(
            ro, [] { return 0; }, metrics);
        registrar->start();
    }
    event_feed.start();
    log->info("vigil-manager {} listening on {} (store: {})", VIGIL_VERSION, http.address(),
              (*store)->backend());
    int sig = server::waitForTerminationSignal();
    log->info("signal {}: stopping", sig);
    if (registrar) registrar->stop();
    events.close();  // ends the event streams, which hold HTTP workers
    http.stop();
    event_feed.stop();
    if (ingest) ingest->stop();
    return 0;
}
