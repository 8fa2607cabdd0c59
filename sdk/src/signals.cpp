// Stop-signal handling shared by every Client in the process: a flag plus a self-pipe that is
// written once and never drained, so every poller (flusher threads, receiveTask) wakes.
#include "vigil/sdk/signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

namespace vigil::sdk {
namespace {

std::atomic<int> g_signal{0};
std::atomic<int> g_read_fd{-1};
int g_write_fd = -1;  // set once before the handlers are installed

void onStopSignal(int sig) {
    const int saved_errno = errno;
    int expected = 0;
    if (g_signal.compare_exchange_strong(expected, sig)) {
        const char byte = 1;
        // Best effort: a full pipe already wakes everyone.
        [[maybe_unused]] ssize_t n = ::write(g_write_fd, &byte, 1);
    }
    errno = saved_errno;
}

}  // namespace

Status installSignalHandlers() {
    static std::mutex mu;
    std::lock_guard<std::mutex> lock(mu);
    if (g_read_fd.load() < 0) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
            return Error{std::string("installSignalHandlers: pipe2: ") + std::strerror(errno)};
        }
        // Keep clear of fds 3 and 4: when a plugin is started without them (by hand), the
        // self-pipe must not take their numbers and pose as the agent's pipes.
        for (int& fd : fds) {
            const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
            if (high >= 0) {
                ::close(fd);
                fd = high;
            }
        }
        g_write_fd = fds[1];
        g_read_fd.store(fds[0]);
    }
    struct sigaction sa {};
    sa.sa_handler = onStopSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : {SIGTERM, SIGINT}) {
        if (::sigaction(sig, &sa, nullptr) != 0) {
            return Error{std::string("installSignalHandlers: sigaction: ") + std::strerror(errno)};
        }
    }
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (::sigaction(SIGPIPE, &ign, nullptr) != 0) {
        return Error{std::string("installSignalHandlers: sigaction: ") + std::strerror(errno)};
    }
    return okStatus();
}

bool stopSignalReceived() {
    return g_signal.load(std::memory_order_relaxed) != 0;
}

int stopSignalNumber() {
    return g_signal.load();
}

int stopSignalFd() {
    return g_read_fd.load();
}

}  // namespace vigil::sdk
