// url::split and url::parseHttp: what they accept, how they split it, and what they refuse.
#include "libs/common/url.h"

#include <gtest/gtest.h>

namespace vigil::url {
namespace {

TEST(Url, SplitsHostPortAndTarget) {
    auto a = split("TCP://siem.example:6514", 514);
    ASSERT_TRUE(a.ok()) << a.message();
    EXPECT_EQ(a->scheme, "tcp");
    EXPECT_EQ(a->host, "siem.example");
    EXPECT_EQ(a->port, 6514);
    EXPECT_EQ(a->target, "");
    EXPECT_EQ(split("udp://h", 514)->port, 514);
    auto v6 = split("udp://[fe80::1]:10514/x?y", 514);
    ASSERT_TRUE(v6.ok()) << v6.message();
    EXPECT_EQ(v6->host, "fe80::1");
    EXPECT_EQ(v6->port, 10514);
    EXPECT_EQ(v6->target, "/x?y");
    EXPECT_EQ(v6->origin(), "udp://[fe80::1]:10514");
}

TEST(Url, HttpDefaultsAndTarget) {
    auto u = parseHttp("HTTPS://example.org:8443/a/b?c=d#frag");
    ASSERT_TRUE(u.ok()) << u.message();
    EXPECT_EQ(u->origin(), "https://example.org:8443");
    EXPECT_EQ(u->target, "/a/b?c=d");
    EXPECT_EQ(parseHttp("http://host")->target, "/");
    EXPECT_EQ(parseHttp("http://host")->port, 80);
    EXPECT_EQ(parseHttp("https://host?q")->target, "/?q");
    EXPECT_EQ(parseHttp("https://host#f")->port, 443);
    EXPECT_EQ(parseHttp("https://host#f")->target, "/");
}

struct Refused {
    const char* text;
    const char* message;
};

TEST(Url, RefusesWithAReason) {
    const Refused split_cases[] = {
        {"siem.example:514", "is not an address of the form scheme://host[:port]"},
        {"://h", "is not an address of the form"},
        {"tcp://", "no host in 'tcp://'"},
        {"tcp://:514", "no host"},
        {"tcp://u:p@h:514", "user info in 'tcp://u:p@h:514' is not supported"},
        {"tcp://h st:514", "bad character in the host of"},
        {"tcp://h\t:514", "bad character in the host of"},
        {"tcp://[::1", "unclosed '['"},
        {"tcp://[::1]x", "bad host"},
        {"tcp://fe80::1", "IPv6 address without brackets"},
        {"tcp://h:0", "bad port '0'"},
        {"tcp://h:65536", "bad port"},
        {"tcp://h:", "bad port ''"},
        {"tcp://h:5x", "bad port '5x'"},
    };
    for (const Refused& c : split_cases) {
        auto r = split(c.text, 514);
        ASSERT_FALSE(r.ok()) << c.text;
        EXPECT_NE(r.message().find(c.message), std::string::npos) << r.message();
    }
    const Refused http_cases[] = {
        {"example.org/x", "'example.org/x' is not an http or https URL"},
        // The scheme is the reason given, not the empty host.
        {"file:///etc/passwd", "unsupported URL scheme 'file' in 'file:///etc/passwd'"},
        {"ftp://h/x", "unsupported URL scheme 'ftp'"},
        {"http://user:pw@host/x", "user info"},
        {"https:///x", "no host"},
        {"http://h:99999/", "bad port"},
    };
    for (const Refused& c : http_cases) {
        auto r = parseHttp(c.text);
        ASSERT_FALSE(r.ok()) << c.text;
        EXPECT_NE(r.message().find(c.message), std::string::npos) << r.message();
    }
}

}  // namespace
}  // namespace vigil::url
