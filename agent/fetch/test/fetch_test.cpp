// vigil-fetch end to end: the real binary against a cpp-httplib server on 127.0.0.1 (random
// port), with archives built here by libarchive's writer, including hostile ones.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "agent/fetch/archive.h"
#include "agent/fetch/download.h"
#include "libs/common/crypto.h"
#include "libs/common/fs.h"

extern char** environ;

namespace vigil::agent::fetch {
namespace {

namespace stdfs = std::filesystem;

struct Entry {
    std::string path;
    unsigned type = AE_IFREG;
    std::string data;
    std::string link;  // symlink target or hardlink target
    int perm = 0644;
};

Entry file(std::string path, std::string data, int perm = 0644) {
    return Entry{std::move(path), AE_IFREG, std::move(data), "", perm};
}
Entry dir(std::string path) {
    return Entry{std::move(path), AE_IFDIR, "", "", 0755};
}
Entry symlink(std::string path, std::string target) {
    return Entry{std::move(path), AE_IFLNK, "", std::move(target), 0777};
}
Entry hardlink(std::string path, std::string target) {
    return Entry{std::move(path), AE_IFREG, "", std::move(target), 0644};
}
Entry special(std::string path, unsigned type) {
    return Entry{std::move(path), type, "", "", 0644};
}

la_ssize_t appendToString(archive*, void* out, const void* buf, size_t n) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
}

std::string makeTarGz(const std::vector<Entry>& entries) {
    std::string out;
    archive* a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    archive_write_open(a, &out, nullptr, appendToString, nullptr);
    for (const auto& e : entries) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, e.path.c_str());
        archive_entry_set_filetype(entry, e.type);
        archive_entry_set_perm(entry, e.perm);
        if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.link.c_str());
        if (e.type == AE_IFREG && !e.link.empty())
            archive_entry_set_hardlink(entry, e.link.c_str());
        if (e.type == AE_IFCHR) archive_entry_set_rdev(entry, makedev(1, 3));
        archive_entry_set_size(entry, e.type == AE_IFREG && e.link.empty()
                                          ? static_cast<la_int64_t>(e.data.size())
                                          : 0);
        archive_write_header(a, entry);
        if (e.type == AE_IFREG && !e.data.empty())
            archive_write_data(a, e.data.data(), e.data.size());
        archive_entry_free(entry);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
}

std::string readText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

class FetchTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vigil-fetch-XXXXXX";
        tmp_ = ::mkdtemp(tmpl);
        port_ = server_.bind_to_any_port("127.0.0.1");
        ASSERT_GT(port_, 0);
        server_.Get("/redirect", [](const httplib::Request&, httplib::Response& res) {
            res.set_redirect("/files/plugin");
        });
        server_.Get("/loop", [](const httplib::Request&, httplib::Response& res) {
            res.set_redirect("/loop");
        });
        server_.Get("/stream", [](const httplib::Request&, httplib::Response& res) {
            // Chunked, no Content-Length: the cap must apply while streaming.
            res.set_chunked_content_provider("application/octet-stream",
                                             [](size_t offset, httplib::DataSink& sink) {
                                                 if (offset >= (8u << 20)) {
                                                     sink.done();
                                                     return true;
                                                 }
                                                 std::string chunk(64 * 1024, 's');
                                                 return sink.write(chunk.data(), chunk.size());
                                             });
        });
        server_.Get(R"(/files/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard lock(files_mu_);
            auto it = files_.find(req.matches[1]);
            if (it == files_.end()) {
                res.status = 404;
                return;
            }
            res.set_content(it->second, "application/octet-stream");
        });
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        plugin_ = "#!/bin/sh\n# a plugin\n" + std::string(5000, '#') + "\nexit 0\n";
        serveFile("plugin", plugin_);
    }
    void TearDown() override {
        server_.stop();
        thread_.join();
        (void)fs::removeAll(tmp_);
    }

    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    std::string dest() const { return tmp_ + "/plugin/demo"; }

    RunResult run(std::vector<std::string> args) {
        args.insert(args.begin(), VIGIL_FETCH_BIN);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        std::string out_path = tmp_ + "/stdout", err_path = tmp_ + "/stderr";
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
        pid_t pid;
        RunResult r;
        int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0) return r;
        int status = 0;
        ::waitpid(pid, &status, 0);
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        r.out = readText(out_path);
        r.err = readText(err_path);
        return r;
    }
    RunResult fetch(const std::vector<std::string>& urls, const std::string& sha,
                    const std::string& type = "exec", uint64_t max_bytes = 1 << 20) {
        std::vector<std::string> args;
        for (const auto& u : urls) args.insert(args.end(), {"--url", u});
        args.insert(args.end(),
                    {"--sha256", sha, "--type", type, "--dest", dest(), "--name", "demo",
                     "--max-bytes", std::to_string(max_bytes), "--timeout-ms", "10000"});
        return run(args);
    }
    // Paths in the plugin's parent directory (temp files and staging dirs must not linger).
    std::vector<std::string> parentListing() {
        std::vector<std::string> out;
        for (auto& e : stdfs::directory_iterator(tmp_ + "/plugin")) {
            out.push_back(e.path().filename().string());
        }
        std::sort(out.begin(), out.end());
        return out;
    }
    void makeOldPluginDir() {
        stdfs::create_directories(dest());
        std::ofstream(dest() + "/marker") << "old";
    }

    std::string tmp_;
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    void serveFile(const std::string& name, std::string body) {
        std::lock_guard lock(files_mu_);
        files_[name] = std::move(body);
    }

    std::mutex files_mu_;
    std::map<std::string, std::string> files_;
    std::string plugin_;
};

TEST_F(FetchTest, ExecIsDownloadedVerifiedAndInstalled) {
    const std::string sha = crypto::sha256Hex(plugin_);
    RunResult r = fetch({url("/files/plugin")}, sha);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["ok"], true);
    EXPECT_EQ(j["url"], url("/files/plugin"));
    EXPECT_EQ(j["sha256"], sha);
    EXPECT_EQ(j["executable_sha256"], sha);
    EXPECT_EQ(readText(dest() + "/demo"), plugin_);
    struct stat st;
    ASSERT_EQ(::stat((dest() + "/demo").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    std::vector<std::string> files;
    for (auto& e : stdfs::directory_iterator(dest())) files.push_back(e.path().filename());
    EXPECT_EQ(files, std::vector<std::string>{"demo"});  // no temp file left
}

TEST_F(FetchTest, UrlsAreTriedInOrder) {
    const std::string sha = crypto::sha256Hex(plugin_);
    serveFile("other", "not the plugin");
    RunResult r = fetch({url("/files/missing"), "http://127.0.0.1:1/refused", url("/files/other"),
                         url("/files/plugin")},
                        sha);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["url"], url("/files/plugin"));
}

TEST_F(FetchTest, Sha256MismatchIsRefused) {
    const std::string want = crypto::sha256Hex("something else");
    RunResult r = fetch({url("/files/plugin")}, want);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("sha256 mismatch: want " + want + ", got " + crypto::sha256Hex(plugin_)),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(r.out.empty());
    EXPECT_FALSE(fs::exists(dest() + "/demo"));
    EXPECT_TRUE(stdfs::is_empty(dest()));
}

TEST_F(FetchTest, OversizedDownloadsAreRefused) {
    const std::string sha = crypto::sha256Hex(plugin_);
    RunResult r = fetch({url("/files/plugin")}, sha, "exec", 1000);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("larger than 1000 bytes"), std::string::npos) << r.err;
    // Without a Content-Length the cap stops the stream.
    RunResult s = fetch({url("/stream")}, sha, "exec", 1 << 20);
    EXPECT_EQ(s.exit_code, 1);
    EXPECT_NE(s.err.find("larger than 1048576 bytes"), std::string::npos) << s.err;
    EXPECT_FALSE(fs::exists(dest() + "/demo"));
}

TEST_F(FetchTest, RedirectsAreFollowedWithinALimit) {
    const std::string sha = crypto::sha256Hex(plugin_);
    RunResult r = fetch({url("/redirect")}, sha);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(readText(dest() + "/demo"), plugin_);
    RunResult loop = fetch({url("/loop")}, sha);
    EXPECT_EQ(loop.exit_code, 1);
    EXPECT_NE(loop.err.find("edirect"), std::string::npos) << loop.err;
}

TEST_F(FetchTest, TarGzIsExtractedIntoAFreshDirectory) {
    makeOldPluginDir();
    std::string archive = makeTarGz({dir("./"), file("./demo", plugin_, 04755), dir("conf/"),
                                     file("conf/rules.yaml", "x: 1\n")});
    serveFile("demo.tar.gz", archive);
    RunResult r = fetch({url("/files/demo.tar.gz")}, crypto::sha256Hex(archive), "tar.gz");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["sha256"], crypto::sha256Hex(archive));
    EXPECT_EQ(j["executable_sha256"], crypto::sha256Hex(plugin_));
    EXPECT_EQ(readText(dest() + "/demo"), plugin_);
    EXPECT_EQ(readText(dest() + "/conf/rules.yaml"), "x: 1\n");
    EXPECT_FALSE(fs::exists(dest() + "/marker"));  // the old directory was replaced
    struct stat st;
    ASSERT_EQ(::stat((dest() + "/demo").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);  // setuid stripped
    EXPECT_EQ(parentListing(), std::vector<std::string>{"demo"});
}

TEST_F(FetchTest, HostileArchivesAreRefusedAndLeaveNothingBehind) {
    const std::string abs_target = tmp_ + "/abs-evil";
    struct Case {
        const char* name;
        std::vector<Entry> entries;
        const char* reason;
    };
    std::vector<Case> cases = {
        {"dotdot", {file("demo", plugin_), file("../evil", "pwned")}, "escapes"},
        {"dotdot-deep", {file("demo", plugin_), file("conf/../../evil", "x")}, "escapes"},
        {"absolute", {file("demo", plugin_), file(abs_target, "pwned")}, "absolute"},
        {"symlink", {symlink("demo", "/bin/sh")}, "symbolic link"},
        {"symlink-dir", {symlink("conf", "/etc"), file("conf/x", "x")}, "symbolic link"},
        {"hardlink", {file("demo", plugin_), hardlink("copy", "/etc/passwd")}, "hard link"},
        {"fifo", {file("demo", plugin_), special("pipe", AE_IFIFO)}, "device, fifo"},
        {"device", {file("demo", plugin_), special("null", AE_IFCHR)}, "device, fifo"},
        {"no-executable", {file("other", plugin_)}, "no regular file demo"},
        {"executable-is-dir", {dir("demo/"), file("demo/x", "x")}, "no regular file"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        makeOldPluginDir();
        std::string archive = makeTarGz(c.entries);
        serveFile(std::string(c.name) + ".tar.gz", archive);
        RunResult r = fetch({url("/files/" + std::string(c.name) + ".tar.gz")},
                            crypto::sha256Hex(archive), "tar.gz");
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_NE(r.err.find(c.reason), std::string::npos) << r.err;
        EXPECT_EQ(readText(dest() + "/marker"), "old");  // the installed plugin is untouched
        EXPECT_FALSE(fs::exists(tmp_ + "/evil"));
        EXPECT_FALSE(fs::exists(tmp_ + "/plugin/evil"));
        EXPECT_FALSE(fs::exists(abs_target));
        EXPECT_EQ(parentListing(), std::vector<std::string>{"demo"});
    }
}

TEST_F(FetchTest, ExtractedBytesAreCappedToo) {
    // Compresses to a few KiB, expands to 8 MiB.
    std::string archive =
        makeTarGz({file("demo", plugin_), file("zeros", std::string(8u << 20, '\0'))});
    ASSERT_LT(archive.size(), 1u << 20);
    serveFile("bomb.tar.gz", archive);
    RunResult r = fetch({url("/files/bomb.tar.gz")}, crypto::sha256Hex(archive), "tar.gz", 1 << 20);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("archive contents are larger than 1048576 bytes"), std::string::npos)
        << r.err;
    EXPECT_FALSE(fs::exists(dest()));
    EXPECT_TRUE(parentListing().empty());
}

TEST_F(FetchTest, BadUsageExitsWith2) {
    const std::string sha(64, 'a');
    EXPECT_EQ(run({"--url", url("/x"), "--dest", dest(), "--name", "demo"}).exit_code, 2);
    EXPECT_EQ(run({"--url", url("/x"), "--sha256", sha, "--dest", dest(), "--name", "demo",
                   "--type", "zip"})
                  .exit_code,
              2);
    RunResult bad_sha =
        run({"--url", url("/x"), "--sha256", "abc", "--dest", dest(), "--name", "d"});
    EXPECT_EQ(bad_sha.exit_code, 2);
    EXPECT_NE(bad_sha.err.find("64 hex"), std::string::npos);
    EXPECT_EQ(
        run({"--url", url("/x"), "--sha256", sha, "--dest", dest(), "--name", "../x"}).exit_code,
        2);
    RunResult help = run({"--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.out.find("--max-bytes"), std::string::npos);
}

TEST_F(FetchTest, OnlyHttpAndHttpsUrls) {
    RunResult r = fetch({"file:///etc/passwd", "ftp://127.0.0.1/x"}, std::string(64, 'a'));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("unsupported URL scheme 'file'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("unsupported URL scheme 'ftp'"), std::string::npos) << r.err;
    // How URLs are split and refused: libs/common/test/url_test.cpp.
}

TEST_F(FetchTest, HttpsVerifiesTheServerAgainstTheGivenCa) {
    const std::string cert = tmp_ + "/cert.pem", key = tmp_ + "/key.pem";
    std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
        key + " -out " + cert + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0)
        GTEST_SKIP() << "the openssl command cannot make a test certificate";
    httplib::SSLServer tls(cert.c_str(), key.c_str());
    ASSERT_TRUE(tls.is_valid());
    tls.Get("/plugin", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(plugin_, "application/octet-stream");
    });
    int port = tls.bind_to_any_port("127.0.0.1");
    std::thread t([&] { tls.listen_after_bind(); });
    const std::string https = "https://127.0.0.1:" + std::to_string(port) + "/plugin";
    const std::string sha = crypto::sha256Hex(plugin_);

    // Not signed by a CA the system trusts: refused.
    RunResult untrusted = fetch({https}, sha);
    EXPECT_EQ(untrusted.exit_code, 1);
    EXPECT_NE(untrusted.err.find("certificate verification failed"), std::string::npos)
        << untrusted.err;
    EXPECT_FALSE(fs::exists(dest() + "/demo"));
    RunResult r = run(
        {"--url", https, "--sha256", sha, "--dest", dest(), "--name", "demo", "--ca-file", cert});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(readText(dest() + "/demo"), plugin_);
    tls.stop();
    t.join();
}

TEST(SafeComponentsTest, NormalisesAndRefuses) {
    EXPECT_EQ(safeComponents("./a//b/").value(), (std::vector<std::string>{"a", "b"}));
    EXPECT_FALSE(safeComponents("/abs").ok());
    EXPECT_FALSE(safeComponents("a/../../b").ok());
    EXPECT_FALSE(safeComponents("..").ok());
    EXPECT_TRUE(safeComponents("a..b/..c").ok());
}

}  // namespace
}  // namespace vigil::agent::fetch
