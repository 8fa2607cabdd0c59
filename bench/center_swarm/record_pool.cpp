// RecordPool: payloads shaped like the driver's execve (59) and connect (42) records.
#include "bench/center_swarm/record_pool.h"

#include <map>
#include <random>

#include <fmt/format.h>

#include "libs/wire/buffer.h"
#include "libs/wire/record.h"

namespace vigil::bench {
namespace {

const char* const kExes[] = {"/usr/bin/bash", "/usr/bin/curl", "/usr/sbin/sshd",
                             "/usr/bin/python3.11", "/usr/lib/systemd/systemd-journald",
                             "/usr/bin/git", "/opt/app/bin/worker", "/usr/bin/cat"};
const char* const kArgv[] = {"bash -c ls -la /tmp", "curl -s https://example.org/health",
                             "sshd: root@pts/0", "python3 /opt/app/main.py --serve",
                             "git fetch --all", "cat /etc/passwd", "worker --queue jobs"};
const char* const kUsers[] = {"root", "www-data", "ubuntu", "app", "postgres"};

}  // namespace

RecordPool::RecordPool(size_t size, uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto pick = [&](auto& arr) { return arr[rng() % std::size(arr)]; };
    records_.reserve(size);
    for (size_t i = 0; i < size; ++i) {
        const uint32_t pid = 1000 + static_cast<uint32_t>(rng() % 4000000);
        const uint32_t ppid = 1 + static_cast<uint32_t>(rng() % 100000);
        std::map<std::string, std::string> f;
        PooledRecord r;
        f["pid"] = std::to_string(pid);
        f["ppid"] = std::to_string(ppid);
        f["uid"] = std::to_string(rng() % 2 ? 0 : 1000 + rng() % 100);
        f["exe"] = pick(kExes);
        f["sessionid"] = std::to_string(rng() % 5000);
        if (i % 3 != 2) {
            r.data_type = 59;  // execve
            f["argv"] = pick(kArgv);
            f["username"] = pick(kUsers);
            f["pid_tree"] = fmt::format("{}.bash<{}.sshd<1.systemd", pid, ppid);
            f["pgid"] = std::to_string(pid);
        } else {
            r.data_type = 42;  // connect
            f["dip"] = fmt::format("10.{}.{}.{}", rng() % 256, rng() % 256, 1 + rng() % 254);
            f["dport"] = std::to_string(rng() % 2 ? 443 : 1024 + rng() % 60000);
            f["sip"] = "172.16.0.12";
            f["sport"] = std::to_string(32768 + rng() % 28000);
            f["sa_family"] = "2";
            f["res"] = "0";
            f["username"] = pick(kUsers);
        }
        wire::Buffer b;
        wire::encodePayload(b, f);
        r.payload = b.toString();
        records_.push_back(std::move(r));
    }
    const std::map<std::string, std::string> hb = {
        {"arch", "x86_64"},          {"cpu", "0.012"},         {"rss", "14336000"},
        {"nfd", "23"},               {"kernel_version", "6.1.0-18-amd64"},
        {"platform", "debian"},      {"platform_version", "12"}, {"net_mode", "sd-private"},
        {"state", "running"},        {"start_time", "1700000000"},
    };
    wire::Buffer b;
    wire::encodePayload(b, hb);
    heartbeat_.data_type = 1000;
    heartbeat_.payload = b.toString();
}

double RecordPool::averagePayloadBytes() const {
    if (records_.empty()) return 0;
    size_t n = 0;
    for (const auto& r : records_) n += r.payload.size();
    return static_cast<double>(n) / static_cast<double>(records_.size());
}

}  // namespace vigil::bench
