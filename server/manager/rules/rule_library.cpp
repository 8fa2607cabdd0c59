// The managed rules directory: listing (with the builtin rules of hub_paths) through the hub's
// loader, staged changes checked by `vigil-hub check`, installs by rename, the .disabled list.
#include "server/manager/rules/rule_library.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <tuple>

#include "libs/common/fs.h"
#include "server/hub/rule_loader.h"

extern char** environ;

namespace vigil::manager::rules {

namespace {

namespace stdfs = std::filesystem;
constexpr size_t kMaxCheckOutput = 1 << 20;
constexpr size_t kMaxDiagnostics = 200;

bool isRuleFile(const stdfs::path& p) {
    const std::string ext = p.extension().string();
    return ext == ".yaml" || ext == ".yml";
}

struct ProcessOutput {
    int exit_code = -1;
    std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] with its output captured; killed after `timeout`.
Result<ProcessOutput> runProcess(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return makeError("pipe: {}", std::strerror(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // the manager's sockets stay here
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        return makeError("cannot run {}: {}", argv[0], std::strerror(rc));
    }
    ProcessOutput out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    char buf[8192];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        ssize_t got = ::read(fds[0], buf, sizeof(buf));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        if (out.output.size() < kMaxCheckOutput) out.output.append(buf, static_cast<size_t>(got));
    }
    ::close(fds[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        return makeError("{} did not finish within {} ms (killed)", argv[0], timeout.count());
    }
    out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return out;
}

// The fingerprint of the rule files and disabled lists of `paths` (directories or files):
// names, sizes, modification times.
std::string fingerprint(const std::vector<std::string>& paths) {
    std::vector<std::string> parts;
    auto add = [&](const stdfs::path& p) {
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) return;
        parts.push_back(p.string() + ":" + std::to_string(st.st_size) + ":" +
                        std::to_string(st.st_mtim.tv_sec) + "." +
                        std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino));
    };
    for (const auto& path : paths) {
        std::error_code ec;
        if (!stdfs::is_directory(path, ec)) {
            add(path);
            continue;
        }
        for (const auto& e : stdfs::directory_iterator(path, ec)) {
            if (isRuleFile(e.path()) || e.path().filename() == hub::kDisabledListFile)
                add(e.path());
        }
    }
    std::sort(parts.begin(), parts.end());
    std::string out;
    for (const auto& p : parts) out += p + "\n";
    return out;
}

// "dir/x.yaml:3:4: ..." -> "x.yaml:3:4: ..." for every occurrence of `dir`/.
std::string relative(std::string text, const std::string& dir) {
    const std::string prefix = dir + "/";
    for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at)) {
        text.erase(at, prefix.size());
    }
    return text;
}

// A removal that leaves nothing behind, for the staging directory.
struct StagingDir {
    std::string path;
    ~StagingDir() {
        if (!path.empty()) {
            std::error_code ec;
            stdfs::remove_all(path, ec);
        }
    }
};

}  // namespace

std::string packName(std::string_view text) {
    for (std::string_view ext : {".yaml", ".yml"}) {
        if (text.size() > ext.size() && text.substr(text.size() - ext.size()) == ext) {
            text.remove_suffix(ext.size());
            break;
        }
    }
    if (text.empty() || text.size() > 64) return {};
    if (!std::isalnum(static_cast<unsigned char>(text[0]))) return {};
    for (unsigned char c : text) {
        if (!std::isalnum(c) && c != '.' && c != '_' && c != '-') return {};
    }
    return std::string(text);
}

RuleLibrary::RuleLibrary(RulesConfig config) : config_(std::move(config)) {
    while (config_.dir.size() > 1 && config_.dir.back() == '/') config_.dir.pop_back();
    // Staging directories a crash left behind (the hubs ignore them; they only take room).
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(config_.dir, ec)) {
        if (e.is_directory() && e.path().filename().string().rfind(".staging-", 0) == 0)
            stdfs::remove_all(e.path(), ec);
    }
}

std::string RuleLibrary::hubBin() const {
    return config_.hub_bin.empty() ? defaultHubBin() : config_.hub_bin;
}

Result<RuleListing> RuleLibrary::list() {
    std::lock_guard lock(mu_);
    std::error_code ec;
    if (!stdfs::is_directory(config_.dir, ec)) {
        return makeError("the managed rules directory {} does not exist", config_.dir);
    }
    std::vector<std::string> paths{config_.dir};
    paths.insert(paths.end(), config_.hub_paths.begin(), config_.hub_paths.end());
    std::string key = fingerprint(paths);
    if (key == cache_key_ && !key.empty()) return cache_;
    hub::LoadResult loaded = hub::loadRules(paths);
    const std::string prefix = config_.dir + "/";
    auto managed = [&](const std::string& file) { return file.rfind(prefix, 0) == 0; };
    RuleListing out;
    for (const auto& r : loaded.rules) {
        RuleInfo i;
        i.id = r.id;
        i.name = r.name;
        i.kind = r.kind == hub::Rule::Kind::kSigma ? "sigma" : "vigil";
        i.severity = hub::severityName(r.severity);
        i.data_types = r.data_types;
        i.source = managed(r.loc.file) ? "managed" : "builtin";
        i.file = managed(r.loc.file) ? r.loc.file.substr(prefix.size()) : r.loc.file;
        i.line = r.loc.line;
        i.enabled = r.enabled;
        i.whitelist = r.whitelist;
        i.applies_to = r.applies_to;
        i.description = r.description;
        i.mitre = r.mitre;
        out.rules.push_back(std::move(i));
    }
    for (const auto& d : loaded.diagnostics) {
        if (managed(d.loc.file)) out.diagnostics.push_back(relative(d.toString(), config_.dir));
    }
    for (const auto& e : stdfs::directory_iterator(config_.dir, ec)) {
        if (e.is_regular_file() && isRuleFile(e.path()))
            out.packs.push_back(e.path().stem().string());
    }
    std::sort(out.packs.begin(), out.packs.end());
    cache_key_ = std::move(key);
    cache_ = out;
    return out;
}

namespace {

// The disabled list of a rules directory ("" when it has none).
Result<std::string> readDisabledList(const std::string& dir) {
    const std::string path = dir + "/" + hub::kDisabledListFile;
    if (!vigil::fs::exists(path)) return std::string();
    return vigil::fs::readFile(path, 16 << 20);
}

bool lists(const std::string& disabled_list, const std::string& id) {
    const auto ids = hub::parseDisabledList(disabled_list);
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

Result<EnableResult> RuleLibrary::setEnabled(const std::string& id, bool enabled) {
    auto listing = list();
    if (!listing.ok()) return listing.error();
    auto rule = std::find_if(listing->rules.begin(), listing->rules.end(),
                             [&](const RuleInfo& r) { return r.id == id; });
    if (rule == listing->rules.end()) return EnableResult::kNoSuchRule;
    std::lock_guard lock(mu_);
    const std::string path = config_.dir + "/" + hub::kDisabledListFile;
    auto text = readDisabledList(config_.dir);
    if (!text.ok()) return text.error();
    // Disabled by a list of hub_paths too (read-only to the manager): enabling cannot work.
    if (enabled && !rule->enabled) {
        for (const auto& p : config_.hub_paths) {
            auto other = readDisabledList(p);
            if (!other.ok()) return other.error();
            if (lists(*other, id)) return EnableResult::kDisabledElsewhere;
        }
    }
    if (lists(*text, id) != enabled) return EnableResult::kUnchanged;
    std::string next;
    if (!enabled) {
        next = *text;
        if (!next.empty() && next.back() != '\n') next += '\n';
        next += id + "\n";
    } else {
        // Drops the lines naming `id` (comments elsewhere stay).
        size_t i = 0;
        while (i < text->size()) {
            size_t j = text->find('\n', i);
            const size_t end = j == std::string::npos ? text->size() : j + 1;
            std::string_view line(text->data() + i, end - i);
            if (hub::parseDisabledList(line) != std::vector<std::string>{id}) next += line;
            i = end;
        }
    }
    if (next.empty()) next = "# rules disabled by vigil-manager, one id per line\n";
    VIGIL_TRY(vigil::fs::writeFileAtomic(path, next));
    return EnableResult::kChanged;
}

Result<std::string> RuleLibrary::packFile(const std::string& name) const {
    for (const char* ext : {".yaml", ".yml"}) {
        const std::string file = name + ext;
        if (vigil::fs::exists(config_.dir + "/" + file)) return file;
    }
    return std::string();
}

Result<CheckReport> RuleLibrary::check(
    const std::map<std::string, std::optional<std::string>>& changes) {
    StagingDir staging;
    std::string tmpl = config_.dir + "/.staging-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
        return makeError("cannot create a staging directory in {}: {}", config_.dir,
                         std::strerror(errno));
    }
    staging.path = tmpl;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(config_.dir, ec)) {
        const auto& p = e.path();
        if (!e.is_regular_file() || (!isRuleFile(p) && p.filename() != hub::kDisabledListFile))
            continue;
        if (changes.count(p.filename().string())) continue;
        stdfs::copy_file(p, stdfs::path(staging.path) / p.filename(), ec);
        if (ec) return makeError("copy {}: {}", p.string(), ec.message());
    }
    if (ec) return makeError("read {}: {}", config_.dir, ec.message());
    for (const auto& [file, text] : changes) {
        if (!text) continue;
        VIGIL_TRY(vigil::fs::writeFileAtomic(staging.path + "/" + file, *text));
    }
    std::vector<std::string> argv{hubBin(), "check", staging.path};
    argv.insert(argv.end(), config_.hub_paths.begin(), config_.hub_paths.end());
    auto run = runProcess(argv, config_.check_timeout);
    if (!run.ok()) return run.error();
    CheckReport report;
    report.exit_code = run->exit_code;
    report.ok = run->exit_code == 0;
    const std::string output = relative(run->output, staging.path);
    size_t i = 0;
    while (i < output.size()) {
        size_t j = output.find('\n', i);
        if (j == std::string::npos) j = output.size();
        std::string line = output.substr(i, j - i);
        i = j + 1;
        if (line.empty()) continue;
        if (line.find(" loaded, ") != std::string::npos &&
            line.find(" failed") != std::string::npos)
            report.summary = line;
        else if (report.diagnostics.size() < kMaxDiagnostics)
            report.diagnostics.push_back(std::move(line));
    }
    if (run->exit_code != 0 && run->exit_code != 1) {
        return makeError("{} check exited with {}: {}", argv[0], run->exit_code,
                         output.substr(0, 500));
    }
    return report;
}

Result<CheckReport> RuleLibrary::installPack(const std::string& name, std::string_view text) {
    const std::string pack = packName(name);
    if (pack.empty()) return makeError("bad pack name '{}'", name.substr(0, 80));
    std::lock_guard lock(mu_);
    return installLocked(pack, text, nullptr);
}

Result<CheckReport> RuleLibrary::installLocked(
    const std::string& pack, std::string_view text,
    const std::function<std::string(std::string)>& rewrite) {
    auto existing = packFile(pack);
    if (!existing.ok()) return existing.error();
    std::map<std::string, std::optional<std::string>> changes;
    if (!existing->empty() && *existing != pack + ".yaml") changes[*existing] = std::nullopt;
    changes[pack + ".yaml"] = std::string(text);
    auto report = check(changes);
    if (report.ok() && rewrite) {
        for (auto& d : report->diagnostics) d = rewrite(std::move(d));
    }
    if (!report.ok() || !report->ok) return report;
    VIGIL_TRY(vigil::fs::writeFileAtomic(config_.dir + "/" + pack + ".yaml", text));
    if (!existing->empty() && *existing != pack + ".yaml") {
        std::error_code ec;
        stdfs::remove(config_.dir + "/" + *existing, ec);
    }
    return report;
}

Result<CheckReport> RuleLibrary::installArchive(const std::string& name, std::string_view tar_gz) {
    constexpr size_t kMaxFiles = 1000;
    constexpr uint64_t kMaxUnpacked = 64ull << 20;
    const std::string pack = packName(name);
    if (pack.empty()) return makeError("bad pack name '{}'", name.substr(0, 80));
    const std::string archive = pack + ".tar.gz";
    auto refused = [&](std::string why) {
        CheckReport r;
        r.diagnostics.push_back(archive + ": " + std::move(why));
        return r;
    };
    std::lock_guard lock(mu_);
    StagingDir staging;
    std::string tmpl = config_.dir + "/.staging-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
        return makeError("cannot create a staging directory in {}: {}", config_.dir,
                         std::strerror(errno));
    }
    staging.path = tmpl;
    const std::string file = staging.path + "/pack.tar.gz";
    const std::string out = staging.path + "/files";
    VIGIL_TRY(vigil::fs::writeFileAtomic(file, tar_gz, 0600));
    VIGIL_TRY(vigil::fs::makeDirs(out, 0700));
    // The listing first: sizes are summed before anything is unpacked (a gzip bomb).
    auto listing = runProcess({"/bin/tar", "-tvzf", file}, config_.check_timeout);
    if (!listing.ok()) return listing.error();
    if (listing->exit_code != 0) return refused("not a readable .tar.gz");
    uint64_t unpacked = 0;
    size_t entries = 0;
    std::istringstream lines(listing->output);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream fields(line);
        std::string mode, owner;
        uint64_t size = 0;
        if (!(fields >> mode >> owner >> size)) continue;
        unpacked += size;
        ++entries;
    }
    if (unpacked > kMaxUnpacked || entries > 10 * kMaxFiles) {
        return refused("over the limit of 64 MiB unpacked or 10000 entries");
    }
    auto extracted = runProcess({"/bin/tar", "-xzf", file, "-C", out, "--no-same-owner",
                                 "--no-same-permissions", "--no-overwrite-dir"},
                                config_.check_timeout);
    if (!extracted.ok()) return extracted.error();
    if (extracted->exit_code != 0) {
        return refused("cannot unpack: " + extracted->output.substr(0, 300));
    }
    std::vector<std::string> files;
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(out, ec);
         !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        // Regular files only: a symbolic link could point anywhere.
        if (it->symlink_status(ec).type() == stdfs::file_type::regular && isRuleFile(it->path()))
            files.push_back(stdfs::relative(it->path(), out, ec).string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) return refused("holds no .yaml or .yml file");
    if (files.size() > kMaxFiles) return refused("holds more than 1000 rule files");
    // Joined as documents; (first line, lines, path) of each part for the diagnostics.
    std::string text;
    std::vector<std::tuple<int, int, std::string>> parts;
    int line = 1;
    for (const auto& f : files) {
        auto content = vigil::fs::readFile(out + "/" + f, kMaxUnpacked);
        if (!content.ok()) return content.error();
        std::string shown = f;  // a file name may hold a line break: not in the YAML
        std::replace_if(
            shown.begin(), shown.end(), [](char c) { return c == '\n' || c == '\r'; }, '?');
        const std::string header = (text.empty() ? "" : "---\n") + ("# from: " + shown + "\n");
        text += header;
        line += static_cast<int>(std::count(header.begin(), header.end(), '\n'));
        std::string body = std::move(*content);
        if (!body.empty() && body.back() != '\n') body += '\n';
        const int count = static_cast<int>(std::count(body.begin(), body.end(), '\n'));
        parts.emplace_back(line, count, f);
        line += count;
        text += body;
    }
    const std::string prefix = pack + ".yaml:";
    auto rewrite = [&](std::string d) {
        if (d.rfind(prefix, 0) != 0) return d;
        int at = 0;
        const char* p = d.c_str() + prefix.size();
        auto [end, err] = std::from_chars(p, d.c_str() + d.size(), at);
        if (err != std::errc()) return d;
        for (const auto& [first, count, path] : parts) {
            if (at >= first && at < first + count) {
                return archive + "/" + path + ":" + std::to_string(at - first + 1) +
                       std::string(end);
            }
        }
        return d;
    };
    return installLocked(pack, text, rewrite);
}

Result<std::optional<CheckReport>> RuleLibrary::removePack(const std::string& name) {
    const std::string pack = packName(name);
    if (pack.empty()) return std::optional<CheckReport>();
    std::lock_guard lock(mu_);
    auto existing = packFile(pack);
    if (!existing.ok()) return existing.error();
    if (existing->empty()) return std::optional<CheckReport>();
    auto report = check({{*existing, std::nullopt}});
    if (!report.ok()) return report.error();
    if (!report->ok) return std::optional<CheckReport>(*report);
    std::error_code ec;
    if (!stdfs::remove(config_.dir + "/" + *existing, ec) && ec) {
        return makeError("remove {}: {}", *existing, ec.message());
    }
    return std::optional<CheckReport>(*report);
}

}  // namespace vigil::manager::rules
