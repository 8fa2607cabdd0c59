// Plugin process start-up (fork + exec with a held child), signalling and reaping.
#include "agent/plugin_host/plugin_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace vigil::agent {
namespace {

constexpr int kPipeBytes = 1 << 20;  // fewer wake-ups for high-rate plugins; default is 64 KiB

struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    int release() {
        int f = fd;
        fd = -1;
        return f;
    }
};

Status makePipe(Fd& read_end, Fd& write_end) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return makeError("pipe2: {}", std::strerror(errno));
    read_end.fd = p[0];
    write_end.fd = p[1];
    return okStatus();
}

// In the child between fork and exec: only async-signal-safe calls from here on.
[[noreturn]] void childFail(int err_fd, int e) {
    ssize_t ignored = ::write(err_fd, &e, sizeof(e));
    (void)ignored;
    ::_exit(127);
}

void closeFrom(unsigned first, unsigned last, int max_fd) {
    if (first > last) return;
    if (::syscall(SYS_close_range, first, last, 0) == 0) return;
    for (unsigned fd = first; fd <= last && fd < static_cast<unsigned>(max_fd); ++fd) ::close(fd);
}

struct ChildSetup {
    int go_fd, err_fd, task_fd, record_fd, null_fd, stderr_fd;
    int max_fd;
    const char* dir;
    const char* exe;
    char* const* argv;
    char* const* envp;
};

[[noreturn]] void runChild(const ChildSetup& s) {
    int err = s.err_fd;
    // Dispositions the agent set (SIGPIPE ignored, handlers) and its mask must not leak into
    // the plugin: ignored signals stay ignored across exec.
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    }
    // glibc's sigaction refuses its internal signals (32, 33); an agent started with them
    // ignored (some job launchers do) would pass that on, so reset them with the raw syscall.
    struct KernelSigaction {
        void* handler;
        unsigned long flags;
        void* restorer;
        unsigned long mask;
    } kdfl{nullptr, 0, nullptr, 0};
    for (int sig = 32; sig < SIGRTMIN; ++sig) ::syscall(SYS_rt_sigaction, sig, &kdfl, nullptr, sizeof(kdfl.mask));
    sigset_t empty;
    sigemptyset(&empty);
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    ::setpgid(0, 0);

    // Wait until the parent has put us into our cgroup.
    char go = 0;
    ssize_t r;
    do {
        r = ::read(s.go_fd, &go, 1);
    } while (r < 0 && errno == EINTR);
    if (r != 1) ::_exit(127);

    // Move every fd we keep above the target numbers first, so dup2 never clobbers a source.
    err = ::fcntl(err, F_DUPFD_CLOEXEC, 10);
    if (err < 0) childFail(s.err_fd, errno);
    int task = ::fcntl(s.task_fd, F_DUPFD_CLOEXEC, 10);
    int rec = ::fcntl(s.record_fd, F_DUPFD_CLOEXEC, 10);
    int null = ::fcntl(s.null_fd, F_DUPFD_CLOEXEC, 10);
    int serr = ::fcntl(s.stderr_fd, F_DUPFD_CLOEXEC, 10);
    if (task < 0 || rec < 0 || null < 0 || serr < 0) childFail(err, errno);
    // dup2 clears FD_CLOEXEC on the new numbers: exactly 0-4 survive the exec.
    if (::dup2(null, 0) < 0 || ::dup2(null, 1) < 0 || ::dup2(serr, 2) < 0 || ::dup2(task, 3) < 0 ||
        ::dup2(rec, 4) < 0) {
        childFail(err, errno);
    }
    closeFrom(5, static_cast<unsigned>(err) - 1, s.max_fd);
    closeFrom(static_cast<unsigned>(err) + 1, ~0u, s.max_fd);
    if (::chdir(s.dir) != 0) childFail(err, errno);
    ::execve(s.exe, s.argv, s.envp);
    childFail(err, errno);
}

}  // namespace

int openPidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) return fd;  // pidfds are always close-on-exec
#endif
    return -1;
}

bool exitedWithoutReaping(pid_t pid) {
    siginfo_t si;
    std::memset(&si, 0, sizeof(si));
    if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
        return errno == ECHILD;  // already reaped elsewhere: treat as gone
    }
    return si.si_pid == pid;
}

std::string reap(pid_t pid) {
    int status = 0;
    pid_t r;
    do {
        r = ::waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return fmt::format("exit status unknown ({})", std::strerror(errno));
    if (WIFEXITED(status)) return fmt::format("exited with code {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        const char* abbrev = sigabbrev_np(WTERMSIG(status));
        if (abbrev) return fmt::format("killed by signal SIG{}", abbrev);
        return fmt::format("killed by signal {}", WTERMSIG(status));
    }
    return fmt::format("ended with wait status {:#x}", status);
}

void signalGroup(pid_t pgid, int sig) {
    if (pgid > 1) ::kill(-pgid, sig);
}

Result<SpawnedProcess> spawnPlugin(const SpawnRequest& req,
                                   const std::function<void(pid_t)>& before_exec) {
    Fd task_r, task_w, rec_r, rec_w, go_r, go_w, err_r, err_w;
    VIGIL_TRY(makePipe(task_r, task_w));
    VIGIL_TRY(makePipe(rec_r, rec_w));
    VIGIL_TRY(makePipe(go_r, go_w));
    VIGIL_TRY(makePipe(err_r, err_w));
    Fd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (null_fd.fd < 0) return makeError("cannot open /dev/null: {}", std::strerror(errno));
    Fd stderr_fd(::open(req.stderr_path.c_str(),
                        O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (stderr_fd.fd < 0) {
        return makeError("cannot open {}: {}", req.stderr_path, std::strerror(errno));
    }
    struct stat st;
    if (::fstat(stderr_fd.fd, &st) == 0 &&
        static_cast<uint64_t>(st.st_size) > req.max_stderr_bytes) {
        if (::ftruncate(stderr_fd.fd, 0) != 0) { /* keep appending; not worth failing a start */
        }
    }
    ::fcntl(rec_r.fd, F_SETPIPE_SZ, kPipeBytes);  // best effort (fs.pipe-max-size)

    std::string exe = req.exe;
    std::string dir = req.dir;
    std::string env = "DETAIL=" + req.detail;
    char* argv[] = {exe.data(), nullptr};
    char* envp[] = {env.data(), nullptr};
    struct rlimit nofile;
    int max_fd = 65536;
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
        max_fd = static_cast<int>(nofile.rlim_cur);
    }
    ChildSetup setup{go_r.fd, err_w.fd,    task_r.fd,   rec_w.fd, null_fd.fd, stderr_fd.fd,
                     max_fd,  dir.c_str(), exe.c_str(), argv,     envp};

    pid_t pid = ::fork();
    if (pid < 0) return makeError("fork: {}", std::strerror(errno));
    if (pid == 0) runChild(setup);

    // Parent. Both sides call setpgid so the group exists before we might signal it.
    ::setpgid(pid, pid);
    task_r.reset();
    rec_w.reset();
    go_r.reset();
    err_w.reset();
    null_fd.reset();
    stderr_fd.reset();

    SpawnedProcess out;
    out.pid = pid;
    out.pidfd = openPidfd(pid);
    if (before_exec) before_exec(pid);

    char go = 'g';
    ssize_t w;
    do {
        w = ::write(go_w.fd, &go, 1);
    } while (w < 0 && errno == EINTR);
    go_w.reset();

    // EOF on the error pipe means execve succeeded (the pipe is close-on-exec).
    int child_errno = 0;
    ssize_t n;
    do {
        n = ::read(err_r.fd, &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    if (w != 1 || n > 0) {
        if (w != 1) ::kill(pid, SIGKILL);
        reap(pid);
        if (out.pidfd >= 0) ::close(out.pidfd);
        if (n == static_cast<ssize_t>(sizeof(child_errno))) {
            return makeError("cannot execute {}: {}", req.exe, std::strerror(child_errno));
        }
        return makeError("cannot start {}: the child failed before exec", req.exe);
    }
    ::fcntl(task_w.fd, F_SETFL, O_NONBLOCK);
    ::fcntl(rec_r.fd, F_SETFL, O_NONBLOCK);
    out.task_fd = task_w.release();
    out.record_fd = rec_r.release();
    return out;
}

}  // namespace vigil::agent
