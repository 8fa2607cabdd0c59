// Bus benchmark: appends realistic MQData messages (~300 bytes, DESIGN.md §3) from many agents
// with several producer threads, each keeping several appends in flight, until a duration
// passes; then one consumer reads everything back. Prints METRIC lines: acknowledged appends
// per second, append-to-durable latency percentiles under that load and for one append at a
// time, consumed messages per second.
//   bus_bench --backend embedded|nats [--dir D] [--url U] [--seconds S] [--threads T]
//             [--agents A] [--batch B] [--inflight F] [--partitions P]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "libs/common/crypto.h"
#include "libs/common/metrics.h"
#include "libs/wire/proto_wire.h"
#include "server/bus/bus.h"

using namespace vigil;
using Clock = std::chrono::steady_clock;

namespace {

void putTag(std::string& out, uint32_t field, wire::WireType type) {
    char buf[10];
    out.append(buf, wire::putVarint(buf, wire::makeTag(field, type)) - buf);
}
void putVarintField(std::string& out, uint32_t field, uint64_t v) {
    putTag(out, field, wire::kVarint);
    char buf[10];
    out.append(buf, wire::putVarint(buf, v) - buf);
}
void putBytesField(std::string& out, uint32_t field, std::string_view v) {
    putTag(out, field, wire::kLengthDelimited);
    char buf[10];
    out.append(buf, wire::putVarint(buf, v.size()) - buf);
    out.append(v);
}

// A Payload (map<string,string> fields = 1) like a driver execve or connect record.
std::string payload(std::mt19937& rng, int32_t data_type) {
    std::vector<std::pair<std::string, std::string>> f;
    const int pid = 1000 + static_cast<int>(rng() % 60000);
    f.emplace_back("pid", std::to_string(pid));
    f.emplace_back("ppid", std::to_string(pid - 1 - static_cast<int>(rng() % 50)));
    f.emplace_back("uid", rng() % 4 ? "0" : "1000");
    if (data_type == 59) {
        static const char* exes[] = {"/usr/bin/curl", "/usr/bin/bash", "/usr/sbin/sshd",
                                     "/usr/bin/python3"};
        const char* exe = exes[rng() % 4];
        f.emplace_back("exe", exe);
        f.emplace_back("argv", std::string(exe) + " -s http://10.0.0." + std::to_string(rng() % 255));
        f.emplace_back("pid_tree", std::to_string(pid) + ".curl<1.systemd");
    } else if (data_type == 42) {
        f.emplace_back("dip", "10.1." + std::to_string(rng() % 255) + "." + std::to_string(rng() % 255));
        f.emplace_back("dport", std::to_string(rng() % 65535));
        f.emplace_back("exe", "/usr/bin/python3");
    } else {
        f.emplace_back("cpu", "0.0" + std::to_string(rng() % 100));
        f.emplace_back("rss", std::to_string(rng() % 100000));
    }
    // Common driver fields (DESIGN.md §4).
    f.emplace_back("comm", "curl");
    f.emplace_back("sessionid", std::to_string(rng() % 5000));
    f.emplace_back("pns", "4026531836");
    f.emplace_back("username", "root");
    f.emplace_back("exe_hash", crypto::randomHex(8));
    std::string out;
    for (const auto& [k, v] : f) {
        std::string entry;
        putBytesField(entry, 1, k);
        putBytesField(entry, 2, v);
        putBytesField(out, 1, entry);
    }
    return out;
}

struct Agent {
    std::string id;
    std::vector<std::string> values;  // serialized MQData
    std::vector<int32_t> types;
};

std::vector<Agent> makeAgents(int n, int per_agent) {
    std::mt19937 rng(42);
    std::vector<Agent> agents(n);
    for (int i = 0; i < n; ++i) {
        Agent& a = agents[i];
        std::string hex = crypto::randomHex(16);
        a.id = hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
               hex.substr(16, 4) + "-" + hex.substr(20, 12);
        for (int j = 0; j < per_agent; ++j) {
            const uint32_t r = rng() % 20;
            const int32_t dt = r < 12 ? 59 : r < 18 ? 42 : 1000;  // mostly driver, some agent
            std::string m;
            putVarintField(m, 1, static_cast<uint32_t>(dt));
            putVarintField(m, 2, 1764230000 + rng() % 1000);
            putBytesField(m, 3, payload(rng, dt));
            putBytesField(m, 4, a.id);
            putBytesField(m, 5, "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) +
                                     "." + std::to_string(i % 256));
            putBytesField(m, 9, "host-" + std::to_string(i));
            putBytesField(m, 10, "1.9.1");
            putBytesField(m, 11, "vigil-agent");
            putVarintField(m, 12, 1764230000123ull + rng() % 1000);
            a.values.push_back(std::move(m));
            a.types.push_back(dt);
        }
    }
    return agents;
}

double cpuSeconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1)));
    std::nth_element(v.begin(), v.begin() + i, v.end());
    return v[i];
}

}  // namespace

int main(int argc, char** argv) {
    std::map<std::string, std::string> a;
    for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
    auto arg = [&](const char* k, const char* d) { return a.count(k) ? a[k] : std::string(d); };
    const std::string backend = arg("--backend", "embedded");
    const double seconds = std::stod(arg("--seconds", "5"));
    const int threads = std::stoi(arg("--threads", "4"));
    const int agents_n = std::stoi(arg("--agents", "10000"));
    const int batch = std::stoi(arg("--batch", "100"));
    const int inflight = std::stoi(arg("--inflight", "64"));

    bus::BusOptions o;
    o.backend = backend;
    o.dir = arg("--dir", "/tmp/vigil-bench-bus");
    o.nats_url = arg("--url", "nats://127.0.0.1:4222");
    o.stream = "VIGILBENCH";
    o.nats_subject_prefix = "vigilbench.rec";
    o.partitions = static_cast<uint32_t>(std::stoi(arg("--partitions", "8")));
    metrics::Registry reg;
    auto bus = bus::Bus::open(o, reg);
    if (!bus.ok()) {
        std::fprintf(stderr, "bus: %s\n", bus.message().c_str());
        return 1;
    }
    const auto agents = makeAgents(agents_n, batch);
    size_t bytes_per_msg = 0;
    for (const auto& v : agents[0].values) bytes_per_msg += v.size();
    bytes_per_msg /= agents[0].values.size();
    std::printf("%s: %d agents, %d producer threads, %d messages per append, %d appends in flight "
                "per thread, MQData ~%zu bytes (+%zu key)\n",
                (*bus)->describe().c_str(), agents_n, threads, batch, inflight, bytes_per_msg,
                agents[0].id.size());

    // --- latency of one append at a time (no queueing) ---
    std::vector<double> idle;
    {
        const int n = std::stoi(arg("--idle-appends", "300"));
        std::vector<bus::Message> msgs(batch);
        for (int i = 0; i < n; ++i) {
            const Agent& ag = agents[i % agents.size()];
            for (int j = 0; j < batch; ++j) msgs[j] = {ag.id, ag.types[j], ag.values[j]};
            const auto sent = Clock::now();
            Status s = (*bus)->producer().append(msgs);
            if (!s.ok()) {
                std::fprintf(stderr, "append: %s\n", s.message().c_str());
                return 1;
            }
            idle.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
        }
    }
    const double idle_p50 = percentile(idle, 0.50), idle_p99 = percentile(idle, 0.99);
    std::printf("one append at a time: %zu appends of %d, ack p50 %.2f ms, p99 %.2f ms\n",
                idle.size(), batch, idle_p50, idle_p99);

    // --- append ---
    std::atomic<uint64_t> acked{0}, failed{0};
    std::atomic<int64_t> last_ack_ns{0};
    std::vector<std::vector<double>> latencies(threads);
    const auto start = Clock::now();
    const auto stop_at = start + std::chrono::duration<double>(seconds);
    const double cpu0 = cpuSeconds();
    std::vector<std::thread> producers;
    for (int t = 0; t < threads; ++t) {
        producers.emplace_back([&, t] {
            struct Gate {
                std::mutex mu;
                std::condition_variable cv;
                int outstanding = 0;
            } gate;
            auto& lat = latencies[t];
            lat.reserve(1 << 20);
            std::vector<bus::Message> msgs(batch);
            for (uint64_t n = 0; Clock::now() < stop_at; ++n) {
                const Agent& ag = agents[(n * threads + t) % agents.size()];
                for (int i = 0; i < batch; ++i) msgs[i] = {ag.id, ag.types[i], ag.values[i]};
                {
                    std::unique_lock lock(gate.mu);
                    gate.cv.wait(lock, [&] { return gate.outstanding < inflight; });
                    ++gate.outstanding;
                }
                const auto sent = Clock::now();
                (*bus)->producer().appendAsync(msgs, [&, sent](Status s) {
                    const auto now = Clock::now();
                    if (s.ok()) {
                        acked.fetch_add(batch, std::memory_order_relaxed);
                    } else if (failed.fetch_add(1) == 0) {
                        std::fprintf(stderr, "append failed: %s\n", s.message().c_str());
                    }
                    last_ack_ns.store((now - start).count(), std::memory_order_relaxed);
                    std::lock_guard lock(gate.mu);
                    lat.push_back(std::chrono::duration<double, std::milli>(now - sent).count());
                    --gate.outstanding;
                    gate.cv.notify_one();
                });
            }
            std::unique_lock lock(gate.mu);
            gate.cv.wait(lock, [&] { return gate.outstanding == 0; });
        });
    }
    for (auto& p : producers) p.join();
    const double append_s = std::chrono::duration<double>(std::chrono::nanoseconds(last_ack_ns.load())).count();
    const double append_cpu = cpuSeconds() - cpu0;
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    const double p50 = percentile(all, 0.50), p99 = percentile(all, 0.99);
    const uint64_t appended = acked.load();
    const double rate = appended / append_s;
    const uint64_t stored = appended + idle.size() * batch;  // what the consumer will find
    std::printf("append: %llu messages acknowledged in %.2f s (%.0f MB/s of values), %llu failed "
                "appends, CPU %.2f s (%.0f%% of one core), fsyncs %llu\n",
                static_cast<unsigned long long>(appended), append_s,
                appended * (bytes_per_msg + 36) / append_s / 1e6,
                static_cast<unsigned long long>(failed.load()), append_cpu,
                100 * append_cpu / append_s,
                static_cast<unsigned long long>(reg.counterTotal("vigil_bus_fsyncs_total")));

    auto printAppendMetrics = [&] {
        std::printf("METRIC bus_%s_append_per_s %.0f messages/s\n", backend.c_str(), rate);
        std::printf("METRIC bus_%s_append_ack_p50_ms %.2f ms\n", backend.c_str(), p50);
        std::printf("METRIC bus_%s_append_ack_p99_ms %.2f ms\n", backend.c_str(), p99);
        std::printf("METRIC bus_%s_append_ack_idle_p50_ms %.2f ms\n", backend.c_str(), idle_p50);
        std::printf("METRIC bus_%s_append_ack_idle_p99_ms %.2f ms\n", backend.c_str(), idle_p99);
    };
    if (arg("--consume", "1") == "0") {
        printAppendMetrics();
        return 0;
    }
    // --- consume ---
    auto consumer = (*bus)->consumer({.group = "bench" + crypto::randomHex(4)});
    if (!consumer.ok()) {
        std::fprintf(stderr, "consumer: %s\n", consumer.message().c_str());
        return 1;
    }
    uint64_t consumed = 0, fetches = 0;
    Clock::duration commit_time{};
    const double cpu1 = cpuSeconds();
    const auto c0 = Clock::now();
    auto last_data = c0;
    while (consumed < stored && Clock::now() - last_data < std::chrono::seconds(10)) {
        auto got = (*consumer)->fetch(10000, std::chrono::milliseconds(500));
        if (!got.ok()) {
            std::fprintf(stderr, "fetch: %s\n", got.message().c_str());
            return 1;
        }
        if (got->empty()) continue;
        last_data = Clock::now();
        consumed += got->size();
        ++fetches;
        const auto commit_start = Clock::now();
        Status cs = (*consumer)->commit(*got);
        commit_time += Clock::now() - commit_start;
        if (!cs.ok()) {
            std::fprintf(stderr, "commit: %s\n", cs.message().c_str());
            return 1;
        }
    }
    const double consume_s = std::chrono::duration<double>(Clock::now() - c0).count();
    const double consume_cpu = cpuSeconds() - cpu1;
    std::printf("consume: %llu of %llu messages in %.2f s (%llu fetches, %.2f s in commits), "
                "CPU %.2f s\n",
                static_cast<unsigned long long>(consumed), static_cast<unsigned long long>(stored),
                consume_s, static_cast<unsigned long long>(fetches),
                std::chrono::duration<double>(commit_time).count(), consume_cpu);
    consumer->reset();
    bus->reset();

    printAppendMetrics();
    std::printf("METRIC bus_%s_consume_per_s %.0f messages/s\n", backend.c_str(),
                consumed / consume_s);
    return consumed == stored && failed.load() == 0 ? 0 : 2;
}
