// The vigil-discovery binary: --help, configuration errors (exit 2 naming the key), serving
// signed writes and open reads, /metrics, clean exit on SIGTERM.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "server/discovery/test/discovery_test_util.h"
#include "tests/support/child_process.h"
#include "tests/support/free_port.h"

namespace vigil::discovery {
namespace {

using vigil::testing::exitCodeWithin;
using vigil::testing::readFileText;

using namespace std::chrono_literals;

std::string binary() {
    const char* dir = std::getenv("VIGIL_BUILD_DIR");
    return std::string(dir ? dir : "build") + "/bin/vigil-discovery";
}

// The binary with `args`, its stdout and stderr in `out`.
pid_t spawn(const std::vector<std::string>& args, const std::string& out) {
    std::vector<std::string> argv{binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return vigil::testing::spawnProcess(argv, out);
}

std::string tempPath(const std::string& stem) {
    return "/tmp/vigil-discovery-test-" + std::to_string(::getpid()) + "-" + stem;
}

TEST(DiscoveryBinaryTest, HelpAndPrintConfig) {
    const std::string out = tempPath("help");
    pid_t pid = spawn({"--help"}, out);
    EXPECT_EQ(exitCodeWithin(pid, 10s), 0);
    const std::string text = readFileText(out);
    EXPECT_NE(text.find("--peer"), std::string::npos) << text;
    EXPECT_NE(text.find("--keys-file"), std::string::npos);
    pid = spawn({"--print-config"}, out);
    EXPECT_EQ(exitCodeWithin(pid, 10s), 0);
    EXPECT_NE(readFileText(out).find("evict_after"), std::string::npos);
    std::remove(out.c_str());
}

TEST(DiscoveryBinaryTest, BadConfigExitsTwoNamingTheKey) {
    const std::string cfg = tempPath("bad.yaml"), out = tempPath("bad.out");
    std::ofstream(cfg) << "listen: 127.0.0.1:1\nexpiry:\n  evict_after: later\n";
    pid_t pid = spawn({"-c", cfg}, out);
    EXPECT_EQ(exitCodeWithin(pid, 10s), 2);
    const std::string text = readFileText(out);
    EXPECT_NE(text.find("expiry.evict_after"), std::string::npos) << text;
    EXPECT_NE(text.find(cfg + ":3:"), std::string::npos) << text;
    std::remove(cfg.c_str());
    std::remove(out.c_str());
}

TEST(DiscoveryBinaryTest, ServesAndStopsOnSigterm) {
    const int port = vigil::testing::freeLoopbackPort();
    ASSERT_GT(port, 0);
    const std::string keys = tempPath("keys.yaml"), out = tempPath("run.out");
    std::ofstream(keys) << testing::kTestKey.access_key << ": " << testing::kTestKey.secret_key
                        << "\n";
    pid_t pid = spawn({"--listen", "127.0.0.1:" + std::to_string(port), "--keys-file", keys,
                       "--log-level", "info"},
                      out);
    ASSERT_TRUE(
        testing::waitFor([&] { return testing::getJson(port, "/healthz").status == 200; }, 10s))
        << readFileText(out);
    auto r = testing::postJson(port, "/registry/register",
                               testing::registration("hids_svr_grpc", "10.0.0.1", 6751, 1));
    EXPECT_EQ(r.status, 200) << r.body.dump();
    auto unsigned_write = testing::postJson(
        port, "/registry/register", testing::registration("hids_svr_grpc", "10.0.0.2", 6751, 1),
        server::AkSk{});
    EXPECT_EQ(unsigned_write.status, 401);
    EXPECT_EQ(testing::detailIps(port, "hids_svr_grpc"), (std::vector<std::string>{"10.0.0.1"}));
    auto list = testing::getJson(port, "/registry/list");
    EXPECT_EQ(list.body["data"][0]["name"], "hids_svr_grpc");
    ::kill(pid, SIGTERM);
    EXPECT_EQ(exitCodeWithin(pid, 10s), 0) << readFileText(out);
    EXPECT_NE(readFileText(out).find("listening on 127.0.0.1:" + std::to_string(port)),
              std::string::npos);
    std::remove(keys.c_str());
    std::remove(out.c_str());
}

}  // namespace
}  // namespace vigil::discovery
