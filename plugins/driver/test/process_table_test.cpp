// ProcessTable: upsert/find, LRU bound, pid reuse, pid_tree walks (synthetic and real /proc),
// /proc loading of this test and its parent, negative caching of a reaped child.
#include "plugins/driver/src/process_table.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "libs/common/fs.h"
#include "plugins/driver/src/enrich.h"

namespace vigil::driver {
namespace {

// A /proc without processes: every load misses, so only synthetic entries exist.
ProcessTableOptions noProc(size_t capacity = 64) {
    ProcessTableOptions options;
    options.capacity = capacity;
    options.proc_root = ::testing::TempDir() + "/vigil_no_proc";
    return options;
}

ProcessInfo proc(uint32_t tgid, uint32_t ppid, std::string comm, uint64_t start_time = 0) {
    ProcessInfo info;
    info.tgid = tgid;
    info.ppid = ppid;
    info.comm = std::move(comm);
    info.start_time = start_time;
    info.exe = "/usr/bin/" + info.comm;
    return info;
}

std::string readLink(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

uint64_t tickNs() {
    return 1000000000ull / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
}

TEST(ProcessTable, UpsertAndFindByStartTime) {
    ProcessTable table(noProc());
    table.upsert(proc(100, 1, "bash", 5000));
    const ProcessInfo* info = table.find(100);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->comm, "bash");
    EXPECT_EQ(info->exe, "/usr/bin/bash");
    EXPECT_NE(table.find(100, 5000), nullptr);
    EXPECT_EQ(table.find(100, 5001), nullptr);  // kernel start times match exactly
    EXPECT_EQ(table.find(101), nullptr);

    ProcessInfo replaced = proc(100, 1, "python3", 5000);
    table.upsert(replaced);
    EXPECT_EQ(table.find(100)->comm, "python3");
    EXPECT_EQ(table.stats().entries, 1u);
}

TEST(ProcessTable, PidReuseReplacesTheOldProcess) {
    ProcessTable table(noProc());
    table.upsert(proc(100, 1, "old", 1000));
    // Another process now has pid 100 and its exit was missed: the stale entry goes away.
    EXPECT_EQ(table.findOrLoad(100, 2000), nullptr);
    EXPECT_EQ(table.stats().reused_pids, 1u);
    EXPECT_EQ(table.find(100), nullptr);

    table.upsert(proc(100, 1, "new", 2000));
    const ProcessInfo* info = table.findOrLoad(100, 2000);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->comm, "new");
}

TEST(ProcessTable, EvictsLeastRecentlyUsed) {
    ProcessTable table(noProc(3));
    table.upsert(proc(1, 0, "a"));
    table.upsert(proc(2, 1, "b"));
    table.upsert(proc(3, 1, "c"));
    EXPECT_NE(table.find(1), nullptr);  // 2 is now the least recently used
    table.upsert(proc(4, 1, "d"));
    EXPECT_EQ(table.find(2), nullptr);
    EXPECT_NE(table.find(1), nullptr);
    EXPECT_NE(table.find(3), nullptr);
    EXPECT_NE(table.find(4), nullptr);
    ProcessTableStats stats = table.stats();
    EXPECT_EQ(stats.entries, 3u);
    EXPECT_EQ(stats.evictions, 1u);
}

TEST(ProcessTable, DefaultCapacity) {
    ProcessTable table;
    EXPECT_EQ(table.options().capacity, 65536u);
}

TEST(ProcessTable, AncestorsCredsAndRemove) {
    ProcessTable table(noProc());
    table.upsert(proc(50, 1, "sshd"));
    table.noteAncestor(50, "other", 7);  // known: not overwritten
    EXPECT_EQ(table.find(50)->comm, "sshd");
    EXPECT_EQ(table.find(50)->ppid, 1u);

    table.noteAncestor(60, "cron");
    const ProcessInfo* minimal = table.find(60);
    ASSERT_NE(minimal, nullptr);
    EXPECT_EQ(minimal->comm, "cron");
    EXPECT_EQ(minimal->ppid, 0u);
    EXPECT_TRUE(minimal->exe.empty());
    table.noteAncestor(60, "cron", 1);  // the parent becomes known
    EXPECT_EQ(table.find(60)->ppid, 1u);

    table.updateCreds(50, 1000, 0);
    EXPECT_EQ(table.find(50)->uid, 1000u);
    EXPECT_EQ(table.find(50)->euid, 0u);
    table.updateCreds(999, 1, 1);  // unknown: nothing added
    EXPECT_EQ(table.find(999), nullptr);

    table.remove(50);
    EXPECT_EQ(table.find(50), nullptr);
}

TEST(ProcessTable, PidTreeFromSyntheticEntries) {
    ProcessTable table(noProc());
    table.upsert(proc(1, 0, "systemd"));
    table.upsert(proc(4100, 1, "sshd"));
    table.upsert(proc(4242, 4100, "bash"));
    EXPECT_EQ(table.pidTree(4300, "curl", 4242), "4300.curl<4242.bash<4100.sshd<1.systemd");
    EXPECT_EQ(table.pidTree(4300, "curl", 4242, 2), "4300.curl<4242.bash");
    EXPECT_EQ(table.pidTree(4300, "curl", 4242, 0), "");
    EXPECT_EQ(table.pidTree(1, "systemd", 0), "1.systemd");
    // Unknown parent: the walk stops.
    EXPECT_EQ(table.pidTree(5, "x", 77), "5.x");
    // A parent whose own parent is unknown ends the tree after it.
    table.upsert(proc(80, 79, "orphan"));
    EXPECT_EQ(table.pidTree(81, "y", 80), "81.y<80.orphan");
}

TEST(ProcessTable, PidTreeFromExecAncestors) {
    ProcessTable table(noProc());
    // An exec event's chain, the parent first: each entry's parent is the next one.
    table.noteAncestor(4100, "sshd", 1);
    table.noteAncestor(1, "systemd", 0);
    EXPECT_EQ(table.pidTree(4242, "bash", 4100), "4242.bash<4100.sshd<1.systemd");
}

TEST(ProcessTable, PidTreeStopsAtLoops) {
    ProcessTable table(noProc());
    table.upsert(proc(10, 11, "a"));
    table.upsert(proc(11, 10, "b"));
    EXPECT_EQ(table.pidTree(10, "a", 11), "10.a<11.b");
    EXPECT_EQ(table.pidTree(12, "c", 10), "12.c<10.a<11.b");
    table.upsert(proc(20, 20, "self"));
    EXPECT_EQ(table.pidTree(20, "self", 20), "20.self");
}

TEST(ProcessTable, PidTreeIsCappedAtTwelveLevels) {
    ProcessTable table(noProc());
    for (uint32_t pid = 100; pid < 130; ++pid) table.upsert(proc(pid, pid + 1, "p"));
    std::string tree = table.pidTree(99, "leaf", 100);
    EXPECT_EQ(std::count(tree.begin(), tree.end(), '<'), 11);
    EXPECT_EQ(tree.rfind("110.p"), tree.size() - 5);
}

TEST(ProcessTable, ParsesProcStat) {
    ProcStat stat;
    std::string text =
        "4242 (a) (b c)) S 4100 4242 4100 34816 4242 4194560 1 0 0 0 2 3 0 0 20 0 1 0 "
        "123456 1000 100 18446744073709551615\n";
    ASSERT_TRUE(parseProcStat(text, &stat));
    EXPECT_EQ(stat.comm, "a) (b c)");
    EXPECT_EQ(stat.state, 'S');
    EXPECT_EQ(stat.ppid, 4100u);
    EXPECT_EQ(stat.pgid, 4242u);
    EXPECT_EQ(stat.start_ticks, 123456u);
    EXPECT_FALSE(parseProcStat("4242 (x) S 1 2", &stat));
    EXPECT_FALSE(parseProcStat("garbage", &stat));
}

TEST(ProcessTable, JoinsArgv) {
    EXPECT_EQ(joinArgv(std::string_view("ls\0-l\0/tmp\0", 11)), "ls -l /tmp");
    EXPECT_EQ(joinArgv(""), "");
    std::string long_arg(2000, 'x');
    EXPECT_EQ(joinArgv(long_arg).size(), kArgvMaxBytes);
    // "é" (2 bytes) across the cap: cut before it, not in the middle.
    std::string utf8 = std::string(kArgvMaxBytes - 1, 'a') + "\xc3\xa9";
    EXPECT_EQ(joinArgv(utf8), std::string(kArgvMaxBytes - 1, 'a'));
}

TEST(ProcessTable, LoadsItselfFromProc) {
    ProcessTable table;
    const ProcessInfo* info = table.findOrLoad(static_cast<uint32_t>(::getpid()));
    ASSERT_NE(info, nullptr);
    EXPECT_TRUE(info->from_proc);
    EXPECT_EQ(info->tgid, static_cast<uint32_t>(::getpid()));
    EXPECT_EQ(info->ppid, static_cast<uint32_t>(::getppid()));
    EXPECT_EQ(info->pgid, static_cast<uint32_t>(::getpgrp()));
    const std::string exe = readLink("/proc/self/exe");
    EXPECT_EQ(info->exe, exe);
    const std::string binary = exe.substr(exe.rfind('/') + 1);
    EXPECT_NE(info->argv.find(binary), std::string::npos) << info->argv;
    EXPECT_EQ(info->comm, binary.substr(0, 15));
    EXPECT_EQ(info->uid, ::getuid());
    EXPECT_EQ(info->euid, ::geteuid());
    struct stat st {};
    ASSERT_EQ(::stat("/proc/self/exe", &st), 0);
    EXPECT_EQ(info->exe_ino, st.st_ino);
    EXPECT_EQ(info->exe_dev, kernelDev(st.st_dev));
    auto cgroup = fs::readFile("/proc/self/cgroup");
    ASSERT_TRUE(cgroup.ok());
    EXPECT_EQ(info->container_id, containerIdFromCgroupText(*cgroup));
    EXPECT_GT(info->start_time, 0u);

    // Cached: a second lookup does not read /proc again.
    const uint64_t start = info->start_time;
    EXPECT_NE(table.findOrLoad(static_cast<uint32_t>(::getpid())), nullptr);
    EXPECT_EQ(table.stats().proc_loads, 1u);

    // The kernel's start time lies within a tick of /proc's; another one is another process.
    EXPECT_NE(table.find(static_cast<uint32_t>(::getpid()), start + tickNs() / 2), nullptr);
    EXPECT_EQ(table.findOrLoad(static_cast<uint32_t>(::getpid()), start + 10000000000ull), nullptr);
    EXPECT_EQ(table.stats().reused_pids, 1u);
    EXPECT_NE(table.find(static_cast<uint32_t>(::getpid()), start), nullptr);  // reloaded
}

TEST(ProcessTable, LoadsParentFromProc) {
    ProcessTable table;
    const uint32_t ppid = static_cast<uint32_t>(::getppid());
    const ProcessInfo* info = table.findOrLoad(ppid);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->tgid, ppid);
    EXPECT_FALSE(info->comm.empty());
    const std::string exe = readLink("/proc/" + std::to_string(ppid) + "/exe");
    if (!exe.empty()) {
        EXPECT_EQ(info->exe, exe);
    }

    const std::string tree = table.pidTree(static_cast<uint32_t>(::getpid()), "me", ppid);
    const std::string prefix =
        std::to_string(::getpid()) + ".me<" + std::to_string(ppid) + "." + info->comm;
    EXPECT_EQ(tree.substr(0, prefix.size()), prefix) << tree;
}

TEST(ProcessTable, CompletesMinimalAncestorFromProc) {
    ProcessTable table;
    const uint32_t ppid = static_cast<uint32_t>(::getppid());
    ProcessTable probe;
    const ProcessInfo* parent = probe.findOrLoad(ppid);
    ASSERT_NE(parent, nullptr);
    if (ppid == 1 || parent->ppid == 0) GTEST_SKIP() << "the parent has no parent to find";
    table.noteAncestor(ppid, parent->comm);  // no ppid: completed from /proc
    const std::string tree = table.pidTree(static_cast<uint32_t>(::getpid()), "me", ppid);
    EXPECT_NE(tree.find("<" + std::to_string(parent->ppid) + "."), std::string::npos) << tree;
}

TEST(ProcessTable, CachesGoneProcessesNegatively) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) ::_exit(0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    const auto pid = static_cast<uint32_t>(child);

    ProcessTable table;
    EXPECT_EQ(table.findOrLoad(pid), nullptr);
    EXPECT_EQ(table.stats().proc_misses, 1u);
    EXPECT_EQ(table.findOrLoad(pid), nullptr);
    ProcessTableStats stats = table.stats();
    EXPECT_EQ(stats.proc_misses, 1u);
    EXPECT_EQ(stats.negative_hits, 1u);
    EXPECT_EQ(stats.negative_entries, 1u);

    // An exec event for a new process with that pid wins over the negative entry.
    table.upsert(proc(pid, 1, "reused"));
    EXPECT_NE(table.findOrLoad(pid), nullptr);
    EXPECT_EQ(table.stats().negative_entries, 0u);

    // Expired entries are looked up again.
    ProcessTableOptions options;
    options.negative_ttl = std::chrono::milliseconds(0);
    ProcessTable no_memory(options);
    EXPECT_EQ(no_memory.findOrLoad(pid), nullptr);
    EXPECT_EQ(no_memory.findOrLoad(pid), nullptr);
    EXPECT_EQ(no_memory.stats().proc_misses, 2u);
    EXPECT_EQ(no_memory.stats().negative_hits, 0u);
}

TEST(ProcessTable, NegativeCacheIsBounded) {
    ProcessTableOptions options = noProc();
    options.negative_capacity = 4;
    options.negative_ttl = std::chrono::milliseconds(60000);
    ProcessTable table(options);
    for (uint32_t pid = 1000; pid < 1010; ++pid) EXPECT_EQ(table.findOrLoad(pid), nullptr);
    ProcessTableStats stats = table.stats();
    EXPECT_LE(stats.negative_entries, 4u);
    EXPECT_GE(stats.negative_overflows, 1u);
}

}  // namespace
}  // namespace vigil::driver
