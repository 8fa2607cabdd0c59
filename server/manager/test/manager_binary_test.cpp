// The vigil-manager binary and its configuration: --help, --print-config, --check-config and
// errors naming the key (exit 2), first-run admin password on stderr, login and a list over
// real HTTP on loopback, clean exit on SIGTERM.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/manager/manager_config.h"
#include "tests/support/child_process.h"
#include "tests/support/free_port.h"

namespace vigil::manager {
namespace {

using vigil::testing::exitCodeWithin;
using vigil::testing::readFileText;

using namespace std::chrono_literals;
using nlohmann::json;

std::string binary() {
    const char* dir = std::getenv("VIGIL_BUILD_DIR");
    return std::string(dir ? dir : "build") + "/bin/vigil-manager";
}

// The binary with `args`, its stdout and stderr in `out`.
pid_t spawn(const std::vector<std::string>& args, const std::string& out) {
    std::vector<std::string> argv{binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return vigil::testing::spawnProcess(argv, out);
}

class ManagerBinaryTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vigil-manager-bin-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string dir_;
};

TEST_F(ManagerBinaryTest, HelpPrintAndCheckConfig) {
    const std::string out = dir_ + "/out";
    EXPECT_EQ(exitCodeWithin(spawn({"--help"}, out), 10s), 0);
    EXPECT_NE(readFileText(out).find("--admin-password"), std::string::npos) << readFileText(out);
    EXPECT_EQ(exitCodeWithin(spawn({"--print-config"}, out), 10s), 0);
    const std::string example = readFileText(out);
    EXPECT_NE(example.find("session_ttl"), std::string::npos);
    // The printed example is itself valid.
    std::ofstream(dir_ + "/example.yaml") << example;
    EXPECT_EQ(
        exitCodeWithin(spawn({"--config", dir_ + "/example.yaml", "--check-config"}, out), 10s), 0)
        << readFileText(out);
    std::ofstream(dir_ + "/bad.yaml") << "auth:\n  session_ttl: forever\nhttp:\n  lisen: x\n";
    EXPECT_EQ(exitCodeWithin(spawn({"--config", dir_ + "/bad.yaml", "--check-config"}, out), 10s),
              2);
    const std::string errors = readFileText(out);
    EXPECT_NE(errors.find("auth.session_ttl"), std::string::npos) << errors;
    EXPECT_NE(errors.find("http.lisen"), std::string::npos) << errors;
}

TEST(ManagerConfigTest, DefaultsAndOverrides) {
    auto c = parseManagerConfig("", "t", {});
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->store_url, "sqlite:///var/lib/vigil-manager/manager.db");
    EXPECT_EQ(c->http_host, "127.0.0.1");
    EXPECT_EQ(c->http_port, 8080);
    EXPECT_EQ(c->auth.session_ttl_ms, 12 * 3600 * 1000);
    EXPECT_EQ(c->auth.max_failures, 5u);
    c = parseManagerConfig(
        "store: {url: 'postgresql://u@h/db'}\nauth: {session_ttl: 30m, password_hash: moderate}\n",
        "t", {});
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->store_url, "postgresql://u@h/db");
    EXPECT_EQ(c->auth.session_ttl_ms, 30 * 60 * 1000);
    EXPECT_EQ(c->auth.hash_cost, auth::HashCost::kModerate);
    ManagerFlags f;
    f.listen = "0.0.0.0:9";
    f.admin_password = "short";
    f.store_url = "mysql://x";
    auto bad = parseManagerConfig("", "t", f);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.message().find("--admin-password"), std::string::npos) << bad.message();
    EXPECT_NE(bad.message().find("--store"), std::string::npos) << bad.message();
}

TEST_F(ManagerBinaryTest, FirstRunServesAndStopsOnSigterm) {
    const int port = vigil::testing::freeLoopbackPort();
    const std::string out = dir_ + "/out";
    pid_t pid = spawn({"--store", "sqlite://" + dir_ + "/m.db", "--listen",
                       "127.0.0.1:" + std::to_string(port), "--log-level", "warn"},
                      out);
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1s);
    bool up = false;
    for (int i = 0; i < 200 && !up; ++i) {
        auto r = c.Get("/healthz");
        up = r && r->status == 200;
        if (!up) std::this_thread::sleep_for(25ms);
    }
    ASSERT_TRUE(up) << readFileText(out);
    std::smatch m;
    const std::string log = readFileText(out);
    ASSERT_TRUE(std::regex_search(log, m, std::regex("first run: user admin, password (\\S+)")))
        << log;
    auto login =
        c.Post("/api/v1/auth/login", json{{"username", "admin"}, {"password", m[1].str()}}.dump(),
               "application/json");
    ASSERT_TRUE(login);
    ASSERT_EQ(login->status, 200) << login->body;
    std::string token = json::parse(login->body)["data"]["token"];
    EXPECT_EQ(c.Get("/api/v1/hosts")->status, 401);
    auto hosts = c.Get("/api/v1/hosts", {{"Authorization", "Bearer " + token}});
    ASSERT_TRUE(hosts);
    EXPECT_EQ(hosts->status, 200) << hosts->body;
    EXPECT_EQ(c.Get("/api/v1/openapi.json")->status, 200);
    // PATCH and DELETE reach the routes over HTTP too.
    const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
    auto created = c.Post("/api/v1/users", auth, R"({"username":"bob","password":"bob-password"})",
                          "application/json");
    ASSERT_TRUE(created);
    EXPECT_EQ(created->status, 201) << created->body;
    auto patched = c.Patch("/api/v1/users/bob", auth, R"({"role":"operator"})", "application/json");
    ASSERT_TRUE(patched);
    EXPECT_EQ(patched->status, 200) << patched->body;
    auto deleted = c.Delete("/api/v1/users/bob", auth);
    ASSERT_TRUE(deleted);
    EXPECT_EQ(deleted->status, 200) << deleted->body;
    ::kill(pid, SIGTERM);
    EXPECT_EQ(exitCodeWithin(pid, 10s), 0);

    // A second run keeps the admin and prints no password.
    pid = spawn({"--store", "sqlite://" + dir_ + "/m.db", "--listen",
                 "127.0.0.1:" + std::to_string(port), "--log-level", "warn"},
                out);
    up = false;
    for (int i = 0; i < 200 && !up; ++i) {
        auto r = c.Get("/healthz");
        up = r && r->status == 200;
        if (!up) std::this_thread::sleep_for(25ms);
    }
    EXPECT_TRUE(up);
    ::kill(pid, SIGTERM);
    EXPECT_EQ(exitCodeWithin(pid, 10s), 0);
    EXPECT_EQ(readFileText(out).find("first run"), std::string::npos) << readFileText(out);
}

}  // namespace
}  // namespace vigil::manager
