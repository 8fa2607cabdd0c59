// vigil-discovery: the service registry agents ask for the least-loaded center (Elkeid's
// ServiceDiscovery). Parses flags and config, runs a DiscoveryService until SIGTERM/SIGINT.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "libs/common/cli.h"
#include "libs/common/log.h"
#include "server/common/signal_wait.h"
#include "server/discovery/discovery_config.h"
#include "server/discovery/discovery_service.h"

int main(int argc, char** argv) {
    using namespace vigil::discovery;
    CLI::App app{
        "vigil-discovery: service registry. Centers register every 30 s with their load; agents "
        "ask "
        "GET /registry/detail?name=hids_svr_grpc for the least-loaded ones; replicas replicate to "
        "each "
        "other. Writes are signed with AK/SK (see docs/discovery.md)."};
    std::string config_path;
    DiscoveryFlags flags;
    vigil::cli::StandardFlags std_flags;
    app.add_option("-c,--config", config_path, "YAML configuration file (see --print-config)");
    app.add_option("--listen", flags.listen,
                   "Listen on host:port (default 0.0.0.0:8088; port 0 = any)");
    app.add_option("--advertise", flags.advertise,
                   "Address the peers know this replica by (host:port)");
    app.add_option("--peer", flags.peers, "Another replica, host:port (repeatable)");
    app.add_option("--keys-file", flags.keys_file, "File of AK/SK pairs, one \"ak: sk\" per line");
    app.add_flag("--auth-disabled", flags.auth_disabled,
                 "Accept unsigned writes (tests and demos only)");
    app.add_option("--evict-after", flags.evict_after,
                   "Evict instances not registered for this long (default 105s)");
    vigil::cli::addLogFlags(app, flags.log_level, flags.log_file);
    vigil::cli::addStandardFlags(app, std_flags);
    CLI11_PARSE(app, argc, argv);

    if (auto rc = vigil::cli::infoExit(std_flags, "vigil-discovery", VIGIL_VERSION,
                                       exampleDiscoveryConfig)) {
        return *rc;
    }
    auto cfg = loadDiscoveryConfig(config_path, flags);
    if (auto rc = vigil::cli::configExit(cfg, std_flags, "vigil-discovery")) return *rc;

    if (auto rc = vigil::cli::initLogging("vigil-discovery", cfg->log_level, cfg->log_file))
        return *rc;
    auto log = vigil::log::get("discovery");
    if (cfg->auth_disabled) {
        log->warn(
            "AUTH IS DISABLED: anyone who can reach this port can register, evict and overwrite "
            "services; "
            "never run like this outside tests");
    } else if (cfg->key_count == 0) {
        log->warn(
            "no access keys configured (auth.keys / auth.keys_file): every register, evict and "
            "sync will be "
            "refused with 401");
    }

    vigil::server::blockTerminationSignals();
    vigil::metrics::Registry metrics;
    DiscoveryService service(cfg->options, metrics);
    if (auto s = service.start(); !s.ok()) {
        log->error("{}", s.message());
        std::fprintf(stderr, "vigil-discovery: %s\n", s.message().c_str());
        return 1;
    }
    log->info("vigil-discovery {} listening on {} (node {}, {} peer(s), evict after {} ms)",
              VIGIL_VERSION, service.address(), service.nodeId(),
              cfg->options.replication.peers.size(), cfg->options.registry.evict_after.count());
    int sig = vigil::server::waitForTerminationSignal();
    log->info("signal {}: stopping", sig);
    service.stop();
    return 0;
}
