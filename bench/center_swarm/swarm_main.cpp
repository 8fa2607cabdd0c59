// vigil-swarm: the lean load generator of bench/center_swarm. Simulates N Vigil agents (one
// mTLS HTTP/2 connection and one gRPC Transfer stream each, on epoll + nghttp2 + OpenSSL)
// against one center; prints one status line a second and a summary, optionally JSON.
#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <CLI/CLI.hpp>

#include "bench/center_swarm/swarm.h"
#include "bench/center_swarm/swarm_report.h"
#include "bench/center_swarm/tls_client.h"
#include "libs/common/log.h"

namespace {

using vigil::bench::MeasureWindow;
using vigil::bench::Swarm;
using vigil::bench::SwarmSnapshot;

// Soft RLIMIT_NOFILE up to the hard limit: one descriptor per simulated agent.
rlim_t raiseFileLimit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
    // Before anything else touches OpenSSL: count what it keeps per connection.
    const bool tls_counted = vigil::bench::installOpenSslHeapCounter();

    CLI::App app{
        "vigil-swarm: simulates N Vigil agents (mTLS, HTTP/2, one gRPC Transfer stream each) "
        "against one center and measures connections, ack latency and ingest"};
    vigil::bench::SwarmOptions o;
    std::string target, pki_dir, json_file, status_file, log_level = "warn";
    double duration = 0, window_delay = 5, window_length = 0, window_start_by = 0;
    uint32_t connect_timeout_ms = 10000, backoff_initial_ms = 500, backoff_max_ms = 30000;
    uint32_t keepalive_ms = 30000, keepalive_timeout_ms = 10000;
    bool until_connected = false, exit_after_window = false, no_resume = false, quiet = false;

    app.add_option("--target", target, "center gRPC address HOST:PORT");
    app.add_option("--agents", o.agents, "simulated agents")->capture_default_str();
    app.add_option("--threads", o.threads, "worker threads (one epoll loop each)")
        ->capture_default_str();
    app.add_option("--duration", duration, "stop after this many seconds (0: until SIGINT)")
        ->capture_default_str();
    app.add_flag("--until-connected", until_connected,
                 "exit 0 as soon as all agents are connected (exit 1 if --duration ends first)");
    app.add_option("--connect-rate", o.connect_rate,
                   "first connection attempts per second during the ramp-up (0: all at once)")
        ->capture_default_str();
    app.add_option("--batches-per-s", o.batches_per_s,
                   "batches per second per agent, each agent at its own phase")
        ->capture_default_str();
    app.add_option("--records-per-batch", o.records_per_batch, "records in each batch (~200 B each)")
        ->capture_default_str();
    app.add_flag("--flood", o.flood,
                 "send as fast as acks allow: keep --window unacked batches per agent");
    app.add_option("--window", o.window, "flood: unacked batches in flight per agent")
        ->capture_default_str();
    app.add_option("--max-unacked", o.max_unacked,
                   "rate mode: beyond this many unacked batches an agent skips a batch")
        ->capture_default_str();
    app.add_option("--ca", o.ca_file, "CA certificate (PEM) the center's certificate chains to");
    app.add_option("--cert", o.cert_file, "agent client certificate (PEM)");
    app.add_option("--key", o.key_file, "agent client key (PEM)");
    app.add_option("--pki-dir", pki_dir,
                   "create ca.pem/.key, center.pem/.key (SANs vigil-center, localhost, 127.0.0.1) "
                   "and agent.pem/.key here if missing (ECDSA P-256) and use them for any of "
                   "--ca/--cert/--key not given; without --target, only create them");
    app.add_option("--server-name", o.server_name, "name checked in the center's certificate")
        ->capture_default_str();
    app.add_option("--agent-id-prefix", o.agent_id_prefix, "agent_id = prefix + 6-digit index")
        ->capture_default_str();
    app.add_option("--first-agent-index", o.first_agent_index, "index of the first agent")
        ->capture_default_str();
    app.add_option("--connect-timeout-ms", connect_timeout_ms,
                   "TCP + TLS + HTTP/2 SETTINGS must complete within this")
        ->capture_default_str();
    app.add_option("--backoff-initial-ms", backoff_initial_ms, "first reconnection delay")
        ->capture_default_str();
    app.add_option("--backoff-max-ms", backoff_max_ms, "largest reconnection delay")
        ->capture_default_str();
    app.add_option("--backoff-jitter", o.backoff_jitter, "+- fraction of each delay")
        ->capture_default_str();
    app.add_option("--keepalive-ms", keepalive_ms, "HTTP/2 PING interval (0: none)")
        ->capture_default_str();
    app.add_option("--keepalive-timeout-ms", keepalive_timeout_ms, "PING ack deadline")
        ->capture_default_str();
    app.add_flag("--no-resume", no_resume, "no TLS session resumption (full handshakes only)");
    app.add_option("--window-delay", window_delay,
                   "open the measurement window this many seconds after all agents are connected")
        ->capture_default_str();
    app.add_option("--window-length", window_length,
                   "measurement window length in seconds (0: no window)")
        ->capture_default_str();
    app.add_option("--window-start-by", window_start_by,
                   "open the window at the latest this many seconds after the start, connected "
                   "or not (0: only once all are connected)")
        ->capture_default_str();
    app.add_flag("--exit-after-window", exit_after_window, "stop when the window closes");
    app.add_option("--json", json_file, "write the final report (JSON) here");
    app.add_option("--status-file", status_file, "rewrite the report (JSON) here every second");
    app.add_option("--seed", o.seed, "random seed (0: random)");
    app.add_option("--log-level", log_level, "stderr log level")->capture_default_str();
    app.add_flag("--quiet", quiet, "no per-second status lines");
    CLI11_PARSE(app, argc, argv);

    std::string log_error;
    vigil::log::Options log_options;
    log_options.level = log_level;
    if (!vigil::log::init(log_options, &log_error)) {
        std::fprintf(stderr, "vigil-swarm: %s\n", log_error.c_str());
        return 2;
    }
    if (!tls_counted) std::fprintf(stderr, "vigil-swarm: OpenSSL heap not counted\n");

    if (!pki_dir.empty()) {
        auto st = vigil::bench::ensurePkiDir(pki_dir);
        if (!st.ok()) {
            std::fprintf(stderr, "vigil-swarm: --pki-dir: %s\n", st.message().c_str());
            return 1;
        }
        if (o.ca_file.empty()) o.ca_file = pki_dir + "/ca.pem";
        if (o.cert_file.empty()) o.cert_file = pki_dir + "/agent.pem";
        if (o.key_file.empty()) o.key_file = pki_dir + "/agent.key";
        if (target.empty()) {
            std::printf("PKI ready in %s\n", pki_dir.c_str());
            return 0;
        }
    }
    if (target.empty() || !vigil::bench::parseTarget(target, o)) {
        std::fprintf(stderr, "vigil-swarm: --target HOST:PORT is required\n");
        return 2;
    }
    o.connect_timeout = std::chrono::milliseconds(connect_timeout_ms);
    o.backoff_initial = std::chrono::milliseconds(backoff_initial_ms);
    o.backoff_max = std::chrono::milliseconds(std::max(backoff_max_ms, backoff_initial_ms));
    o.keepalive = std::chrono::milliseconds(keepalive_ms);
    o.keepalive_timeout = std::chrono::milliseconds(keepalive_timeout_ms);
    o.resume_sessions = !no_resume;

    const rlim_t nofile = raiseFileLimit();
    if (nofile != 0 && nofile < static_cast<rlim_t>(o.agents) + 32) {
        std::fprintf(stderr,
                     "vigil-swarm: warning: open-file limit %llu is below %u agents + 32; some "
                     "connections will fail\n",
                     static_cast<unsigned long long>(nofile), o.agents);
    }

    // Signals are taken synchronously here; the workers inherit the blocked mask.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    Swarm swarm(o);
    if (auto st = swarm.start(); !st.ok()) {
        std::fprintf(stderr, "vigil-swarm: %s\n", st.message().c_str());
        return 1;
    }
    MeasureWindow window;
    if (window_length > 0) {
        window.phase = MeasureWindow::Phase::kPending;
        window.delay_s = window_delay;
        window.length_s = window_length;
        window.start_by_s = window_start_by;
    }
    if (!quiet) {
        std::printf("vigil-swarm: %u agents -> %s:%u (%s)\n", o.agents, o.host.c_str(), o.port,
                    o.flood ? "flood" : "rate");
        std::fflush(stdout);
    }

    SwarmSnapshot last_second = swarm.snapshot();
    int64_t max_connected = 0;
    bool reached = false;
    const int64_t start = swarm.startNs();
    for (;;) {
        timespec tick{0, 100'000'000};
        const int sig = sigtimedwait(&sigs, nullptr, &tick);
        if (sig == SIGINT || sig == SIGTERM) break;
        SwarmSnapshot now = swarm.snapshot();
        max_connected = std::max(max_connected, now.connected);
        const bool window_closed = window.update(swarm, now);
        if (until_connected && now.connected == static_cast<int64_t>(o.agents)) {
            reached = true;
            break;
        }
        if (now.mono_ns - last_second.mono_ns >= 1'000'000'000) {
            if (!quiet) {
                std::printf("%s\n", vigil::bench::statusLine(swarm, last_second, now).c_str());
                std::fflush(stdout);
            }
            if (!status_file.empty()) {
                auto st = vigil::bench::writeJsonAtomic(
                    status_file, vigil::bench::reportJson(swarm, now, window, max_connected, false));
                if (!st.ok()) std::fprintf(stderr, "vigil-swarm: %s\n", st.message().c_str());
            }
            last_second = std::move(now);
        } else if (window_closed && !status_file.empty()) {
            auto st = vigil::bench::writeJsonAtomic(
                status_file, vigil::bench::reportJson(swarm, now, window, max_connected, false));
            (void)st;
        }
        if (window_closed && exit_after_window) break;
        if (duration > 0 && static_cast<double>(vigil::bench::monoNs() - start) / 1e9 >= duration) {
            break;
        }
    }
    const SwarmSnapshot final_snap = swarm.snapshot();
    max_connected = std::max(max_connected, final_snap.connected);
    const auto report = vigil::bench::reportJson(swarm, final_snap, window, max_connected, true);
    const std::string summary =
        vigil::bench::summaryText(swarm, final_snap, window, max_connected);
    swarm.stop();
    std::printf("%s\n", summary.c_str());
    if (until_connected) {
        const int64_t first = swarm.shared().first_all_connected_ns.load();
        if (reached && first) {
            std::printf("all %u agents connected after %.2f s\n", o.agents,
                        static_cast<double>(first - start) / 1e9);
        } else {
            std::printf("not all agents connected: %lld of %u\n",
                        static_cast<long long>(final_snap.connected), o.agents);
        }
    }
    std::fflush(stdout);
    for (const std::string& path : {json_file, status_file}) {
        if (path.empty()) continue;
        if (auto st = vigil::bench::writeJsonAtomic(path, report); !st.ok()) {
            std::fprintf(stderr, "vigil-swarm: %s\n", st.message().c_str());
        }
    }
    return until_connected && !reached ? 1 : 0;
}
