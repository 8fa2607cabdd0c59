// PostgreSQL for tests: initdb + postgres as children of the test process, schemas per test.
#include "server/manager/store/test/pg_test_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"
#include "tests/support/child_process.h"
#include "tests/support/free_port.h"

namespace vigil::manager::testing {

using namespace std::chrono_literals;

namespace {

constexpr const char* kHowToProvide =
    "set VIGIL_TEST_PG_URL=postgresql://postgres@127.0.0.1:<port>/postgres to a running server "
    "(eval \"$(scripts/pg-test-server.sh start)\"), or install PostgreSQL so that the test can "
    "start one (apt-get install postgresql, or scripts/install-deps.sh)";

// A child process running argv as the cluster's owner: `postgres` when we are root (PostgreSQL
// refuses to run as root), else ourselves; output to `log`; killed when the test dies.
// Everything is prepared before fork: the child only makes system calls.
Result<pid_t> spawnAsOwner(const std::vector<std::string>& argv, const std::string& log) {
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    const bool drop = uid == 0;
    if (drop) {
        const passwd* pw = ::getpwnam("postgres");
        if (!pw) return makeError("no `postgres` user to run PostgreSQL as");
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return makeError("open {}: {}", log, strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fd);
        return makeError("fork: {}", strerror(errno));
    }
    if (pid == 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        if (drop && (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) {
            _exit(126);
        }
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // after setuid, which clears it
        ::execv(args[0], args.data());
        _exit(127);
    }
    ::close(fd);
    return pid;
}

std::string tail(const std::string& path) {
    auto text = fs::readFile(path);
    if (!text.ok()) return "";
    return text->size() > 2000 ? text->substr(text->size() - 2000) : *text;
}

bool connects(const std::string& url) {
    try {
        pqxx::connection c(url);
        return c.is_open();
    } catch (const std::exception&) {
        return false;
    }
}

}  // namespace

TempDir::TempDir() {
    char tmpl[] = "/tmp/vigil-store-test.XXXXXX";
    if (::mkdtemp(tmpl)) path_ = tmpl;
}

TempDir::~TempDir() {
    if (!path_.empty()) (void)fs::removeAll(path_);
}

std::string findPgBinDir() {
    std::vector<std::string> found;
    if (DIR* d = ::opendir("/usr/lib/postgresql")) {
        while (const dirent* e = ::readdir(d)) {
            const std::string bin = std::string("/usr/lib/postgresql/") + e->d_name + "/bin";
            if (e->d_name[0] != '.' && ::access((bin + "/initdb").c_str(), X_OK) == 0 &&
                ::access((bin + "/postgres").c_str(), X_OK) == 0) {
                found.push_back(bin);
            }
        }
        ::closedir(d);
    }
    // The newest major version (numeric order: 9 < 15).
    std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
        return std::atoi(a.c_str() + 20) < std::atoi(b.c_str() + 20);
    });
    return found.empty() ? "" : found.back();
}

Result<std::unique_ptr<PgServer>> PgServer::start() {
    const std::string bin = findPgBinDir();
    if (bin.empty())
        return makeError("PostgreSQL not found (/usr/lib/postgresql/*/bin): {}", kHowToProvide);
    if (::geteuid() == 0 && !::getpwnam("postgres")) {
        return makeError("running as root without a `postgres` user to run PostgreSQL as: {}",
                         kHowToProvide);
    }
    std::unique_ptr<PgServer> s(new PgServer());
    s->bin_dir_ = bin;
    const std::string& dir = s->dir_.path();
    if (dir.empty()) return makeError("mkdtemp: {}", strerror(errno));
    if (::geteuid() == 0) {
        const passwd* pw = ::getpwnam("postgres");
        if (::chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
            return makeError("chown {}: {}", dir, strerror(errno));
        }
    }
    auto spawned = spawnAsOwner({bin + "/initdb", "-D", dir + "/data", "-A", "trust", "-U",
                                 "postgres", "-E", "UTF8", "--locale=C", "--no-sync"},
                                dir + "/initdb.log");
    if (!spawned.ok()) return spawned.error();
    const pid_t initdb = *spawned;
    int status = 0;
    if (!vigil::testing::waitExit(initdb, 120s, &status)) {
        ::kill(initdb, SIGKILL);
        vigil::testing::waitExit(initdb, 5s);
        return makeError("initdb did not finish within 120 s");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return makeError("initdb failed (status {}): {}", status, tail(dir + "/initdb.log"));
    }
    Status last = makeError("no attempt");
    for (int attempt = 0; attempt < 5; ++attempt) {  // a free port can be taken meanwhile
        last = s->launch(vigil::testing::freeLoopbackPort());
        if (last.ok()) return s;
    }
    return last.error();
}

Status PgServer::launch(int port) {
    const std::string& dir = dir_.path();
    const std::string log = dir + "/server.log";
    auto spawned =
        spawnAsOwner({bin_dir_ + "/postgres", "-D", dir + "/data", "-p", std::to_string(port), "-k",
                      dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                      "synchronous_commit=off", "-c", "full_page_writes=off"},
                     log);
    if (!spawned.ok()) return spawned.error();
    pid_ = *spawned;
    const std::string url = fmt::format("postgresql://postgres@127.0.0.1:{}/postgres", port);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (connects(url)) {
            url_ = url;
            return okStatus();
        }
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return makeError("postgres exited at start (port {}): {}", port, tail(log));
        }
        std::this_thread::sleep_for(50ms);
    }
    stop();
    return makeError("postgres did not accept connections on port {} within 60 s: {}", port,
                     tail(log));
}

PgServer::~PgServer() {
    stop();
}

void PgServer::stop() {
    vigil::testing::stopProcess(pid_, SIGINT, 10s);  // fast shutdown: ends sessions, checkpoints
    pid_ = -1;
}

Result<std::string> PgServer::sharedUrl() {
    return vigil::testing::sharedServerUrl<PgServer>("VIGIL_TEST_PG_URL",
                                                     "PostgreSQL tests need a server");
}

Result<std::unique_ptr<PgSchema>> PgSchema::create(const std::string& server_url) {
    std::unique_ptr<PgSchema> s(new PgSchema());
    s->server_url_ = server_url;
    s->name_ = "vigil_test_" + crypto::randomHex(6);
    try {
        pqxx::connection c(server_url);
        pqxx::nontransaction w(c);
        w.exec("CREATE SCHEMA " + s->name_);
    } catch (const std::exception& e) {
        return makeError("PostgreSQL at {}: {}", server_url, e.what());
    }
    // libpq's `options`: "-c search_path=<schema>", URI-encoded.
    s->url_ = server_url + (server_url.find('?') == std::string::npos ? "?" : "&") +
              "options=-csearch_path%3D" + s->name_;
    return s;
}

PgSchema::~PgSchema() {
    try {
        pqxx::connection c(server_url_);
        pqxx::nontransaction w(c);
        w.exec("SET client_min_messages TO warning");
        w.exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
    } catch (const std::exception&) {
        // The server went away: nothing left to drop.
    }
}

}  // namespace vigil::manager::testing
