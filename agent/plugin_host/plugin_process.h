// Starting, signalling and reaping one plugin process exactly as DESIGN.md §3 describes:
// own process group, cwd = plugin dir, environment only DETAIL, fd 3 tasks, fd 4 records,
// stdin/stdout /dev/null, stderr appended to <name>.stderr, every other fd closed.
// Stateless functions; safe to call from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "libs/common/result.h"

namespace vigil::agent {

struct SpawnRequest {
    std::string exe;          // absolute path of the executable
    std::string dir;          // working directory
    std::string detail;       // DETAIL=...
    std::string stderr_path;  // appended to; truncated first when above max_stderr_bytes
    uint64_t max_stderr_bytes = 4ull << 20;
};

// The agent's ends of a started plugin. Every fd is O_CLOEXEC; task_fd and record_fd are
// non-blocking. The caller owns and closes them.
struct SpawnedProcess {
    pid_t pid = -1;
    int pidfd = -1;      // -1 when pidfd_open is unavailable (poll with exitedWithoutReaping)
    int task_fd = -1;    // write end of the plugin's fd 3
    int record_fd = -1;  // read end of the plugin's fd 4
};

// Forks the plugin; the child waits until `before_exec(pid)` has run in the parent (used to
// move it into its cgroup before it runs any plugin code), then execs. A failing before_exec
// is logged by the caller's callback and does not stop the start. Fails when the executable
// cannot be executed (the child's execve errno is reported back through a CLOEXEC pipe).
Result<SpawnedProcess> spawnPlugin(const SpawnRequest& req,
                                   const std::function<void(pid_t)>& before_exec);

// pidfd_open(2) when the kernel has it, else -1.
int openPidfd(pid_t pid);

// True when `pid` (our child) has exited; it stays a zombie (so its process-group id cannot be
// reused) until reap().
bool exitedWithoutReaping(pid_t pid);

// Reaps our child `pid` (blocking: call once it has exited) and describes how it ended:
// "exited with code 3", "killed by signal SIGSEGV".
std::string reap(pid_t pid);

// Sends `sig` to the process group `pgid`; ignores ESRCH.
void signalGroup(pid_t pgid, int sig);

}  // namespace vigil::agent
