// Child processes of tests: a binary started with its stdout and stderr in a file and killed if
// the test dies, awaited with a deadline, stopped with a signal and then SIGKILL; and the one
// server (NATS, PostgreSQL) a test binary shares between its tests. Header-only: the test
// environments of server/bus and server/manager/store use it without vigil_testsupport.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "libs/common/result.h"

namespace vigil::testing {

// Forks and execs argv[0] with stdout and stderr to `output` (appended to or truncated); the
// child gets SIGKILL when the test process dies and exits 127 when the exec fails. -1 when the
// fork fails.
inline pid_t spawnProcess(const std::vector<std::string>& argv, const std::string& output,
                          bool append = false) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    const int fd = ::open(output.c_str(), flags, 0644);
    if (fd < 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(fd);
    return pid;
}

// True once `pid` has ended (or is not our child) within `timeout`; its wait status in *status.
inline bool waitExit(pid_t pid, std::chrono::milliseconds timeout, int* status = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int st = 0;
        const pid_t r = ::waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            if (status) *status = st;
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// The exit code of `pid` (128 + signal when killed) if it ends within `timeout`; else it is
// killed and nullopt returned.
inline std::optional<int> exitCodeWithin(pid_t pid, std::chrono::milliseconds timeout) {
    int status = 0;
    if (!waitExit(pid, timeout, &status)) {
        ::kill(pid, SIGKILL);
        waitExit(pid, std::chrono::seconds(5));
        return std::nullopt;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Sends `sig`, then SIGKILL when `pid` has not ended within `grace`; reaps it.
inline void stopProcess(pid_t pid, int sig, std::chrono::milliseconds grace) {
    if (pid <= 0) return;
    ::kill(pid, sig);
    if (!waitExit(pid, grace)) {
        ::kill(pid, SIGKILL);
        waitExit(pid, std::chrono::seconds(5));
    }
}

// The whole file, or "" when it cannot be read.
inline std::string readFileText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The URL of the server a test binary shares: `env_var` when set (a server run by the caller),
// else one `Server::start()` started on first use and stopped at exit. A failed start is
// remembered and reported as "<what>: <why>" to every caller.
template <class Server>
Result<std::string> sharedServerUrl(const char* env_var, const char* what) {
    if (const char* url = std::getenv(env_var); url && *url) return std::string(url);
    static std::mutex mu;
    static std::unique_ptr<Server> server;  // destroyed (stopped) at exit
    static std::string error;
    std::lock_guard lock(mu);
    if (!server && error.empty()) {
        auto s = Server::start();
        if (s.ok()) {
            server = std::move(*s);
        } else {
            error = s.message();
        }
    }
    if (!server) return makeError("{}: {}", what, error);
    return server->url();
}

}  // namespace vigil::testing
