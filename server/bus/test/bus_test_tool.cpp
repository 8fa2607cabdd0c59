// Helper process for the bus integration tests.
//   bus_test_tool read  OPTIONS --group G --count N [--timeout-ms T]
//       prints READY once its consumer is open, then "<partition> <offset> <key> <seq>" per
//       message; commits and exits 0 after N messages (2 on timeout).
//   bus_test_tool write OPTIONS [--keys K] [--batch B] [--inflight F]
//       appends forever (values "key#seq#..."), printing "ACK <first> <last>" for each
//       acknowledged append; meant to be killed.
// OPTIONS: --backend embedded|nats --dir D --url U --stream S --prefix P --partitions N
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/bus/bus.h"
#include "server/bus/test/bus_test_env.h"

using namespace vigil;
using namespace vigil::bus;

namespace {

void say(const std::string& line) {
    static std::mutex mu;
    std::lock_guard lock(mu);
    std::string l = line + "\n";
    if (::write(1, l.data(), l.size()) < 0) _exit(9);
}

int read(Bus& bus, const std::map<std::string, std::string>& a) {
    auto c = bus.consumer({.group = a.at("--group")});
    if (!c.ok()) {
        fprintf(stderr, "consumer: %s\n", c.message().c_str());
        return 3;
    }
    say("READY");
    const size_t want = std::stoul(a.at("--count"));
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(std::stoi(a.count("--timeout-ms") ? a.at("--timeout-ms") : "20000"));
    size_t seen = 0;
    while (seen < want && std::chrono::steady_clock::now() < deadline) {
        auto got = (*c)->fetch(want - seen, std::chrono::milliseconds(200));
        if (!got.ok()) {
            fprintf(stderr, "fetch: %s\n", got.message().c_str());
            return 4;
        }
        for (const auto& d : *got) {
            say(fmt::format("{} {} {} {}", d.partition, d.offset, d.key,
                            bus::testing::seqOf(d.value)));
        }
        seen += got->size();
        if (!got->empty() && !(*c)->commit(*got).ok()) return 5;
    }
    return seen >= want ? 0 : 2;
}

int write(Bus& bus, const std::map<std::string, std::string>& a) {
    const int keys = a.count("--keys") ? std::stoi(a.at("--keys")) : 16;
    const int batch = a.count("--batch") ? std::stoi(a.at("--batch")) : 50;
    const int inflight = a.count("--inflight") ? std::stoi(a.at("--inflight")) : 8;
    std::mutex mu;
    std::condition_variable cv;
    int outstanding = 0;
    for (int64_t seq = 0;; seq += batch) {
        std::vector<std::string> owned_keys, values;
        for (int i = 0; i < batch; ++i) {
            owned_keys.push_back(bus::testing::agentKey(static_cast<int>((seq + i) % keys)));
            values.push_back(bus::testing::valueFor(owned_keys.back(), static_cast<int>(seq + i),
                                                    100 + (seq + i) % 400));
        }
        std::vector<Message> m;
        for (int i = 0; i < batch; ++i) m.push_back({owned_keys[i], 59, values[i]});
        {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return outstanding < inflight; });
            ++outstanding;
        }
        bus.producer().appendAsync(m, [&, seq](Status s) {
            if (s.ok()) say(fmt::format("ACK {} {}", seq, seq + batch - 1));
            std::lock_guard lock(mu);
            --outstanding;
            cv.notify_one();
        });
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return 64;
    const std::string mode = argv[1];
    std::map<std::string, std::string> a;
    for (int i = 2; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
    BusOptions o;
    o.backend = a.at("--backend");
    o.dir = a.count("--dir") ? a.at("--dir") : "";
    o.nats_url = a.count("--url") ? a.at("--url") : "";
    o.stream = a.count("--stream") ? a.at("--stream") : "VIGIL";
    o.nats_subject_prefix = a.count("--prefix") ? a.at("--prefix") : "vigil.rec";
    o.partitions = a.count("--partitions") ? std::stoul(a.at("--partitions")) : 4;
    o.fsync_interval = std::chrono::milliseconds(2);
    o.writer = mode == "write";
    metrics::Registry metrics;
    auto bus = Bus::open(o, metrics);
    if (!bus.ok()) {
        fprintf(stderr, "open: %s\n", bus.message().c_str());
        return 3;
    }
    if (mode == "read") return read(**bus, a);
    if (mode == "write") return write(**bus, a);
    return 64;
}
