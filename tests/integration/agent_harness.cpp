// AgentHarness implementation.
#include "tests/integration/agent_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "libs/wire/record.h"

extern char** environ;

namespace vigil::testing {

bool processAlive(pid_t pid) {
    if (pid <= 0) return false;
    if (::kill(pid, 0) != 0) return false;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string s;
    std::getline(in, s);
    auto close = s.rfind(')');
    return close != std::string::npos && close + 2 < s.size() && s[close + 2] != 'Z';
}

AgentHarness::AgentHarness() {
    static std::atomic<int> n{0};
    agent_id_ = "it-agent-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
    pki_ = std::make_unique<TestPki>(agent_id_);
    work_dir_ = pki_->dir() + "/work";
    (void)fs::makeDirs(work_dir_ + "/plugin", 0700);
    // A private copy of the binaries: self-upgrade tests replace the agent's executable.
    std::string build = VIGIL_BUILD_DIR;
    agent_bin_ = pki_->dir() + "/bin/vigil-agent";
    (void)fs::makeDirs(pki_->dir() + "/bin");
    for (const char* b : {"vigil-agent", "vigil-fetch"}) {
        auto data = fs::readFile(build + "/bin/" + b, 512ull << 20);
        if (data.ok()) (void)fs::writeFileAtomic(pki_->dir() + "/bin/" + b, *data, 0755);
    }
    if (!pki_->ok()) return;
    FakeCenterOptions o = pki_->centerOptions();
    center_ = std::make_unique<FakeCenter>(o);
    center_started_ = center_->start().ok();
}

AgentHarness::~AgentHarness() {
    if (agent_pid_ > 0 && processAlive(agent_pid_)) stopAgent(SIGKILL);
    if (center_) center_->stop();
}

std::string AgentHarness::testPluginSha256() const {
    return *crypto::sha256FileHex(VIGIL_TEST_PLUGIN);
}

namespace {

std::string installPlugin(const std::string& work_dir, const std::string& name,
                          const std::string& binary) {
    const std::string dir = work_dir + "/plugin/" + name;
    (void)fs::makeDirs(dir, 0700);
    auto data = fs::readFile(binary, 64 << 20);
    (void)fs::writeFileAtomic(dir + "/" + name, *data, 0755);
    return crypto::sha256Hex(*data);
}

}  // namespace

std::string AgentHarness::installTestPlugin(const std::string& name) {
    return installPlugin(work_dir_, name, VIGIL_TEST_PLUGIN);
}

std::string AgentHarness::pluginYaml(const PluginInstall& p) {
    return pluginYaml(p, VIGIL_TEST_PLUGIN);
}

std::string AgentHarness::pluginYaml(const PluginInstall& p, const std::string& binary) {
    std::string sha = installPlugin(work_dir_, p.name, binary);
    return "    - {name: " + p.name + ", version: \"" + p.version + "\", sha256: " + sha +
           ", detail: \"" + p.detail + "\"}\n";
}

bool AgentHarness::startAgent() {
    std::string yaml =
        "work_dir: " + work_dir_ + "\nagent_id: " + agent_id_ +
        "\nregions:\n  default:\n    private:\n      centers: [\"" + center_->address() +
        "\"]\ntls:\n  ca: " + pki_->caFile() + "\n  cert: " + pki_->agentCertFile() +
        "\n  key: " + pki_->agentKeyFile() +
        "\n  server_name: vigil-center\n"
        "transport: {batch_interval: 50ms, backoff_initial: 100ms, backoff_max: 1s}\n"
        "heartbeat: {interval: 1s}\n"
        "log: {level: info}\n"
        "plugins:\n  restart_initial: 200ms\n  restart_max: 1s\n  stop_grace: 2s\n"
        "  cgroup_name: " +
        agent_id_ + "\n";
    if (!initial_plugins_yaml.empty()) yaml += "  initial:\n" + initial_plugins_yaml;
    yaml += extra_yaml;
    const std::string cfg = pki_->dir() + "/agent.yaml";
    if (!fs::writeFileAtomic(cfg, yaml).ok()) return false;

    std::vector<std::string> args{agent_bin_, "--config", cfg};
    for (const auto& a : extra_args) args.push_back(a);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    const std::string out = pki_->dir() + "/agent.out";
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    char* env[] = {nullptr};
    int rc = ::posix_spawn(&agent_pid_, agent_bin_.c_str(), &fa, nullptr, argv.data(), env);
    posix_spawn_file_actions_destroy(&fa);
    exit_status_ = -1;
    return rc == 0;
}

int AgentHarness::stopAgent(int sig, std::chrono::milliseconds timeout) {
    if (agent_pid_ <= 0) return exit_status_;
    ::kill(agent_pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(agent_pid_, &status, WNOHANG);
        if (r == agent_pid_) break;
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(agent_pid_, SIGKILL);
            ::waitpid(agent_pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    agent_pid_ = -1;
    exit_status_ = status;
    return status;
}

bool AgentHarness::agentAlive() const {
    if (agent_pid_ <= 0) return false;
    int status = 0;
    pid_t r = ::waitpid(agent_pid_, &status, WNOHANG);
    if (r == agent_pid_) {
        exit_status_ = status;
        return false;
    }
    return true;
}

std::string AgentHarness::agentLog() const {
    auto s = fs::readFile(pki_->dir() + "/agent.out", 64 << 20);
    return s.ok() ? *s : std::string();
}

std::vector<DecodedRecord> AgentHarness::records() const {
    std::vector<DecodedRecord> out;
    for (const auto& b : center_->batchesOf(agent_id_)) {
        for (const auto& r : b.parseRecords()) {
            DecodedRecord d;
            d.data_type = r.data_type;
            d.timestamp = r.timestamp;
            d.batch_seq = b.batch_seq;
            wire::decodePayload(r.payload, d.fields);
            out.push_back(std::move(d));
        }
    }
    return out;
}

std::vector<DecodedRecord> AgentHarness::recordsOf(int32_t data_type) const {
    std::vector<DecodedRecord> out;
    for (auto& r : records()) {
        if (r.data_type == data_type) out.push_back(std::move(r));
    }
    return out;
}

bool AgentHarness::waitRecords(const std::function<bool(const std::vector<DecodedRecord>&)>& pred,
                               std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred(records())) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return pred(records());
}

bool AgentHarness::waitRecord(int32_t data_type,
                              const std::function<bool(const DecodedRecord&)>& pred,
                              std::chrono::milliseconds timeout, DecodedRecord* out) const {
    return waitRecords(
        [&](const std::vector<DecodedRecord>& rs) {
            for (const auto& r : rs) {
                if (r.data_type == data_type && pred(r)) {
                    if (out) *out = r;
                    return true;
                }
            }
            return false;
        },
        timeout);
}

}  // namespace vigil::testing
