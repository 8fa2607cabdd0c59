// The driver plugin end to end (label root): the real plugin binary runs under the plugin
// harness exactly as the agent starts it, loads its eBPF programs, and each test performs a
// real action and asserts every field of the record it produces. Skips (saying why) when not
// root or when the kernel refuses eBPF.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "libs/schema/schema.h"
#include "sdk/testkit/plugin_harness.h"

namespace {

using namespace std::chrono_literals;
using vigil::sdk::testkit::PluginHarness;
using vigil::sdk::testkit::ReceivedRecord;
using vigil::sdk::testkit::StagedPlugin;

constexpr auto kWait = 10s;

std::string readText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string inodeOf(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "";
    return std::to_string(st.st_ino);
}

std::string sha256File(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    std::string hex;
    char b[3];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(b, sizeof b, "%02x", md[i]);
        hex += b;
    }
    return hex;
}

std::string selfComm() {
    return trim(readText("/proc/self/comm"));
}

// Runs `fn` in a forked child (exit code = its return value) and reaps it. Returns the
// child's pid; `status` gets the wait status.
pid_t runChild(const std::function<int()>& fn, int* status = nullptr) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(fn());
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (status) *status = st;
    return pid;
}

int listenTcp(uint16_t* port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 8);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
    return fd;
}

class DriverEvents : public ::testing::Test {
public:
    static void SetUpTestSuite() {
        if (::geteuid() != 0) {
            skip_ = "the driver needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)";
            return;
        }
        auto staged = StagedPlugin::create(VIGIL_DRIVER_PLUGIN);
        ASSERT_TRUE(staged.ok()) << staged.message();
        staged_ = std::make_unique<StagedPlugin>(std::move(*staged));
        harness_ = std::make_unique<PluginHarness>();
        ASSERT_TRUE(harness_->start(staged_->path(), "poll_ms=5,heartbeat_s=3600").ok());
        auto first = harness_->waitForRecord(
            [](const ReceivedRecord& r) { return r.data_type == 900 || r.data_type == 901; }, 30s);
        ASSERT_TRUE(first.has_value()) << harness_->readStderr();
        if (first->data_type == 901 || first->field("mode").rfind("ebpf", 0) != 0) {
            skip_ = "the kernel refused the driver's eBPF programs: " + first->field("reason") +
                    " (mode " + first->field("mode") + ")";
        }
        heartbeat_ = *first;
    }
    static void TearDownTestSuite() {
        if (harness_) {
            auto st = harness_->stop();
            EXPECT_TRUE(st.cleanExit()) << st.describe() << "\n" << harness_->readStderr();
        }
        harness_.reset();
        staged_.reset();
    }

protected:
    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
    }

    static std::optional<ReceivedRecord> waitFor(
        int32_t dt, const std::function<bool(const ReceivedRecord&)>& m) {
        return harness_->waitForRecord(
            [&](const ReceivedRecord& r) { return r.data_type == dt && m(r); }, kWait);
    }

    // Fields every driver record has, for a process forked (not exec'ed) from this test.
    static void expectCommonOfForkedChild(const ReceivedRecord& r, pid_t child) {
        EXPECT_EQ(r.field("pid"), std::to_string(child));
        EXPECT_EQ(r.field("tgid"), std::to_string(child));
        EXPECT_EQ(r.field("ppid"), std::to_string(::getpid()));
        EXPECT_EQ(r.field("exe"), std::filesystem::read_symlink("/proc/self/exe").string());
        EXPECT_EQ(r.field("comm"), selfComm());
        expectHostFields(r);
        EXPECT_EQ(r.field("ppid_argv"), r.field("argv")) << "a forked child has its parent's argv";
        EXPECT_EQ(r.field("pid_tree")
                      .rfind(std::to_string(child) + "." + selfComm() + "<" +
                                 std::to_string(::getpid()) + "." + selfComm(),
                             0),
                  0u)
            << r.field("pid_tree");
        EXPECT_EQ(r.field("exe_hash"), sha256File("/proc/self/exe"));
    }

    static void expectHostFields(const ReceivedRecord& r) {
        struct utsname u {};
        ::uname(&u);
        EXPECT_EQ(r.field("nodename"), u.nodename);
        EXPECT_EQ(r.field("pns"), inodeOf("/proc/self/ns/pid"));
        // One NSpid entry: this process lives in the initial pid namespace.
        const std::string status = readText("/proc/self/status");
        const size_t at = status.find("NSpid:");
        const std::string nspid = status.substr(at, status.find('\n', at) - at);
        if (nspid.find_first_of("0123456789") == nspid.find_last_of(" \t") + 1) {
            EXPECT_EQ(r.field("root_pns"), r.field("pns")) << nspid;
        } else {
            EXPECT_NE(r.field("root_pns"), r.field("pns")) << nspid;
            EXPECT_NE(r.field("root_pns"), "0");
        }
        EXPECT_EQ(r.field("sessionid"), trim(readText("/proc/self/sessionid")));
        EXPECT_EQ(r.field("container_id"), "");
        EXPECT_EQ(r.field("uid"), std::to_string(::getuid()));
        EXPECT_EQ(r.field("username"), "root");
        EXPECT_FALSE(r.field("argv").empty());
    }

    static inline std::string skip_;
    static inline std::unique_ptr<StagedPlugin> staged_;
    static inline std::unique_ptr<PluginHarness> harness_;
    static inline ReceivedRecord heartbeat_;
};

TEST_F(DriverEvents, HeartbeatSaysHowItHooksTheKernel) {
    EXPECT_EQ(heartbeat_.data_type, 900);
    EXPECT_NE(heartbeat_.field("mode").find("tp_btf"), std::string::npos)
        << heartbeat_.field("mode");
    EXPECT_NE(heartbeat_.field("mode").find("cgroup"), std::string::npos);
    EXPECT_NE(heartbeat_.field("hooks").find("on_exec"), std::string::npos);
    EXPECT_NE(heartbeat_.field("hooks").find("on_connect4"), std::string::npos);
    EXPECT_EQ(heartbeat_.field("drops"), "0");
    // Hook types probed at start; the ones the driver uses must be there.
    const std::string support = heartbeat_.field("hook_support");
    for (const char* kind : {"tracepoint=yes", "tp_btf=yes", "iter=yes", "cgroup=yes"}) {
        EXPECT_NE(support.find(kind), std::string::npos) << support;
    }
    for (const char* kind : {"raw_tp=", "kprobe=", "fentry=", "lsm=", "uprobe="}) {
        EXPECT_NE(support.find(kind), std::string::npos) << support;
    }
    EXPECT_GT(std::stoi(heartbeat_.field("snapshot")), 1) << "the task iterator saw processes";
    struct utsname u {};
    ::uname(&u);
    EXPECT_EQ(heartbeat_.field("kernel"), u.release);
}

TEST_F(DriverEvents, ExecWithASocketOnStdin) {
    uint16_t port = 0;
    int lfd = listenTcp(&port);
    int cfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ::getsockname(cfd, reinterpret_cast<sockaddr*>(&local), &len);
    std::string cwd = std::filesystem::current_path().string();

    pid_t child = ::fork();
    if (child == 0) {
        ::setpgid(0, 0);
        ::dup2(cfd, 0);
        ::dup2(::open("/dev/null", O_WRONLY), 1);  // a character device: named by its rdev
        char* argv[] = {const_cast<char*>("/bin/true"), const_cast<char*>("vigil-exec-test"),
                        nullptr};
        char* envp[] = {const_cast<char*>("SSH_CONNECTION=10.0.0.1 50000 10.0.0.2 22"),
                        const_cast<char*>("LD_PRELOAD=libvigil-none.so"),
                        const_cast<char*>("PATH=/bin"), nullptr};
        ::execve("/bin/true", argv, envp);
        ::_exit(127);
    }
    int st = 0;
    ::waitpid(child, &st, 0);
    ::close(cfd);
    ::close(lfd);
    auto r = waitFor(
        59, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(r.has_value()) << harness_->readStderr();
    const std::string exe = std::filesystem::canonical("/bin/true").string();
    EXPECT_EQ(r->field("exe"), exe);
    EXPECT_EQ(r->field("argv"), "/bin/true vigil-exec-test");
    EXPECT_EQ(r->field("tgid"), std::to_string(child));
    EXPECT_EQ(r->field("ppid"), std::to_string(::getpid()));
    EXPECT_EQ(r->field("pgid"), std::to_string(child));
    EXPECT_EQ(r->field("sid"), std::to_string(::getsid(0)));
    EXPECT_EQ(r->field("comm"), "true");
    EXPECT_EQ(r->field("run_path"), cwd);
    EXPECT_EQ(r->field("res"), "0");
    EXPECT_EQ(r->field("stdin").rfind("socket:[", 0), 0u) << r->field("stdin");
    EXPECT_EQ(r->field("dip"), "127.0.0.1");
    EXPECT_EQ(r->field("dport"), std::to_string(port));
    EXPECT_EQ(r->field("sip"), "127.0.0.1");
    EXPECT_EQ(r->field("sport"), std::to_string(ntohs(local.sin_port)));
    EXPECT_EQ(r->field("sa_family"), "2");
    EXPECT_EQ(r->field("ssh_connection"), "10.0.0.1 50000 10.0.0.2 22");
    EXPECT_EQ(r->field("ld_preload"), "libvigil-none.so");
    EXPECT_EQ(r->field("exe_hash"), sha256File(exe));
    EXPECT_EQ(r->field("ppid_argv").find("driver_events_test") != std::string::npos, true)
        << r->field("ppid_argv");
    EXPECT_EQ(r->field("pgid_argv"), "/bin/true vigil-exec-test");
    EXPECT_EQ(
        r->field("pid_tree")
            .rfind(std::to_string(child) + ".true<" + std::to_string(::getpid()) + "." + selfComm(),
                   0),
        0u)
        << r->field("pid_tree");
    EXPECT_EQ(r->field("stdout"), "/dev/null");
    expectHostFields(*r);
}

TEST_F(DriverEvents, FailedExecCarriesTheErrno) {
    pid_t child = runChild([] {
        char* argv[] = {const_cast<char*>("/nonexistent/vigil-nothing"), nullptr};
        ::execv(argv[0], argv);
        return 0;
    });
    auto r = waitFor(
        59, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("res"), "-2");
    EXPECT_EQ(r->field("exe_path_asked"), "/nonexistent/vigil-nothing");
    EXPECT_EQ(r->field("run_path"), std::filesystem::current_path().string());
    expectCommonOfForkedChild(*r, child);
}

TEST_F(DriverEvents, ConnectAndBindOnLoopback) {
    uint16_t port = 0;
    int lfd = listenTcp(&port);
    auto lr = waitFor(
        49, [&](const ReceivedRecord& x) { return x.field("sport") == std::to_string(port); });
    ASSERT_TRUE(lr.has_value());
    EXPECT_EQ(lr->field("sip"), "127.0.0.1");
    EXPECT_EQ(lr->field("sa_family"), "2");
    EXPECT_EQ(lr->field("protocol"), "tcp");
    EXPECT_EQ(lr->field("tgid"), std::to_string(::getpid()));
    EXPECT_EQ(lr->field("res"), "0");
    expectHostFields(*lr);

    int cfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(cfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(cfd);
    ::close(lfd);
    auto r = waitFor(
        42, [&](const ReceivedRecord& x) { return x.field("dport") == std::to_string(port); });
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("dip"), "127.0.0.1");
    EXPECT_EQ(r->field("sa_family"), "2");
    EXPECT_EQ(r->field("protocol"), "tcp");
    EXPECT_EQ(r->field("pid"), std::to_string(::syscall(SYS_gettid)));
    EXPECT_EQ(r->field("tgid"), std::to_string(::getpid()));
    EXPECT_EQ(r->field("exe"), std::filesystem::read_symlink("/proc/self/exe").string());
    EXPECT_EQ(r->field("res"), "0");
    expectHostFields(*r);

    // IPv6 loopback, UDP.
    int u6 = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 a6{};
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(9);
    a6.sin6_addr = in6addr_loopback;
    ASSERT_EQ(::connect(u6, reinterpret_cast<sockaddr*>(&a6), sizeof a6), 0);
    ::close(u6);
    auto r6 = waitFor(42, [&](const ReceivedRecord& x) {
        return x.field("dip") == "::1" && x.field("dport") == "9";
    });
    ASSERT_TRUE(r6.has_value());
    EXPECT_EQ(r6->field("sa_family"), "10");
    EXPECT_EQ(r6->field("protocol"), "udp");
}

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/vigil-driver-test.XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

TEST_F(DriverEvents, RenameAndLinkWithAbsoluteAndRelativePaths) {
    TempDir dir;
    const std::string a = dir.path() + "/a", b = dir.path() + "/b", c = dir.path() + "/c";
    { std::ofstream(a) << "x"; }
    pid_t child = runChild([&] {
        if (::rename(a.c_str(), b.c_str()) != 0) return 1;
        int dfd = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
        if (::linkat(dfd, "b", dfd, "c", 0) != 0) return 2;
        return 0;
    });
    auto r = waitFor(
        82, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("old_name"), a);
    EXPECT_EQ(r->field("new_name"), b);
    EXPECT_EQ(r->field("res"), "0");
    expectCommonOfForkedChild(*r, child);
    auto l = waitFor(
        86, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(l->field("old_name"), b);
    EXPECT_EQ(l->field("new_name"), c);
    EXPECT_EQ(l->field("res"), "0");
    expectCommonOfForkedChild(*l, child);
}

TEST_F(DriverEvents, FileCreateOnlyWhenTheOpenCreatedIt) {
    TempDir dir;
    const std::string existing = dir.path() + "/existing", fresh = dir.path() + "/fresh";
    { std::ofstream(existing) << "x"; }
    int fd_seen = -1;
    pid_t child = runChild(
        [&] {
            int e = ::open(existing.c_str(), O_WRONLY | O_CREAT, 0600);  // exists: not a create
            int f = ::open(fresh.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640);
            return (e >= 0 && f >= 0) ? f : 255;
        },
        &fd_seen);
    auto r = waitFor(
        602, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("file_path"), fresh);
    EXPECT_EQ(r->field("res"), std::to_string(WEXITSTATUS(fd_seen)));
    EXPECT_EQ(std::stoi(r->field("mode")) & 0777, 0640);
    EXPECT_NE(std::stoi(r->field("flags")) & O_CREAT, 0) << r->field("flags");
    expectCommonOfForkedChild(*r, child);
    for (const auto& x : harness_->records(602)) {
        if (x.field("pid") != std::to_string(child)) continue;
        EXPECT_NE(x.field("file_path"), existing) << "opening an existing file is not a create";
    }
}

volatile long g_poke_target = 0;

TEST_F(DriverEvents, PtracePokeDataOfAChild) {
    pid_t tracee = ::fork();
    if (tracee == 0) {
        ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
        ::raise(SIGSTOP);
        ::_exit(g_poke_target == 0x5a5a ? 0 : 1);
    }
    int st = 0;
    ::waitpid(tracee, &st, 0);
    ASSERT_TRUE(WIFSTOPPED(st));
    const auto addr = reinterpret_cast<uintptr_t>(&g_poke_target);
    ASSERT_EQ(::ptrace(PTRACE_POKEDATA, tracee, reinterpret_cast<void*>(addr),
                       reinterpret_cast<void*>(0x5a5a)),
              0);
    ::ptrace(PTRACE_CONT, tracee, nullptr, nullptr);
    ::waitpid(tracee, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    auto r = waitFor(101, [&](const ReceivedRecord& x) {
        return x.field("target_pid") == std::to_string(tracee);
    });
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("ptrace_request"), "5");
    EXPECT_EQ(r->field("addr"), std::to_string(addr));
    EXPECT_EQ(r->field("data"), std::to_string(0x5a5a));
    EXPECT_EQ(r->field("res"), "0");
    EXPECT_EQ(r->field("tgid"), std::to_string(::getpid()));
    expectHostFields(*r);
}

TEST_F(DriverEvents, MemfdCreate) {
    pid_t child = runChild([] {
        int fd = static_cast<int>(::syscall(SYS_memfd_create, "vigil-memfd", MFD_CLOEXEC));
        return fd >= 0 ? fd : 255;
    });
    auto r = waitFor(
        356, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("fdname"), "vigil-memfd");
    EXPECT_EQ(r->field("flags"), std::to_string(MFD_CLOEXEC));
    EXPECT_GE(std::stoi(r->field("res")), 3);
    expectCommonOfForkedChild(*r, child);
}

TEST_F(DriverEvents, MountOfATmpfsInAPrivateNamespace) {
    TempDir dir;
    int status = 0;
    pid_t child = runChild(
        [&] {
            if (::unshare(CLONE_NEWNS) != 0) return 10;
            if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 11;
            if (::mount("vigiltmp", dir.path().c_str(), "tmpfs", MS_NOSUID, "size=1m") != 0)
                return 12;
            return 0;
        },
        &status);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << WEXITSTATUS(status);
    auto r = waitFor(165, [&](const ReceivedRecord& x) {
        return x.field("pid") == std::to_string(child) && x.field("fstype") == "tmpfs";
    });
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("dev_name"), "vigiltmp");
    EXPECT_EQ(r->field("file_path"), dir.path());
    EXPECT_EQ(r->field("option"), "size=1m");
    EXPECT_EQ(r->field("flags"), std::to_string(MS_NOSUID));
    EXPECT_EQ(r->field("res"), "0");
    expectCommonOfForkedChild(*r, child);
}

TEST_F(DriverEvents, SetsidAndPrctlSetName) {
    pid_t child = runChild([] {
        if (::setsid() < 0) return 1;
        return ::prctl(PR_SET_NAME, "vigil-renamed") == 0 ? 0 : 2;
    });
    auto s = waitFor(
        112, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->field("res"), std::to_string(child));
    EXPECT_EQ(s->field("sid"), std::to_string(child)) << "the ids after the call";
    expectCommonOfForkedChild(*s, child);
    auto p = waitFor(
        157, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->field("option"), "15");
    EXPECT_EQ(p->field("newname"), "vigil-renamed");
    EXPECT_EQ(p->field("comm"), "vigil-renamed");
    EXPECT_EQ(p->field("res"), "0");
}

TEST_F(DriverEvents, SetuidBackToRootIsACredChange) {
    int status = 0;
    pid_t child = runChild(
        [] {
            if (::setresuid(1000, 1000, 0) != 0) return 1;
            if (::setresuid(0, 0, 0) != 0) return 2;
            return 0;
        },
        &status);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto r = waitFor(
        604, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("old_uid"), "1000");
    EXPECT_EQ(r->field("old_euid"), "1000");
    EXPECT_EQ(r->field("new_uid"), "0");
    EXPECT_EQ(r->field("new_euid"), "0");
    EXPECT_EQ(r->field("new_suid"), "0");
    EXPECT_EQ(r->field("syscall"), std::to_string(SYS_setresuid));
    EXPECT_EQ(r->field("old_from"), "process");
    EXPECT_EQ(r->field("uid"), "0");
    expectCommonOfForkedChild(*r, child);
    // Dropping to 1000 is not reported.
    EXPECT_EQ(harness_->records(604).size(), 1u);
}

TEST_F(DriverEvents, DnsAnswerFromALocalResponderInANetworkNamespace) {
    // Everything runs in a child in a new network namespace with its own loopback: a UDP
    // responder on 127.0.0.1:53 answers one A query.
    int status = 0;
    pid_t child = runChild(
        [] {
            if (::unshare(CLONE_NEWNET) != 0) return 10;
            int s = ::socket(AF_INET, SOCK_DGRAM, 0);
            ifreq ifr{};
            std::strcpy(ifr.ifr_name, "lo");
            ::ioctl(s, SIOCGIFFLAGS, &ifr);
            ifr.ifr_flags |= IFF_UP;
            if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) return 11;
            ::close(s);
            int srv = ::socket(AF_INET, SOCK_DGRAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(53);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 12;
            int cli = ::socket(AF_INET, SOCK_DGRAM, 0);
            if (::connect(cli, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 13;
            // Query: id 0x1234, RD, one question vigil-test.example A IN.
            const unsigned char q[] = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0,   0,
                                       0,    0,    0,    10,   'v', 'i', 'g', 'i', 'l',
                                       '-',  't',  'e',  's',  't', 7,   'e', 'x', 'a',
                                       'm',  'p',  'l',  'e',  0,   0,   1,   0,   1};
            if (::send(cli, q, sizeof q, 0) != static_cast<ssize_t>(sizeof q)) return 14;
            unsigned char buf[512];
            sockaddr_in peer{};
            socklen_t plen = sizeof peer;
            ssize_t n =
                ::recvfrom(srv, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &plen);
            if (n != static_cast<ssize_t>(sizeof q)) return 15;
            unsigned char ans[512];
            std::memcpy(ans, q, sizeof q);
            ans[2] = 0x81;
            ans[3] = 0x80;  // QR, RD, RA, rcode 0
            ans[7] = 1;     // ancount
            const unsigned char rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3};
            std::memcpy(ans + sizeof q, rr, sizeof rr);
            ::sendto(srv, ans, sizeof q + sizeof rr, 0, reinterpret_cast<sockaddr*>(&peer), plen);
            n = ::recv(cli, buf, sizeof buf, 0);
            return n == static_cast<ssize_t>(sizeof q + sizeof rr) ? 0 : 16;
        },
        &status);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << WEXITSTATUS(status);
    auto r = waitFor(
        601, [&](const ReceivedRecord& x) { return x.field("pid") == std::to_string(child); });
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("query"), "vigil-test.example");
    EXPECT_EQ(r->field("type"), "A");
    EXPECT_EQ(r->field("rcode"), "0");
    EXPECT_EQ(r->field("opcode"), "0");
    EXPECT_EQ(r->field("answers"), "10.1.2.3");
    EXPECT_EQ(r->field("dip"), "127.0.0.1");
    EXPECT_EQ(r->field("dport"), "53");
    EXPECT_EQ(r->field("sip"), "127.0.0.1");
    EXPECT_NE(r->field("sport"), "0");
    EXPECT_EQ(r->field("sa_family"), "2");
    expectCommonOfForkedChild(*r, child);
    // The responder's read of the query (peer port not 53) is not a DNS answer.
    EXPECT_EQ(harness_->records(601).size(), 1u);
}

TEST_F(DriverEvents, ModuleLoad) {
    if (::access("/proc/modules", F_OK) != 0) {
        GTEST_SKIP() << "this kernel is built without loadable module support (no /proc/modules)";
    }
    // The network "dummy" module is in most distribution kernels.
    if (std::system("modprobe -r dummy >/dev/null 2>&1; modprobe dummy >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "modprobe dummy failed: no loadable module to test with";
    }
    auto r = waitFor(603, [](const ReceivedRecord& x) { return x.field("mod_name") == "dummy"; });
    std::system("modprobe -r dummy >/dev/null 2>&1");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->field("comm"), "modprobe");
    EXPECT_NE(r->field("exe").find("kmod"), std::string::npos) << r->field("exe");
    expectHostFields(*r);
}

// A second driver, with set*uid calls not watched: a process that turns root without a call the
// driver saw is a privilege escalation (611).
TEST_F(DriverEvents, RootWithoutAWatchedCallIsAPrivilegeEscalation) {
    auto staged = StagedPlugin::create(VIGIL_DRIVER_PLUGIN);
    ASSERT_TRUE(staged.ok());
    PluginHarness h;
    ASSERT_TRUE(h.start(staged->path(), "disable=cred_change,heartbeat_s=3600").ok());
    ASSERT_TRUE(h.waitForRecord([](const ReceivedRecord& r) { return r.data_type == 900; }, 30s));
    int status = 0;
    pid_t child = runChild(
        [] {
            if (::setresuid(1000, 1000, 0) != 0) return 1;
            ::prctl(PR_SET_NAME, "vigil-user");  // seen as uid 1000
            ::usleep(300 * 1000);                // the driver reads that before the next step
            if (::setresuid(0, 0, 0) != 0) return 2;
            ::prctl(PR_SET_NAME, "vigil-root");  // seen as root: no set*uid call seen
            return 0;
        },
        &status);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto r = h.waitForRecord(
        [&](const ReceivedRecord& x) {
            return x.data_type == 611 && x.field("pid") == std::to_string(child);
        },
        kWait);
    ASSERT_TRUE(r.has_value()) << h.readStderr();
    EXPECT_EQ(r->field("p_pid"), std::to_string(child));
    EXPECT_EQ(r->field("p_cred"), "1000|1000");
    EXPECT_EQ(r->field("c_cred"), "0|0|0|0|0|0|0|0");
    EXPECT_EQ(r->field("trigger"), "157");
    EXPECT_EQ(r->field("comm"), "vigil-root");
    EXPECT_TRUE(h.records(604).empty());

    // Root from nowhere, then exec of a program that is not setuid: the exec reveals it.
    pid_t shell = runChild(
        [] {
            if (::setresuid(1000, 1000, 0) != 0) return 1;
            ::prctl(PR_SET_NAME, "vigil-user2");  // seen as uid 1000
            ::usleep(300 * 1000);
            if (::setresuid(0, 0, 0) != 0) return 2;
            ::execl("/bin/true", "/bin/true", "vigil-escalated", nullptr);
            return 3;
        },
        &status);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto e = h.waitForRecord(
        [&](const ReceivedRecord& x) {
            return x.data_type == 611 && x.field("pid") == std::to_string(shell);
        },
        kWait);
    ASSERT_TRUE(e.has_value()) << h.readStderr();
    EXPECT_EQ(e->field("trigger"), "59");
    EXPECT_EQ(e->field("p_cred"), "1000|1000");
    EXPECT_EQ(e->field("exe"), std::filesystem::canonical("/bin/true").string());
    EXPECT_EQ(e->field("argv"), "/bin/true vigil-escalated");
    // A setuid-root program started by a non-root user is not an escalation: exec of a copy of
    // /bin/true made setuid root, by uid 1000.
    TempDir dir;
    ::chmod(dir.path().c_str(), 0755);
    const std::string suid = dir.path() + "/suid-true";
    std::filesystem::copy_file("/bin/true", suid);
    ASSERT_EQ(::chmod(suid.c_str(), 04755), 0);
    pid_t user = runChild(
        [&] {
            if (::setresuid(1000, 1000, 1000) != 0) return 1;
            ::prctl(PR_SET_NAME, "vigil-user3");
            ::usleep(300 * 1000);
            ::execl(suid.c_str(), suid.c_str(), nullptr);
            return 3;
        },
        &status);
    auto ex = h.waitForRecord(
        [&](const ReceivedRecord& x) {
            return x.data_type == 59 && x.field("pid") == std::to_string(user);
        },
        kWait);
    ASSERT_TRUE(ex.has_value());
    for (const auto& x : h.records(611)) {
        EXPECT_NE(x.field("pid"), std::to_string(user)) << "a setuid exec is expected";
    }
    EXPECT_TRUE(h.stop().cleanExit());
}

// Runs after the event tests above (declaration order): every record the driver wrote has
// exactly the fields libs/schema/data_types.yaml lists for its data_type.
TEST_F(DriverEvents, EveryRecordMatchesTheSchema) {
    size_t checked = 0;
    for (const auto& r : harness_->records()) {
        const auto* info = vigil::schema::find(r.data_type);
        ASSERT_NE(info, nullptr) << "data_type " << r.data_type << " is not in the schema";
        for (const auto& [key, value] : r.fields) {
            EXPECT_NE(info->field(key), nullptr) << r.data_type << " writes " << key;
        }
        if (r.data_type < 900) {
            for (const auto& f : info->fields) {
                if (f.name == "exe_path_asked" || f.name == "dip" || f.name == "dport" ||
                    f.name == "sip" || f.name == "sport" || f.name == "sa_family") {
                    continue;  // present only when they apply (failed exec, socket on stdin)
                }
                EXPECT_EQ(r.fields.count(std::string(f.name)), 1u)
                    << r.data_type << " lacks " << f.name;
            }
        }
        ++checked;
    }
    EXPECT_GT(checked, 10u);
}

}  // namespace

namespace {

// A driver of its own with the events that are off by default turned on.
class DriverOptionalEvents : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "the driver needs root";
        char tmpl[] = "/tmp/vigil-driver-watch.XXXXXX";
        dir_ = ::mkdtemp(tmpl);
        watched_ = dir_ + "/watched";
        { std::ofstream(watched_) << "secret"; }
        auto staged = StagedPlugin::create(VIGIL_DRIVER_PLUGIN);
        ASSERT_TRUE(staged.ok());
        staged_ = std::make_unique<StagedPlugin>(std::move(*staged));
        ASSERT_TRUE(h_.start(staged_->path(),
                             "enable=accept:exit:kill:open:unlink:write:read,"
                             "heartbeat_s=3600,watch_paths=" +
                                 watched_)
                        .ok());
        auto hb = h_.waitForRecord(
            [](const ReceivedRecord& r) { return r.data_type == 900 || r.data_type == 901; }, 30s);
        ASSERT_TRUE(hb.has_value());
        if (hb->data_type == 901) GTEST_SKIP() << "eBPF refused: " << hb->field("reason");
    }
    void TearDown() override {
        h_.stop();
        std::filesystem::remove_all(dir_);
    }
    std::optional<ReceivedRecord> waitFor(int32_t dt,
                                          const std::function<bool(const ReceivedRecord&)>& m) {
        return h_.waitForRecord([&](const ReceivedRecord& r) { return r.data_type == dt && m(r); },
                                kWait);
    }
    static bool ofPid(const ReceivedRecord& r, pid_t pid) {
        return r.field("pid") == std::to_string(pid);
    }

    std::string dir_, watched_;
    std::unique_ptr<StagedPlugin> staged_;
    PluginHarness h_;
};

TEST_F(DriverOptionalEvents, AcceptExitKillOpenUnlinkReadWrite) {
    uint16_t port = 0;
    int lfd = listenTcp(&port);
    const std::string victim = dir_ + "/victim";
    { std::ofstream(victim) << "x"; }
    int status = 0;
    pid_t child = runChild(
        [&] {
            int c = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(port);
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 1;
            int s = ::accept(lfd, nullptr, nullptr);
            if (s < 0) return 2;
            ::kill(::getpid(), 0);  // signal 0: a permission check, still a kill(2)
            int fd = ::open(watched_.c_str(), O_RDWR);
            char buf[6];
            if (::read(fd, buf, sizeof buf) != 6) return 3;
            if (::write(fd, "!", 1) != 1) return 4;
            if (::unlink(victim.c_str()) != 0) return 5;
            return 7;
        },
        &status);
    ::close(lfd);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7) << status;

    auto acc = waitFor(43, [&](const ReceivedRecord& r) { return ofPid(r, child); });
    ASSERT_TRUE(acc.has_value());
    EXPECT_EQ(acc->field("sport"), std::to_string(port));
    EXPECT_EQ(acc->field("sip"), "127.0.0.1");
    EXPECT_EQ(acc->field("dip"), "127.0.0.1");
    EXPECT_NE(acc->field("dport"), "0");
    EXPECT_EQ(acc->field("protocol"), "tcp");
    EXPECT_GE(std::stoi(acc->field("res")), 3);

    auto k = waitFor(62, [&](const ReceivedRecord& r) { return ofPid(r, child); });
    ASSERT_TRUE(k.has_value());
    EXPECT_EQ(k->field("target_pid"), std::to_string(child));
    EXPECT_EQ(k->field("sig"), "0");
    EXPECT_EQ(k->field("res"), "0");

    auto o = waitFor(2, [&](const ReceivedRecord& r) {
        return ofPid(r, child) && r.field("file_path") == watched_;
    });
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(std::stoi(o->field("flags")) & O_ACCMODE, O_RDWR);

    auto rd = waitFor(609, [&](const ReceivedRecord& r) { return ofPid(r, child); });
    ASSERT_TRUE(rd.has_value());
    EXPECT_EQ(rd->field("file_path"), watched_);
    EXPECT_EQ(rd->field("res"), "6");
    auto wr = waitFor(608, [&](const ReceivedRecord& r) { return ofPid(r, child); });
    ASSERT_TRUE(wr.has_value());
    EXPECT_EQ(wr->field("file_path"), watched_);
    EXPECT_EQ(wr->field("res"), "1");

    auto u = waitFor(605, [&](const ReceivedRecord& r) { return ofPid(r, child); });
    ASSERT_TRUE(u.has_value());
    EXPECT_EQ(u->field("file_path"), victim);
    EXPECT_EQ(u->field("res"), "0");

    auto e = waitFor(60, [&](const ReceivedRecord& r) { return ofPid(r, child); });
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->field("exit_code"), std::to_string(7 << 8));
    EXPECT_EQ(e->field("comm"), selfComm());
}

// Filters set by DETAIL and by the 9300 task, and their counters in the heartbeat.
TEST_F(DriverOptionalEvents, FiltersDropInTheKernelAndAreCounted) {
    auto status = [&](const std::string& token) {
        EXPECT_TRUE(h_.sendTask(9301, "driver", "", token).ok());
        EXPECT_TRUE(h_.waitForRecord(
            [&](const ReceivedRecord& r) {
                return r.data_type == 5100 && r.field("token") == token;
            },
            kWait));
        auto hbs = h_.records(900);
        return hbs.back();
    };
    const std::string truePath = std::filesystem::canonical("/bin/true").string();
    ASSERT_TRUE(h_.sendTask(9300, "driver",
                            "{\"exe_allowlist\": \"" + truePath +
                                "\", \"drop_loopback_connect\": true, "
                                "\"argv_allowlist\": \"/bin/echo vigil-quiet\"}",
                            "f1")
                    .ok());
    auto res = h_.waitForRecord(
        [](const ReceivedRecord& r) { return r.data_type == 5100 && r.field("token") == "f1"; },
        kWait);
    ASSERT_TRUE(res.has_value());
    ASSERT_EQ(res->field("status"), "succeed") << res->field("msg");

    pid_t quiet_true = runChild([] {
        ::execl("/bin/true", "/bin/true", "vigil-allowed", nullptr);
        return 127;
    });
    pid_t quiet_echo = runChild([] {
        int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 1);
        ::execl("/bin/echo", "/bin/echo", "vigil-quiet", nullptr);
        return 127;
    });
    pid_t loud_echo = runChild([] {
        int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 1);
        ::execl("/bin/echo", "/bin/echo", "vigil-loud", nullptr);
        return 127;
    });
    uint16_t port = 0;
    int lfd = listenTcp(&port);
    int c = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(c);
    ::close(lfd);

    // The loud echo shows the pipeline ran past the quiet ones.
    ASSERT_TRUE(waitFor(59, [&](const ReceivedRecord& r) { return ofPid(r, loud_echo); }));
    auto hb = status("s1");
    for (const auto& r : h_.records(59)) {
        EXPECT_NE(r.field("pid"), std::to_string(quiet_true)) << "exe allow-listed";
        EXPECT_NE(r.field("pid"), std::to_string(quiet_echo)) << "argv allow-listed";
    }
    for (const auto& r : h_.records(42)) {
        EXPECT_NE(r.field("dport"), std::to_string(port)) << "loopback connect dropped";
    }
    EXPECT_GE(std::stoi(hb.field("filtered")), 3) << hb.field("filtered_detail");
    EXPECT_NE(hb.field("filtered_detail").find("execve="), std::string::npos);
    EXPECT_NE(hb.field("filtered_detail").find("connect="), std::string::npos);

    // A bad filter task is refused with the reason, the old filters stay.
    ASSERT_TRUE(h_.sendTask(9300, "driver", "flood_per_minute=-3", "f2").ok());
    auto bad = h_.waitForRecord(
        [](const ReceivedRecord& r) { return r.data_type == 5100 && r.field("token") == "f2"; },
        kWait);
    ASSERT_TRUE(bad.has_value());
    EXPECT_EQ(bad->field("status"), "failed");
    EXPECT_NE(bad->field("msg").find("flood_per_minute"), std::string::npos) << bad->field("msg");
}

TEST(DriverConfigErrors, BadDetailStopsWithTheReason) {
    auto staged = StagedPlugin::create(VIGIL_DRIVER_PLUGIN);
    ASSERT_TRUE(staged.ok());
    PluginHarness h;
    ASSERT_TRUE(h.start(staged->path(), "events=execve:nosuchevent").ok());
    ASSERT_TRUE(h.waitForExit(10s));
    auto st = h.stop();
    EXPECT_TRUE(st.exited && st.code == 2) << st.describe();
    auto logs = h.records(1010);
    ASSERT_FALSE(logs.empty());
    EXPECT_NE(logs[0].field("msg").find("unknown event 'nosuchevent'"), std::string::npos)
        << logs[0].field("msg");
}

}  // namespace

namespace {

int udpConnects(int n) {
    int done = 0;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(9);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (int i = 0; i < n; ++i) {
        if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) ++done;
    }
    ::close(s);
    return done;
}

TEST(DriverQuieting, AnExeThatFloodsIsQuietedForTheMinute) {
    if (::geteuid() != 0) GTEST_SKIP() << "the driver needs root";
    auto staged = StagedPlugin::create(VIGIL_DRIVER_PLUGIN);
    ASSERT_TRUE(staged.ok());
    PluginHarness h;
    ASSERT_TRUE(h.start(staged->path(), "flood_per_minute=50,heartbeat_s=3600").ok());
    auto hb = h.waitForRecord(
        [](const ReceivedRecord& r) { return r.data_type == 900 || r.data_type == 901; }, 30s);
    ASSERT_TRUE(hb.has_value());
    if (hb->data_type == 901) GTEST_SKIP() << "eBPF refused: " << hb->field("reason");
    ASSERT_EQ(udpConnects(300), 300);
    ASSERT_TRUE(h.sendTask(9301, "driver", "", "s").ok());
    ASSERT_TRUE(h.waitForRecord(
        [](const ReceivedRecord& r) { return r.data_type == 5100 && r.field("token") == "s"; },
        kWait));
    auto last = h.records(900).back();
    size_t ours = 0;
    for (const auto& r : h.records(42)) ours += r.field("tgid") == std::to_string(::getpid());
    // This test binary lies outside the system directories: after 50 events in the minute the
    // rest are quieted in the kernel and counted.
    EXPECT_LE(ours, 51u);
    EXPECT_GE(ours, 40u);
    EXPECT_GE(std::stoi(last.field("quieted")), 249) << last.field("quieted_detail");
    EXPECT_NE(last.field("quieted_detail").find("connect="), std::string::npos);
    EXPECT_TRUE(h.stop().cleanExit());
}

// mode=proc: what a host without eBPF gets: a 901 record saying why, then exec records from the
// proc connector and /proc.
TEST(DriverFallback, ProcConnectorWhenEbpfIsNotUsed) {
    if (::geteuid() != 0) GTEST_SKIP() << "the proc connector needs root here";
    auto staged = StagedPlugin::create(VIGIL_DRIVER_PLUGIN);
    ASSERT_TRUE(staged.ok());
    PluginHarness h;
    ASSERT_TRUE(h.start(staged->path(), "mode=proc,heartbeat_s=3600").ok());
    auto un = h.waitForRecord([](const ReceivedRecord& r) { return r.data_type == 901; }, 30s);
    ASSERT_TRUE(un.has_value()) << h.readStderr();
    EXPECT_EQ(un->field("mode"), "proc_connector");
    EXPECT_NE(un->field("reason").find("mode=proc"), std::string::npos) << un->field("reason");
    auto hb = h.waitForRecord([](const ReceivedRecord& r) { return r.data_type == 900; }, 10s);
    ASSERT_TRUE(hb.has_value());
    EXPECT_EQ(hb->field("mode"), "proc_connector");

    pid_t child = ::fork();
    if (child == 0) {
        ::execl("/bin/sleep", "/bin/sleep", "0.5", nullptr);
        ::_exit(127);
    }
    auto r = h.waitForRecord(
        [&](const ReceivedRecord& x) {
            return x.data_type == 59 && x.field("pid") == std::to_string(child);
        },
        kWait);
    int st = 0;
    ::waitpid(child, &st, 0);
    ASSERT_TRUE(r.has_value()) << h.readStderr();
    EXPECT_EQ(r->field("exe"), std::filesystem::canonical("/bin/sleep").string());
    EXPECT_EQ(r->field("argv"), "/bin/sleep 0.5");
    EXPECT_EQ(r->field("ppid"), std::to_string(::getpid()));
    EXPECT_EQ(r->field("run_path"), std::filesystem::current_path().string());
    EXPECT_EQ(r->field("username"), "root");
    EXPECT_EQ(r->field("exe_hash"), sha256File(std::filesystem::canonical("/bin/sleep")));
    EXPECT_TRUE(h.stop().cleanExit());
}

}  // namespace
