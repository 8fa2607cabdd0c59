// `vigilctl up|down|status` with the real server binaries on loopback, without an agent (no
// root needed): start, status, the refusals (a stack already running, a port taken, a service
// that fails to start), kill -9 and up again on the same data, down.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/stack_ports.h"
#include "tests/support/run_command.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;
namespace stdfs = std::filesystem;

std::string buildDir() {
    const char* b = std::getenv("VIGIL_BUILD_DIR");
    return b ? b : VIGIL_BUILD_DIR;
}

// Something accepts TCP connections on 127.0.0.1:port (a bind probe would also fail on the
// TIME_WAIT connections a stopped server leaves).
bool listening(int port) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1, 0);
    return static_cast<bool>(c.Get("/healthz"));
}

class VigilctlStack : public ::testing::Test {
protected:
    void SetUp() override {
        vigilctl_ = buildDir() + "/bin/vigilctl";
        ASSERT_EQ(::access(vigilctl_.c_str(), X_OK), 0) << vigilctl_;
        char tmpl[] = "/tmp/vigilctl-stack-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        data_ = tmpl;
        base_ = freeStackPortBase();
        ASSERT_NE(base_, 0);
    }
    void TearDown() override {
        for (const auto& d : {data_, data_ + "-other"}) {
            if (stdfs::exists(d)) {
                auto r = run("down --data " + d);
                EXPECT_EQ(r.exit_code, 0) << r.output;
                if (!HasFailure()) stdfs::remove_all(d);
            }
        }
    }

    CommandResult run(const std::string& args) {
        return runCommand(vigilctl_ + " " + args + " 2>&1");
    }
    std::string upArgs() const {
        return "up --no-agent --data " + data_ + " --ports " + std::to_string(base_);
    }
    pid_t pidOf(const std::string& name) {
        std::ifstream in(data_ + "/run/" + name + ".pid");
        pid_t pid = 0;
        in >> pid;
        return pid;
    }

    std::string vigilctl_, data_;
    int base_ = 0;
};

TEST_F(VigilctlStack, UpStatusRefusalsKillNineUpAgainDown) {
    auto r = run(upArgs());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string api = "http://127.0.0.1:" + std::to_string(base_ + 4);
    EXPECT_NE(r.output.find(api), std::string::npos) << r.output;
    std::ifstream pw_file(data_ + "/admin-password");
    std::string password;
    std::getline(pw_file, password);
    ASSERT_FALSE(password.empty());
    EXPECT_NE(r.output.find(password), std::string::npos);
    EXPECT_EQ(stdfs::status(data_).permissions() & stdfs::perms::all, stdfs::perms::owner_all);
    EXPECT_EQ(stdfs::status(data_ + "/admin-password").permissions() & stdfs::perms::all,
              stdfs::perms::owner_read | stdfs::perms::owner_write);

    // The admin logs in with the password of the file.
    httplib::Client c("127.0.0.1", base_ + 4);
    auto login =
        c.Post("/api/v1/auth/login", "{\"username\":\"admin\",\"password\":\"" + password + "\"}",
               "application/json");
    ASSERT_TRUE(login);
    EXPECT_EQ(login->status, 200) << login->body;

    auto st = run("status --data " + data_);
    EXPECT_EQ(st.exit_code, 0) << st.output;
    EXPECT_NE(st.output.find("manager    " + std::to_string(pidOf("manager"))), std::string::npos)
        << st.output;

    // Refusals: the same directory again; another directory on the same ports.
    auto again = run(upArgs());
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_NE(again.output.find("a stack already runs on " + data_), std::string::npos)
        << again.output;
    auto other = run("up --no-agent --data " + data_ + "-other --ports " + std::to_string(base_));
    EXPECT_EQ(other.exit_code, 1);
    EXPECT_NE(
        other.output.find("127.0.0.1:" + std::to_string(base_ + 4) + " (manager, --manager-port)"),
        std::string::npos)
        << other.output;

    // kill -9 of everything, then up again (no port flags: the saved ones) on the same data.
    for (const char* s : {"manager", "hub", "center", "discovery"}) ::kill(pidOf(s), SIGKILL);
    std::this_thread::sleep_for(300ms);
    st = run("status --data " + data_);
    EXPECT_EQ(st.exit_code, 3) << st.output;
    r = run("up --no-agent --data " + data_);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto login2 =
        c.Post("/api/v1/auth/login", "{\"username\":\"admin\",\"password\":\"" + password + "\"}",
               "application/json");
    ASSERT_TRUE(login2);
    EXPECT_EQ(login2->status, 200) << "the same store and password after the restart";

    auto down = run("down --data " + data_);
    EXPECT_EQ(down.exit_code, 0) << down.output;
    st = run("status --data " + data_);
    EXPECT_EQ(st.exit_code, 3) << st.output;
    EXPECT_FALSE(stdfs::exists(data_ + "/run/manager.pid"));
    EXPECT_FALSE(listening(base_ + 4));
}

TEST_F(VigilctlStack, AServiceThatFailsIsNamedWithItsOutputAndTheRestIsStopped) {
    // A build dir whose vigil-hub fails at once; the others are the real ones.
    const std::string fake = data_ + "-bin";
    stdfs::create_directories(fake + "/bin");
    for (const char* b : {"vigil-discovery", "vigil-center", "vigil-manager"}) {
        stdfs::create_symlink(buildDir() + "/bin/" + b, fake + "/bin/" + b);
    }
    {
        std::ofstream hub(fake + "/bin/vigil-hub");
        hub << "#!/bin/sh\necho 'rules: bad rule at x.yaml:3:1' >&2\nexit 2\n";
    }
    stdfs::permissions(fake + "/bin/vigil-hub", stdfs::perms::owner_all);
    auto r = run(upArgs() + " --build-dir " + fake);
    stdfs::remove_all(fake);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("vigil-hub (pid"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("exited (exit 2)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("rules: bad rule at x.yaml:3:1"), std::string::npos) << r.output;
    // What had started (discovery, center) was stopped: nothing listens on their ports.
    EXPECT_FALSE(listening(base_));
    EXPECT_FALSE(listening(base_ + 2));
    auto st = run("status --data " + data_);
    EXPECT_EQ(st.exit_code, 3) << st.output;

    auto missing = run(upArgs() + " --build-dir " + data_ + "/nowhere");
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.output.find("vigil-discovery is missing"), std::string::npos)
        << missing.output;
}

// After a rebuild, what names the old build's plugins (version dev) — the agent's saved plugin
// set and a host group — is pointed at the build `up` installs, and the plugin runs. A build dir
// of symlinks with the example plugin only (no driver: no eBPF here).
TEST_F(VigilctlStack, DevPluginsFollowTheBuild) {
    const std::string fake = data_ + "-bin";
    stdfs::create_directories(fake + "/bin/plugins/example");
    for (const char* b :
         {"vigil-discovery", "vigil-center", "vigil-hub", "vigil-manager", "vigil-agent"}) {
        stdfs::create_symlink(buildDir() + "/bin/" + b, fake + "/bin/" + b);
    }
    stdfs::copy_file(buildDir() + "/bin/plugins/example/example",
                     fake + "/bin/plugins/example/example");
    const std::string up =
        "up --data " + data_ + " --ports " + std::to_string(base_) + " --build-dir " + fake;
    auto r = run(up);
    ASSERT_EQ(r.exit_code, 0) << r.output;

    // The default group (hosts in no other group) naming the example plugin of an older build.
    std::string password;
    std::ifstream(data_ + "/admin-password") >> password;
    httplib::Client c("127.0.0.1", base_ + 4);
    auto login =
        c.Post("/api/v1/auth/login", "{\"username\":\"admin\",\"password\":\"" + password + "\"}",
               "application/json");
    ASSERT_TRUE(login && login->status == 200);
    const std::string token = nlohmann::json::parse(login->body)["data"]["token"];
    httplib::Headers auth{{"Authorization", "Bearer " + token}};
    const std::string old_sha(64, 'a');
    auto put = c.Put("/api/v1/groups/default", auth,
                     "{\"plugins\":[{\"name\":\"example\",\"version\":\"dev\","
                     "\"sha256\":\"" +
                         old_sha + "\"}]}",
                     "application/json");
    ASSERT_TRUE(put);
    ASSERT_EQ(put->status, 201) << put->body;
    ASSERT_EQ(run("down --data " + data_).exit_code, 0);

    // The agent's saved set, as an older build left it.
    const std::string state_path = data_ + "/agent/state.json";
    ASSERT_TRUE(stdfs::exists(state_path));
    nlohmann::json state = nlohmann::json::parse(std::ifstream(state_path));
    bool found = false;
    for (auto& p : state["plugins"]) {
        if (p["name"] == "example" && p["version"] == "dev") {
            p["sha256"] = std::string(64, 'b');
            found = true;
        }
    }
    ASSERT_TRUE(found) << state.dump();
    std::ofstream(state_path) << state.dump();
    const std::string log = data_ + "/log/agent.log";
    const size_t log_before = stdfs::file_size(log);

    r = run(up);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("agent's saved plugin set: example (version dev) now the build just "
                            "installed"),
              std::string::npos)
        << r.output;
    EXPECT_NE(
        r.output.find("host group default: example (version dev) now the build just installed"),
        std::string::npos)
        << r.output;
    // The agent starts the plugin and refuses nothing.
    std::string fresh;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        std::ifstream in(log);
        in.seekg(static_cast<std::streamoff>(log_before));
        fresh.assign(std::istreambuf_iterator<char>(in), {});
        if (fresh.find("plugin example dev started") != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    EXPECT_NE(fresh.find("plugin example dev started"), std::string::npos) << fresh;
    EXPECT_EQ(fresh.find("sha256 mismatch"), std::string::npos) << fresh;
    auto groups = c.Get("/api/v1/groups?q=default", auth);
    ASSERT_TRUE(groups && groups->status == 200);
    auto group = nlohmann::json::parse(groups->body)["data"]["items"][0];
    EXPECT_NE(group["plugins"][0]["sha256"], old_sha) << group.dump();
    EXPECT_EQ(group["updated_by"], "vigilctl");
    ASSERT_EQ(run("down --data " + data_).exit_code, 0);
    stdfs::remove_all(fake);
}

TEST(Vigilctl, StackCommandsHaveHelp) {
    for (const char* cmd : {"up", "down", "status"}) {
        auto r = runCommand(buildDir() + "/bin/vigilctl " + cmd + " --help 2>&1");
        EXPECT_EQ(r.exit_code, 0) << cmd;
        EXPECT_NE(r.output.find("--data"), std::string::npos) << r.output;
    }
}

// Every binary a build makes, plugins included, answers --help with a description and exit 0
// (without an agent's pipes or a configuration).
TEST(Binaries, EveryOneAnswersHelp) {
    std::vector<std::string> binaries;
    const std::string bin = buildDir() + "/bin";
    for (const auto& e : stdfs::recursive_directory_iterator(bin)) {
        if (e.is_regular_file() &&
            (e.status().permissions() & stdfs::perms::owner_exec) != stdfs::perms::none) {
            binaries.push_back(e.path().string());
        }
    }
    ASSERT_GE(binaries.size(), 10u) << "built binaries under " << bin;
    for (const auto& b : binaries) {
        auto r = runCommand("timeout 10 " + b + " --help </dev/null 2>&1");
        EXPECT_EQ(r.exit_code, 0) << b << ":\n" << r.output;
        EXPECT_GE(r.output.size(), 40u) << b << " says too little:\n" << r.output;
    }
}

}  // namespace
}  // namespace vigil::testing
