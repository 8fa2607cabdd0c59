// Spec validation and executable verification (no downloads: those are in plugin_host_test).
#include "agent/plugin_host/plugin_fetcher.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::agent {
namespace {

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/vigil-pf-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { (void)fs::removeAll(path); }
    std::string path;
};

PluginSpec execSpec(const std::string& sha) {
    PluginSpec s;
    s.name = "demo";
    s.type = "exec";
    s.version = "1";
    s.sha256 = sha;
    return s;
}

TEST(PluginFetcherTest, ValidatesNamesTypesAndHashes) {
    const std::string h(64, 'a');
    EXPECT_TRUE(validateSpec(execSpec(h)).ok());
    for (const char* bad : {"", "../x", "a/b", ".", "..", "a b", "x\n", "naïve"}) {
        PluginSpec s = execSpec(h);
        s.name = bad;
        Status st = validateSpec(s);
        ASSERT_FALSE(st.ok()) << bad;
        EXPECT_NE(st.message().find("invalid plugin name"), std::string::npos);
    }
    PluginSpec s = execSpec(h);
    s.name = std::string(129, 'n');
    EXPECT_FALSE(validateSpec(s).ok());
    s = execSpec(h);
    s.type = "zip";
    EXPECT_NE(validateSpec(s).message().find("unknown type"), std::string::npos);
    s = execSpec("");
    Status none = validateSpec(s);
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.message().find("neither sha256 nor signature"), std::string::npos);
    s = execSpec("abc");
    EXPECT_NE(validateSpec(s).message().find("64 hex"), std::string::npos);
    s = execSpec("");
    s.signature = h;
    EXPECT_TRUE(validateSpec(s).ok());
}

TEST(PluginFetcherTest, NormalizeDefaultsTypeAndLowercasesHashes) {
    PluginSpec s = execSpec(std::string(64, 'A'));
    s.type = "";
    s.signature = std::string(64, 'B');
    PluginSpec n = normalizeSpec(s);
    EXPECT_EQ(n.type, "exec");
    EXPECT_EQ(n.sha256, std::string(64, 'a'));
    EXPECT_EQ(n.signature, std::string(64, 'b'));
}

TEST(PluginFetcherTest, ExpectedHashComesFromSignatureShaOrManifest) {
    TempDir dir;
    PluginSpec s = execSpec(std::string(64, '1'));
    EXPECT_EQ(expectedExecutableSha256(s, dir.path), std::string(64, '1'));
    s.signature = std::string(64, '2');
    EXPECT_EQ(expectedExecutableSha256(s, dir.path), std::string(64, '2'));
    s.type = "tar.gz";
    s.signature.clear();
    EXPECT_EQ(expectedExecutableSha256(s, dir.path), "");  // no manifest yet
    ASSERT_TRUE(fs::writeFileAtomic(fs::joinPath(dir.path, kManifestFile),
                                    R"({"archive_sha256":")" + std::string(64, '1') +
                                        R"(","executable_sha256":")" + std::string(64, '3') +
                                        R"("})")
                    .ok());
    EXPECT_EQ(expectedExecutableSha256(s, dir.path), std::string(64, '3'));
    s.sha256 = std::string(64, '4');  // another archive: the manifest does not apply
    EXPECT_EQ(expectedExecutableSha256(s, dir.path), "");
}

TEST(PluginFetcherTest, VerifiesWithoutFetchingAndReportsMismatch) {
    TempDir dir;
    const std::string exe = fs::joinPath(dir.path, "demo");
    ASSERT_TRUE(fs::writeFileAtomic(exe, "#!/bin/sh\n", 0755).ok());
    const std::string real = crypto::sha256Hex("#!/bin/sh\n");
    FetchOptions opts;
    opts.helper = "/nonexistent/vigil-fetch";
    auto ok = ensureExecutable(opts, execSpec(real), dir.path);
    ASSERT_TRUE(ok.ok()) << ok.message();
    EXPECT_EQ(*ok, real);

    const std::string want(64, 'f');
    auto bad = ensureExecutable(opts, execSpec(want), dir.path);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.message().find("sha256 mismatch: want " + want + ", got " + real),
              std::string::npos)
        << bad.message();
    EXPECT_NE(bad.message().find("no download_urls"), std::string::npos);

    PluginSpec with_url = execSpec(want);
    with_url.download_urls = {"http://127.0.0.1:1/x"};
    auto no_helper = ensureExecutable(opts, with_url, dir.path);
    ASSERT_FALSE(no_helper.ok());
    EXPECT_NE(no_helper.message().find("fetch helper"), std::string::npos) << no_helper.message();

    ::unlink(exe.c_str());
    auto missing = ensureExecutable(opts, execSpec(want), dir.path);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.message().find("executable missing"), std::string::npos) << missing.message();
}

}  // namespace
}  // namespace vigil::agent
