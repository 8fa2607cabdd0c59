// Agent self-upgrade: fetch, verify, test-run, install.
#include "agent/app/upgrade.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"

extern char** environ;

namespace vigil::agent {

Result<int> runCapture(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, std::string* output) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return makeError("pipe: {}", std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    char* empty_env[] = {nullptr};
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, &attr, args.data(), empty_env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(pipefd[1]);
    if (rc != 0) {
        ::close(pipefd[0]);
        return makeError("cannot run {}: {}", argv[0], std::strerror(rc));
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    bool timed_out = false;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{pipefd[0], POLLIN, 0};
        int pr = ::poll(&p, 1, static_cast<int>(left.count()));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        ssize_t n = ::read(pipefd[0], buf, sizeof(buf));
        if (n <= 0) break;
        if (output && output->size() < 65536) output->append(buf, static_cast<size_t>(n));
    }
    ::close(pipefd[0]);
    if (timed_out) ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) return makeError("{} did not finish within {} ms", argv[0], timeout.count());
    if (WIFSIGNALED(status)) return makeError("{} was killed by signal {}", argv[0], WTERMSIG(status));
    return WEXITSTATUS(status);
}

Status installUpgrade(const PluginSpec& spec, const UpgradeOptions& o) {
    auto log = vigil::log::get("upgrade");
    if (spec.sha256.empty()) return makeError("upgrade to {} refused: the config has no sha256", spec.version);
    if (spec.download_urls.empty()) return makeError("upgrade to {} refused: no download_urls", spec.version);
    const std::string staging = fs::joinPath(o.work_dir, "upgrade/" + spec.version);
    (void)fs::removeAll(staging);
    VIGIL_TRY(fs::makeDirs(fs::dirName(staging), 0700));

    std::vector<std::string> argv{o.fetch_helper, "--sha256", spec.sha256, "--type",
                                  spec.type.empty() ? "exec" : spec.type, "--dest", staging,
                                  "--name", o.product, "--max-bytes", std::to_string(o.max_bytes)};
    for (const auto& u : spec.download_urls) {
        argv.push_back("--url");
        argv.push_back(u);
    }
    std::string out;
    auto rc = runCapture(argv, o.timeout, &out);
    if (!rc.ok()) return makeError("upgrade to {}: {}", spec.version, rc.message());
    if (*rc != 0) return makeError("upgrade to {}: download failed: {}", spec.version, out);

    const std::string staged = fs::joinPath(staging, o.product);
    if (!spec.signature.empty()) {
        auto h = crypto::sha256FileHex(staged);
        if (!h.ok()) return makeError("upgrade to {}: {}", spec.version, h.message());
        if (*h != spec.signature) {
            return makeError("upgrade to {}: signature mismatch: want {}, got {}", spec.version, spec.signature, *h);
        }
    }
    std::string version_out;
    auto vrc = runCapture({staged, "--version"}, std::chrono::seconds(10), &version_out);
    if (!vrc.ok() || *vrc != 0) {
        return makeError("upgrade to {}: the new binary does not run: {}", spec.version,
                         vrc.ok() ? version_out : vrc.message());
    }
    if (version_out.find(spec.version) == std::string::npos) {
        return makeError("upgrade to {}: the new binary reports '{}'", spec.version, version_out);
    }

    // Install: copy next to the running executable, then rename over it (atomic; the running
    // process keeps its inode). Keep the previous binary as .old for rollback.
    const std::string next = o.self_exe + ".new";
    auto data = fs::readFile(staged, o.max_bytes);
    if (!data.ok()) return data.error();
    VIGIL_TRY(fs::writeFileAtomic(next, *data, 0755));
    const std::string old = o.self_exe + ".old";
    ::unlink(old.c_str());
    if (::link(o.self_exe.c_str(), old.c_str()) != 0) {
        log->warn("cannot keep {} as {}: {}", o.self_exe, old, std::strerror(errno));
    }
    if (::rename(next.c_str(), o.self_exe.c_str()) != 0) {
        int e = errno;
        ::unlink(next.c_str());
        return makeError("upgrade to {}: cannot replace {}: {}", spec.version, o.self_exe, std::strerror(e));
    }
    (void)fs::removeAll(staging);
    log->info("installed vigil-agent {} at {}", spec.version, o.self_exe);
    return okStatus();
}

}  // namespace vigil::agent
