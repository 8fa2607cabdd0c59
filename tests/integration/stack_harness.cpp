// StackHarness implementation.
#include "tests/integration/stack_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <thread>

#include <httplib.h>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "server/bus/test/bus_test_env.h"
#include "server/common/auth.h"
#include "tests/support/free_port.h"

namespace vigil::testing {
namespace {

constexpr const char* kAk = "it-access-key";
constexpr const char* kSk = "it-secret-key-0123456789abcdef";

std::string bin(const std::string& name) { return std::string(VIGIL_BUILD_DIR) + "/bin/" + name; }

}  // namespace


Process::Process(std::string name, std::vector<std::string> argv, std::string log_path)
    : name_(std::move(name)), argv_(std::move(argv)), log_path_(std::move(log_path)) {}

Process::~Process() {
    if (pid_ > 0) stop(SIGKILL, std::chrono::seconds(5));
}

bool Process::start() {
    std::vector<char*> argv;
    for (auto& a : argv_) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char* env[] = {nullptr};
    int rc = ::posix_spawn(&pid_, argv_[0].c_str(), &fa, nullptr, argv.data(), env);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) pid_ = -1;
    return rc == 0;
}

int Process::stop(int sig, std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) break;
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return status;
}

bool Process::alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

std::string Process::log() const {
    auto s = fs::readFile(log_path_, 64 << 20);
    return s.ok() ? *s : std::string();
}

bool Process::waitForLog(const std::string& text, std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (log().find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return log().find(text) != std::string::npos;
}

StackHarness::StackHarness(std::string backend) : backend_(std::move(backend)) {
    pki_ = std::make_unique<TestPki>("it-stack");
    if (!pki_->ok()) {
        error_ = "pki: " + pki_->error();
        return;
    }
    dir_ = pki_->dir();
    keys_file_ = dir_ + "/keys.yaml";
    (void)fs::writeFileAtomic(keys_file_, std::string(kAk) + ": " + kSk + "\n", 0600);
    if (backend_ == "nats") {
        auto url = bus::testing::NatsServer::sharedUrl();
        if (!url.ok()) {
            error_ = "nats: " + url.message();
            return;
        }
        nats_url_ = *url;
        const std::string tag = std::to_string(::getpid()) + "_" + crypto::randomHex(4);
        nats_stream_ = "IT_" + tag;
        nats_prefix_ = "it." + tag;
    }
}

StackHarness::~StackHarness() {
    consumers_.clear();
    buses_.clear();
    agents_.clear();
    for (auto& c : centers_) c.process.reset();
    discovery_.reset();
    if (backend_ == "nats" && !nats_url_.empty()) bus::testing::dropNatsStream(busOptions("", false));
}

bus::BusOptions StackHarness::busOptions(const std::string& data_dir, bool writer) const {
    bus::BusOptions o;
    o.backend = backend_;
    o.partitions = 4;
    o.dir = data_dir + "/bus";
    o.writer = writer;
    o.nats_url = nats_url_;
    o.stream = nats_stream_;
    o.nats_subject_prefix = nats_prefix_;
    return o;
}

std::vector<std::string> StackHarness::busTailArgs(size_t i) const {
    if (backend_ == "nats") return {"--nats", nats_url_, "--stream", nats_stream_, "--prefix", nats_prefix_};
    return {"--dir", centers_.at(i).data_dir + "/bus"};
}

bool StackHarness::startDiscovery() {
    discovery_port_ = freeLoopbackPort();
    discovery_ = std::make_unique<Process>(
        "discovery",
        std::vector<std::string>{bin("vigil-discovery"), "--listen", "127.0.0.1:" + std::to_string(discovery_port_),
                                 "--keys-file", keys_file_, "--log-file", "-", "--evict-after", "30s"},
        dir_ + "/discovery.log");
    return discovery_->start() && discovery_->waitForLog("listening on", std::chrono::seconds(15));
}

bool StackHarness::startCenter(size_t i, const std::string& extra_yaml) {
    if (centers_.size() <= i) centers_.resize(i + 1);
    Center& c = centers_[i];
    c.grpc_port = freeLoopbackPort();
    c.http_port = freeLoopbackPort();
    c.data_dir = dir_ + "/center-" + std::to_string(i);
    c.config_path = dir_ + "/center-" + std::to_string(i) + ".yaml";
    std::string y = "data_dir: " + c.data_dir + "\ngrpc: {listen: 127.0.0.1:" + std::to_string(c.grpc_port) +
                    ", completion_queues: 2}\nhttp: {listen: 127.0.0.1:" + std::to_string(c.http_port) +
                    "}\ntls: {ca: " + pki_->caFile() + ", cert: " + pki_->centerCertFile() + ", key: " +
                    pki_->centerKeyFile() + "}\nbus: {backend: " + backend_ + ", partitions: 4";
    if (backend_ == "nats") y += ", nats_url: \"" + nats_url_ + "\", stream: " + nats_stream_ + ", nats_subject_prefix: " + nats_prefix_;
    y += "}\nauth: {keys_file: " + keys_file_ + "}\ndrain_timeout: 5s\nlog: {level: info, file: \"-\"}\n";
    if (discovery_) y += "discovery: {addresses: [\"127.0.0.1:" + std::to_string(discovery_port_) + "\"], interval: 1s}\n";
    y += extra_yaml;
    if (!fs::writeFileAtomic(c.config_path, y).ok()) return false;
    return restartCenter(i);
}

bool StackHarness::restartCenter(size_t i) {
    Center& c = centers_.at(i);
    c.process = std::make_unique<Process>("center-" + std::to_string(i),
                                          std::vector<std::string>{bin("vigil-center"), "--config", c.config_path},
                                          dir_ + "/center-" + std::to_string(i) + ".log");
    const size_t before = c.process->log().size();
    if (!c.process->start()) return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        std::string log = c.process->log();
        if (log.find("vigil-center listening", before) != std::string::npos) return true;
        if (!c.process->alive()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

std::string StackHarness::installTestPlugin(const std::string& agent_id, const std::string& name) {
    const std::string d = agentWorkDir(agent_id) + "/plugin/" + name;
    (void)fs::makeDirs(d, 0700);
    auto data = fs::readFile(VIGIL_TEST_PLUGIN, 64 << 20);
    (void)fs::writeFileAtomic(d + "/" + name, *data, 0755);
    return crypto::sha256Hex(*data);
}

std::string StackHarness::pluginYaml(const std::string& agent_id, const std::string& name, const std::string& detail) {
    return "    - {name: " + name + ", version: \"1\", sha256: " + installTestPlugin(agent_id, name) + ", detail: \"" +
           detail + "\"}\n";
}

bool StackHarness::startAgent(const AgentOptions& o) {
    const std::string work = agentWorkDir(o.agent_id);
    (void)fs::makeDirs(work, 0700);
    std::string centers, disc;
    for (const auto& c : o.centers) centers += (centers.empty() ? "\"" : ", \"") + c + "\"";
    if (o.use_discovery && discovery_) disc = "\"127.0.0.1:" + std::to_string(discovery_port_) + "\"";
    std::string y = "work_dir: " + work + "\nagent_id: " + o.agent_id +
                    "\nregions:\n  default:\n    private:\n      discovery: [" + disc + "]\n      centers: [" + centers +
                    "]\ntls:\n  ca: " + pki_->caFile() + "\n  cert: " +
                    (o.rogue_certificate ? pki_->rogueAgentCertFile() : pki_->agentCertFile()) + "\n  key: " +
                    (o.rogue_certificate ? pki_->rogueAgentKeyFile() : pki_->agentKeyFile()) +
                    "\n  server_name: vigil-center\n"
                    "transport: {batch_interval: 50ms, backoff_initial: 100ms, backoff_max: 1s, connect_timeout: 1s}\n"
                    "heartbeat: {interval: 1s}\nlog: {level: info, file: \"-\"}\n"
                    "plugins:\n  restart_initial: 200ms\n  restart_max: 1s\n  stop_grace: 2s\n  cgroup_name: it-" +
                    o.agent_id + "\n";
    if (!o.plugins_yaml.empty()) y += "  initial:\n" + o.plugins_yaml;
    const std::string cfg = dir_ + "/agent-" + o.agent_id + ".yaml";
    if (!fs::writeFileAtomic(cfg, y).ok()) return false;
    auto p = std::make_unique<Process>("agent-" + o.agent_id,
                                       std::vector<std::string>{bin("vigil-agent"), "--config", cfg},
                                       dir_ + "/agent-" + o.agent_id + ".log");
    if (!p->start()) return false;
    agents_[o.agent_id] = std::move(p);
    return true;
}

HttpResult StackHarness::centerApi(size_t i, const std::string& method, const std::string& path, const std::string& body,
                                   bool sign) {
    httplib::Client cli("127.0.0.1", centers_.at(i).http_port);
    cli.set_connection_timeout(5);
    cli.set_read_timeout(10);
    httplib::Headers headers;
    if (sign) {
        auto h = server::sign(server::AkSk{kAk, kSk}, method, path, "", body, static_cast<int64_t>(std::time(nullptr)));
        headers = {{"AccessKey", h.access_key}, {"TimeStamp", h.timestamp}, {"Signature", h.signature}};
    }
    httplib::Result r = method == "GET" ? cli.Get(path, headers) : cli.Post(path, headers, body, "application/json");
    HttpResult out;
    if (!r) return out;
    out.status = r->status;
    out.body = nlohmann::json::parse(r->body, nullptr, false);
    return out;
}

std::vector<std::string> StackHarness::connectedAgents(size_t i) {
    std::vector<std::string> out;
    auto r = centerApi(i, "GET", "/conn/list");
    if (r.status == 200 && r.body.is_object() && r.body["data"].is_array()) {
        for (const auto& id : r.body["data"]) out.push_back(id.get<std::string>());
    }
    return out;
}

void StackHarness::pollBuses() {
    // One reader per center bus (embedded) or one for the shared stream (nats).
    if (backend_ == "nats") {
        if (buses_.empty()) {
            auto b = bus::Bus::open(busOptions("", false), metrics_);
            if (!b.ok()) return;
            buses_.push_back(std::move(*b));
            consumer_dirs_.push_back("nats");
        }
    } else {
        for (const auto& c : centers_) {
            if (c.data_dir.empty() || std::find(consumer_dirs_.begin(), consumer_dirs_.end(), c.data_dir) != consumer_dirs_.end()) {
                continue;
            }
            if (!fs::exists(c.data_dir + "/bus")) continue;
            auto b = bus::Bus::open(busOptions(c.data_dir, false), metrics_);
            if (!b.ok()) continue;
            buses_.push_back(std::move(*b));
            consumer_dirs_.push_back(c.data_dir);
        }
    }
    while (consumers_.size() < buses_.size()) {
        bus::ConsumerOptions co;
        co.group = "it-" + std::to_string(::getpid());
        auto c = buses_[consumers_.size()]->consumer(co);
        if (!c.ok()) return;
        consumers_.push_back(std::move(*c));
    }
    for (auto& c : consumers_) {
        for (int round = 0; round < 100; ++round) {
            auto got = c->fetch(5000, std::chrono::milliseconds(0));
            if (!got.ok() || got->empty()) break;
            for (const auto& d : *got) {
                vigil::bus::MQData mq;
                if (!mq.ParseFromString(d.value)) continue;
                BusRecord r;
                r.agent_id = mq.agent_id();
                r.data_type = mq.data_type();
                r.batch_seq = mq.batch_seq();
                r.batch_index = mq.batch_index();
                wire::decodePayload(mq.body(), r.fields);
                records_.push_back(std::move(r));
            }
            (void)c->commit(*got);
        }
    }
}

std::vector<BusRecord> StackHarness::busRecords() {
    pollBuses();
    return records_;
}

bool StackHarness::waitBus(const std::function<bool(const std::vector<BusRecord>&)>& pred,
                           std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred(busRecords())) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return pred(busRecords());
}

}  // namespace vigil::testing
