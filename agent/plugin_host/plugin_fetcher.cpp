// Spec validation, executable verification and vigil-fetch invocation.
#include "agent/plugin_host/plugin_fetcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"

extern char** environ;

namespace vigil::agent {
namespace {

constexpr size_t kMaxCapture = 64 * 1024;

bool isHex64(const std::string& s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c));
           });
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    s.erase(0, i);
    if (s.size() > 2000) s = "..." + s.substr(s.size() - 2000);
    return s;
}

std::string executablePath(const PluginSpec& spec, const std::string& dir) {
    return fs::joinPath(dir, spec.name);
}

struct Manifest {
    std::string archive_sha256;
    std::string executable_sha256;
};

std::string stringField(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Manifest readManifest(const std::string& dir) {
    Manifest m;
    auto text = fs::readFile(fs::joinPath(dir, kManifestFile), 64 * 1024);
    if (!text.ok()) return m;
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return m;
    m.archive_sha256 = lower(stringField(j, "archive_sha256"));
    m.executable_sha256 = lower(stringField(j, "executable_sha256"));
    return m;
}

// "missing" rather than an error: the caller fetches in both cases.
std::string hashOrState(const std::string& path, std::string* state) {
    auto h = crypto::sha256FileHex(path);
    if (h.ok()) return *h;
    *state = fs::exists(path) ? h.message() : "missing";
    return {};
}

std::string mismatchMessage(const std::string& want, const std::string& got,
                            const std::string& state) {
    if (got.empty()) return "executable " + state + " (want sha256 " + want + ")";
    return "sha256 mismatch: want " + want + ", got " + got;
}

// Reads both pipes until EOF or the deadline; false on timeout.
bool capture(int out_fd, int err_fd, std::string& out, std::string& err,
             std::chrono::steady_clock::time_point deadline, const std::atomic<bool>* cancel) {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    std::string* bufs[2] = {&out, &err};
    int open_count = 2;
    char buf[8192];
    while (open_count > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        if (cancel && cancel->load()) return false;
        int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 100)));
        if (n < 0 && errno != EINTR) return false;
        if (n <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = ::read(fds[i].fd, buf, sizeof(buf));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                fds[i].fd = -1;
                --open_count;
                continue;
            }
            if (bufs[i]->size() < kMaxCapture) bufs[i]->append(buf, static_cast<size_t>(r));
        }
    }
    return true;
}

}  // namespace

bool isValidPluginName(const std::string& name) {
    if (name.empty() || name.size() > 128) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
}

PluginSpec normalizeSpec(PluginSpec spec) {
    if (spec.type.empty()) spec.type = "exec";
    spec.sha256 = lower(spec.sha256);
    spec.signature = lower(spec.signature);
    return spec;
}

Status validateSpec(const PluginSpec& spec) {
    if (!isValidPluginName(spec.name)) {
        return makeError("invalid plugin name '{}' (allowed: 1-128 of [A-Za-z0-9_-])", spec.name);
    }
    if (spec.type != "exec" && spec.type != "tar.gz") {
        return makeError("unknown type '{}' (exec or tar.gz)", spec.type);
    }
    if (spec.sha256.empty() && spec.signature.empty()) {
        return makeError(
            "refused: neither sha256 nor signature given, the executable cannot be "
            "verified");
    }
    if (!spec.sha256.empty() && !isHex64(spec.sha256)) {
        return makeError("sha256 '{}' is not 64 hex digits", spec.sha256);
    }
    if (!spec.signature.empty() && !isHex64(spec.signature)) {
        return makeError("signature '{}' is not a sha256 (64 hex digits)", spec.signature);
    }
    return okStatus();
}

std::string expectedExecutableSha256(const PluginSpec& spec, const std::string& dir) {
    if (!spec.signature.empty()) return lower(spec.signature);
    if (spec.type == "exec") return lower(spec.sha256);
    // tar.gz without a signature: the archive hash was checked at fetch time; the manifest
    // written then says what the extracted executable must hash to.
    Manifest m = readManifest(dir);
    if (!m.archive_sha256.empty() && m.archive_sha256 == lower(spec.sha256)) {
        return m.executable_sha256;
    }
    return {};
}

Result<std::string> ensureExecutable(const FetchOptions& options, const PluginSpec& spec,
                                     const std::string& dir) {
    const std::string exe = executablePath(spec, dir);
    std::string want = expectedExecutableSha256(spec, dir);
    std::string state;
    std::string got = hashOrState(exe, &state);
    if (!want.empty() && got == want) return got;

    std::string problem =
        want.empty() ? std::string("not installed (no manifest for archive ") + spec.sha256 + ")"
                     : mismatchMessage(want, got, state);
    if (spec.download_urls.empty()) {
        return makeError("{}; no download_urls to fetch it from", problem);
    }
    if (spec.sha256.empty()) {
        return makeError("{}; cannot download without the sha256 of the download", problem);
    }
    auto fetched = runFetchHelper(options, spec, dir);
    if (!fetched.ok()) return makeError("{}; download failed: {}", problem, fetched.message());
    if (spec.type == "tar.gz" && spec.signature.empty()) {
        nlohmann::json m = {{"archive_sha256", lower(spec.sha256)},
                            {"executable_sha256", fetched->executable_sha256}};
        VIGIL_TRY(fs::writeFileAtomic(fs::joinPath(dir, kManifestFile), m.dump() + "\n"));
        want = fetched->executable_sha256;
    }
    got = hashOrState(exe, &state);
    if (got != want) return makeError("{}", mismatchMessage(want, got, state));
    return got;
}

Result<FetchOutcome> runFetchHelper(const FetchOptions& options, const PluginSpec& spec,
                                    const std::string& dir) {
    if (options.helper.empty() || ::access(options.helper.c_str(), X_OK) != 0) {
        return makeError("fetch helper '{}' is not executable", options.helper);
    }
    const size_t url_count = std::max<size_t>(1, spec.download_urls.size());
    const int64_t per_url_ms = std::max<int64_t>(1000, options.timeout.count() / url_count);
    std::vector<std::string> args = {options.helper};
    for (const auto& url : spec.download_urls) {
        args.push_back("--url");
        args.push_back(url);
    }
    args.insert(args.end(), {"--sha256", lower(spec.sha256), "--type", spec.type, "--dest", dir,
                             "--name", spec.name, "--max-bytes", std::to_string(options.max_bytes),
                             "--timeout-ms", std::to_string(per_url_ms)});
    if (!options.ca_file.empty()) {
        args.push_back("--ca-file");
        args.push_back(options.ca_file);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return makeError("pipe2: {}", std::strerror(errno));
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        return makeError("pipe2: {}", std::strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t mask, all;
    sigemptyset(&mask);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);  // its own group: a timeout kills all of it
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, options.helper.c_str(), &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        return makeError("cannot run {}: {}", options.helper, std::strerror(rc));
    }

    std::string out, err;
    auto deadline = std::chrono::steady_clock::now() + options.timeout;
    bool finished = capture(out_pipe[0], err_pipe[0], out, err, deadline, options.cancel);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    if (!finished) ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!finished && options.cancel && options.cancel->load()) {
        return makeError("cancelled: the plugin host is stopping");
    }
    if (!finished) {
        return makeError("timed out after {} ms; {}", options.timeout.count(), trim(err));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::string msg = trim(err);
        if (msg.empty()) {
            msg = WIFEXITED(status)
                      ? "vigil-fetch exited with code " + std::to_string(WEXITSTATUS(status))
                      : "vigil-fetch killed by signal " + std::to_string(WTERMSIG(status));
        }
        return Error{msg};
    }
    auto j = nlohmann::json::parse(out, nullptr, false);
    auto ok = j.is_object() ? j.find("ok") : j.end();
    if (j.is_discarded() || !j.is_object() || ok == j.end() || *ok != true) {
        return makeError("vigil-fetch printed an unexpected result: {}", trim(out));
    }
    FetchOutcome outcome;
    outcome.url = stringField(j, "url");
    outcome.sha256 = stringField(j, "sha256");
    outcome.executable_sha256 = lower(stringField(j, "executable_sha256"));
    return outcome;
}

}  // namespace vigil::agent
