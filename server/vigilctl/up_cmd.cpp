// vigilctl up|down|status: the all-in-one stack under one data directory (docs/vigilctl.md).
#include "server/vigilctl/up_cmd.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "server/manager/store/store.h"
#include "server/vigilctl/pki_cmd.h"
#include "server/vigilctl/stack_process.h"

namespace vigil::vigilctl {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kReadyTimeout = 40s;  // the hub compiles every rule before it listens
constexpr auto kStopGrace = 15s;     // the center drains for up to 10 s on SIGTERM

// Loopback ports of the stack. `--ports BASE` assigns BASE..BASE+5 in this order.
struct Ports {
    int discovery = 8088;
    int center = 6751;  // gRPC, agents (mTLS)
    int center_http = 6752;
    int hub = 8091;
    int manager = 8080;
    int agent_metrics = 9201;
};

struct PortFlag {
    const char* flag;
    const char* service;
    int Ports::*port;
};
constexpr PortFlag kPortFlags[] = {
    {"--discovery-port", "discovery", &Ports::discovery},
    {"--center-port", "center (gRPC)", &Ports::center},
    {"--center-http-port", "center (HTTP)", &Ports::center_http},
    {"--hub-port", "hub", &Ports::hub},
    {"--manager-port", "manager", &Ports::manager},
    {"--agent-metrics-port", "agent (metrics)", &Ports::agent_metrics},
};

struct StackArgs {
    std::string data;
    int ports_base = 0;
    int port_flags[std::size(kPortFlags)] = {};  // 0: not given
    bool no_agent = false;
    std::string build_dir;
    bool foreground = false;
};

// One process of the stack, in start order. `name` names its files: run/NAME.pid,
// log/NAME.log (its own log), log/NAME.out (its stdout and stderr), etc/NAME.yaml.
struct Service {
    std::string name;
    std::string binary;
    std::vector<int> ports;  // each accepts connections once it is ready
    int health_port = 0;     // GET /healthz answers 200 once it is ready
    std::string listen;      // for status
};

std::vector<Service> stackServices(const Ports& p, bool with_agent) {
    auto addr = [](int port) { return "127.0.0.1:" + std::to_string(port); };
    std::vector<Service> s = {
        {"discovery", "vigil-discovery", {p.discovery}, p.discovery, addr(p.discovery)},
        {"center",
         "vigil-center",
         {p.center, p.center_http},
         p.center_http,
         addr(p.center) + " " + addr(p.center_http)},
        {"hub", "vigil-hub", {p.hub}, p.hub, addr(p.hub)},
        {"manager", "vigil-manager", {p.manager}, p.manager, addr(p.manager)},
    };
    if (with_agent) {
        s.push_back(
            {"agent", "vigil-agent", {p.agent_metrics}, p.agent_metrics, addr(p.agent_metrics)});
    }
    return s;
}

// Every service name, for down (whatever the saved stack says).
const std::vector<std::string> kAllServices = {"discovery", "center", "hub", "manager", "agent"};
const std::vector<std::string> kAllBinaries = {"vigil-discovery", "vigil-center", "vigil-hub",
                                               "vigil-manager", "vigil-agent"};

// Paths under the data directory.
struct Layout {
    std::string dir;  // absolute
    std::string at(std::string_view rel) const { return fs::joinPath(dir, rel); }
    std::string pidFile(const std::string& name) const { return at("run/" + name + ".pid"); }
    std::string logFile(const std::string& name) const { return at("log/" + name + ".log"); }
    std::string outFile(const std::string& name) const { return at("log/" + name + ".out"); }
    std::string configFile(const std::string& name) const { return at("etc/" + name + ".yaml"); }
    std::string stackFile() const { return at("etc/stack.json"); }
    std::string keysFile() const { return at("etc/keys.yaml"); }
    std::string passwordFile() const { return at("admin-password"); }
};

int fail(const char* cmd, const std::string& msg) {
    std::fprintf(stderr, "vigilctl %s: %s\n", cmd, msg.c_str());
    return 1;
}

// --data, else $VIGIL_DATA, else ./.vigil; made absolute (the services run elsewhere).
std::string dataDir(const std::string& flag) {
    std::string d = flag;
    if (d.empty()) {
        const char* env = std::getenv("VIGIL_DATA");
        d = env && *env ? env : ".vigil";
    }
    if (d.front() != '/') {
        char cwd[4096];
        if (::getcwd(cwd, sizeof(cwd))) d = fs::joinPath(cwd, d);
    }
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    return d;
}

// The directory holding the stack's binaries: --build-dir/bin, else vigilctl's own directory.
std::string binDir(const std::string& build_dir) {
    if (!build_dir.empty()) return fs::joinPath(build_dir, "bin");
    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return ".";
    return fs::dirName(std::string(exe, static_cast<size_t>(n)));
}

bool isExecutable(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
}

// Held while up or down works on the directory: two of them at once would start two stacks.
class DirLock {
public:
    explicit DirLock(const std::string& path) {
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        locked_ = fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
    }
    ~DirLock() {
        if (fd_ >= 0) ::close(fd_);
    }
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;
    bool locked() const { return locked_; }

private:
    int fd_ = -1;
    bool locked_ = false;
};

std::string q(const std::string& s) {
    return json(s).dump();
}  // a YAML double-quoted scalar

// ---- the saved stack: ports and whether it has an agent ----

struct SavedStack {
    Ports ports;
    bool agent = true;
    bool found = false;
};

SavedStack loadStack(const Layout& l) {
    SavedStack s;
    auto text = fs::readFile(l.stackFile(), 1 << 16);
    if (!text.ok()) return s;
    json j = json::parse(*text, nullptr, false);
    if (!j.is_object()) return s;
    s.found = true;
    const json& p = j.value("ports", json::object());
    for (const auto& f : kPortFlags) {
        std::string key = f.flag + 2;  // "discovery-port"
        if (p.contains(key) && p[key].is_number_integer()) s.ports.*f.port = p[key].get<int>();
    }
    s.agent = j.value("agent", true);
    return s;
}

Status saveStack(const Layout& l, const Ports& ports, bool agent) {
    json p = json::object();
    for (const auto& f : kPortFlags) p[f.flag + 2] = ports.*f.port;
    json j = {{"ports", p}, {"agent", agent}};
    return fs::writeFileAtomic(l.stackFile(), j.dump(2) + "\n", 0600);
}

// ---- first-run material: PKI, AK/SK keys, the admin's password ----

Status ensureSecrets(const Layout& l, std::string& admin_password) {
    if (!fs::exists(l.at("pki/ca.pem"))) {
        if (auto st = fs::makeDirs(l.at("pki"), 0700); !st.ok()) return st;
        if (initPki(l.at("pki")) != 0) return makeError("cannot create the PKI in {}", l.at("pki"));
    }
    if (!fs::exists(l.keysFile())) {
        auto st = fs::writeFileAtomic(l.keysFile(), "vigil: " + crypto::randomHex(24) + "\n", 0600);
        if (!st.ok()) return st;
    }
    if (auto pw = fs::readFile(l.passwordFile(), 4096); pw.ok()) {
        admin_password = *pw;
        while (!admin_password.empty() &&
               (admin_password.back() == '\n' || admin_password.back() == '\r')) {
            admin_password.pop_back();
        }
    }
    if (admin_password.empty()) {
        admin_password = crypto::randomHex(12);
        if (auto st = fs::writeFileAtomic(l.passwordFile(), admin_password + "\n", 0600); !st.ok())
            return st;
    }
    return {};
}

// ---- plugins: copied into the agent's work dir with their sha256 ----

struct Plugin {
    std::string name, sha256, detail;
};

// Every plugin built under BIN/plugins/NAME/NAME; the driver only as root (eBPF).
std::vector<std::string> builtPlugins(const std::string& bin) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(fs::joinPath(bin, "plugins").c_str())) {
        while (dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n == "." || n == "..") continue;
            if (n == "driver" && ::geteuid() != 0) continue;
            if (isExecutable(fs::joinPath(bin, "plugins/" + n + "/" + n))) names.push_back(n);
        }
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
}

Result<std::vector<Plugin>> installPlugins(const Layout& l, const std::string& bin) {
    std::vector<Plugin> out;
    for (const auto& name : builtPlugins(bin)) {
        auto data = fs::readFile(fs::joinPath(bin, "plugins/" + name + "/" + name), 1ull << 30);
        if (!data.ok()) return data.error();
        const std::string dir = l.at("agent/plugin/" + name);
        if (auto st = fs::makeDirs(dir, 0700); !st.ok()) return st.error();
        const std::string dest = fs::joinPath(dir, name);
        Plugin p{name, crypto::sha256Hex(*data), name == "example" ? "interval_ms=5000" : ""};
        auto have = crypto::sha256FileHex(dest);
        if (!have.ok() || *have != p.sha256) {
            if (auto st = fs::writeFileAtomic(dest, *data, 0755); !st.ok()) return st.error();
        }
        out.push_back(std::move(p));
    }
    return out;
}

// Points the "dev" entries of a plugin list (JSON array of {name, version, sha256, ...}) at the
// plugins just installed; the names changed.
std::vector<std::string> pointDevEntries(json& entries, const std::vector<Plugin>& plugins) {
    std::vector<std::string> changed;
    if (!entries.is_array()) return changed;
    for (auto& e : entries) {
        if (!e.is_object() || e.value("version", "") != "dev") continue;
        for (const auto& p : plugins) {
            if (e.value("name", "") == p.name && e.value("sha256", "") != p.sha256) {
                e["sha256"] = p.sha256;
                changed.push_back(p.name);
            }
        }
    }
    return changed;
}

// This stack's plugins are version "dev", named by the sha256 of the build of the day: the
// agent's saved plugin set (agent/state.json, started at boot before the center answers) and
// host groups made on the console or the API name them so. After a rebuild the agent would
// refuse those entries (sha256 mismatch, nothing to download from), so the "dev" entries of the
// plugins just installed are pointed at them, and what changed is said. Run before the services
// start; what does not exist yet is left alone.
Status pointDevPluginsAtBuild(const Layout& l, const std::vector<Plugin>& plugins) {
    if (plugins.empty()) return okStatus();
    const std::string state_path = l.at("agent/state.json");
    if (fs::exists(state_path)) {
        auto text = fs::readFile(state_path, 16 << 20);
        if (!text.ok()) return text.error();
        json state = json::parse(*text, nullptr, false);
        if (state.is_object() && state.contains("plugins")) {
            auto changed = pointDevEntries(state["plugins"], plugins);
            if (!changed.empty()) {
                VIGIL_TRY(fs::writeFileAtomic(state_path, state.dump(), 0600));
                std::printf(
                    "agent's saved plugin set: %s (version dev) now the build just "
                    "installed\n",
                    fmt::format("{}", fmt::join(changed, ", ")).c_str());
            }
        }
    }
    const std::string db = l.at("manager/manager.db");
    if (!fs::exists(db)) return okStatus();
    auto store = manager::openStore("sqlite://" + db);
    if (!store.ok()) return store.error();
    auto groups = (*store)->listHostGroups();
    if (!groups.ok()) return groups.error();
    for (auto& g : *groups) {
        json entries = json::parse(g.plugins_json, nullptr, false);
        auto changed = pointDevEntries(entries, plugins);
        if (changed.empty()) continue;
        g.plugins_json = entries.dump();
        g.updated_by = "vigilctl";
        g.updated_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
        if (auto put = (*store)->putHostGroup(g); !put.ok()) return put.error();
        std::printf("host group %s: %s (version dev) now the build just installed\n",
                    g.name.c_str(), fmt::format("{}", fmt::join(changed, ", ")).c_str());
    }
    return okStatus();
}

// ---- each service's configuration file ----

std::string logSection(const Layout& l, const std::string& name) {
    return "log: {level: info, file: " + q(l.logFile(name)) + "}\n";
}

// The default rules: an installed share directory next to the binaries, else the source tree.
std::vector<std::string> defaultRuleDirs(const std::string& bin) {
    std::vector<std::string> candidates = {fs::joinPath(bin, "../share/vigil/rules")};
#ifdef VIGIL_SOURCE_DIR
    candidates.push_back(std::string(VIGIL_SOURCE_DIR) + "/hub/rules");
#endif
    for (const auto& c : candidates) {
        if (!fs::exists(c)) continue;
        std::vector<std::string> dirs = {c};
        if (fs::exists(c + "/sigma")) dirs.push_back(c + "/sigma");
        return dirs;
    }
    return {};
}

// What `vigil-manager --print-config` prints: the sections this build of the manager knows.
std::string managerExample(const std::string& bin) {
    std::string out;
    const std::string cmd =
        "'" + fs::joinPath(bin, "vigil-manager") + "' --print-config 2>/dev/null";
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        while (size_t n = std::fread(buf, 1, sizeof(buf), f)) out.append(buf, n);
        ::pclose(f);
    }
    return out;
}

// The manager reads both buses; `cluster:` (it registers with discovery and calls the center
// and the hub), `rules:` (the managed rules dir the hub loads) and `http.console_dir` are
// written when this build of the manager knows them (they landed with issue 6 one by one).
std::string managerConfig(const Layout& l, const Ports& p, const std::string& bin,
                          const std::vector<std::string>& rule_dirs,
                          const std::string& admin_password) {
    const std::string known = managerExample(bin);
    const std::string console = fs::joinPath(bin, "../console/dist");
    std::string http = "http: {listen: \"127.0.0.1:" + std::to_string(p.manager) + "\"";
    if (known.find("console_dir:") != std::string::npos && fs::exists(console + "/index.html")) {
        http += ", console_dir: " + q(console);
    }
    std::string out = "store: {url: " + q("sqlite://" + l.at("manager/manager.db")) + "}\n" + http +
                      "}\n" + "auth: {admin_password: " + q(admin_password) +
                      "}   # first run only\n" +
                      "bus: {backend: embedded, dir: " + q(l.at("center/bus")) + "}\n" +
                      "alerts_bus: {backend: embedded, dir: " + q(l.at("hub/alerts-bus")) + "}\n";
    if (known.find("\n# cluster:") != std::string::npos ||
        known.find("\ncluster:") != std::string::npos) {
        out += "cluster: {discovery: [\"127.0.0.1:" + std::to_string(p.discovery) +
               "\"], keys_file: " + q(l.keysFile()) + "}\n";
    }
    if (known.find("\n# rules:") != std::string::npos ||
        known.find("\nrules:") != std::string::npos) {
        std::string paths;
        for (const auto& d : rule_dirs) paths += (paths.empty() ? "" : ", ") + q(d);
        out += "rules: {dir: " + q(l.at("manager/rules")) +
               ", hub_bin: " + q(fs::joinPath(bin, "vigil-hub")) + ", hub_paths: [" + paths +
               "], hubs: [\"127.0.0.1:" + std::to_string(p.hub) +
               "\"], keys_file: " + q(l.keysFile()) + "}\n";
    }
    return out + logSection(l, "manager");
}

std::map<std::string, std::string> serviceConfigs(const Layout& l, const Ports& p,
                                                  const std::string& bin,
                                                  const std::vector<std::string>& rule_dirs,
                                                  const std::string& admin_password,
                                                  const std::vector<Plugin>& plugins) {
    const std::string header = "# Written by `vigilctl up` at every start; edits are replaced.\n";
    const std::string disc = "127.0.0.1:" + std::to_string(p.discovery);
    std::map<std::string, std::string> c;
    c["discovery"] = header + "listen: 127.0.0.1:" + std::to_string(p.discovery) + "\n" +
                     "auth: {keys_file: " + q(l.keysFile()) + "}\n" + logSection(l, "discovery");
    c["center"] = header + "data_dir: " + q(l.at("center")) + "\n" +
                  "grpc: {listen: 127.0.0.1:" + std::to_string(p.center) + "}\n" +
                  "http: {listen: 127.0.0.1:" + std::to_string(p.center_http) + "}\n" +
                  "tls: {ca: " + q(l.at("pki/ca.pem")) + ", cert: " + q(l.at("pki/center.pem")) +
                  ", key: " + q(l.at("pki/center.key")) + "}\n" + "bus: {backend: embedded}\n" +
                  "discovery: {addresses: [\"" + disc + "\"]}\n" +
                  // The plugin sets of the manager's host groups (nothing is pushed until a
                  // group exists: the agent runs its initial plugins meanwhile).
                  "plugins: {manager: {url: \"http://127.0.0.1:" + std::to_string(p.manager) +
                  "\"}, reload_interval: 5s}\n" + "auth: {keys_file: " + q(l.keysFile()) + "}\n" +
                  logSection(l, "center");
    std::string rules;
    for (const auto& d : rule_dirs) rules += q(d) + ", ";
    rules += q(l.at("manager/rules"));  // the managed rules (written by the manager)
    c["hub"] = header + "bus: {backend: embedded, dir: " + q(l.at("center/bus")) + "}\n" +
               "rules: [" + rules + "]\n" + "group: hub\n" +
               "alerts: {jsonl: " + q(l.at("hub/alerts.jsonl")) +
               ", bus: true, bus_dir: " + q(l.at("hub/alerts-bus")) + "}\n" +
               "http: {listen: \"127.0.0.1:" + std::to_string(p.hub) + "\"}\n" +
               "auth: {keys_file: " + q(l.keysFile()) + "}\n" + "discovery: {addresses: [\"" +
               disc + "\"]}\n" + logSection(l, "hub");
    c["manager"] = header + managerConfig(l, p, bin, rule_dirs, admin_password);
    std::string initial;
    for (const auto& pl : plugins) {
        initial += "    - {name: " + pl.name + ", version: dev, sha256: " + pl.sha256 +
                   ", detail: " + q(pl.detail) + "}\n";
    }
    c["agent"] = header + "work_dir: " + q(l.at("agent")) + "\n" +
                 "regions: {default: {private: {discovery: [\"" + disc +
                 "\"], centers: [\"127.0.0.1:" + std::to_string(p.center) + "\"]}}}\n" +
                 "tls: {ca: " + q(l.at("pki/ca.pem")) + ", cert: " + q(l.at("pki/agent.pem")) +
                 ", key: " + q(l.at("pki/agent.key")) + ", server_name: vigil-center}\n" +
                 "heartbeat: {interval: 30s}\n" +
                 "metrics: {listen: \"127.0.0.1:" + std::to_string(p.agent_metrics) + "\"}\n" +
                 "plugins:\n  cpu_percent: 20\n  memory: 128MiB\n" +
                 // Plugin cgroups of their own: the default parent ("vigil") is shared by every
                 // agent on the host, and one agent stopping its `driver` would kill another's.
                 "  cgroup_name: vigil-" + crypto::sha256Hex(l.dir).substr(0, 12) +
                 "\n  initial:" + (initial.empty() ? " []\n" : "\n" + initial) +
                 logSection(l, "agent");
    return c;
}

std::vector<std::string> serviceArgv(const Layout& l, const std::string& bin, const Service& s) {
    std::vector<std::string> argv = {fs::joinPath(bin, s.binary)};
    if (s.name == "hub") argv.push_back("run");
    argv.push_back("--config");
    argv.push_back(l.configFile(s.name));
    return argv;
}

// ---- start, wait, stop ----

std::string failureReport(const Layout& l, const Service& s) {
    std::string out;
    for (const auto& f : {l.outFile(s.name), l.logFile(s.name)}) {
        std::string t = tailFile(f, 15);
        if (!t.empty()) out += "  last lines of " + f + ":\n" + t;
    }
    return out.empty() ? "  (nothing in " + l.outFile(s.name) + ")\n" : out;
}

// Until every port of `s` accepts connections and its /healthz answers 200.
Status waitReady(const Layout& l, const Service& s, pid_t pid) {
    const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!processRuns(pid, s.binary)) {
            // It ended, or it is a script whose interpreter still runs: give it a moment to
            // end, so the report says how.
            std::string st = childExitStatus(pid);
            for (int i = 0; st.empty() && i < 30; ++i) {
                std::this_thread::sleep_for(100ms);
                st = childExitStatus(pid);
            }
            return makeError("{} (pid {}) exited ({}) before it was ready\n{}", s.binary, pid,
                             st.empty() ? "unknown status" : st, failureReport(l, s));
        }
        bool ready = std::all_of(s.ports.begin(), s.ports.end(), loopbackPortListening);
        if (ready && s.health_port) ready = healthStatus(s.health_port, 1s) == 200;
        if (ready) return {};
        std::this_thread::sleep_for(100ms);
    }
    return makeError("{} (pid {}) was not ready on {} within {} s\n{}", s.binary, pid, s.listen,
                     std::chrono::seconds(kReadyTimeout).count(), failureReport(l, s));
}

// Plugins left by an agent that was killed (kill -9, OOM): SIGTERM, then SIGKILL after 3 s.
void stopOrphanPlugins(const Layout& l) {
    auto orphans = processesUnder(l.at("agent/plugin"));
    for (pid_t pid : orphans) ::kill(pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (!orphans.empty() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
        orphans = processesUnder(l.at("agent/plugin"));
    }
    for (pid_t pid : orphans) ::kill(pid, SIGKILL);
}

// Stops the services of `l` that have pid files, the last started first; removes the pid files.
void stopStack(const Layout& l, bool verbose) {
    std::vector<pid_t> pids;
    std::vector<std::string> binaries, names;
    for (size_t i = kAllServices.size(); i-- > 0;) {
        auto pid = readPidFile(l.pidFile(kAllServices[i]));
        if (!pid) continue;
        if (processRuns(*pid, kAllBinaries[i])) {
            pids.push_back(*pid);
            binaries.push_back(kAllBinaries[i]);
            names.push_back(kAllServices[i]);
        }
    }
    for (size_t i = 0; i < pids.size(); ++i) {
        if (verbose) std::printf("stopping %-9s (pid %d)\n", names[i].c_str(), pids[i]);
        std::fflush(stdout);
        auto killed = stopInOrder({pids[i]}, {binaries[i]}, kStopGrace);
        if (!killed.empty()) {
            std::fprintf(stderr, "vigilctl down: %s did not stop within %lld s: killed\n",
                         binaries[i].c_str(),
                         static_cast<long long>(std::chrono::seconds(kStopGrace).count()));
        }
    }
    for (const auto& n : kAllServices) std::remove(l.pidFile(n).c_str());
    stopOrphanPlugins(l);
}

// The services that run now, "vigil-center (pid 12)" each.
std::vector<std::string> runningServices(const Layout& l) {
    std::vector<std::string> running;
    for (size_t i = 0; i < kAllServices.size(); ++i) {
        auto pid = readPidFile(l.pidFile(kAllServices[i]));
        if (pid && processRuns(*pid, kAllBinaries[i])) {
            running.push_back(kAllBinaries[i] + " (pid " + std::to_string(*pid) + ")");
        }
    }
    return running;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

// Supervises a --foreground stack until SIGINT/SIGTERM (0) or a service exits (1).
int superviseForeground(const Layout& l, const std::vector<Service>& services,
                        const std::vector<pid_t>& pids) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    std::printf("Ctrl-C stops the stack.\n");
    std::fflush(stdout);
    int rc = 0;
    for (;;) {
        timespec tick{0, 500'000'000};
        if (::sigtimedwait(&set, nullptr, &tick) > 0) break;
        bool all = true;
        for (size_t i = 0; i < services.size() && all; ++i) {
            if (std::string st = childExitStatus(pids[i]); !st.empty()) {
                std::fprintf(stderr, "vigilctl up: %s exited (%s)\n%s", services[i].binary.c_str(),
                             st.c_str(), failureReport(l, services[i]).c_str());
                all = false;
            }
        }
        if (!all) {
            rc = 1;
            break;
        }
    }
    std::printf("\nstopping the stack\n");
    stopStack(l, true);
    return rc;
}

int runUp(const StackArgs& a) {
    const Layout l{dataDir(a.data)};
    for (const char* sub :
         {"", "/etc", "/log", "/run", "/center", "/hub", "/manager", "/manager/rules", "/agent"}) {
        if (auto st = fs::makeDirs(l.dir + sub, 0700); !st.ok()) return fail("up", st.message());
    }
    ::chmod(l.dir.c_str(), 0700);
    DirLock lock(l.at("run/lock"));
    if (!lock.locked())
        return fail("up", "another vigilctl is starting or stopping the stack in " + l.dir);
    if (auto running = runningServices(l); !running.empty()) {
        return fail("up", "a stack already runs on " + l.dir + ": " + join(running, ", ") +
                              "\n  (`vigilctl status --data " + l.dir +
                              "` shows it, `vigilctl down --data " + l.dir + "` stops it)");
    }
    for (const auto& n : kAllServices) std::remove(l.pidFile(n).c_str());  // stale ones
    stopOrphanPlugins(l);

    // Ports: the saved ones (a restart keeps them), then --ports, then the per-service flags.
    SavedStack saved = loadStack(l);
    Ports ports = saved.ports;
    for (size_t i = 0; i < std::size(kPortFlags); ++i) {
        if (a.ports_base) ports.*kPortFlags[i].port = a.ports_base + static_cast<int>(i);
        if (a.port_flags[i]) ports.*kPortFlags[i].port = a.port_flags[i];
    }
    const bool with_agent = !a.no_agent;
    auto services = stackServices(ports, with_agent);
    std::set<int> seen;
    std::vector<std::string> taken;
    for (size_t i = 0; i < std::size(kPortFlags); ++i) {
        const int port = ports.*kPortFlags[i].port;
        if (!with_agent && kPortFlags[i].port == &Ports::agent_metrics) continue;
        if (!seen.insert(port).second)
            return fail("up", "port " + std::to_string(port) + " is given to two services");
        if (!loopbackPortFree(port)) {
            taken.push_back("  127.0.0.1:" + std::to_string(port) + " (" + kPortFlags[i].service +
                            ", " + kPortFlags[i].flag + ")");
        }
    }
    if (!taken.empty()) {
        return fail("up",
                    "ports in use by another program:\n" + join(taken, "\n") +
                        "\n  choose others with --ports BASE (BASE..BASE+5) or the flags named");
    }

    const std::string bin = binDir(a.build_dir);
    for (const auto& s : services) {
        if (!isExecutable(fs::joinPath(bin, s.binary))) {
            return fail("up", fs::joinPath(bin, s.binary) +
                                  " is missing; build it (make build) or give --build-dir");
        }
    }
    const auto rule_dirs = defaultRuleDirs(bin);
    if (rule_dirs.empty())
        return fail("up", "no default rules found (looked in " + bin +
                              "/../share/vigil/rules and the source tree)");

    const bool first_run = !fs::exists(l.at("manager/manager.db"));
    std::string admin_password;
    if (auto st = ensureSecrets(l, admin_password); !st.ok()) return fail("up", st.message());
    std::vector<Plugin> plugins;
    if (with_agent) {
        auto installed = installPlugins(l, bin);
        if (!installed.ok()) return fail("up", "installing the plugins: " + installed.message());
        plugins = std::move(*installed);
        if (auto st = pointDevPluginsAtBuild(l, plugins); !st.ok()) {
            return fail("up", "pointing the dev plugins at this build: " + st.message());
        }
    }
    for (const auto& [name, text] :
         serviceConfigs(l, ports, bin, rule_dirs, admin_password, plugins)) {
        if (auto st = fs::writeFileAtomic(l.configFile(name), text, 0600); !st.ok())
            return fail("up", st.message());
    }
    if (auto st = saveStack(l, ports, with_agent); !st.ok()) return fail("up", st.message());

    std::vector<pid_t> pids;
    for (const auto& s : services) {
        auto pid = spawnDetached(serviceArgv(l, bin, s), l.outFile(s.name));
        Status st = pid.ok() ? writePidFile(l.pidFile(s.name), *pid) : Status(pid.error());
        if (st.ok()) st = waitReady(l, s, *pid);
        if (!st.ok()) {
            std::fprintf(stderr, "vigilctl up: %s\n", st.message().c_str());
            std::fprintf(stderr, "vigilctl up: stopping what was started\n");
            stopStack(l, false);
            return 1;
        }
        pids.push_back(*pid);
        std::printf("started %-9s pid %-7d %s\n", s.name.c_str(), *pid, s.listen.c_str());
        std::fflush(stdout);
    }

    const std::string api = "http://127.0.0.1:" + std::to_string(ports.manager);
    std::string plugin_names;
    for (const auto& p : plugins) plugin_names += (plugin_names.empty() ? "" : ", ") + p.name;
    std::printf("\nVigil is running: data in %s, logs in %s/log.\n", l.dir.c_str(), l.dir.c_str());
    std::printf("  console    %s/\n", api.c_str());
    if (first_run || fs::exists(l.passwordFile())) {
        std::printf("  log in     user admin, password %s (kept in %s)\n", admin_password.c_str(),
                    l.passwordFile().c_str());
    }
    std::printf("  API        %s/api/v1/ (OpenAPI at /api/v1/openapi.json)\n", api.c_str());
    std::printf(
        "  center     127.0.0.1:%d (agents, mTLS), admin http://127.0.0.1:%d (AK/SK in %s)\n",
        ports.center, ports.center_http, l.keysFile().c_str());
    std::printf("  hub        alerts in %s, metrics http://127.0.0.1:%d/metrics\n",
                l.at("hub/alerts.jsonl").c_str(), ports.hub);
    if (with_agent) {
        std::printf("  agent      plugins: %s; metrics http://127.0.0.1:%d/metrics\n",
                    plugin_names.empty() ? "none" : plugin_names.c_str(), ports.agent_metrics);
    }
    std::printf("  records    vigilctl bus tail --dir %s\n", l.at("center/bus").c_str());
    if (a.foreground) return superviseForeground(l, services, pids);
    std::printf("`vigilctl status --data %s` checks it; `vigilctl down --data %s` stops it.\n",
                l.dir.c_str(), l.dir.c_str());
    return 0;
}

int runDown(const StackArgs& a) {
    const Layout l{dataDir(a.data)};
    if (!fs::exists(l.dir)) return fail("down", l.dir + " does not exist");
    DirLock lock(l.at("run/lock"));
    if (!lock.locked())
        return fail("down", "another vigilctl is starting or stopping the stack in " + l.dir);
    if (runningServices(l).empty()) {
        for (const auto& n : kAllServices) std::remove(l.pidFile(n).c_str());
        stopOrphanPlugins(l);
        std::printf("no stack runs on %s\n", l.dir.c_str());
        return 0;
    }
    stopStack(l, true);
    std::printf("stopped the stack on %s\n", l.dir.c_str());
    return 0;
}

int runStatus(const StackArgs& a) {
    const Layout l{dataDir(a.data)};
    SavedStack saved = loadStack(l);
    if (!saved.found) {
        std::printf("no stack in %s (vigilctl up --data %s starts one)\n", l.dir.c_str(),
                    l.dir.c_str());
        return 3;
    }
    bool all = true;
    std::printf("%-10s %-8s %-8s %-32s %s\n", "service", "pid", "state", "listen", "health");
    for (const auto& s : stackServices(saved.ports, saved.agent)) {
        auto pid = readPidFile(l.pidFile(s.name));
        const bool runs = pid && processRuns(*pid, s.binary);
        std::string health = "-";
        if (runs && s.health_port) {
            const int code = healthStatus(s.health_port, 2s);
            health = code == 200 ? "ok" : code == 0 ? "no answer" : "HTTP " + std::to_string(code);
            all = all && code == 200;
        }
        all = all && runs;
        std::printf("%-10s %-8s %-8s %-32s %s\n", s.name.c_str(),
                    pid ? std::to_string(*pid).c_str() : "-", runs ? "running" : "stopped",
                    s.listen.c_str(), health.c_str());
    }
    return all ? 0 : 3;
}

}  // namespace

void addStackCommands(CLI::App& app, int& exit_code) {
    auto a = std::make_shared<StackArgs>();
    const char* data_help =
        "Data directory (default $VIGIL_DATA, else .vigil in the current directory)";
    auto* up = app.add_subcommand(
        "up",
        "Start the all-in-one stack (discovery, center, hub, manager, a local agent) as background "
        "processes; binaries are taken from vigilctl's own directory (or --build-dir/bin)");
    up->add_option("--data", a->data, data_help);
    up->add_option(
          "--ports", a->ports_base,
          "Use BASE..BASE+5 for discovery, center gRPC, center HTTP, hub, manager, agent metrics")
        ->check(CLI::Range(1, 65530));
    for (size_t i = 0; i < std::size(kPortFlags); ++i) {
        up->add_option(kPortFlags[i].flag, a->port_flags[i],
                       std::string("Port of the ") + kPortFlags[i].service)
            ->check(CLI::Range(1, 65535));
    }
    up->add_flag("--no-agent", a->no_agent, "Do not start a local agent");
    up->add_option("--build-dir", a->build_dir,
                   "Build directory whose bin/ holds the binaries and plugins");
    up->add_flag("--foreground", a->foreground, "Stay in the foreground; Ctrl-C stops the stack");
    up->callback([a, &exit_code] { exit_code = runUp(*a); });
    auto* down = app.add_subcommand(
        "down", "Stop the stack (agent first; SIGTERM, then SIGKILL after 15 s)");
    down->add_option("--data", a->data, data_help);
    down->callback([a, &exit_code] { exit_code = runDown(*a); });
    auto* status = app.add_subcommand("status",
                                      "Show each service's pid, state, listen address and health; "
                                      "exit 0 when all run, 3 otherwise");
    status->add_option("--data", a->data, data_help);
    status->callback([a, &exit_code] { exit_code = runStatus(*a); });
}

}  // namespace vigil::vigilctl
