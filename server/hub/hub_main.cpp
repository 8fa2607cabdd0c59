// vigil-hub: the rule engine (docs/hub.md).
//   vigil-hub check PATH...   validate rule files: "N loaded, M failed" and every diagnostic
//   vigil-hub test PATH...    run the samples every rule ships; fails on a wrong verdict
//   vigil-hub run --config FILE   the daemon: consume the bus, evaluate, write alerts
// Exit codes: 0 ok, 1 a rule failed to load or a sample gave the wrong verdict (run: could not
// start), 2 usage or an invalid configuration.
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "libs/common/cli.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "server/common/api_server.h"
#include "server/common/registrar.h"
#include "server/common/service_config.h"
#include "server/common/signal_wait.h"
#include "server/hub/engine.h"
#include "server/hub/hub_api.h"
#include "server/hub/hub_service.h"
#include "server/hub/rule_loader.h"

namespace {

using namespace vigil::hub;

void printDiagnostics(const LoadResult& r) {
    for (const auto& d : r.diagnostics) std::fprintf(stderr, "%s\n", d.toString().c_str());
}

int check(const std::vector<std::string>& paths, bool verbose) {
    LoadResult r = loadRules(paths);
    printDiagnostics(r);
    if (verbose) {
        for (const auto& rule : r.rules) {
            std::printf("%s  %s  [%s] data_types=", rule.loc.toString().c_str(), rule.id.c_str(),
                        rule.kind == Rule::Kind::kSigma ? "sigma" : "vigil");
            for (size_t i = 0; i < rule.data_types.size(); ++i) {
                std::printf("%s%d", i ? "," : "", rule.data_types[i]);
            }
            std::printf("  condition: %s\n",
                        rule.condition ? rule.condition->toString().c_str() : "");
        }
    }
    std::printf("%zu loaded, %zu failed\n", r.rules.size(), r.failed);
    return r.failed == 0 ? 0 : 1;
}

int test(const std::vector<std::string>& paths) {
    LoadResult r = loadRules(paths);
    printDiagnostics(r);
    Engine engine(std::move(r.rules));
    size_t samples = 0, wrong = 0, without = 0;
    for (const auto& rule : engine.rules()) {
        if (rule.samples.empty()) {
            ++without;
            std::fprintf(stderr, "%s: warning: [%s] no samples\n", rule.loc.toString().c_str(),
                         rule.id.c_str());
        }
        for (const auto& s : rule.samples) {
            ++samples;
            Event ev;
            ev.data_type = s.data_type;
            for (const auto& [k, v] : s.fields) ev.set(k, v);
            addDerivedFields(ev);
            const bool in_type = std::find(rule.data_types.begin(), rule.data_types.end(),
                                           s.data_type) != rule.data_types.end();
            const bool got = in_type && engine.matches(rule, ev);
            if (got != s.match) {
                ++wrong;
                std::fprintf(stderr, "%s: error: [%s] sample should %smatch, it does%s\n",
                             s.loc.toString().c_str(), rule.id.c_str(), s.match ? "" : "not ",
                             got ? "" : " not");
            }
        }
    }
    std::printf(
        "%zu rules, %zu samples, %zu wrong verdicts, %zu rules without samples, %zu "
        "failed to load\n",
        engine.ruleCount(), samples, wrong, without, r.failed);
    return wrong == 0 && r.failed == 0 ? 0 : 1;
}

int run(const std::string& config_path, const vigil::cli::StandardFlags& std_flags) {
    namespace cli = vigil::cli;
    if (auto rc = cli::infoExit(std_flags, "vigil-hub", VIGIL_VERSION, exampleHubConfig)) {
        return *rc;
    }
    if (config_path.empty()) {
        std::fprintf(stderr, "vigil-hub run: --config FILE is required (see --print-config)\n");
        return 2;
    }
    auto cfg = loadHubConfig(config_path);
    if (auto rc = cli::configExit(cfg, std_flags, "vigil-hub")) return *rc;
    if (auto rc = cli::initLogging("vigil-hub", cfg->log_level, cfg->log_file)) return *rc;
    auto logger = vigil::log::get("hub");
    vigil::server::blockTerminationSignals();
    ::signal(SIGPIPE, SIG_IGN);
    vigil::metrics::Registry metrics;
    std::string rule_errors;
    auto service = HubService::create(*cfg, metrics, &rule_errors);
    if (!rule_errors.empty()) std::fputs(rule_errors.c_str(), stderr);
    if (!service.ok()) {
        logger->critical("{}", service.message());
        std::fprintf(stderr, "vigil-hub: %s\n", service.message().c_str());
        return 1;
    }
    namespace server = vigil::server;
    std::unique_ptr<server::ApiServer> api;
    std::unique_ptr<server::Registrar> registrar;
    if (!cfg->http_listen.empty()) {
        auto hp = server::parseHostPort(cfg->http_listen, true);
        server::ApiServerOptions ao;
        ao.name = "hub";
        ao.host = hp->host;
        ao.port = hp->port;
        ao.threads = 2;
        ao.verifier = server::makeVerifier(cfg->auth);
        ao.auth_disabled = cfg->auth.disabled;
        if (cfg->auth.disabled) {
            logger->warn("AK/SK authentication is DISABLED: anyone who reaches {} can reload rules",
                         cfg->http_listen);
        }
        api = std::make_unique<server::ApiServer>(ao, metrics);
        addHubRoutes(api->router(), **service);
        if (auto st = api->start(); !st.ok()) {
            logger->critical("http: {}", st.message());
            std::fprintf(stderr, "vigil-hub: http: %s\n", st.message().c_str());
            return 1;
        }
        if (!cfg->discovery.empty()) {
            server::RegistrarOptions ro;
            ro.discovery = cfg->discovery;
            ro.name = cfg->discovery_name;
            ro.ip = hp->host == "0.0.0.0" || hp->host.empty() ? "127.0.0.1" : hp->host;
            ro.port = api->port();
            ro.interval = cfg->register_interval;
            if (auto key = server::signingKey(cfg->auth.keys, cfg->signing_access_key); key.ok()) {
                ro.key = *key;
            }
            registrar = std::make_unique<server::Registrar>(
                ro, [] { return 1; }, metrics);
            registrar->start();
        }
    }
    (*service)->start();
    const std::string where =
        (*service)->describe() + (api ? ", http " + api->address() : std::string(", no http"));
    logger->info("vigil-hub {} running: {}", VIGIL_VERSION, where);
    std::fprintf(stderr, "vigil-hub running: %s\n", where.c_str());
    for (;;) {
        int sig = vigil::server::waitForTerminationSignal();
        if (sig == SIGHUP) {
            auto st = (*service)->reload();
            if (st.ok()) {
                logger->info("SIGHUP: rules reloaded: {} rules", (*service)->ruleCount());
            } else {
                logger->error("SIGHUP: {}", st.message());
            }
            continue;
        }
        logger->info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    if (registrar) registrar->stop();
    (*service)->stop();
    if (api) api->stop();
    const auto& st = (*service)->stats();
    logger->info("vigil-hub stopped: {} records, {} alerts, {} bad records", st.records.load(),
                 st.alerts.load(), st.bad_records.load());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"vigil-hub: Vigil's rule engine (Vigil YAML rules and Sigma rules)"};
    app.require_subcommand(1);
    bool version = false;
    app.add_flag("-V,--version", version, "Print the version and exit");
    std::vector<std::string> check_paths, test_paths;
    bool verbose = false;
    auto* c = app.add_subcommand("check", "Validate rule files; prints 'N loaded, M failed'");
    c->add_option("paths", check_paths, "Rule files or directories")->required();
    c->add_flag("-v,--verbose", verbose, "List every loaded rule with its condition");
    auto* t =
        app.add_subcommand("test", "Run the samples each rule ships; fail on a wrong verdict");
    t->add_option("paths", test_paths, "Rule files or directories")->required();
    std::string config_path;
    vigil::cli::StandardFlags std_flags;
    auto* r = app.add_subcommand("run", "Run the hub: consume the bus, evaluate, write alerts");
    r->add_option("-c,--config", config_path, "Configuration file (YAML)");
    vigil::cli::addStandardFlags(*r, std_flags);
    if (argc > 1 && (std::string(argv[1]) == "-V" || std::string(argv[1]) == "--version")) {
        std::printf("vigil-hub %s\n", VIGIL_VERSION);
        return 0;
    }
    CLI11_PARSE(app, argc, argv);
    if (c->parsed()) return check(check_paths, verbose);
    if (t->parsed()) return test(test_paths);
    if (r->parsed()) return run(config_path, std_flags);
    return 2;
}
