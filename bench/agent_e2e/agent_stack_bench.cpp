// Benchmarks of the real vigil-agent process against an in-process FakeCenter over mTLS:
//   agent_stack_bench e2e  AGENT FLOOD WORK COUNT   plugin -> agent -> gRPC -> center records/s
//   agent_stack_bench idle AGENT EXAMPLE WORK SECS  RSS and CPU of an agent with two idle plugins
// Prints METRIC lines (DESIGN.md §7).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "agent/heartbeat/proc_stats.h"
#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "libs/wire/batch.h"
#include "tests/support/fake_center.h"
#include "tests/support/test_pki.h"

using namespace vigil;
using namespace std::chrono_literals;

namespace {

struct AgentProcess {
    pid_t pid = -1;
    ~AgentProcess() { stop(); }
    bool start(const std::string& bin, const std::string& cfg, const std::string& log) {
        std::vector<std::string> args{bin, "--config", cfg};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        char* env[] = {nullptr};
        int rc = ::posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), env);
        posix_spawn_file_actions_destroy(&fa);
        return rc == 0;
    }
    void stop() {
        if (pid <= 0) return;
        ::kill(pid, SIGTERM);
        for (int i = 0; i < 300; ++i) {
            if (::waitpid(pid, nullptr, WNOHANG) == pid) {
                pid = -1;
                return;
            }
            std::this_thread::sleep_for(20ms);
        }
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        pid = -1;
    }
};

std::string installPlugin(const std::string& work, const std::string& name, const std::string& src) {
    (void)fs::makeDirs(work + "/plugin/" + name);
    auto data = fs::readFile(src, 256 << 20);
    if (!data.ok()) {
        std::fprintf(stderr, "cannot read %s\n", src.c_str());
        std::exit(1);
    }
    (void)fs::writeFileAtomic(work + "/plugin/" + name + "/" + name, *data, 0755);
    return crypto::sha256Hex(*data);
}

std::string agentYaml(const testing::TestPki& pki, const testing::FakeCenter& center, const std::string& work,
                      const std::string& plugins) {
    return "work_dir: " + work + "\nagent_id: bench-agent\nregions:\n  default:\n    private:\n      centers: [\"" +
           center.address() + "\"]\ntls:\n  ca: " + pki.caFile() + "\n  cert: " + pki.agentCertFile() +
           "\n  key: " + pki.agentKeyFile() + "\nlog: {level: warn}\nspool: {max_size: 4GiB}\nplugins:\n  initial:\n" +
           plugins;
}

uint64_t vmRssKb(pid_t pid, const char* key = "VmRSS:") {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key, 0) == 0) return std::stoull(line.substr(std::strlen(key)));
    }
    return 0;
}

int e2e(const std::string& agent_bin, const std::string& flood, const std::string& work, uint64_t count) {
    testing::TestPki pki("bench-agent");
    if (!pki.ok()) return 1;
    testing::FakeCenterOptions o = pki.centerOptions();
    o.store_batches = false;
    testing::FakeCenter center(o);
    std::atomic<uint64_t> flood_records{0};
    std::atomic<int64_t> first_ns{0}, last_ns{0};
    center.setBatchObserver([&](const testing::ReceivedBatch&, const wire::BatchView& v) {
        uint64_t n = 0;
        for (const auto& r : v.records) n += r.data_type == 59;
        if (n == 0) return;
        int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
        int64_t zero = 0;
        first_ns.compare_exchange_strong(zero, now);
        if (flood_records.fetch_add(n) + n >= count) last_ns = now;
    });
    if (!center.start().ok()) return 1;
    std::string sha = installPlugin(work, "flood", flood);
    std::string plugins = "    - {name: flood, version: \"1\", sha256: " + sha + ", detail: \"count=" +
                          std::to_string(count) + " size=200\"}\n";
    (void)fs::writeFileAtomic(work + "/agent.yaml", agentYaml(pki, center, work, plugins));
    AgentProcess agent;
    if (!agent.start(agent_bin, work + "/agent.yaml", work + "/agent.log")) return 1;
    auto deadline = std::chrono::steady_clock::now() + 180s;
    agent::RateTracker cpu;
    std::optional<agent::ProcessSample> s0;
    while (flood_records.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    s0 = agent::readProcess(agent.pid);
    while (flood_records.load() < count && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(2ms);
    }
    auto s1 = agent::readProcess(agent.pid);
    uint64_t got = flood_records.load();
    double secs = static_cast<double>(last_ns.load() - first_ns.load()) / 1e9;
    if (got < count) {
        std::printf("WARNING: only %llu of %llu records arrived\n", static_cast<unsigned long long>(got),
                    static_cast<unsigned long long>(count));
        secs = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count() -
               static_cast<double>(first_ns.load()) / 1e9;
    }
    double agent_cpu = 0;
    if (s0 && s1) agent_cpu = static_cast<double>(s1->cpu_ticks - s0->cpu_ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    std::printf("%llu records of 200 B in %.3f s; agent CPU %.2f s; %llu batches, %llu bytes at the center\n",
                static_cast<unsigned long long>(got), secs, agent_cpu,
                static_cast<unsigned long long>(center.batchCount()), static_cast<unsigned long long>(center.byteCount()));
    std::printf("METRIC agent_e2e_records_per_s %.0f records/s\n", static_cast<double>(got) / secs);
    if (agent_cpu > 0) std::printf("METRIC agent_e2e_agent_cpu_s_per_million %.3f s\n", agent_cpu * 1e6 / static_cast<double>(got));
    agent.stop();
    center.stop();
    return got >= count ? 0 : 1;
}

int idle(const std::string& agent_bin, const std::string& example, const std::string& work, int seconds) {
    testing::TestPki pki("bench-agent");
    if (!pki.ok()) return 1;
    testing::FakeCenter center(pki.centerOptions());
    if (!center.start().ok()) return 1;
    std::string plugins;
    for (const char* name : {"idle_a", "idle_b"}) {
        std::string sha = installPlugin(work, name, example);
        plugins += std::string("    - {name: ") + name + ", version: \"1\", sha256: " + sha +
                   ", detail: \"interval_ms=3600000\"}\n";
    }
    (void)fs::writeFileAtomic(work + "/agent.yaml", agentYaml(pki, center, work, plugins));
    AgentProcess agent;
    if (!agent.start(agent_bin, work + "/agent.yaml", work + "/agent.log")) return 1;
    if (!center.waitForAgent("bench-agent", 30s)) {
        std::printf("the agent did not connect\n");
        return 1;
    }
    std::this_thread::sleep_for(5s);  // start-up settles: plugins running, first heartbeat sent
    auto s0 = agent::readProcess(agent.pid);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    auto s1 = agent::readProcess(agent.pid);
    if (!s0 || !s1) {
        std::printf("the agent exited\n");
        return 1;
    }
    double cpu_s = static_cast<double>(s1->cpu_ticks - s0->cpu_ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    double wall = std::chrono::duration<double>(s1->at - s0->at).count();
    uint64_t rss = vmRssKb(agent.pid);
    std::printf("agent pid %d over %.1f s: CPU %.3f s, RSS %llu kB (anon %llu kB, file %llu kB), %u threads, %u fds\n",
                agent.pid, wall, cpu_s, static_cast<unsigned long long>(rss),
                static_cast<unsigned long long>(vmRssKb(agent.pid, "RssAnon:")),
                static_cast<unsigned long long>(vmRssKb(agent.pid, "RssFile:")), s1->nthreads, s1->nfd);
    std::printf("METRIC agent_idle_rss_kb %llu kB\n", static_cast<unsigned long long>(rss));
    std::printf("METRIC agent_idle_cpu_percent %.3f %%\n", 100.0 * cpu_s / wall);
    agent.stop();
    center.stop();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    vigil::log::Options lo;
    lo.level = "warn";
    vigil::log::init(lo);
    ::signal(SIGPIPE, SIG_IGN);
    if (argc == 6 && std::string(argv[1]) == "e2e") return e2e(argv[2], argv[3], argv[4], std::stoull(argv[5]));
    if (argc == 6 && std::string(argv[1]) == "idle") return idle(argv[2], argv[3], argv[4], std::stoi(argv[5]));
    std::fprintf(stderr,
                 "usage: agent_stack_bench e2e AGENT FLOOD_PLUGIN WORK COUNT\n"
                 "       agent_stack_bench idle AGENT EXAMPLE_PLUGIN WORK SECONDS\n");
    return 2;
}
