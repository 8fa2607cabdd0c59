// bench/sdk_encode: cost of encoding one 15-field driver-like record (execve, data_type 59)
// through the SDK Client (lock + direct wire encoding into the output buffer), the bare
// RecordEncoder, and libprotobuf's map<string,string> (what a plugin without the SDK pays).
// Prints METRIC lines (DESIGN.md §7) from the medians of the repetitions.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "libs/wire/buffer.h"
#include "libs/wire/frame.h"
#include "libs/wire/record.h"
#include "proto/plugin.pb.h"
#include "vigil/sdk/client.h"

namespace {

// One process exec as the driver reports it: strings from the kernel, numbers as integers.
struct ExecEvent {
    std::string exe = "/usr/bin/python3.11";
    std::string argv =
        "python3 /opt/app/bin/worker.py --config /etc/app/worker.yaml --queue ingest-high "
        "--threads 8 --verbose";
    int32_t pid = 48213;
    int32_t ppid = 48190;
    int32_t pgid = 48190;
    int32_t tgid = 48213;
    int32_t sid = 1201;
    uint32_t uid = 1000;
    std::string comm = "python3";
    std::string nodename = "web-prod-17";
    uint32_t sessionid = 4;
    uint64_t pns = 4026531836;
    uint64_t root_pns = 4026531836;
    std::string pid_tree = "48213.python3<48190.bash<1201.sshd<1.systemd";
    std::string cwd = "/home/deploy/app";
};

constexpr int32_t kDataType = 59;
constexpr int64_t kTimestamp = 1717171717;
constexpr size_t kBufferReset = 512 * 1024;

template <typename Writer>
void writeFields(Writer& w, const ExecEvent& e, int32_t pid) {
    w.field("exe", e.exe)
        .field("argv", e.argv)
        .field("pid", pid)
        .field("ppid", e.ppid)
        .field("pgid", e.pgid)
        .field("tgid", pid)
        .field("sid", e.sid)
        .field("uid", e.uid)
        .field("comm", e.comm)
        .field("nodename", e.nodename)
        .field("sessionid", e.sessionid)
        .field("pns", e.pns)
        .field("root_pns", e.root_pns)
        .field("pid_tree", e.pid_tree)
        .field("cwd", e.cwd);
}

size_t sdkRecordBytes(const ExecEvent& e) {
    vigil::wire::Buffer b;
    vigil::wire::RecordEncoder enc(b);
    enc.begin(kDataType, kTimestamp);
    writeFields(enc, e, e.pid);
    return enc.end();
}

void encodeWithLibprotobuf(const ExecEvent& e, int32_t pid, vigil::wire::Buffer& out) {
    vigil::plugin::Record rec;
    rec.set_data_type(kDataType);
    rec.set_timestamp(kTimestamp);
    auto& m = *rec.mutable_data()->mutable_fields();
    m["exe"] = e.exe;
    m["argv"] = e.argv;
    m["pid"] = std::to_string(pid);
    m["ppid"] = std::to_string(e.ppid);
    m["pgid"] = std::to_string(e.pgid);
    m["tgid"] = std::to_string(pid);
    m["sid"] = std::to_string(e.sid);
    m["uid"] = std::to_string(e.uid);
    m["comm"] = e.comm;
    m["nodename"] = e.nodename;
    m["sessionid"] = std::to_string(e.sessionid);
    m["pns"] = std::to_string(e.pns);
    m["root_pns"] = std::to_string(e.root_pns);
    m["pid_tree"] = e.pid_tree;
    m["cwd"] = e.cwd;
    std::string body;
    rec.SerializeToString(&body);
    vigil::wire::appendFrame(out, body);
}

// The real plugin path: Client::record() into the double buffer, flushed to /dev/null by the
// Client's own thread.
void BM_SdkClient(benchmark::State& state) {
    const ExecEvent e;
    vigil::sdk::ClientOptions opt;
    opt.task_fd = -1;
    opt.record_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    opt.stderr_fd = -1;
    vigil::sdk::Client client(opt);
    int32_t i = 0;
    for (auto _ : state) {
        auto w = client.record(kDataType, kTimestamp);
        writeFields(w, e, e.pid + (i++ & 1023));
        benchmark::DoNotOptimize(w.send());
    }
    client.shutdown();
    state.counters["bytes_per_record"] = static_cast<double>(sdkRecordBytes(e));
    state.counters["dropped"] = static_cast<double>(client.stats().records_dropped);
}

// The encoder alone, without the Client's lock and buffering.
void BM_SdkEncoder(benchmark::State& state) {
    const ExecEvent e;
    vigil::wire::Buffer buf(kBufferReset + 4096);
    vigil::wire::RecordEncoder enc(buf);
    int32_t i = 0;
    for (auto _ : state) {
        enc.begin(kDataType, kTimestamp);
        writeFields(enc, e, e.pid + (i++ & 1023));
        benchmark::DoNotOptimize(enc.end());
        if (buf.size() > kBufferReset) buf.clear();
    }
    state.counters["bytes_per_record"] = static_cast<double>(sdkRecordBytes(e));
}

void BM_Libprotobuf(benchmark::State& state) {
    const ExecEvent e;
    vigil::wire::Buffer buf(kBufferReset + 4096);
    int32_t i = 0;
    for (auto _ : state) {
        encodeWithLibprotobuf(e, e.pid + (i++ & 1023), buf);
        benchmark::DoNotOptimize(buf.data());
        if (buf.size() > kBufferReset) buf.clear();
    }
    vigil::wire::Buffer one;
    encodeWithLibprotobuf(e, e.pid, one);
    state.counters["bytes_per_record"] = static_cast<double>(one.size());
}

// Keeps the medians of the aggregate rows while printing the usual console table.
class MedianReporter : public benchmark::ConsoleReporter {
public:
    struct Figure {
        double cpu_ns = 0;
        double bytes = 0;
    };
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const auto& run : runs) {
            if (run.run_type != Run::RT_Aggregate || run.aggregate_name != "median") continue;
            Figure f;
            f.cpu_ns = run.GetAdjustedCPUTime();
            auto it = run.counters.find("bytes_per_record");
            if (it != run.counters.end()) f.bytes = it->second.value;
            medians[run.run_name.function_name] = f;
        }
    }
    std::map<std::string, Figure> medians;
};

}  // namespace

int main(int argc, char** argv) {
    for (auto* b : {benchmark::RegisterBenchmark("sdk_client", BM_SdkClient),
                    benchmark::RegisterBenchmark("sdk_encoder", BM_SdkEncoder),
                    benchmark::RegisterBenchmark("libprotobuf_map", BM_Libprotobuf)}) {
        b->Unit(benchmark::kNanosecond)->MinTime(0.3)->Repetitions(5)->ReportAggregatesOnly(true);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    MedianReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();

    auto& m = reporter.medians;
    auto print = [](const char* name, double value, const char* unit) {
        std::printf("METRIC %s %.1f %s\n", name, value, unit);
    };
    if (m.count("sdk_client")) {
        print("sdk_encode_ns_per_record", m["sdk_client"].cpu_ns, "ns");
        print("sdk_encode_bytes_per_record", m["sdk_client"].bytes, "bytes");
    }
    if (m.count("sdk_encoder")) {
        print("sdk_encode_encoder_only_ns_per_record", m["sdk_encoder"].cpu_ns, "ns");
    }
    if (m.count("libprotobuf_map")) {
        print("sdk_encode_libprotobuf_ns_per_record", m["libprotobuf_map"].cpu_ns, "ns");
        print("sdk_encode_libprotobuf_bytes_per_record", m["libprotobuf_map"].bytes, "bytes");
    }
    if (m.count("sdk_client") && m.count("libprotobuf_map") && m["sdk_client"].cpu_ns > 0) {
        print("sdk_encode_speedup_vs_libprotobuf",
              m["libprotobuf_map"].cpu_ns / m["sdk_client"].cpu_ns, "x");
    }
    std::fflush(stdout);
    return 0;
}
