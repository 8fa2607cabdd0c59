// Bus test support: temporary directories, nats-server processes, child processes.
#include "server/bus/test/bus_test_env.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include <nats/nats.h>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "tests/support/child_process.h"
#include "tests/support/free_port.h"

namespace vigil::bus::testing {

using vigil::testing::waitExit;

using namespace std::chrono_literals;

TempDir::TempDir() {
    char tmpl[] = "/tmp/vigil-bus-test.XXXXXX";
    if (::mkdtemp(tmpl)) path_ = tmpl;
}

TempDir::~TempDir() {
    if (!path_.empty()) (void)fs::removeAll(path_);
}

std::string findNatsServer() {
    std::vector<std::string> dirs;
    if (const char* path = std::getenv("PATH")) {
        std::string_view p(path);
        size_t at = 0;
        while (at <= p.size()) {
            size_t colon = p.find(':', at);
            if (colon == std::string_view::npos) colon = p.size();
            if (colon > at) dirs.emplace_back(p.substr(at, colon - at));
            at = colon + 1;
        }
    }
    for (const char* d : {"/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin", "/sbin"}) {
        dirs.emplace_back(d);
    }
    for (const auto& d : dirs) {
        std::string candidate = d + "/nats-server";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "";
}

namespace {

// True once something on 127.0.0.1:port greets like a NATS server.
bool natsAnswers(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
        pollfd p{fd, POLLIN, 0};
        char buf[5] = {};
        ok = ::poll(&p, 1, 1000) == 1 && ::read(fd, buf, 4) == 4 && std::string(buf) == "INFO";
    }
    ::close(fd);
    return ok;
}

}  // namespace

Result<std::unique_ptr<NatsServer>> NatsServer::start() {
    std::string binary = findNatsServer();
    if (binary.empty()) {
        return makeError(
            "nats-server not found (PATH, /usr/sbin): install it "
            "(apt-get install nats-server, or scripts/install-deps.sh) or set "
            "VIGIL_TEST_NATS_URL=nats://127.0.0.1:<port> to a running nats-server -js");
    }
    std::unique_ptr<NatsServer> s(new NatsServer());
    s->binary_ = binary;
    Status last = makeError("no attempt");
    for (int attempt = 0; attempt < 5; ++attempt) {  // a free port can be taken meanwhile
        s->port_ = vigil::testing::freeLoopbackPort();
        last = s->launch();
        if (last.ok()) return s;
    }
    return last.error();
}

Status NatsServer::launch() {
    const std::string log_path = store_.path() + "/server.log";
    const std::string port = std::to_string(port_);
    const std::string store = store_.path() + "/js";
    const pid_t pid = vigil::testing::spawnProcess(
        {binary_, "-a", "127.0.0.1", "-p", port, "-js", "-sd", store}, log_path, true);
    if (pid < 0) return makeError("start nats-server: {}", strerror(errno));
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (natsAnswers(port_)) {
            url_ = "nats://127.0.0.1:" + port;
            return okStatus();
        }
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            auto log = fs::readFile(log_path);
            return makeError("nats-server exited at start (port {}): {}", port_,
                             log.ok() ? *log : "");
        }
        std::this_thread::sleep_for(20ms);
    }
    stop();
    return makeError("nats-server did not answer on port {} within 15 s", port_);
}

NatsServer::~NatsServer() {
    stop();
}

void NatsServer::stop() {
    vigil::testing::stopProcess(pid_, SIGTERM, 5s);
    pid_ = -1;
}

Status NatsServer::restart() {
    stop();
    Status last = makeError("no attempt");
    for (int attempt = 0; attempt < 20; ++attempt) {  // the port may linger briefly
        last = launch();
        if (last.ok()) return okStatus();
        std::this_thread::sleep_for(250ms);
    }
    return last;
}

Result<std::string> NatsServer::sharedUrl() {
    return vigil::testing::sharedServerUrl<NatsServer>("VIGIL_TEST_NATS_URL",
                                                       "NATS tests need a JetStream server");
}

BusOptions testOptions(const std::string& backend, const std::string& dir, const std::string& url) {
    BusOptions o;
    o.backend = backend;
    o.partitions = 4;
    o.dir = dir + "/bus";
    o.fsync_interval = std::chrono::milliseconds(2);
    o.nats_url = url;
    const std::string id = crypto::randomHex(6);
    o.stream = "VIGILTEST_" + id;
    o.nats_subject_prefix = "vigiltest." + id;
    o.nats_timeout = std::chrono::milliseconds(5000);
    return o;
}

void dropNatsStream(const BusOptions& options) {
    if (options.backend != "nats") return;
    natsConnection* nc = nullptr;
    natsOptions* opts = nullptr;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, options.nats_url.c_str());
    natsOptions_SetTimeout(opts, 2000);
    natsOptions_SetAllowReconnect(opts, false);
    if (natsConnection_Connect(&nc, opts) == NATS_OK) {
        jsCtx* js = nullptr;
        if (natsConnection_JetStream(&js, nc, nullptr) == NATS_OK) {
            js_DeleteStream(js, options.stream.c_str(), nullptr, nullptr);
            jsCtx_Destroy(js);
        }
        natsConnection_Destroy(nc);
    }
    natsOptions_Destroy(opts);
}

std::vector<Delivery> fetchAtLeast(Consumer& c, size_t count, std::chrono::milliseconds timeout,
                                   size_t batch) {
    std::vector<Delivery> all;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (all.size() < count) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        auto got = c.fetch(batch, std::min(left, std::chrono::milliseconds(200)));
        if (!got.ok()) break;
        for (auto& d : *got) all.push_back(std::move(d));
    }
    return all;
}

Result<std::unique_ptr<Child>> Child::spawn(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return makeError("pipe: {}", strerror(errno));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return makeError("fork: {}", strerror(errno));
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(fds[1], 1);
        ::execv(args[0], args.data());
        _exit(127);
    }
    ::close(fds[1]);
    std::unique_ptr<Child> c(new Child());
    c->pid_ = pid;
    c->out_fd_ = fds[0];
    return c;
}

Child::~Child() {
    if (!reaped_ && pid_ > 0) {
        ::kill(pid_, SIGKILL);
        waitExit(pid_, 5s);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
}

bool Child::readLine(std::string& line, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto nl = pending_.find('\n'); nl != std::string::npos) {
            line = pending_.substr(0, nl);
            pending_.erase(0, nl + 1);
            return true;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{out_fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[65536];
        ssize_t n = ::read(out_fd_, buf, sizeof(buf));
        if (n <= 0) return false;
        pending_.append(buf, static_cast<size_t>(n));
    }
}

void Child::kill(int sig) {
    if (!reaped_ && pid_ > 0) ::kill(pid_, sig);
}

int Child::wait(std::chrono::milliseconds timeout) {
    int st = 0;
    if (reaped_) return 0;
    if (!waitExit(pid_, timeout, &st)) return -1;
    reaped_ = true;
    return st;
}

std::string agentKey(int agent) {
    return fmt::format("{:08x}-5ac1-4c3e-9a8b-agent{:07}", agent * 2654435761u, agent);
}

std::string valueFor(const std::string& key, int seq, size_t size) {
    std::string v = fmt::format("{}#{}#", key, seq);
    if (v.size() < size) v.append(size - v.size(), static_cast<char>('a' + seq % 26));
    return v;
}

int seqOf(const std::string& value) {
    size_t a = value.find('#');
    if (a == std::string::npos) return -1;
    size_t b = value.find('#', a + 1);
    if (b == std::string::npos) return -1;
    return std::stoi(value.substr(a + 1, b - a - 1));
}

std::string selfDir() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return ".";
    return fs::dirName(std::string(buf, static_cast<size_t>(n)));
}

}  // namespace vigil::bus::testing
