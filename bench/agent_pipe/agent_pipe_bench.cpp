// agent_pipe benchmark: records/s from one plugin (the flood plugin, another process) through
// the agent's pipe reader (PluginHost) into batches (Batcher) and the disk spool, measured
// in-process. Prints METRIC lines.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "agent/plugin_host/plugin_host.h"
#include "agent/spool/spool.h"
#include "agent/transport/batcher.h"
#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "libs/common/metrics.h"

using namespace vigil;
using namespace vigil::agent;

namespace {

// Counts records without batching: the ceiling of the pipe reader alone.
struct CountingSink : RecordSink {
    std::atomic<uint64_t> records{0};
    std::atomic<uint64_t> bytes{0};
    void put(int32_t, int64_t, std::string_view payload) override {
        records.fetch_add(1, std::memory_order_relaxed);
        bytes.fetch_add(payload.size(), std::memory_order_relaxed);
    }
};

double cpuSeconds() {
    rusage ru;
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Run {
    double seconds = 0;
    double cpu = 0;
    uint64_t records = 0;
    uint64_t payload_bytes = 0;
};

Run runOnce(const std::string& work, const std::string& flood, uint64_t count, uint64_t size, bool batch) {
    metrics::Registry reg;
    SpoolOptions so;
    so.dir = work + "/spool";
    so.max_bytes = 8ull << 30;
    (void)fs::removeAll(so.dir);
    auto spool = Spool::open(so, reg);
    if (!spool.ok()) {
        std::fprintf(stderr, "spool: %s\n", spool.message().c_str());
        std::exit(1);
    }
    BatcherOptions bo;
    Batcher batcher(bo, **spool, reg);
    CountingSink counter;
    RecordSink& sink = batch ? static_cast<RecordSink&>(batcher) : counter;

    PluginHostOptions po;
    po.work_dir = work;
    po.stop_grace = std::chrono::milliseconds(2000);
    PluginHost host(po, sink, reg);
    if (!host.start().ok()) std::exit(1);
    PluginSpec spec;
    spec.name = "flood";
    spec.type = "exec";
    spec.version = "1";
    spec.sha256 = *crypto::sha256FileHex(work + "/plugin/flood/flood");
    spec.detail = "count=" + std::to_string(count) + " size=" + std::to_string(size);

    auto got = [&] { return batch ? batcher.recordsIn() : counter.records.load(); };
    double cpu0 = cpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    auto st = host.sync({spec});
    if (!st.ok()) {
        std::fprintf(stderr, "sync: %s\n", st.message().c_str());
        std::exit(1);
    }
    // Time from the first record to the last.
    while (got() == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    auto first = std::chrono::steady_clock::now();
    double cpu_first = cpuSeconds();
    auto deadline = first + std::chrono::seconds(120);
    while (got() < count && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    auto last = std::chrono::steady_clock::now();
    Run r;
    r.records = got();
    r.seconds = std::chrono::duration<double>(last - first).count();
    r.cpu = cpuSeconds() - cpu_first;
    r.payload_bytes = counter.bytes.load();
    (void)t0;
    (void)cpu0;
    if (batch) batcher.flush();
    host.stop();
    (*spool)->close();
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: agent_pipe_bench FLOOD_PLUGIN WORK_DIR [COUNT] [SIZE]\n");
        return 2;
    }
    vigil::log::Options lo;
    lo.level = "warn";
    vigil::log::init(lo);
    const std::string flood_src = argv[1];
    const std::string work = argv[2];
    const uint64_t count = argc > 3 ? std::stoull(argv[3]) : 3000000;
    const uint64_t size = argc > 4 ? std::stoull(argv[4]) : 200;
    (void)fs::makeDirs(work + "/plugin/flood");
    auto bin = fs::readFile(flood_src, 64 << 20);
    if (!bin.ok() || !fs::writeFileAtomic(work + "/plugin/flood/flood", *bin, 0755).ok()) {
        std::fprintf(stderr, "cannot install the flood plugin from %s\n", flood_src.c_str());
        return 1;
    }

    Run reader = runOnce(work, flood_src, count, size, false);
    Run full = runOnce(work, flood_src, count, size, true);
    std::printf("pipe reader only: %llu records in %.3f s, agent CPU %.3f s\n",
                static_cast<unsigned long long>(reader.records), reader.seconds, reader.cpu);
    std::printf("reader + batcher + spool: %llu records in %.3f s, agent CPU %.3f s\n",
                static_cast<unsigned long long>(full.records), full.seconds, full.cpu);
    if (full.records < count) std::printf("WARNING: only %llu of %llu records arrived\n",
                                           static_cast<unsigned long long>(full.records),
                                           static_cast<unsigned long long>(count));
    std::printf("METRIC agent_pipe_records_per_s %.0f records/s\n", static_cast<double>(full.records) / full.seconds);
    std::printf("METRIC agent_pipe_records_per_cpu_s %.0f records/cpu-s\n",
                static_cast<double>(full.records) / std::max(full.cpu, 1e-9));
    std::printf("METRIC agent_pipe_reader_only_records_per_s %.0f records/s\n",
                static_cast<double>(reader.records) / reader.seconds);
    // Frame = 4-byte prefix + data_type, timestamp and payload tags (~12 bytes) + payload.
    double avg_frame = 16.0 + static_cast<double>(reader.payload_bytes) / static_cast<double>(reader.records);
    std::printf("METRIC agent_pipe_record_bytes %.0f bytes\n", avg_frame);
    return full.records == count ? 0 : 1;
}
