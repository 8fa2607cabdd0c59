// Tests of the proc connector fallback source (label root): exec, setsid, exit and uid-change
// events of real child processes arrive as the raw records the eBPF programs write. Skipped,
// with the reason printed, where the kernel refuses the connector.
#include "plugins/driver/src/proc_source.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "plugins/driver/src/event_decoder.h"

namespace vigil::driver {
namespace {

constexpr uint64_t bit(vg_slot slot) {
    return uint64_t{1} << slot;
}

// A forked child that is killed and reaped when the test ends, however it ends.
class Child {
public:
    explicit Child(pid_t pid) : pid_(pid) {}
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    pid_t pid() const { return pid_; }
    // Reaps the child; its wait status.
    int wait() {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return status;
    }

private:
    pid_t pid_;
};

// Forks a child that runs `body` (async-signal-safe calls only) and then _exit(0)s.
pid_t forkChild(void (*body)()) {
    pid_t pid = ::fork();
    if (pid == 0) {
        body();
        ::_exit(0);
    }
    return pid;
}

void execSleep() {
    char* const argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("0.3"), nullptr};
    ::execv("/bin/sleep", argv);
    ::_exit(127);
}

void pause300ms() {
    struct timespec ts {
        0, 300 * 1000 * 1000
    };
    while (::nanosleep(&ts, &ts) != 0) {
    }
}

// A source whose records are copied into `records` (a DecodedEvent points into its buffer).
struct Capture {
    std::unique_ptr<ProcSource> source;
    std::vector<std::string> records;
    std::string reason;  // why the source could not be opened

    explicit Capture(uint64_t slots) {
        auto opened = ProcSource::open(slots, 50, [this](std::span<const uint8_t> raw) {
            records.emplace_back(reinterpret_cast<const char*>(raw.data()), raw.size());
        });
        if (!opened.ok()) {
            reason = opened.message() + (::geteuid() != 0 ? " (not running as root)" : "");
            return;
        }
        source = std::move(*opened);
    }

    // Polls until a record of `tgid` with `type` arrives (5 s at most) and decodes it into
    // `out`, which points into `raw`.
    bool waitFor(uint32_t type, pid_t tgid, std::string* raw, DecodedEvent* out) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        size_t seen = 0;
        while (std::chrono::steady_clock::now() < deadline) {
            EXPECT_GE(source->poll(), 0);
            for (; seen < records.size(); ++seen) {
                DecodedEvent ev;
                EXPECT_EQ(decodeEvent(std::string_view(records[seen]), ev), DecodeError::kNone);
                if (ev.hdr.type == type && ev.hdr.tgid == static_cast<uint32_t>(tgid)) {
                    *raw = records[seen];
                    return decodeEvent(std::string_view(*raw), *out) == DecodeError::kNone;
                }
            }
        }
        return false;
    }

    size_t count(uint32_t type, pid_t tgid) const {
        size_t n = 0;
        for (const std::string& r : records) {
            DecodedEvent ev;
            if (decodeEvent(std::string_view(r), ev) == DecodeError::kNone && ev.hdr.type == type &&
                ev.hdr.tgid == static_cast<uint32_t>(tgid)) {
                ++n;
            }
        }
        return n;
    }
};

#define OPEN_OR_SKIP(capture)                                                      \
    if (!(capture).source) {                                                       \
        std::printf("proc connector unavailable: %s\n", (capture).reason.c_str()); \
        GTEST_SKIP() << (capture).reason;                                          \
    }

uint8_t expectedFdKind(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return VG_FD_NONE;
    switch (st.st_mode & S_IFMT) {
        case S_IFREG:
            return VG_FD_FILE;
        case S_IFCHR:
            return VG_FD_CHAR;
        case S_IFIFO:
            return VG_FD_PIPE;
        case S_IFSOCK:
            return VG_FD_SOCKET;
        default:
            return VG_FD_OTHER;
    }
}

uint32_t inodeOf(const char* path) {
    struct stat st {};
    return ::stat(path, &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

TEST(ProcSourceTest, ExecOfAChildIsTheKernelsExecRecord) {
    Capture cap(bit(VG_SLOT_EXECVE));
    OPEN_OR_SKIP(cap);
    EXPECT_EQ(cap.source->hookMode(), "proc_connector");

    Child child(forkChild(execSleep));
    const pid_t pid = child.pid();
    ASSERT_GT(pid, 0);
    DecodedEvent ev;
    std::string raw;
    ASSERT_TRUE(cap.waitFor(VG_EXECVE, pid, &raw, &ev))
        << "no exec record of " << pid << " in 5 s; stats: events " << cap.source->stats().events
        << ", lost " << cap.source->stats().lost;
    EXPECT_EQ(child.wait(), 0);

    const vg_header& h = ev.hdr;
    EXPECT_EQ(h.type, static_cast<uint32_t>(VG_EXECVE));
    EXPECT_EQ(h.pid, static_cast<uint32_t>(pid));
    EXPECT_EQ(h.tgid, static_cast<uint32_t>(pid));
    EXPECT_EQ(h.ppid, static_cast<uint32_t>(::getpid()));
    EXPECT_EQ(h.uid, ::getuid());
    EXPECT_EQ(h.euid, ::geteuid());
    EXPECT_EQ(h.gid, ::getgid());
    EXPECT_EQ(h.ret, 0);
    EXPECT_STREQ(std::string(h.comm, strnlen(h.comm, sizeof(h.comm))).c_str(), "sleep");
    EXPECT_GT(h.start_time, 0u);
    EXPECT_LE(h.start_time, h.ktime_ns);
    EXPECT_EQ(h.pns, inodeOf("/proc/self/ns/pid"));
    EXPECT_EQ(h.uts_ns, inodeOf("/proc/self/ns/uts"));

    char real[PATH_MAX];
    ASSERT_NE(::realpath("/bin/sleep", real), nullptr);
    struct stat exe_st {};
    ASSERT_EQ(::stat(real, &exe_st), 0);
    EXPECT_EQ(h.exe_ino, exe_st.st_ino);
    EXPECT_EQ(h.exe_dev, (major(exe_st.st_dev) << 20) | minor(exe_st.st_dev));

    ASSERT_EQ(ev.nstr, size_t{VG_EXEC_NSTR});
    EXPECT_EQ(ev.str(0), std::string(real));
    // The raw argv area, as the kernel copies arg_start..arg_end: every argument NUL-ended.
    EXPECT_EQ(ev.str(1), std::string_view("/bin/sleep\0"
                                          "0.3\0",
                                          15));
    char cwd[PATH_MAX];
    ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
    EXPECT_EQ(ev.str(2), std::string(cwd));
    struct utsname uts {};
    ASSERT_EQ(::uname(&uts), 0);
    EXPECT_EQ(ev.str(7), std::string(uts.nodename));

    const auto body = ev.bodyAs<vg_exec>();
    EXPECT_EQ(body.exe_size, static_cast<uint64_t>(exe_st.st_size));
    EXPECT_EQ(body.exe_mtime, exe_st.st_mtim.tv_sec);
    EXPECT_EQ(body.stdin_kind, expectedFdKind(0));
    EXPECT_EQ(body.stdout_kind, expectedFdKind(1));
    if (body.stdout_kind == VG_FD_FILE || body.stdout_kind == VG_FD_CHAR) {
        char link[PATH_MAX];
        ssize_t n = ::readlink("/proc/self/fd/1", link, sizeof(link));
        ASSERT_GT(n, 0);
        EXPECT_EQ(ev.str(6), std::string(link, static_cast<size_t>(n)));
    }
    ASSERT_GE(body.n_ancestors, 1);
    ASSERT_LE(body.n_ancestors, VG_MAX_ANCESTORS);
    EXPECT_EQ(body.ancestors[0].tgid, static_cast<uint32_t>(::getpid()));
    if (body.n_ancestors < VG_MAX_ANCESTORS) {
        EXPECT_EQ(body.ancestors[body.n_ancestors - 1].tgid, 1u) << "the walk ends at init";
    }
    EXPECT_GE(cap.source->stats().exec, 1u);
    EXPECT_GE(cap.source->stats().events, 1u);
}

void setsidThenExec() {
    if (::setsid() < 0) ::_exit(1);
    execSleep();
}

TEST(ProcSourceTest, SetsidOfAChildIsASetsidRecord) {
    Capture cap(bit(VG_SLOT_EXECVE) | bit(VG_SLOT_SETSID));
    OPEN_OR_SKIP(cap);

    Child child(forkChild(setsidThenExec));
    ASSERT_GT(child.pid(), 0);
    DecodedEvent ev;
    std::string raw;
    ASSERT_TRUE(cap.waitFor(VG_SETSID, child.pid(), &raw, &ev));
    EXPECT_EQ(ev.hdr.pid, static_cast<uint32_t>(child.pid()));
    EXPECT_EQ(ev.hdr.sid, static_cast<uint32_t>(child.pid()));
    EXPECT_EQ(ev.hdr.ret, child.pid()) << "setsid() returns the new session id";
    EXPECT_EQ(ev.nstr, 0u);
    // The exec that follows arrives too, and in the new session.
    DecodedEvent exec;
    std::string exec_raw;
    ASSERT_TRUE(cap.waitFor(VG_EXECVE, child.pid(), &exec_raw, &exec));
    EXPECT_EQ(exec.hdr.sid, static_cast<uint32_t>(child.pid()));
    EXPECT_EQ(child.wait(), 0);
}

TEST(ProcSourceTest, DisabledSlotsEmitNothing) {
    Capture cap(bit(VG_SLOT_EXECVE));  // no SETSID, EXIT or CRED
    OPEN_OR_SKIP(cap);

    Child child(forkChild(setsidThenExec));
    ASSERT_GT(child.pid(), 0);
    DecodedEvent exec;
    std::string raw;
    // The connector delivers one task's events in order: the setsid came before this exec.
    ASSERT_TRUE(cap.waitFor(VG_EXECVE, child.pid(), &raw, &exec));
    EXPECT_EQ(cap.count(VG_SETSID, child.pid()), 0u);
    EXPECT_EQ(child.wait(), 0);
}

void exitWithThree() {
    ::_exit(3);
}

TEST(ProcSourceTest, ExitOfAChildCarriesItsWaitStatus) {
    Capture cap(bit(VG_SLOT_EXIT));
    OPEN_OR_SKIP(cap);

    Child child(forkChild(exitWithThree));
    ASSERT_GT(child.pid(), 0);
    DecodedEvent ev;
    std::string raw;
    ASSERT_TRUE(cap.waitFor(VG_EXIT, child.pid(), &raw, &ev));
    const int status = child.wait();
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(ev.hdr.ret, status) << "exit_code is the wait status";
    EXPECT_EQ(ev.hdr.pid, ev.hdr.tgid);
    EXPECT_EQ(ev.hdr.ppid, static_cast<uint32_t>(::getpid()));
    EXPECT_EQ(ev.nstr, 0u);
    EXPECT_GE(cap.source->stats().exit, 1u);
}

void dropThenRegainRoot() {
    // ruid and euid leave 0 (not reported), then euid returns to 0 from the saved id.
    if (::setresuid(65534, 65534, 0) != 0) ::_exit(1);
    if (::setresuid(static_cast<uid_t>(-1), 0, static_cast<uid_t>(-1)) != 0) ::_exit(2);
    pause300ms();
}

TEST(ProcSourceTest, UidChangeToRootIsACredRecord) {
    if (::geteuid() != 0) GTEST_SKIP() << "changing uids needs root";
    Capture cap(bit(VG_SLOT_CRED));
    OPEN_OR_SKIP(cap);

    Child child(forkChild(dropThenRegainRoot));
    ASSERT_GT(child.pid(), 0);
    DecodedEvent ev;
    std::string raw;
    ASSERT_TRUE(cap.waitFor(VG_CRED_CHANGE, child.pid(), &raw, &ev));
    EXPECT_EQ(ev.hdr.uid, 65534u);
    EXPECT_EQ(ev.hdr.euid, 0u);
    EXPECT_EQ(ev.hdr.pid, static_cast<uint32_t>(child.pid()));
    EXPECT_EQ(ev.hdr.ppid, static_cast<uint32_t>(::getpid()));
    const auto body = ev.bodyAs<vg_cred>();
    EXPECT_EQ(body.syscall, 0u);
    EXPECT_EQ(body.parent_uid, ::getuid());
    EXPECT_EQ(body.parent_euid, ::geteuid());
    EXPECT_EQ(cap.count(VG_CRED_CHANGE, child.pid()), 1u) << "the drop to 65534 is not reported";
    EXPECT_EQ(child.wait(), 0);
}

}  // namespace
}  // namespace vigil::driver
