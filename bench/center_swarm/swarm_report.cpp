// Status line, measurement window, JSON report and final summary of the load generator.
#include "bench/center_swarm/swarm_report.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "libs/common/fs.h"

namespace vigil::bench {
namespace {

double seconds(int64_t ns) {
    return static_cast<double>(ns) / 1e9;
}

nlohmann::json latencyJson(const LatencyHistogram::Snapshot& h) {
    return {{"count", h.total},
            {"p50", h.percentileMs(0.50)},
            {"p90", h.percentileMs(0.90)},
            {"p99", h.percentileMs(0.99)},
            {"p999", h.percentileMs(0.999)},
            {"max", h.maxMs()},
            {"mean", h.meanMs()}};
}

nlohmann::json ratesJson(const SwarmSnapshot& a, const SwarmSnapshot& b) {
    const double dt = std::max(1e-9, seconds(b.mono_ns - a.mono_ns));
    auto rate = [&](uint64_t x, uint64_t y) { return static_cast<double>(y - x) / dt; };
    return {{"batches_sent", rate(a.batches_sent, b.batches_sent)},
            {"records_sent", rate(a.records_sent, b.records_sent)},
            {"bytes_sent", rate(a.bytes_sent, b.bytes_sent)},
            {"batches_acked", rate(a.batches_acked, b.batches_acked)},
            {"records_acked", rate(a.records_acked, b.records_acked)}};
}

std::string errorList(const SwarmSnapshot& s, const char* sep) {
    std::string out;
    for (size_t i = 0; i < s.errors.size(); ++i) {
        if (!s.errors[i]) continue;
        if (!out.empty()) out += sep;
        out += fmt::format("{}={}", errorCauseName(static_cast<ErrorCause>(i)), s.errors[i]);
    }
    for (size_t i = 0; i < s.grpc_status.size(); ++i) {
        if (s.grpc_status[i]) out += fmt::format("{}grpc-status {}={}", sep, i, s.grpc_status[i]);
    }
    return out;
}

// CLOCK_MONOTONIC ns -> seconds since the epoch (0 stays null).
nlohmann::json epochOf(int64_t mono_ns) {
    if (mono_ns == 0) return nullptr;
    const int64_t offset = realtimeNs() - monoNs();
    return seconds(mono_ns + offset);
}

}  // namespace

bool MeasureWindow::update(const Swarm& swarm, const SwarmSnapshot& now) {
    switch (phase) {
        case Phase::kNone:
        case Phase::kDone: return false;
        case Phase::kPending: {
            int64_t open_at = 0;
            const int64_t first = swarm.shared().first_all_connected_ns.load();
            if (first != 0) open_at = first + static_cast<int64_t>(delay_s * 1e9);
            if (start_by_s > 0) {
                const int64_t by = swarm.startNs() + static_cast<int64_t>(start_by_s * 1e9);
                open_at = open_at ? std::min(open_at, by) : by;
            }
            if (open_at != 0 && now.mono_ns >= open_at) {
                phase = Phase::kRunning;
                start_ns = now.mono_ns;
                begin = now;
                min_connected = now.connected;
            }
            return false;
        }
        case Phase::kRunning:
            min_connected = std::min(min_connected, now.connected);
            if (now.mono_ns - start_ns >= static_cast<int64_t>(length_s * 1e9)) {
                end = now;
                end_ns = now.mono_ns;
                phase = Phase::kDone;
                return true;
            }
            return false;
    }
    return false;
}

GeneratorUsage GeneratorUsage::measure() {
    GeneratorUsage u;
    if (FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        while (std::fgets(line, sizeof(line), f)) {
            long kb = 0;
            if (std::sscanf(line, "VmRSS: %ld kB", &kb) == 1) u.rss_kb = kb;
        }
        std::fclose(f);
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    u.cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
              static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    u.tls_heap_bytes = openSslHeapBytes();
    return u;
}

std::string statusLine(const Swarm& swarm, const SwarmSnapshot& prev, const SwarmSnapshot& cur) {
    const double dt = std::max(1e-9, seconds(cur.mono_ns - prev.mono_ns));
    auto rate = [&](uint64_t a, uint64_t b) { return static_cast<double>(b - a) / dt; };
    const LatencyHistogram::Snapshot lat = cur.ack_latency.minus(prev.ack_latency);
    std::string errors = errorList(cur, " ");
    return fmt::format(
        "[{:7.1f}s] connected {}/{} open {} handshaking {} connecting {} waiting {} | sent {:.0f} "
        "batch/s {:.0f} rec/s | acked {:.0f} batch/s {:.0f} rec/s | ack p50 {:.1f} p99 {:.1f} ms "
        "| lag p99 {:.1f} ms | tls full {} resumed {} | errors {}{}{}",
        seconds(cur.mono_ns - swarm.startNs()), cur.connected, swarm.options().agents, cur.open,
        cur.handshaking, cur.connecting, cur.waiting, rate(prev.batches_sent, cur.batches_sent),
        rate(prev.records_sent, cur.records_sent), rate(prev.batches_acked, cur.batches_acked),
        rate(prev.records_acked, cur.records_acked), lat.percentileMs(0.5),
        lat.percentileMs(0.99), cur.loop_lag.minus(prev.loop_lag).percentileMs(0.99),
        cur.handshakes_full, cur.handshakes_resumed, cur.errorTotal(),
        errors.empty() ? "" : " (", errors.empty() ? "" : errors + ")");
}

nlohmann::json reportJson(const Swarm& swarm, const SwarmSnapshot& cur, const MeasureWindow& window,
                          int64_t max_connected, bool final_report) {
    const SwarmOptions& o = swarm.options();
    const SwarmShared& sh = swarm.shared();
    nlohmann::json j;
    j["final"] = final_report;
    j["elapsed_s"] = seconds(cur.mono_ns - swarm.startNs());
    j["config"] = {{"target", fmt::format("{}:{}", o.host, o.port)},
                   {"agents", o.agents},
                   {"threads", o.threads},
                   {"mode", o.flood ? "flood" : "rate"},
                   {"batches_per_s", o.batches_per_s},
                   {"records_per_batch", o.records_per_batch},
                   {"window", o.window},
                   {"connect_rate", o.connect_rate},
                   {"resume_sessions", o.resume_sessions},
                   {"record_payload_bytes_avg", swarm.averagePayloadBytes()}};
    nlohmann::json state;
#define VIGIL_SWARM_JSON(name) state[#name] = cur.name;
    VIGIL_SWARM_GAUGES(VIGIL_SWARM_JSON)
    j["state"] = state;
#undef VIGIL_SWARM_JSON
    nlohmann::json counters;
#define VIGIL_SWARM_JSON(name) counters[#name] = cur.name;
    VIGIL_SWARM_COUNTERS(VIGIL_SWARM_JSON)
#undef VIGIL_SWARM_JSON
    j["totals"] = counters;
    j["connected"] = cur.connected;
    j["max_connected"] = max_connected;
    j["all_connected"] = cur.connected == static_cast<int64_t>(o.agents);
    const int64_t first = sh.first_all_connected_ns.load();
    j["first_all_connected_s"] =
        first ? nlohmann::json(seconds(first - swarm.startNs())) : nlohmann::json(nullptr);
    j["last_all_connected_epoch"] = epochOf(sh.last_all_connected_ns.load());
    j["last_lost_all_epoch"] = epochOf(sh.last_lost_all_ns.load());
    j["all_connected_events"] = sh.all_connected_events.load();
    nlohmann::json errors = nlohmann::json::object();
    for (size_t i = 0; i < cur.errors.size(); ++i) {
        errors[errorCauseName(static_cast<ErrorCause>(i))] = cur.errors[i];
    }
    j["errors"] = errors;
    nlohmann::json grpc = nlohmann::json::object();
    for (size_t i = 0; i < cur.grpc_status.size(); ++i) {
        if (cur.grpc_status[i]) grpc[std::to_string(i)] = cur.grpc_status[i];
    }
    j["grpc_status"] = grpc;
    j["ack_latency_ms"] = latencyJson(cur.ack_latency);
    j["loop_lag_ms"] = latencyJson(cur.loop_lag);
    SwarmSnapshot zero;
    zero.mono_ns = swarm.startNs();
    j["rates_per_s"] = ratesJson(zero, cur);

    nlohmann::json w;
    switch (window.phase) {
        case MeasureWindow::Phase::kNone: w["phase"] = "none"; break;
        case MeasureWindow::Phase::kPending: w["phase"] = "pending"; break;
        case MeasureWindow::Phase::kRunning: w["phase"] = "running"; break;
        case MeasureWindow::Phase::kDone: w["phase"] = "done"; break;
    }
    if (window.phase == MeasureWindow::Phase::kRunning ||
        window.phase == MeasureWindow::Phase::kDone) {
        const SwarmSnapshot& e = window.phase == MeasureWindow::Phase::kDone ? window.end : cur;
        w["start_s"] = seconds(window.start_ns - swarm.startNs());
        w["start_epoch"] = epochOf(window.start_ns);
        w["length_s"] = seconds(e.mono_ns - window.start_ns);
        w["rates_per_s"] = ratesJson(window.begin, e);
        w["ack_latency_ms"] = latencyJson(e.ack_latency.minus(window.begin.ack_latency));
        w["loop_lag_ms"] = latencyJson(e.loop_lag.minus(window.begin.loop_lag));
        w["connected_min"] = window.min_connected;
        w["errors"] = e.errorTotal() - window.begin.errorTotal();
        w["window_full"] = e.window_full - window.begin.window_full;
    }
    j["window"] = w;

    const GeneratorUsage u = GeneratorUsage::measure();
    const double n = static_cast<double>(o.agents);
    j["generator"] = {{"rss_kb", u.rss_kb},
                      {"rss_kb_per_agent", static_cast<double>(u.rss_kb) / n},
                      {"tls_heap_bytes_per_agent", static_cast<double>(u.tls_heap_bytes) / n},
                      {"h2_heap_bytes_per_agent", static_cast<double>(cur.h2_heap_bytes) / n},
                      {"h2_mapped_bytes_per_agent", static_cast<double>(cur.h2_mapped_bytes) / n},
                      {"cpu_s", u.cpu_s}};
    return j;
}

std::string summaryText(const Swarm& swarm, const SwarmSnapshot& cur, const MeasureWindow& window,
                        int64_t max_connected) {
    const SwarmOptions& o = swarm.options();
    const double elapsed = seconds(cur.mono_ns - swarm.startNs());
    const int64_t first = swarm.shared().first_all_connected_ns.load();
    const GeneratorUsage u = GeneratorUsage::measure();
    std::string s = fmt::format(
        "summary: {} agents on {} thread(s), {}, {} records/batch, {:.1f} s\n", o.agents,
        std::min(o.threads, o.agents),
        o.flood ? fmt::format("flood window {}", o.window)
                : fmt::format("{} batch/s per agent", o.batches_per_s),
        o.records_per_batch, elapsed);
    s += fmt::format("  connected at the end {}, at most {}; all {} connected {}\n", cur.connected,
                     max_connected, o.agents,
                     first ? fmt::format("after {:.2f} s", seconds(first - swarm.startNs()))
                           : std::string("never"));
    s += fmt::format("  TLS handshakes: {} full, {} resumed ({} offered a session)\n",
                     cur.handshakes_full, cur.handshakes_resumed, cur.sessions_offered);
    s += fmt::format(
        "  batches sent {} ({} records), acked {} ({} records); commands {}: {} acks, {} config "
        "syncs, {} tasks, {} unparseable\n",
        cur.batches_sent, cur.records_sent, cur.batches_acked, cur.records_acked, cur.commands,
        cur.acks, cur.config_syncs, cur.tasks, cur.bad_commands);
    const auto& h = cur.ack_latency;
    s += fmt::format("  ack latency (whole run): p50 {:.2f} p90 {:.2f} p99 {:.2f} max {:.2f} ms\n",
                     h.percentileMs(0.5), h.percentileMs(0.9), h.percentileMs(0.99), h.maxMs());
    if (window.phase == MeasureWindow::Phase::kDone) {
        const auto lat = window.end.ack_latency.minus(window.begin.ack_latency);
        const double dt = std::max(1e-9, seconds(window.end.mono_ns - window.start_ns));
        s += fmt::format(
            "  window {:.1f} s: acked {:.0f} batch/s {:.0f} records/s, ack p50 {:.2f} p99 {:.2f} "
            "max {:.2f} ms, connected >= {}, generator timer lag p99 {:.2f} ms\n",
            dt, static_cast<double>(window.end.batches_acked - window.begin.batches_acked) / dt,
            static_cast<double>(window.end.records_acked - window.begin.records_acked) / dt,
            lat.percentileMs(0.5), lat.percentileMs(0.99), lat.maxMs(), window.min_connected,
            window.end.loop_lag.minus(window.begin.loop_lag).percentileMs(0.99));
    }
    const std::string errors = errorList(cur, ", ");
    s += fmt::format("  errors: {}; goaways {}; unacked batches dropped at disconnect {}\n",
                     errors.empty() ? "none" : errors, cur.goaways, cur.unacked_dropped);
    const double n = static_cast<double>(o.agents);
    s += fmt::format(
        "  generator: RSS {:.1f} MB ({:.1f} KB/agent; per agent: TLS heap {:.1f} KB, HTTP/2 heap "
        "{:.1f} KB + {:.1f} KB mapped, mostly untouched), CPU {:.1f} s ({:.2f} cores)",
        static_cast<double>(u.rss_kb) / 1024, static_cast<double>(u.rss_kb) / n,
        static_cast<double>(u.tls_heap_bytes) / n / 1024,
        static_cast<double>(cur.h2_heap_bytes) / n / 1024,
        static_cast<double>(cur.h2_mapped_bytes) / n / 1024, u.cpu_s,
        u.cpu_s / std::max(1e-9, elapsed));
    return s;
}

Status writeJsonAtomic(const std::string& path, const nlohmann::json& doc) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        if (!f) return makeError("cannot write {}", tmp);
        f << doc.dump(2) << '\n';
        if (!f) return makeError("cannot write {}", tmp);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) return makeError("cannot rename {}", tmp);
    return okStatus();
}

}  // namespace vigil::bench
