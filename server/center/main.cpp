// vigil-center (AgentCenter): the gRPC endpoint for agents. Appends their records to the bus,
// acknowledges batches once durable, pushes plugin configs, forwards admin commands, registers
// with discovery, and drains on SIGTERM.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>

#include "libs/common/cli.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "server/center/admin_api.h"
#include "server/center/center_config.h"
#include "server/center/config_pusher.h"
#include "server/center/manager_plugin_config.h"
#include "server/center/tls_context.h"
#include "server/center/transfer_server.h"
#include "server/common/api_server.h"
#include "server/common/registrar.h"
#include "server/common/signal_wait.h"

int main(int argc, char** argv) {
    using namespace vigil;
    using namespace vigil::center;
    CLI::App app{
        "vigil-center: Vigil AgentCenter. Accepts agents over mTLS gRPC, appends their records to "
        "the "
        "bus, acknowledges batches once durable, and pushes configs and commands."};
    std::string config_path;
    CenterFlags flags;
    vigil::cli::StandardFlags std_flags;
    app.add_option("-c,--config", config_path, "YAML configuration file (see --print-config)");
    app.add_option("--data-dir", flags.data_dir, "Data directory (embedded bus, uploads, logs)");
    app.add_option("--grpc-listen", flags.grpc_listen,
                   "host:port for agents (default 0.0.0.0:6751)");
    app.add_option("--http-listen", flags.http_listen,
                   "host:port of the admin API (default 127.0.0.1:6752)");
    app.add_option("--ca", flags.ca_file,
                   "CA certificate agents' client certificates must chain to");
    app.add_option("--cert", flags.cert_file, "Center certificate (PEM)");
    app.add_option("--key", flags.key_file, "Center private key (PEM)");
    app.add_option("--bus", flags.bus, "embedded or nats");
    app.add_option("--nats-url", flags.nats_url, "NATS server URL for --bus nats");
    app.add_option("--discovery", flags.discovery,
                   "vigil-discovery address host:port (repeatable)");
    app.add_option("--advertise", flags.advertise,
                   "host:port agents should dial (registered with discovery)");
    app.add_option("--max-connections", flags.max_connections, "Cap on agent streams");
    app.add_option("--plugin-config", flags.plugin_config, "Plugin sets file pushed to agents");
    app.add_option("--auth-keys-file", flags.auth_keys_file, "AK/SK keys file (\"ak: sk\" lines)");
    app.add_flag("--no-auth", flags.no_auth,
                 "Accept unsigned admin requests (demos and tests only)");
    vigil::cli::addLogFlags(app, flags.log_level, flags.log_file);
    vigil::cli::addStandardFlags(app, std_flags);
    CLI11_PARSE(app, argc, argv);
    if (auto rc =
            vigil::cli::infoExit(std_flags, "vigil-center", VIGIL_VERSION, exampleCenterConfig)) {
        return *rc;
    }
    auto cfg = loadCenterConfig(config_path, flags);
    if (auto rc = vigil::cli::configExit(cfg, std_flags, "vigil-center")) return *rc;
    if (auto rc = vigil::cli::initLogging("vigil-center", cfg->log_level, cfg->log_file))
        return *rc;
    auto logger = log::get("center");
    server::blockTerminationSignals();
    ::signal(SIGPIPE, SIG_IGN);
    auto fail = [&](const std::string& msg) {
        logger->critical("{}", msg);
        std::fprintf(stderr, "vigil-center: %s\n", msg.c_str());
        return 1;
    };

    auto ca = fs::readFile(cfg->ca_file, 1 << 20);
    auto cert = fs::readFile(cfg->cert_file, 1 << 20);
    auto key = fs::readFile(cfg->key_file, 1 << 20);
    if (!ca.ok()) return fail(ca.message());
    if (!cert.ok()) return fail(cert.message());
    if (!key.ok()) return fail(key.message());
    if (auto st = fs::makeDirs(cfg->data_dir, 0700); !st.ok()) return fail(st.message());
    releaseIdleTlsBuffers(cfg->release_idle_tls_buffers);
    if (cfg->ticket_key_file != "off") {
        auto tk = installTicketKeys(cfg->ticket_key_file, cfg->ticket_key_max_age);
        if (!tk.ok()) return fail(tk.message());
        logger->info("TLS session tickets: key {} ({}){}", cfg->ticket_key_file, tk->name_hex,
                     tk->created ? ", new" : "");
    }

    metrics::Registry metrics;
    countTicketResumptions(metrics);
    auto bus = bus::Bus::open(cfg->bus, metrics);
    if (!bus.ok()) return fail("cannot open the bus: " + bus.message());
    logger->info("bus: {}", (*bus)->describe());

    ConnectionRegistry registry(cfg->max_connections);
    UploadStore uploads(cfg->upload_dir, cfg->max_upload_bytes, cfg->upload_token_ttl, metrics);
    std::unique_ptr<PluginConfigSource> plugin_source;
    if (!cfg->plugin_config.empty()) {
        auto src = FilePluginConfig::open(cfg->plugin_config, cfg->product);
        if (!src.ok()) return fail("plugin config: " + src.message());
        plugin_source = std::move(*src);
    } else if (!cfg->plugin_manager_url.empty()) {
        ManagerPluginConfigOptions mo;
        mo.url = cfg->plugin_manager_url;
        mo.timeout = cfg->plugin_manager_timeout;
        mo.product = cfg->product;
        auto key = server::signingKey(cfg->auth.keys, cfg->plugin_manager_access_key.empty()
                                                          ? cfg->signing_access_key
                                                          : cfg->plugin_manager_access_key);
        if (!key.ok()) return fail("plugins.manager: " + key.message());
        mo.key = *key;
        auto src = std::make_unique<ManagerPluginConfig>(mo);
        // The manager may start later: nothing is pushed until its first answer.
        if (auto first = src->reload(); !first.ok())
            logger->warn("plugin config from the manager: {} (retried every {} ms)",
                         first.message(), cfg->plugin_reload_interval.count());
        plugin_source = std::move(src);
    }
    ConfigPusher pusher(plugin_source.get(), registry, metrics);

    TransferServerOptions to = cfg->grpc;
    to.ca_pem = *ca;
    to.cert_pem = *cert;
    to.key_pem = *key;
    TransferHooks hooks;
    hooks.on_first_heartbeat = [&pusher](const std::shared_ptr<AgentConnection>& c) {
        pusher.onFirstHeartbeat(c);
    };
    TransferServer transfer(to, (*bus)->producer(), registry, &uploads, hooks, metrics);
    if (auto st = transfer.start(); !st.ok()) return fail(st.message());

    auto http = server::parseHostPort(cfg->http_listen, true);
    server::ApiServerOptions ao;
    ao.name = "center";
    ao.host = http->host;
    ao.port = http->port;
    ao.threads = cfg->http_threads;
    ao.verifier = server::makeVerifier(cfg->auth);
    ao.auth_disabled = cfg->auth.disabled;
    if (cfg->auth.disabled)
        logger->warn("AK/SK authentication is DISABLED: anyone who reaches {} can command agents",
                     cfg->http_listen);
    server::ApiServer api(ao, metrics);
    addAdminRoutes(api.router(), AdminApiContext{&registry, &uploads, &pusher, cfg->product});
    if (auto st = api.start(); !st.ok()) return fail(st.message());

    std::unique_ptr<server::Registrar> registrar;
    if (!cfg->discovery.empty()) {
        server::RegistrarOptions ro;
        ro.discovery = cfg->discovery;
        ro.name = cfg->discovery_name;
        auto adv =
            server::parseHostPort(cfg->advertise.empty() ? cfg->grpc.listen : cfg->advertise);
        ro.ip = adv.ok() ? adv->host : "127.0.0.1";
        if (ro.ip == "0.0.0.0") ro.ip = "127.0.0.1";
        ro.port = cfg->advertise.empty() ? transfer.port() : adv->port;
        ro.interval = cfg->register_interval;
        auto key = server::signingKey(cfg->auth.keys, cfg->signing_access_key);
        if (key.ok()) ro.key = *key;
        ro.extra = {{"http_port", std::to_string(api.port())}};
        registrar = std::make_unique<server::Registrar>(
            ro, [&registry] { return static_cast<int>(registry.agents()); }, metrics);
        registrar->start();
    }

    // Plugin config changes are picked up on a timer (and on SIGHUP).
    std::atomic<bool> stop_watch{false};
    std::thread watcher;
    if (pusher.enabled()) {
        watcher = std::thread([&] {
            while (!stop_watch.load()) {
                for (int i = 0; i < 100 && !stop_watch.load(); ++i) {
                    std::this_thread::sleep_for(cfg->plugin_reload_interval / 100);
                }
                if (stop_watch.load()) break;
                auto n = pusher.reloadAndPush();
                if (!n.ok())
                    VIGIL_LOG_RATE_LIMITED(logger, spdlog::level::err,
                                           "plugin config not reloaded: {}", n.message());
                else if (*n)
                    logger->info("plugin config changed: pushed to {} agents", *n);
            }
        });
    }

    logger->info("vigil-center {} listening: grpc {} (port {}), http {}", VIGIL_VERSION,
                 cfg->grpc.listen, transfer.port(), api.address());
    std::fprintf(stderr, "vigil-center listening on grpc port %d, http %s\n", transfer.port(),
                 api.address().c_str());
    for (;;) {
        int sig = server::waitForTerminationSignal();
        if (sig == SIGHUP) {
            auto n = pusher.reloadAndPush();
            if (!n.ok())
                logger->error("SIGHUP: plugin config not reloaded: {}", n.message());
            else
                logger->info("SIGHUP: plugin config reloaded, pushed to {} agents", *n);
            continue;
        }
        logger->info("received {}, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    if (registrar) registrar->stop();  // evict first: agents that reconnect go elsewhere
    transfer.drain(cfg->drain_timeout);
    stop_watch = true;
    if (watcher.joinable()) watcher.join();
    api.stop();
    (*bus)->producer().flush();
    logger->info("vigil-center stopped");
    return 0;
}
