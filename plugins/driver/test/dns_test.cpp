// Tests of the DNS message parser on hand-built packets: answers of each kept type, compression,
// response codes, and the malformed shapes a hostile or truncated packet takes.
#include "plugins/driver/src/dns.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vigil::driver {
namespace {

// Builds a DNS message byte by byte (big-endian fields, as on the wire).
class Packet {
public:
    Packet& header(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns = 0, uint16_t ar = 0) {
        return u16(0xbeef).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
    }
    Packet& u16(uint16_t v) {
        b_.push_back(static_cast<char>(v >> 8));
        b_.push_back(static_cast<char>(v & 0xff));
        return *this;
    }
    Packet& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(v & 0xffff); }
    Packet& raw(std::string_view s) {
        b_.append(s);
        return *this;
    }
    // Labels, without the final zero (for a name that ends in a pointer).
    Packet& labels(std::initializer_list<std::string_view> ls) {
        for (std::string_view l : ls) {
            b_.push_back(static_cast<char>(l.size()));
            b_.append(l);
        }
        return *this;
    }
    Packet& name(std::initializer_list<std::string_view> ls) {
        labels(ls);
        b_.push_back('\0');
        return *this;
    }
    Packet& ptr(uint16_t off) { return u16(static_cast<uint16_t>(0xc000 | off)); }
    Packet& question(std::initializer_list<std::string_view> ls, uint16_t qtype) {
        return name(ls).u16(qtype).u16(1);
    }
    // Answer header after its name: type, class IN, ttl, rdlength.
    Packet& rr(uint16_t type, uint16_t rdlength) { return u16(type).u16(1).u32(300).u16(rdlength); }
    size_t size() const { return b_.size(); }
    const std::string& bytes() const { return b_; }

private:
    std::string b_;
};

constexpr uint16_t kQuery = 0x0100;     // RD
constexpr uint16_t kResponse = 0x8180;  // QR RD RA, NOERROR
constexpr uint16_t kQname = 12;         // offset of the first question's name

DnsMessage parseOk(const Packet& p) {
    auto r = parseDns(p.bytes());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
    return r.ok() ? *r : DnsMessage{};
}

std::string parseError(std::string_view bytes) {
    auto r = parseDns(bytes);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.message();
}

TEST(DnsTest, Query) {
    Packet p;
    p.header(kQuery, 1, 0).question({"Example", "com"}, 1);
    const DnsMessage m = parseOk(p);
    EXPECT_FALSE(m.response);
    EXPECT_EQ(m.opcode, 0);
    EXPECT_EQ(m.rcode, 0);
    EXPECT_EQ(m.query, "Example.com");  // case kept as sent
    EXPECT_EQ(m.qtype, 1);
    EXPECT_EQ(m.qtypeName(), "A");
    EXPECT_EQ(m.qdcount, 1);
    EXPECT_EQ(m.ancount, 0);
    EXPECT_TRUE(m.answers.empty());
}

TEST(DnsTest, AAnswersWithCompressedNames) {
    Packet p;
    p.header(kResponse, 1, 2).question({"example", "com"}, 1);
    p.ptr(kQname).rr(1, 4).raw("\x5d\xb8\xd8\x22");
    p.ptr(kQname).rr(1, 4).raw(std::string("\x0a\x00\x00\x01", 4));
    const DnsMessage m = parseOk(p);
    EXPECT_TRUE(m.response);
    EXPECT_EQ(m.opcode, 0);
    EXPECT_EQ(m.rcode, 0);
    EXPECT_EQ(m.query, "example.com");
    EXPECT_EQ(m.qtype, 1);
    EXPECT_EQ(m.qdcount, 1);
    EXPECT_EQ(m.ancount, 2);
    EXPECT_EQ(m.answers, (std::vector<std::string>{"93.184.216.34", "10.0.0.1"}));
}

TEST(DnsTest, AaaaAnswers) {
    Packet p;
    p.header(kResponse, 1, 2).question({"ipv6", "example", "org"}, 28);
    p.ptr(kQname).rr(28, 16).raw(
        std::string("\x26\x06\x28\x00\x02\x20\x00\x01\x02\x48\x18\x93\x25\xc8\x19\x46", 16));
    p.ptr(kQname).rr(28, 16).raw(std::string(15, '\0') + "\x01");
    const DnsMessage m = parseOk(p);
    EXPECT_TRUE(m.response);
    EXPECT_EQ(m.query, "ipv6.example.org");
    EXPECT_EQ(m.qtype, 28);
    EXPECT_EQ(m.qtypeName(), "AAAA");
    EXPECT_EQ(m.ancount, 2);
    EXPECT_EQ(m.answers, (std::vector<std::string>{"2606:2800:220:1:248:1893:25c8:1946", "::1"}));
}

TEST(DnsTest, CnameChain) {
    // www.example.com CNAME edge.example.com; edge.example.com CNAME cdn.provider.net; A.
    Packet p;
    p.header(kResponse, 1, 3).question({"www", "example", "com"}, 1);
    const uint16_t example_com = kQname + 4;  // "example.com" inside the question name
    p.ptr(kQname).rr(5, 7);
    const auto edge = static_cast<uint16_t>(p.size());
    p.labels({"edge"}).ptr(example_com);  // rdata: "edge" + pointer = 7 bytes
    p.ptr(edge).rr(5, 18);
    const auto cdn = static_cast<uint16_t>(p.size());
    p.name({"cdn", "provider", "net"});
    // Owner "cdn" + a pointer into the middle of the name above ("provider.net").
    p.labels({"cdn"}).ptr(cdn + 4).rr(1, 4).raw("\xc6\x33\x64\x07");
    const DnsMessage m = parseOk(p);
    EXPECT_EQ(m.query, "www.example.com");
    EXPECT_EQ(m.ancount, 3);
    EXPECT_EQ(m.answers,
              (std::vector<std::string>{"edge.example.com", "cdn.provider.net", "198.51.100.7"}));
}

TEST(DnsTest, CnameTargetMustStartInsideItsRdata) {
    Packet p;
    p.header(kResponse, 1, 2).question({"a", "example"}, 5);
    p.ptr(kQname).rr(5, 1).raw("\x01");  // rdlength 1: not a whole name, skipped
    p.ptr(kQname).rr(5, 2).ptr(kQname);
    const DnsMessage m = parseOk(p);
    EXPECT_EQ(m.qtypeName(), "CNAME");
    EXPECT_EQ(m.answers, (std::vector<std::string>{"a.example"}));
}

TEST(DnsTest, OtherAnswerTypesAndBadLengthsAreSkipped) {
    Packet p;
    p.header(kResponse, 1, 4).question({"example", "com"}, 255);
    p.ptr(kQname).rr(16, 6).raw("\x05hello");             // TXT: not kept
    p.ptr(kQname).rr(1, 5).raw(std::string(5, '\x01'));   // A of 5 bytes: not an address
    p.ptr(kQname).rr(28, 4).raw(std::string(4, '\x01'));  // AAAA of 4 bytes
    p.ptr(kQname).rr(1, 4).raw(std::string("\x7f\x00\x00\x01", 4));
    const DnsMessage m = parseOk(p);
    EXPECT_EQ(m.qtypeName(), "ANY");
    EXPECT_EQ(m.answers, (std::vector<std::string>{"127.0.0.1"}));
}

TEST(DnsTest, Nxdomain) {
    Packet p;
    p.header(0x8183, 1, 0, 1).question({"does-not-exist", "example"}, 1);
    const DnsMessage m = parseOk(p);
    EXPECT_TRUE(m.response);
    EXPECT_EQ(m.opcode, 0);
    EXPECT_EQ(m.rcode, 3);
    EXPECT_EQ(m.query, "does-not-exist.example");
    EXPECT_EQ(m.qtype, 1);
    EXPECT_EQ(m.qdcount, 1);
    EXPECT_EQ(m.ancount, 0);
    EXPECT_TRUE(m.answers.empty());
}

TEST(DnsTest, OpcodeAndRcodeBits) {
    Packet p;
    p.header(0x9005, 1, 0).question({"x"}, 6);  // QR, opcode 2 (STATUS), rcode 5 (REFUSED)
    const DnsMessage m = parseOk(p);
    EXPECT_TRUE(m.response);
    EXPECT_EQ(m.opcode, 2);
    EXPECT_EQ(m.rcode, 5);
    EXPECT_EQ(m.qtypeName(), "SOA");
}

TEST(DnsTest, HeaderTooShort) {
    EXPECT_EQ(parseError(""), "dns: header shorter than 12 bytes");
    Packet p;
    p.header(kQuery, 1, 0);
    EXPECT_EQ(parseError(p.bytes().substr(0, 11)), "dns: header shorter than 12 bytes");
}

TEST(DnsTest, TruncatedQuestion) {
    Packet p;
    p.header(kQuery, 1, 0);
    EXPECT_EQ(parseError(p.bytes()), "dns: label runs past the end");  // no name at all
    p.question({"example", "com"}, 1);
    EXPECT_EQ(parseError(p.bytes().substr(0, 12 + 5)), "dns: label runs past the end");
    EXPECT_EQ(parseError(p.bytes().substr(0, 12 + 12)), "dns: label runs past the end");
    EXPECT_EQ(parseError(p.bytes().substr(0, p.size() - 1)), "dns: question runs past the end");
    Packet q;
    q.header(kQuery, 1, 0).raw("\xc0");  // half a pointer
    EXPECT_EQ(parseError(q.bytes()), "dns: compression pointer runs past the end");
    Packet r;
    r.header(kQuery, 1, 0).ptr(400).u16(1).u16(1);  // a pointer past the end
    EXPECT_EQ(parseError(r.bytes()), "dns: label runs past the end");
}

TEST(DnsTest, TruncatedAnswersStillGiveTheQuestion) {
    Packet p;
    p.header(kResponse, 1, 3).question({"example", "com"}, 1);
    p.ptr(kQname).rr(1, 4).raw("\x01\x02\x03\x04");
    const size_t second = p.size();
    p.ptr(kQname).rr(1, 4).raw("\x05\x06\x07\x08");
    p.ptr(kQname).rr(1, 4).raw("\x09\x0a\x0b\x0c");
    for (size_t cut = second; cut < p.size(); ++cut) {
        SCOPED_TRACE(cut);
        auto r = parseDns(p.bytes().substr(0, cut));
        ASSERT_TRUE(r.ok()) << r.message();
        EXPECT_EQ(r->query, "example.com");
        EXPECT_EQ(r->ancount, 3);
        const size_t expect = cut < second + 16 ? 1 : 2;
        EXPECT_EQ(r->answers.size(), expect);
        EXPECT_EQ(r->answers[0], "1.2.3.4");
    }
    // The answer count is what the header says, whatever follows.
    Packet lie;
    lie.header(kResponse, 1, 50).question({"example", "com"}, 1);
    const DnsMessage m = parseOk(lie);
    EXPECT_EQ(m.ancount, 50);
    EXPECT_TRUE(m.answers.empty());
}

TEST(DnsTest, PointerLoops) {
    Packet self;
    self.header(kQuery, 1, 0).ptr(kQname).u16(1).u16(1);
    EXPECT_EQ(parseError(self.bytes()), "dns: compression loop");
    Packet pair;  // 12 -> 14 -> 12
    pair.header(kQuery, 1, 0).ptr(kQname + 2).ptr(kQname);
    EXPECT_EQ(parseError(pair.bytes()), "dns: compression loop");
    Packet labels;  // "a" then back to itself: grows until the name limit
    labels.header(kQuery, 1, 0).labels({"a"}).ptr(kQname);
    EXPECT_EQ(parseError(labels.bytes()), "dns: name longer than 255 bytes");
    // A loop in an answer name: the question is still returned, the answer is not.
    Packet answer;
    answer.header(kResponse, 1, 1).question({"example", "com"}, 1);
    const auto at = static_cast<uint16_t>(answer.size());
    answer.ptr(at).rr(1, 4).raw("\x01\x02\x03\x04");
    const DnsMessage m = parseOk(answer);
    EXPECT_EQ(m.query, "example.com");
    EXPECT_TRUE(m.answers.empty());
}

TEST(DnsTest, LabelAndNameLimits) {
    const std::string l63(63, 'a');
    const std::string l64(64, 'a');
    Packet ok;
    ok.header(kQuery, 1, 0).question({l63, "com"}, 1);
    EXPECT_EQ(parseOk(ok).query, l63 + ".com");
    Packet p;
    p.header(kQuery, 1, 0).question({l64, "com"}, 1);
    EXPECT_EQ(parseError(p.bytes()), "dns: label length 64 over 63 (or reserved label type)");
    Packet reserved;  // 0x80: the reserved label type
    reserved.header(kQuery, 1, 0).raw("\x80").raw(std::string(0x80, 'x')).u16(0).u16(1).u16(1);
    EXPECT_EQ(parseError(reserved.bytes()),
              "dns: label length 128 over 63 (or reserved label type)");
    // 255 bytes on the wire is the longest name: 3 * (1 + 63) + (1 + 61) + 1.
    const std::string l61(61, 'b');
    Packet longest;
    longest.header(kQuery, 1, 0).question({l63, l63, l63, l61}, 1);
    EXPECT_EQ(parseOk(longest).query.size(), 253u);
    Packet too_long;
    too_long.header(kQuery, 1, 0).question({l63, l63, l63, l61 + "b"}, 1);
    EXPECT_EQ(parseError(too_long.bytes()), "dns: name longer than 255 bytes");
}

TEST(DnsTest, EmptyAndRootQuestions) {
    Packet none;
    none.header(0x8181, 0, 0);  // FORMERR with no question
    const DnsMessage m = parseOk(none);
    EXPECT_TRUE(m.response);
    EXPECT_EQ(m.rcode, 1);
    EXPECT_EQ(m.qdcount, 0);
    EXPECT_EQ(m.query, "");
    EXPECT_EQ(m.qtype, 0);
    EXPECT_EQ(m.qtypeName(), "0");
    EXPECT_TRUE(m.answers.empty());

    Packet root;
    root.header(kQuery, 1, 0).question({}, 2);
    const DnsMessage r = parseOk(root);
    EXPECT_EQ(r.query, ".");
    EXPECT_EQ(r.qtype, 2);
    EXPECT_EQ(r.qtypeName(), "NS");
}

TEST(DnsTest, UnprintableAndDotBytesAreEscaped) {
    Packet p;
    p.header(kQuery, 1, 0).question({std::string("a.b\0c\\", 6), "Ex ample"}, 16);
    const DnsMessage m = parseOk(p);
    EXPECT_EQ(m.query, "a\\.b\\000c\\\\.Ex\\032ample");
    EXPECT_EQ(m.qtypeName(), "TXT");
}

TEST(DnsTest, LaterQuestionsAreSkipped) {
    Packet p;
    p.header(kResponse, 2, 1).question({"first", "test"}, 15).question({"second", "test"}, 33);
    p.ptr(kQname).rr(1, 4).raw("\x08\x08\x04\x04");
    const DnsMessage m = parseOk(p);
    EXPECT_EQ(m.query, "first.test");
    EXPECT_EQ(m.qtypeName(), "MX");
    EXPECT_EQ(m.qdcount, 2);
    EXPECT_EQ(m.answers, (std::vector<std::string>{"8.8.4.4"}));
    // A second question cut short ends the parse with what was read.
    const DnsMessage cut = *parseDns(p.bytes().substr(0, 12 + 16 + 3));
    EXPECT_EQ(cut.query, "first.test");
    EXPECT_TRUE(cut.answers.empty());
}

TEST(DnsTest, AtMostSixteenAnswers) {
    Packet p;
    p.header(kResponse, 1, 20).question({"many", "test"}, 1);
    for (int i = 0; i < 20; ++i) {
        p.ptr(kQname).rr(1, 4).raw(std::string("\x0a\x00\x00", 3) + static_cast<char>(i));
    }
    const DnsMessage m = parseOk(p);
    ASSERT_EQ(m.answers.size(), kMaxDnsAnswers);
    EXPECT_EQ(m.answers.front(), "10.0.0.0");
    EXPECT_EQ(m.answers.back(), "10.0.0.15");
}

TEST(DnsTest, QtypeNames) {
    const std::pair<uint16_t, const char*> cases[] = {
        {1, "A"},     {2, "NS"},   {5, "CNAME"}, {6, "SOA"},      {12, "PTR"},
        {15, "MX"},   {16, "TXT"}, {28, "AAAA"}, {33, "SRV"},     {65, "HTTPS"},
        {255, "ANY"}, {64, "64"},  {257, "257"}, {65535, "65535"}};
    for (const auto& [type, name] : cases) {
        DnsMessage m;
        m.qtype = type;
        EXPECT_EQ(m.qtypeName(), name) << type;
    }
}

}  // namespace
}  // namespace vigil::driver
