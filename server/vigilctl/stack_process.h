// Processes and ports of the all-in-one stack (`vigilctl up|down|status`): detached starts,
// pid files, liveness checks that survive pid reuse, loopback port probes, log tails.
// Stateless functions; not thread-safe where they fork (vigilctl is single-threaded).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "libs/common/result.h"

namespace vigil::vigilctl {

// Starts argv[0] with argv as a detached process: its own session (setsid), stdin /dev/null,
// stdout and stderr appended to `output_path` (0600), no other descriptor inherited. Fails when
// the exec fails (the child's errno is reported). The caller is the parent until it exits.
Result<pid_t> spawnDetached(const std::vector<std::string>& argv, const std::string& output_path);

// True while `pid` is a live process whose argv[0] ends with `binary` (a reused pid or a zombie
// is not). Reaps `pid` first when it is a child of this process that has exited.
bool processRuns(pid_t pid, const std::string& binary);

// The exit status of a child of this process that has ended ("exit 2", "signal 9"), or empty
// while it runs or when it is not our child.
std::string childExitStatus(pid_t pid);

// Live processes whose executable lies under `dir` (e.g. the plugins of an agent that was
// killed: they are no children of anyone we know).
std::vector<pid_t> processesUnder(const std::string& dir);

// Pid files: one decimal pid and a newline, written atomically (0600).
std::optional<pid_t> readPidFile(const std::string& path);
Status writePidFile(const std::string& path, pid_t pid);

// 127.0.0.1:port can be bound (SO_REUSEADDR, as servers bind): nobody listens there.
bool loopbackPortFree(int port);
// A TCP connection to 127.0.0.1:port succeeds at once.
bool loopbackPortListening(int port);

// GET http://127.0.0.1:port/healthz: its status, or 0 when nothing answered in `timeout`.
int healthStatus(int port, std::chrono::milliseconds timeout);

// The last `lines` lines of a text file (empty when it cannot be read).
std::string tailFile(const std::string& path, size_t lines);

// Sends SIGTERM to each pid in order and waits for each up to `grace` (after the previous one
// ended, so that a service is stopped after those that depend on it), then SIGKILL. Returns
// the names of those that needed SIGKILL. `binaries[i]` guards against pid reuse.
std::vector<std::string> stopInOrder(const std::vector<pid_t>& pids,
                                     const std::vector<std::string>& binaries,
                                     std::chrono::milliseconds grace);

}  // namespace vigil::vigilctl
