// vigil-testcenter: FakeCenter as a standalone process, the center that `make up` and the
// benchmarks talk to until vigil-center exists. Prints one stats line per second.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "libs/common/fs.h"
#include "libs/wire/record.h"
#include "tests/support/fake_center.h"
#include "tests/support/test_pki.h"

namespace {

std::atomic<bool> g_stop{false};

void onSignal(int) {
    g_stop.store(true);
}

bool parseAckMode(const std::string& text, vigil::testing::FakeCenterOptions& o,
                  std::string& error) {
    using vigil::testing::AckMode;
    if (text == "immediate") {
        o.ack_mode = AckMode::kImmediate;
    } else if (text == "never") {
        o.ack_mode = AckMode::kNever;
    } else if (text.rfind("delay:", 0) == 0) {
        o.ack_mode = AckMode::kDelayed;
        o.ack_delay = std::chrono::milliseconds(std::atoll(text.c_str() + 6));
    } else if (text.rfind("every:", 0) == 0) {
        o.ack_mode = AckMode::kEveryN;
        o.ack_every = static_cast<uint32_t>(std::atoll(text.c_str() + 6));
    } else {
        error = "--ack must be immediate, never, delay:<ms> or every:<n>";
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "vigil-testcenter: a stand-in Vigil center (gRPC Transfer + FileExt over mTLS) for "
        "development and benchmarks"};
    std::string listen = "127.0.0.1:6751";
    std::string ca_file, cert_file, key_file, pki_dir, records_out, ack = "immediate";
    double duration = 0;
    bool quiet = false;
    app.add_option("--listen", listen, "address to listen on (host:port; port 0 picks one)")
        ->capture_default_str();
    app.add_option("--ca", ca_file, "CA certificate (PEM) that agent certificates must chain to");
    app.add_option("--cert", cert_file, "center certificate (PEM)");
    app.add_option("--key", key_file, "center private key (PEM)");
    app.add_option(
        "--pki-dir", pki_dir,
        "generate a development PKI here if missing (ca.pem, center.pem/.key, agent.pem/.key) "
        "and use it for any of --ca/--cert/--key not given");
    app.add_option("--records-out", records_out,
                   "append every received record as a JSON line (agent_id, batch_seq, data_type, "
                   "timestamp, fields)");
    app.add_option("--ack", ack, "ack policy: immediate, never, delay:<ms>, every:<n>")
        ->capture_default_str();
    app.add_option("--duration", duration,
                   "exit after this many seconds (0: until SIGINT/SIGTERM)");
    app.add_flag("--quiet", quiet, "no per-second stats lines");
    CLI11_PARSE(app, argc, argv);

    if (!pki_dir.empty()) {
        auto st = vigil::testing::ensureDevPki(pki_dir);
        if (!st.ok()) {
            std::fprintf(stderr, "vigil-testcenter: %s\n", st.message().c_str());
            return 1;
        }
        if (ca_file.empty()) ca_file = pki_dir + "/ca.pem";
        if (cert_file.empty()) cert_file = pki_dir + "/center.pem";
        if (key_file.empty()) key_file = pki_dir + "/center.key";
    }
    if (ca_file.empty() || cert_file.empty() || key_file.empty()) {
        std::fprintf(stderr, "vigil-testcenter: give --ca, --cert and --key, or --pki-dir\n");
        return 2;
    }
    vigil::testing::FakeCenterOptions options;
    options.listen = listen;
    options.store_batches = false;
    std::string error;
    if (!parseAckMode(ack, options, error)) {
        std::fprintf(stderr, "vigil-testcenter: %s\n", error.c_str());
        return 2;
    }
    for (auto [file, dest] :
         {std::pair{&ca_file, &options.ca_pem}, std::pair{&cert_file, &options.cert_pem},
          std::pair{&key_file, &options.key_pem}}) {
        auto content = vigil::fs::readFile(*file, 1 << 20);
        if (!content.ok()) {
            std::fprintf(stderr, "vigil-testcenter: %s\n", content.message().c_str());
            return 2;
        }
        *dest = std::move(*content);
    }

    vigil::testing::FakeCenter center(options);
    std::ofstream out;
    std::mutex out_mu;
    if (!records_out.empty()) {
        out.open(records_out, std::ios::app);
        if (!out) {
            std::fprintf(stderr, "vigil-testcenter: cannot open %s\n", records_out.c_str());
            return 1;
        }
        center.setBatchObserver(
            [&](const vigil::testing::ReceivedBatch& batch, const vigil::wire::BatchView& view) {
                std::string lines;
                for (const auto& r : view.records) {
                    std::map<std::string, std::string> fields;
                    vigil::wire::decodePayload(r.data, fields);
                    nlohmann::json j{{"agent_id", batch.agent_id},
                                     {"batch_seq", batch.batch_seq},
                                     {"data_type", r.data_type},
                                     {"timestamp", r.timestamp},
                                     {"fields", fields}};
                    lines += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
                    lines += '\n';
                }
                std::lock_guard lock(out_mu);
                out << lines;
                out.flush();
            });
    }
    auto st = center.start();
    if (!st.ok()) {
        std::fprintf(stderr, "vigil-testcenter: %s\n", st.message().c_str());
        return 1;
    }
    std::printf("vigil-testcenter listening on %s\n", center.address().c_str());
    std::fflush(stdout);

    struct sigaction sa {};
    sa.sa_handler = onSignal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    const auto started = std::chrono::steady_clock::now();
    auto last = started;
    uint64_t last_batches = 0, last_records = 0;
    while (!g_stop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto now = std::chrono::steady_clock::now();
        if (duration > 0 && now - started >= std::chrono::duration<double>(duration)) break;
        if (now - last < std::chrono::seconds(1)) continue;
        double secs = std::chrono::duration<double>(now - last).count();
        uint64_t batches = center.batchCount(), records = center.recordCount();
        if (!quiet) {
            std::printf(
                "connections=%zu batches/s=%.0f records/s=%.0f total_batches=%lu "
                "total_records=%lu\n",
                center.connectedAgents().size(), static_cast<double>(batches - last_batches) / secs,
                static_cast<double>(records - last_records) / secs,
                static_cast<unsigned long>(batches), static_cast<unsigned long>(records));
            std::fflush(stdout);
        }
        last = now;
        last_batches = batches;
        last_records = records;
    }
    center.stop();
    std::printf("vigil-testcenter stopped: total_batches=%lu total_records=%lu streams=%lu\n",
                static_cast<unsigned long>(center.batchCount()),
                static_cast<unsigned long>(center.recordCount()),
                static_cast<unsigned long>(center.streamsOpened()));
    return 0;
}
