// vigil-agent: the per-host plugin base. Parses flags and config, runs the Agent, and
// re-executes itself for task 1060 and after a self-upgrade.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "agent/app/agent.h"
#include "agent/app/agent_config.h"
#include "libs/common/cli.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"

#ifndef VIGIL_AGENT_VERSION
#define VIGIL_AGENT_VERSION VIGIL_VERSION
#endif

namespace {

std::string selfExe() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return {};
    return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

int main(int argc, char** argv) {
    using namespace vigil::agent;
    CLI::App app{
        "vigil-agent: Vigil host agent. Runs security plugins, batches their records and streams "
        "them to a vigil-center over mTLS gRPC; keeps a disk spool while the center is away."};
    std::string config_path;
    AgentFlags flags;
    std::string fetch_helper;
    vigil::cli::StandardFlags std_flags;
    app.add_option("-c,--config", config_path, "YAML configuration file (see --print-config)");
    app.add_option("--work-dir", flags.work_dir,
                   "Working directory: plugins, spool, logs, agent id");
    app.add_option("--agent-id", flags.agent_id, "Override the agent id (persisted)");
    app.add_option("--region", flags.region, "Region whose endpoints to use");
    app.add_option("--discovery", flags.discovery,
                   "Discovery address host:port (private network; repeatable)");
    app.add_option("--center", flags.centers,
                   "Center address host:port (private network; repeatable)");
    app.add_option("--ca", flags.ca_file,
                   "CA certificate (PEM) that signed the center's certificate");
    app.add_option("--cert", flags.cert_file, "Agent client certificate (PEM)");
    app.add_option("--key", flags.key_file, "Agent client key (PEM)");
    app.add_option("--server-name", flags.server_name, "Name expected in the center's certificate");
    app.add_option("--spool-size", flags.spool_size, "Spool size cap, e.g. 512MiB");
    app.add_option("--plugin-cpu", flags.plugin_cpu_percent,
                   "CPU cap per plugin, % of one core (0 = none)");
    app.add_option("--plugin-memory", flags.plugin_memory,
                   "Memory cap per plugin, e.g. 256MiB (0 = none)");
    vigil::cli::addLogFlags(app, flags.log_level, flags.log_file);
    app.add_option("--metrics-listen", flags.metrics_listen,
                   "Serve /metrics and /healthz on host:port");
    app.add_option("--fetch-helper", fetch_helper,
                   "Path of vigil-fetch (default: next to this binary)");
    vigil::cli::addStandardFlags(app, std_flags);
    CLI11_PARSE(app, argc, argv);

    if (auto rc = vigil::cli::infoExit(std_flags, "vigil-agent", VIGIL_AGENT_VERSION,
                                       exampleAgentConfig)) {
        return *rc;
    }
    auto cfg = loadAgentConfig(config_path, flags);
    if (auto rc = vigil::cli::configExit(cfg, std_flags, "vigil-agent")) return *rc;

    if (auto rc = vigil::cli::initLogging("vigil-agent", cfg->log_level, cfg->log_file)) return *rc;

    // Handle TERM/INT/HUP synchronously in the main loop: block them before any thread starts.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    AgentRuntime rt;
    rt.version = VIGIL_AGENT_VERSION;
    rt.self_exe = selfExe();
    rt.argv.assign(argv, argv + argc);
    rt.config_path = config_path;
    rt.flags = flags;
    rt.fetch_helper = fetch_helper.empty()
                          ? vigil::fs::joinPath(vigil::fs::dirName(rt.self_exe), "vigil-fetch")
                          : fetch_helper;

    Agent::Exit how;
    {
        Agent agent(*cfg, rt);
        auto st = agent.start();
        if (!st.ok()) {
            vigil::log::get("agent")->critical("cannot start: {}", st.message());
            std::fprintf(stderr, "vigil-agent: cannot start: %s\n", st.message().c_str());
            return 1;
        }
        how = agent.run();
    }
    if (how == Agent::Exit::kRestart) {
        vigil::log::get("agent")->info("re-executing {}", rt.self_exe);
        spdlog::shutdown();
        pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
        std::vector<char*> args;
        for (auto& a : rt.argv) args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(rt.self_exe.c_str(), args.data());
        std::fprintf(stderr, "vigil-agent: re-exec of %s failed: %s\n", rt.self_exe.c_str(),
                     std::strerror(errno));
        const std::string old = rt.self_exe + ".old";
        ::execv(old.c_str(), args.data());
        return 1;
    }
    return 0;
}
