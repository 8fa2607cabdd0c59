// Detached processes, pid files and loopback probes for `vigilctl up|down|status`.
#include "server/vigilctl/stack_process.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>

#include "libs/common/fs.h"
#include "libs/common/http.h"

namespace vigil::vigilctl {
namespace {

using namespace std::chrono_literals;

// argv[0] of a live process ("" for a zombie, a kernel thread or a pid that is gone).
std::string processArgv0(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::string argv0;
    std::getline(in, argv0, '\0');
    return argv0;
}

bool endsWithPathComponent(const std::string& path, const std::string& name) {
    if (path.size() < name.size() ||
        path.compare(path.size() - name.size(), name.size(), name) != 0) {
        return false;
    }
    return path.size() == name.size() || path[path.size() - name.size() - 1] == '/';
}

sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    return a;
}

[[noreturn]] void childFail(int fd, int err) {
    (void)!::write(fd, &err, sizeof(err));
    ::_exit(127);
}

}  // namespace

Result<pid_t> spawnDetached(const std::vector<std::string>& argv, const std::string& output_path) {
    if (argv.empty()) return makeError("nothing to start");
    int out = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0) return makeError("open {}: {}", output_path, std::strerror(errno));
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2];
    if (null < 0 || ::pipe2(report, O_CLOEXEC) != 0) {
        const int err = errno;
        ::close(out);
        if (null >= 0) ::close(null);
        return makeError("start {}: {}", argv[0], std::strerror(err));
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int err = errno;
        for (int fd : {out, null, report[0], report[1]}) ::close(fd);
        return makeError("fork: {}", std::strerror(err));
    }
    if (pid == 0) {
        ::setsid();
        sigset_t empty;
        sigemptyset(&empty);
        ::sigprocmask(SIG_SETMASK, &empty, nullptr);
        for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) ::signal(sig, SIG_DFL);
        if (::dup2(null, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0)
            childFail(report[1], errno);
        // Every other descriptor is closed, but the error pipe (close-on-exec) is kept.
        const int keep = report[1];
        if (keep > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(keep - 1), 0u);
        ::syscall(SYS_close_range, static_cast<unsigned>(keep + 1), ~0u, 0u);
        ::execv(args[0], args.data());
        childFail(report[1], errno);
    }
    ::close(out);
    ::close(null);
    ::close(report[1]);
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(report[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n > 0) {
        ::waitpid(pid, nullptr, 0);
        return makeError("exec {}: {}", argv[0], std::strerror(child_errno));
    }
    return pid;
}

bool processRuns(pid_t pid, const std::string& binary) {
    if (pid <= 0) return false;
    // An ended child of ours is a zombie until reaped: it does not run. WNOWAIT keeps it
    // waitable, so childExitStatus can still tell how it ended.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid) {
        return false;
    }
    if (::kill(pid, 0) != 0 && errno != EPERM) return false;
    return endsWithPathComponent(processArgv0(pid), binary);
}

std::string childExitStatus(pid_t pid) {
    siginfo_t info{};
    // WNOWAIT: leaves the child waitable, so processRuns still sees that it ended.
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != pid) {
        return {};
    }
    if (info.si_code == CLD_EXITED) return "exit " + std::to_string(info.si_status);
    return "signal " + std::to_string(info.si_status);
}

std::vector<pid_t> processesUnder(const std::string& dir) {
    std::vector<pid_t> out;
    const std::string prefix = dir.back() == '/' ? dir : dir + "/";
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return out;
    while (dirent* e = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(e->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        char exe[4096];
        const std::string link = std::string("/proc/") + e->d_name + "/exe";
        const ssize_t n = ::readlink(link.c_str(), exe, sizeof(exe) - 1);
        if (n > 0 &&
            std::string_view(exe, static_cast<size_t>(n)).substr(0, prefix.size()) == prefix) {
            out.push_back(static_cast<pid_t>(pid));
        }
    }
    ::closedir(proc);
    return out;
}

std::optional<pid_t> readPidFile(const std::string& path) {
    auto text = fs::readFile(path, 64);
    if (!text.ok()) return std::nullopt;
    char* end = nullptr;
    const long pid = std::strtol(text->c_str(), &end, 10);
    if (pid <= 0 || end == text->c_str()) return std::nullopt;
    return static_cast<pid_t>(pid);
}

Status writePidFile(const std::string& path, pid_t pid) {
    return fs::writeFileAtomic(path, std::to_string(pid) + "\n", 0600);
}

bool loopbackPortFree(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    const sockaddr_in a = loopback(port);
    const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
    ::close(fd);
    return ok;
}

bool loopbackPortListening(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const sockaddr_in a = loopback(port);
    // On loopback a connect completes or is refused at once.
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
    ::close(fd);
    return ok;
}

int healthStatus(int port, std::chrono::milliseconds timeout) {
    auto r = http::get("127.0.0.1", port, "/healthz", timeout, 64 * 1024);
    return r.ok() ? r->status : 0;
}

std::string tailFile(const std::string& path, size_t lines) {
    std::ifstream in(path);
    std::deque<std::string> last;
    for (std::string line; std::getline(in, line);) {
        last.push_back(std::move(line));
        if (last.size() > lines) last.pop_front();
    }
    std::string out;
    for (const auto& l : last) out += "    " + l + "\n";
    return out;
}

std::vector<std::string> stopInOrder(const std::vector<pid_t>& pids,
                                     const std::vector<std::string>& binaries,
                                     std::chrono::milliseconds grace) {
    std::vector<std::string> killed;
    for (size_t i = 0; i < pids.size(); ++i) {
        if (!processRuns(pids[i], binaries[i])) continue;
        ::kill(pids[i], SIGTERM);
        ::kill(pids[i], SIGCONT);  // a stopped process handles SIGTERM only once it runs
        const auto deadline = std::chrono::steady_clock::now() + grace;
        while (processRuns(pids[i], binaries[i]) && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
        }
        if (processRuns(pids[i], binaries[i])) {
            ::kill(pids[i], SIGKILL);
            killed.push_back(binaries[i]);
            for (int n = 0; n < 40 && processRuns(pids[i], binaries[i]); ++n) {
                std::this_thread::sleep_for(50ms);
            }
        }
    }
    return killed;
}

}  // namespace vigil::vigilctl
