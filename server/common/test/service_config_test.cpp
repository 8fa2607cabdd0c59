// Server configuration helpers: host:port, auth section, keys files.
#include "server/common/service_config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace vigil::server {
namespace {

TEST(ServiceConfigTest, HostPort) {
    auto a = parseHostPort("10.0.0.1:8088");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->host, "10.0.0.1");
    EXPECT_EQ(a->port, 8088);
    auto b = parseHostPort("[::1]:80");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->host, "::1");
    EXPECT_EQ(b->toString(), "[::1]:80");
    EXPECT_TRUE(parseHostPort("0.0.0.0:0", true).ok());
    EXPECT_FALSE(parseHostPort("0.0.0.0:0").ok());
    EXPECT_FALSE(parseHostPort("host").ok());
    EXPECT_FALSE(parseHostPort(":80").ok());
    EXPECT_FALSE(parseHostPort("h:99999").ok());
    EXPECT_FALSE(parseHostPort("::1:80").ok());
    EXPECT_FALSE(parseHostPort("a b:80").ok());
}

TEST(ServiceConfigTest, AuthSectionInlineAndFile) {
    char path[] = "/tmp/vigil-keys-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    {
        std::ofstream f(path);
        f << "# service keys\nfile-ak: file-secret-0123456789\n";
    }
    auto doc = config::Document::loadString(
        std::string("auth:\n  keys: {inline-ak: inline-secret-0123456789}\n"
                    "  keys_file: ") +
        path + "\n  window: 30s\n");
    ASSERT_TRUE(doc.ok());
    AuthSettings s = readAuthSettings(doc->root().child("auth"));
    EXPECT_TRUE(doc->problems().empty()) << doc->problems().toString();
    EXPECT_EQ(s.keys.size(), 2u);
    EXPECT_EQ(s.keys["file-ak"], "file-secret-0123456789");
    EXPECT_EQ(s.window.count(), 30);
    EXPECT_FALSE(s.disabled);
    auto key = signingKey(s.keys, "inline-ak");
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->secret_key, "inline-secret-0123456789");
    EXPECT_FALSE(signingKey(s.keys, "nope").ok());
    EXPECT_TRUE(makeVerifier(s)->enabled());
    std::remove(path);
}

TEST(ServiceConfigTest, AuthProblemsNameTheKey) {
    auto doc = config::Document::loadString(
        "auth:\n  keys: [a, b]\n  keys_file: /nonexistent/keys\n  disable: true\n");
    ASSERT_TRUE(doc.ok());
    readAuthSettings(doc->root().child("auth"));
    const std::string text = doc->problems().toString();
    EXPECT_NE(text.find("auth.keys"), std::string::npos) << text;
    EXPECT_NE(text.find("auth.keys_file"), std::string::npos) << text;
    EXPECT_NE(text.find("auth.disable"), std::string::npos) << text;
}

TEST(ServiceConfigTest, KeysFileErrors) {
    EXPECT_FALSE(loadKeysFile("/nonexistent/keys").ok());
    char path[] = "/tmp/vigil-keys-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    close(fd);
    {
        std::ofstream f(path);
        f << "ak: \n";
    }
    auto r = loadKeysFile(path);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("secret key"), std::string::npos) << r.message();
    std::remove(path);
}

}  // namespace
}  // namespace vigil::server
