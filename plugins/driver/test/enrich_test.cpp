// Enricher: user names and the passwd watch, exe hashes and their cache key, container ids from
// cgroup texts, root pid namespace, nodenames.
#include "plugins/driver/src/enrich.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::driver {
namespace {

constexpr char kAbcSha256[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char kAbcdSha256[] = "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589";

const std::string kId = "3f4e1c0a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

struct FileId {
    uint64_t ino = 0;
    uint32_t dev = 0;
    int64_t mtime = 0;
    uint64_t size = 0;
};

FileId fileId(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return FileId{st.st_ino, kernelDev(st.st_dev), st.st_mtim.tv_sec,
                  static_cast<uint64_t>(st.st_size)};
}

// Rewrites a file in place (same inode) and moves its mtime.
void rewrite(const std::string& path, std::string_view data, time_t mtime) {
    int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(::futimens(fd, times), 0);
    ::close(fd);
}

std::string tempFile(const std::string& name, std::string_view data) {
    std::string path = ::testing::TempDir() + "/" + name;
    EXPECT_TRUE(fs::writeFileAtomic(path, data, 0755).ok());
    return path;
}

TEST(Enricher, ResolvesUserNamesAndCachesMisses) {
    Enricher enricher;
    EXPECT_EQ(enricher.username(0), "root");
    EXPECT_EQ(enricher.username(0), "root");
    EXPECT_EQ(enricher.username(3999999999u), "");
    EXPECT_EQ(enricher.username(3999999999u), "");
    EnricherStats stats = enricher.stats();
    EXPECT_EQ(stats.user_misses, 2u);
    EXPECT_EQ(stats.user_hits, 2u);
}

TEST(Enricher, ForgetsUserNamesWhenPasswdChanges) {
    EnricherOptions options;
    options.passwd_path = tempFile("vigil_passwd", "root:x:0:0:root:/root:/bin/sh\n");
    options.passwd_check_interval = std::chrono::milliseconds(0);
    Enricher enricher(options);
    EXPECT_EQ(enricher.username(3999999999u), "");
    EXPECT_EQ(enricher.username(3999999999u), "");
    EXPECT_EQ(enricher.stats().user_hits, 1u);

    rewrite(options.passwd_path, "root:x:0:0:root:/root:/bin/sh\nnew:x:3999999999:0::/:/bin/sh\n",
            1000000);
    EXPECT_EQ(enricher.username(3999999999u), "");  // looked up again
    EnricherStats stats = enricher.stats();
    EXPECT_EQ(stats.passwd_reloads, 1u);
    EXPECT_EQ(stats.user_misses, 2u);
    EXPECT_EQ(enricher.username(0), "root");
}

TEST(Enricher, HashesFilesAndCachesByIdentity) {
    const std::string path = tempFile("vigil_exe_abc", "abc");
    FileId id = fileId(path);
    Enricher enricher;
    EXPECT_EQ(enricher.exeHash(path, id.ino, id.dev, id.mtime, id.size, 0), kAbcSha256);
    EXPECT_EQ(enricher.exeHash(path, id.ino, id.dev, id.mtime, id.size, 0), kAbcSha256);
    EnricherStats stats = enricher.stats();
    EXPECT_EQ(stats.exe_hash_misses, 1u);
    EXPECT_EQ(stats.exe_hash_hits, 1u);

    // Rewritten in place: a new mtime and size make a new key, hashed again.
    rewrite(path, "abcd", id.mtime + 100);
    FileId changed = fileId(path);
    ASSERT_EQ(changed.ino, id.ino);
    ASSERT_NE(changed.mtime, id.mtime);
    EXPECT_EQ(enricher.exeHash(path, changed.ino, changed.dev, changed.mtime, changed.size, 0),
              kAbcdSha256);
    EXPECT_EQ(enricher.stats().exe_hash_misses, 2u);
    // The old identity still answers from the cache (what the old event's process ran).
    EXPECT_EQ(enricher.exeHash(path, id.ino, id.dev, id.mtime, id.size, 0), kAbcSha256);
    EXPECT_EQ(enricher.stats().exe_hash_hits, 2u);

    // Another inode at the path is not the executable asked for.
    EXPECT_EQ(enricher.exeHash(path, id.ino + 1, id.dev, id.mtime, id.size, 0), "-");
    // No identity from the event: taken from the file.
    EXPECT_EQ(enricher.exeHash(path, 0, 0, 0, 0, 0), kAbcdSha256);
}

TEST(Enricher, ExeHashOfLargeOrUnreadableFilesIsDash) {
    EnricherOptions options;
    options.exe_hash_max_bytes = 2;
    Enricher enricher(options);
    const std::string path = tempFile("vigil_exe_big", "abc");
    FileId id = fileId(path);
    EXPECT_EQ(enricher.exeHash(path, id.ino, id.dev, id.mtime, id.size, 0), "-");
    EXPECT_EQ(enricher.exeHash(path, id.ino, id.dev, id.mtime, 0, 0), "-");  // size from fstat
    EXPECT_EQ(enricher.stats().exe_hash_too_large, 2u);

    EXPECT_EQ(enricher.exeHash("/nonexistent/vigil", 42, 1, 1, 1, 0), "-");
    EXPECT_EQ(enricher.exeHash("/nonexistent/vigil", 42, 1, 1, 1, 0), "-");
    EnricherStats stats = enricher.stats();
    EXPECT_EQ(stats.exe_hash_unreadable, 2u);  // not cached
    EXPECT_EQ(stats.exe_hash_hits, 0u);
}

TEST(Enricher, ExeHashReadsThroughProcForDeletedFiles) {
    // A copy of sleep, run, then deleted: only /proc/<pid>/exe still reaches it.
    auto sleep_bin = fs::readFile("/bin/sleep");
    ASSERT_TRUE(sleep_bin.ok());
    const std::string path = tempFile("vigil_sleep_copy", *sleep_bin);
    const std::string expected = crypto::sha256Hex(*sleep_bin);
    FileId id = fileId(path);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::execl(path.c_str(), "sleep", "30", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // Wait until the child runs the copy (its exe link points at it).
    const std::string link = "/proc/" + std::to_string(child) + "/exe";
    bool running = false;
    for (int i = 0; i < 200 && !running; ++i) {
        struct stat st {};
        running = ::stat(link.c_str(), &st) == 0 && st.st_ino == id.ino;
        if (!running) ::usleep(10000);
    }
    ASSERT_TRUE(running);
    ASSERT_EQ(::unlink(path.c_str()), 0);

    Enricher enricher;
    EXPECT_EQ(
        enricher.exeHash(path, id.ino, id.dev, id.mtime, id.size, static_cast<uint32_t>(child)),
        expected);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    // The process is gone, yet its image's hash is still known by identity.
    EXPECT_EQ(
        enricher.exeHash(path, id.ino, id.dev, id.mtime, id.size, static_cast<uint32_t>(child)),
        expected);
    EXPECT_EQ(enricher.stats().exe_hash_hits, 1u);
}

TEST(Enricher, ContainerIdFromCgroupText) {
    EXPECT_EQ(containerIdFromCgroupText("12:memory:/docker/" + kId + "\n11:cpu:/docker/" + kId),
              kId);
    EXPECT_EQ(containerIdFromCgroupText("0::/system.slice/docker-" + kId + ".scope\n"), kId);
    EXPECT_EQ(containerIdFromCgroupText(
                  "0::/kubepods.slice/kubepods-burstable.slice/"
                  "kubepods-burstable-pod1d2c3b4a_5e6f_7a8b_9c0d_1e2f3a4b5c6d.slice/"
                  "cri-containerd-" +
                  kId + ".scope\n"),
              kId);
    EXPECT_EQ(containerIdFromCgroupText("0::/machine.slice/libpod-" + kId + ".scope/container\n"),
              kId);
    EXPECT_EQ(containerIdFromCgroupText(
                  "11:cpu,cpuacct:/kubepods/burstable/pod1d2c3b4a-5e6f-7a8b-9c0d-1e2f3a4b5c6d/" +
                  kId + "\n"),
              kId);
    EXPECT_EQ(containerIdFromCgroupText("0::/kubepods.slice/crio-" + kId + ".scope"), kId);
    // Host processes and near misses.
    EXPECT_EQ(containerIdFromCgroupText("0::/user.slice/user-1000.slice/session-3.scope\n"), "");
    EXPECT_EQ(containerIdFromCgroupText("0::/\n"), "");
    EXPECT_EQ(containerIdFromCgroupText("4:memory:/process_api/282f730197a124a52f56222093efec7a\n"),
              "");
    EXPECT_EQ(containerIdFromCgroupText("0::/docker/" + kId.substr(1)), "");  // 63 digits
    EXPECT_EQ(containerIdFromCgroupText("0::/docker/" + kId + "a"), "");      // 65 digits
    EXPECT_EQ(containerIdFromCgroupText(""), "");
}

TEST(Enricher, ContainerIdOfThisProcess) {
    auto cgroup = fs::readFile("/proc/self/cgroup");
    ASSERT_TRUE(cgroup.ok());
    const std::string expected = containerIdFromCgroupText(*cgroup);
    Enricher enricher;
    const auto pid = static_cast<uint32_t>(::getpid());
    EXPECT_EQ(enricher.containerId(pid), expected);
    EXPECT_EQ(enricher.containerId(pid, 12345, 1), expected);
    EXPECT_EQ(enricher.containerId(pid, 12345, 1), expected);
    EnricherStats stats = enricher.stats();
    EXPECT_EQ(stats.container_hits, 1u);
    EXPECT_EQ(stats.container_misses, 2u);
    // Another cgroup: looked up again.
    EXPECT_EQ(enricher.containerId(pid, 12345, 2), expected);
    EXPECT_EQ(enricher.stats().container_misses, 3u);
}

TEST(Enricher, RootPidNamespace) {
    struct stat st {};
    const uint32_t expected =
        ::stat("/proc/1/ns/pid", &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
    Enricher enricher;
    EXPECT_EQ(enricher.rootPns(), expected);
    EXPECT_EQ(enricher.rootPns(), expected);
}

TEST(Enricher, Nodenames) {
    struct utsname uts {};
    ASSERT_EQ(::uname(&uts), 0);
    struct stat st {};
    ASSERT_EQ(::stat("/proc/self/ns/uts", &st), 0);
    const auto own = static_cast<uint32_t>(st.st_ino);
    Enricher enricher;
    EXPECT_EQ(enricher.nodename(own, 0), uts.nodename);
    EXPECT_EQ(enricher.nodename(0, static_cast<uint32_t>(::getpid())), uts.nodename);

    // Another namespace: our own name until an exec event says otherwise.
    const uint32_t other = own + 1;
    EXPECT_EQ(enricher.nodename(other, 0), uts.nodename);
    EXPECT_EQ(enricher.stats().nodename_fallbacks, 1u);
    enricher.noteNodename(other, "web-1");
    EXPECT_EQ(enricher.nodename(other, 0), "web-1");
    enricher.noteNodename(other, "web-2");
    EXPECT_EQ(enricher.nodename(other, 0), "web-2");
    EXPECT_EQ(enricher.stats().nodename_fallbacks, 1u);
}

TEST(Enricher, CachesAreBounded) {
    EnricherOptions options;
    options.nodename_capacity = 2;
    Enricher enricher(options);
    enricher.noteNodename(1, "a");
    enricher.noteNodename(2, "b");
    enricher.noteNodename(3, "c");
    EXPECT_EQ(enricher.stats().evictions, 1u);
    EXPECT_EQ(enricher.nodename(3, 0), "c");
}

}  // namespace
}  // namespace vigil::driver
