// Tests of the ring-buffer record decoder: every event type round-trips through encodeEvent,
// every DecodeError is reached, and the committed fuzz seeds still match the record layout.
#include "plugins/driver/src/event_decoder.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

namespace vigil::driver {
namespace {

constexpr uint32_t kAllTypes[] = {
    VG_OPEN,   VG_CONNECT,      VG_ACCEPT, VG_BIND,         VG_EXECVE,      VG_EXIT,
    VG_KILL,   VG_RENAME,       VG_LINK,   VG_PTRACE,       VG_SETSID,      VG_PRCTL,
    VG_MOUNT,  VG_MEMFD_CREATE, VG_DNS,    VG_FILE_CREATE,  VG_MODULE_LOAD, VG_CRED_CHANGE,
    VG_UNLINK, VG_WRITE,        VG_READ,   VG_PROC_SNAPSHOT};

vg_header makeHeader(uint32_t type) {
    vg_header h{};
    h.type = type;
    h.ktime_ns = 123456789012345ULL;
    h.start_time = 987654321ULL;
    h.cgroup_id = 0x1122334455667788ULL;
    h.exe_ino = 4242;
    h.exe_dev = 0x801;
    h.pid = 1001;
    h.tgid = 1000;
    h.ppid = 1;
    h.pgid = 1000;
    h.sid = 900;
    h.uid = 1;
    h.euid = 2;
    h.suid = 3;
    h.fsuid = 4;
    h.gid = 5;
    h.egid = 6;
    h.sgid = 7;
    h.fsgid = 8;
    h.sessionid = 77;
    h.pns = 0xeffffffc;
    h.uts_ns = 0xeffffffe;
    h.ret = -13;
    h.flags = VG_F_TRUNCATED;
    std::memcpy(h.comm, "bash", 5);
    return h;
}

// A body of the type's size whose bytes are all distinct from zero.
std::string patternBody(uint32_t type) {
    std::string body(bodySize(type), '\0');
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(1 + i % 251);
    return body;
}

DecodeError decode(const std::string& rec, DecodedEvent& ev) {
    return decodeEvent(rec, ev);
}

void setSize(std::string& rec, uint32_t size) {
    std::memcpy(rec.data() + offsetof(vg_header, size), &size, sizeof(size));
}

void setNstr(std::string& rec, uint16_t nstr) {
    std::memcpy(rec.data() + offsetof(vg_header, nstr), &nstr, sizeof(nstr));
}

TEST(EventDecoderTest, LayoutTable) {
    EXPECT_EQ(bodySize(VG_EXECVE), sizeof(vg_exec));
    EXPECT_EQ(maxStrings(VG_EXECVE), 8u);
    EXPECT_EQ(bodySize(VG_CONNECT), sizeof(vg_sock_event));
    EXPECT_EQ(bodySize(VG_ACCEPT), sizeof(vg_sock_event));
    EXPECT_EQ(bodySize(VG_BIND), sizeof(vg_sock_event));
    EXPECT_EQ(maxStrings(VG_BIND), 0u);
    EXPECT_EQ(bodySize(VG_RENAME), 0u);
    EXPECT_EQ(maxStrings(VG_LINK), 4u);
    for (uint32_t t : {VG_UNLINK, VG_OPEN, VG_FILE_CREATE, VG_WRITE, VG_READ}) {
        EXPECT_EQ(bodySize(t), sizeof(vg_file_event)) << t;
        EXPECT_EQ(maxStrings(t), 2u) << t;
    }
    EXPECT_EQ(bodySize(VG_PTRACE), sizeof(vg_ptrace));
    EXPECT_EQ(bodySize(VG_SETSID), 0u);
    EXPECT_EQ(maxStrings(VG_SETSID), 0u);
    EXPECT_EQ(bodySize(VG_PRCTL), sizeof(vg_prctl));
    EXPECT_EQ(maxStrings(VG_PRCTL), 1u);
    EXPECT_EQ(bodySize(VG_MOUNT), sizeof(vg_mount));
    EXPECT_EQ(maxStrings(VG_MOUNT), 4u);
    EXPECT_EQ(bodySize(VG_MEMFD_CREATE), sizeof(vg_memfd));
    EXPECT_EQ(maxStrings(VG_MEMFD_CREATE), 1u);
    EXPECT_EQ(bodySize(VG_DNS), sizeof(vg_dns));
    EXPECT_EQ(maxStrings(VG_DNS), 1u);
    EXPECT_EQ(bodySize(VG_MODULE_LOAD), 0u);
    EXPECT_EQ(maxStrings(VG_MODULE_LOAD), 1u);
    EXPECT_EQ(bodySize(VG_CRED_CHANGE), sizeof(vg_cred));
    EXPECT_EQ(maxStrings(VG_CRED_CHANGE), 0u);
    EXPECT_EQ(bodySize(VG_KILL), sizeof(vg_kill));
    EXPECT_EQ(bodySize(VG_EXIT), 0u);
    EXPECT_EQ(maxStrings(VG_EXIT), 0u);
    EXPECT_EQ(bodySize(VG_PROC_SNAPSHOT), sizeof(vg_snapshot));
    EXPECT_EQ(maxStrings(VG_PROC_SNAPSHOT), 2u);
    EXPECT_EQ(bodySize(0), SIZE_MAX);
    EXPECT_EQ(bodySize(10000), SIZE_MAX);
    EXPECT_EQ(maxStrings(0), 0u);
}

TEST(EventDecoderTest, EveryTypeRoundTripsWithAllItsStrings) {
    for (uint32_t type : kAllTypes) {
        SCOPED_TRACE(type);
        const vg_header h = makeHeader(type);
        const std::string body = patternBody(type);
        // Distinct strings, one of them empty, one with a NUL, as many as the type carries.
        const std::vector<std::string> all = {
            "/usr/bin/bash", std::string("a\0b", 3), "", "/tmp", "pts/0", "x", "/dev/null",
            "host-1"};
        const size_t n = maxStrings(type);
        std::vector<std::string_view> views(all.begin(), all.begin() + n);
        std::string rec;
        switch (n) {  // encodeEvent takes an initializer_list
            case 0:
                rec = encodeEvent(h, body, {});
                break;
            case 1:
                rec = encodeEvent(h, body, {views[0]});
                break;
            case 2:
                rec = encodeEvent(h, body, {views[0], views[1]});
                break;
            case 4:
                rec = encodeEvent(h, body, {views[0], views[1], views[2], views[3]});
                break;
            case 8:
                rec = encodeEvent(h, body,
                                  {views[0], views[1], views[2], views[3], views[4], views[5],
                                   views[6], views[7]});
                break;
            default:
                FAIL() << "unexpected string count " << n;
        }
        DecodedEvent ev;
        ASSERT_EQ(decode(rec, ev), DecodeError::kNone);
        EXPECT_EQ(ev.hdr.size, rec.size());
        EXPECT_EQ(ev.hdr.nstr, n);
        vg_header expect = h;
        expect.size = static_cast<vg_u32>(rec.size());
        expect.nstr = static_cast<vg_u16>(n);
        EXPECT_EQ(std::memcmp(&ev.hdr, &expect, sizeof(vg_header)), 0);
        EXPECT_EQ(ev.body, body);
        EXPECT_EQ(ev.body.data(), rec.data() + sizeof(vg_header));  // a view, not a copy
        ASSERT_EQ(ev.nstr, n);
        for (size_t i = 0; i < n; ++i) EXPECT_EQ(ev.str(i), all[i]) << i;
        EXPECT_EQ(ev.str(n), "");
        EXPECT_EQ(ev.str(100), "");
        EXPECT_EQ(
            rec.size(), sizeof(vg_header) + body.size() + 2 * n + [&] {
                size_t s = 0;
                for (auto v : views) s += v.size();
                return s;
            }());
    }
}

TEST(EventDecoderTest, ExecBodyAndStrings) {
    vg_exec exec{};
    exec.stdin_kind = VG_FD_SOCKET;
    exec.stdout_kind = VG_FD_PIPE;
    exec.n_ancestors = 2;
    exec.stdin_ino = 555;
    exec.exe_size = 1234567;
    exec.exe_mtime = -5;
    exec.stdin_sock.family = 2;
    exec.stdin_sock.dport = htons(4444);
    exec.ancestors[0].tgid = 900;
    std::memcpy(exec.ancestors[0].comm, "sshd", 5);
    exec.ancestors[1].tgid = 1;
    std::memcpy(exec.ancestors[1].comm, "systemd", 8);
    const std::string argv("bash\0-i", 7);
    const std::string rec = encodeEvent(
        makeHeader(VG_EXECVE), std::string_view(reinterpret_cast<const char*>(&exec), sizeof(exec)),
        {"/usr/bin/bash", argv, "/root", "pts/1", "LD_PRELOAD=/tmp/x.so", "socket:[1]", "pipe:[2]",
         "web-1"});
    DecodedEvent ev;
    ASSERT_EQ(decode(rec, ev), DecodeError::kNone);
    const auto got = ev.bodyAs<vg_exec>();
    EXPECT_EQ(got.stdin_kind, VG_FD_SOCKET);
    EXPECT_EQ(got.stdout_kind, VG_FD_PIPE);
    EXPECT_EQ(got.n_ancestors, 2);
    EXPECT_EQ(got.stdin_ino, 555u);
    EXPECT_EQ(got.exe_size, 1234567u);
    EXPECT_EQ(got.exe_mtime, -5);
    EXPECT_EQ(got.stdin_sock.dport, htons(4444));
    EXPECT_EQ(got.ancestors[0].tgid, 900u);
    EXPECT_STREQ(got.ancestors[0].comm, "sshd");
    EXPECT_EQ(got.ancestors[1].tgid, 1u);
    EXPECT_STREQ(got.ancestors[1].comm, "systemd");
    EXPECT_EQ(ev.str(0), "/usr/bin/bash");
    EXPECT_EQ(ev.str(1), argv);
    EXPECT_EQ(ev.str(4), "LD_PRELOAD=/tmp/x.so");
    EXPECT_EQ(ev.str(7), "web-1");
    EXPECT_EQ(ev.hdr.ret, -13);
    EXPECT_STREQ(ev.hdr.comm, "bash");
}

TEST(EventDecoderTest, FewerStringsThanTheTypeCarriesReadAsEmpty) {
    // A failed exec: only exe and cwd are meaningful; the kernel side may stop after two.
    const std::string rec =
        encodeEvent(makeHeader(VG_EXECVE), patternBody(VG_EXECVE), {"/nope", ""});
    DecodedEvent ev;
    ASSERT_EQ(decode(rec, ev), DecodeError::kNone);
    EXPECT_EQ(ev.nstr, 2u);
    EXPECT_EQ(ev.str(0), "/nope");
    EXPECT_EQ(ev.str(1), "");
    EXPECT_EQ(ev.str(2), "");
    EXPECT_EQ(ev.str(7), "");

    const std::string none = encodeEvent(makeHeader(VG_RENAME), "", {});
    ASSERT_EQ(decode(none, ev), DecodeError::kNone);
    EXPECT_EQ(ev.nstr, 0u);
    EXPECT_TRUE(ev.body.empty());
    EXPECT_EQ(ev.str(0), "");
}

TEST(EventDecoderTest, SockAndDnsBodies) {
    vg_dns dns{};
    dns.addr.family = 10;
    dns.addr.protocol = 17;
    dns.addr.sport = htons(40000);
    dns.addr.dport = htons(53);
    dns.addr.daddr[15] = 1;
    const std::string packet("\x12\x34\x81\x80", 4);
    const std::string rec =
        encodeEvent(makeHeader(VG_DNS),
                    std::string_view(reinterpret_cast<const char*>(&dns), sizeof(dns)), {packet});
    DecodedEvent ev;
    ASSERT_EQ(decode(rec, ev), DecodeError::kNone);
    const auto got = ev.bodyAs<vg_dns>();
    EXPECT_EQ(got.addr.family, 10);
    EXPECT_EQ(got.addr.protocol, 17);
    EXPECT_EQ(got.addr.sport, htons(40000));
    EXPECT_EQ(got.addr.dport, htons(53));
    EXPECT_EQ(got.addr.daddr[15], 1);
    EXPECT_EQ(ev.str(0), packet);

    vg_sock_event sock{};
    sock.addr.family = 2;
    sock.addr.daddr[0] = 10;
    sock.addr.dport = htons(22);
    const std::string conn =
        encodeEvent(makeHeader(VG_CONNECT),
                    std::string_view(reinterpret_cast<const char*>(&sock), sizeof(sock)), {});
    ASSERT_EQ(decode(conn, ev), DecodeError::kNone);
    EXPECT_EQ(ev.bodyAs<vg_sock_event>().addr.daddr[0], 10);
    EXPECT_EQ(ev.bodyAs<vg_sock_event>().addr.dport, htons(22));
}

TEST(EventDecoderTest, UnalignedInput) {
    vg_kill kill{};
    kill.target_pid = 31337;
    kill.sig = 9;
    const std::string rec =
        encodeEvent(makeHeader(VG_KILL),
                    std::string_view(reinterpret_cast<const char*>(&kill), sizeof(kill)), {});
    std::string shifted = "x" + rec;
    DecodedEvent ev;
    ASSERT_EQ(decodeEvent(std::string_view(shifted).substr(1), ev), DecodeError::kNone);
    EXPECT_EQ(ev.hdr.tgid, 1000u);
    EXPECT_EQ(ev.hdr.cgroup_id, 0x1122334455667788ULL);
    EXPECT_EQ(ev.bodyAs<vg_kill>().target_pid, 31337);
    EXPECT_EQ(ev.bodyAs<vg_kill>().sig, 9);
}

TEST(EventDecoderTest, LongestStringsAccepted) {
    const std::string path(VG_MAX_STR, 'p');
    DecodedEvent ev;
    const std::string open = encodeEvent(makeHeader(VG_OPEN), patternBody(VG_OPEN), {path, path});
    ASSERT_EQ(decode(open, ev), DecodeError::kNone);
    EXPECT_EQ(ev.str(1), path);
    const std::string packet(VG_DNS_MAX, '\xff');
    const std::string dns = encodeEvent(makeHeader(VG_DNS), patternBody(VG_DNS), {packet});
    ASSERT_EQ(decode(dns, ev), DecodeError::kNone);
    EXPECT_EQ(ev.str(0), packet);
}

TEST(EventDecoderTest, TooShort) {
    DecodedEvent ev;
    EXPECT_EQ(decode("", ev), DecodeError::kTooShort);
    const std::string rec = encodeEvent(makeHeader(VG_EXIT), "", {});
    ASSERT_EQ(rec.size(), sizeof(vg_header));
    ASSERT_EQ(decode(rec, ev), DecodeError::kNone);
    EXPECT_EQ(decode(rec.substr(0, sizeof(vg_header) - 1), ev), DecodeError::kTooShort);
    EXPECT_EQ(ev.nstr, 0u);
    EXPECT_EQ(ev.hdr.type, 0u);
}

TEST(EventDecoderTest, BadSize) {
    std::string rec = encodeEvent(makeHeader(VG_MODULE_LOAD), "", {"nf_tables"});
    DecodedEvent ev;
    setSize(rec, static_cast<uint32_t>(rec.size() + 1));
    EXPECT_EQ(decode(rec, ev), DecodeError::kBadSize);
    EXPECT_EQ(ev.hdr.type, VG_MODULE_LOAD);  // the header is still there to count the drop by
    setSize(rec, static_cast<uint32_t>(rec.size() - 1));
    EXPECT_EQ(decode(rec, ev), DecodeError::kBadSize);
    setSize(rec, 0);
    EXPECT_EQ(decode(rec, ev), DecodeError::kBadSize);
    // A record cut short by the reader: the header claims more than there is.
    const std::string whole = encodeEvent(makeHeader(VG_MODULE_LOAD), "", {"nf_tables"});
    EXPECT_EQ(decode(whole.substr(0, whole.size() - 3), ev), DecodeError::kBadSize);
    // Larger than any record the kernel side writes, even if self-consistent.
    const std::string huge(VG_MAX_RECORD, 'x');
    const std::string big = encodeEvent(makeHeader(VG_OPEN), patternBody(VG_OPEN),
                                        {huge.substr(0, VG_MAX_STR), huge.substr(0, VG_MAX_STR)});
    ASSERT_EQ(decode(big, ev), DecodeError::kNone);
    std::string over = encodeEvent(makeHeader(VG_EXIT), "", {});
    over.resize(VG_MAX_RECORD + 1);
    setSize(over, VG_MAX_RECORD + 1);
    EXPECT_EQ(decode(over, ev), DecodeError::kBadSize);
}

TEST(EventDecoderTest, UnknownType) {
    DecodedEvent ev;
    for (uint32_t type : {0u, 1u, 59999u, 10000u, 0xffffffffu}) {
        EXPECT_EQ(decode(encodeEvent(makeHeader(type), "", {}), ev), DecodeError::kUnknownType)
            << type;
        EXPECT_EQ(ev.hdr.type, type);
    }
}

TEST(EventDecoderTest, BadBody) {
    DecodedEvent ev;
    const std::string short_body = patternBody(VG_EXECVE).substr(0, 10);
    EXPECT_EQ(decode(encodeEvent(makeHeader(VG_EXECVE), short_body, {}), ev),
              DecodeError::kBadBody);
    EXPECT_EQ(decode(encodeEvent(makeHeader(VG_KILL), "", {}), ev), DecodeError::kBadBody);
    EXPECT_TRUE(ev.body.empty());
    EXPECT_EQ(decode(encodeEvent(makeHeader(VG_PTRACE),
                                 patternBody(VG_PTRACE).substr(0, sizeof(vg_ptrace) - 1), {}),
                     ev),
              DecodeError::kBadBody);
}

TEST(EventDecoderTest, TooManyStrings) {
    DecodedEvent ev;
    EXPECT_EQ(decode(encodeEvent(makeHeader(VG_KILL), patternBody(VG_KILL), {"x"}), ev),
              DecodeError::kTooManyStrings);
    EXPECT_EQ(decode(encodeEvent(makeHeader(VG_EXIT), "", {""}), ev), DecodeError::kTooManyStrings);
    EXPECT_EQ(decode(encodeEvent(makeHeader(VG_OPEN), patternBody(VG_OPEN), {"a", "b", "c"}), ev),
              DecodeError::kTooManyStrings);
    EXPECT_EQ(decode(encodeEvent(makeHeader(VG_EXECVE), patternBody(VG_EXECVE),
                                 {"1", "2", "3", "4", "5", "6", "7", "8", "9"}),
                     ev),
              DecodeError::kTooManyStrings);
    EXPECT_EQ(ev.nstr, 0u);
}

TEST(EventDecoderTest, BadString) {
    DecodedEvent ev;
    const size_t strings_at = sizeof(vg_header) + bodySize(VG_OPEN);
    // nstr claims two strings, the record holds one.
    std::string rec = encodeEvent(makeHeader(VG_OPEN), patternBody(VG_OPEN), {"/etc/shadow"});
    setNstr(rec, 2);
    EXPECT_EQ(decode(rec, ev), DecodeError::kBadString);
    EXPECT_EQ(ev.nstr, 0u);
    // Only one byte of a length prefix.
    rec = encodeEvent(makeHeader(VG_OPEN), patternBody(VG_OPEN), {"/etc/shadow"});
    rec.push_back('\x01');
    setSize(rec, static_cast<uint32_t>(rec.size()));
    setNstr(rec, 2);
    EXPECT_EQ(decode(rec, ev), DecodeError::kBadString);
    // A length past the end of the record.
    rec = encodeEvent(makeHeader(VG_OPEN), patternBody(VG_OPEN), {"/etc/shadow", "/"});
    // 14 bytes follow the first prefix; with length 12 the second prefix reads as 0x2f00.
    rec[strings_at] = 12;
    ASSERT_EQ(decode(rec, ev), DecodeError::kBadString);
    rec[strings_at] = 0x0f;  // 15 > the 14 bytes left
    EXPECT_EQ(decode(rec, ev), DecodeError::kBadString);
    rec[strings_at + 1] = '\x80';
    EXPECT_EQ(decode(rec, ev), DecodeError::kBadString);
    // Longer than VG_MAX_STR, though present in full.
    const std::string path(VG_MAX_STR + 1, 'p');
    EXPECT_EQ(decode(encodeEvent(makeHeader(VG_OPEN), patternBody(VG_OPEN), {path}), ev),
              DecodeError::kBadString);
    // A DNS packet longer than VG_DNS_MAX.
    const std::string packet(VG_DNS_MAX + 1, 'd');
    EXPECT_EQ(decode(encodeEvent(makeHeader(VG_DNS), patternBody(VG_DNS), {packet}), ev),
              DecodeError::kBadString);
}

TEST(EventDecoderTest, TrailingBytes) {
    DecodedEvent ev;
    std::string rec = encodeEvent(makeHeader(VG_PRCTL), patternBody(VG_PRCTL), {"kworker"});
    rec.push_back('\0');
    setSize(rec, static_cast<uint32_t>(rec.size()));
    EXPECT_EQ(decode(rec, ev), DecodeError::kTrailingBytes);
    EXPECT_EQ(ev.nstr, 0u);
    // Strings present but nstr says fewer.
    rec = encodeEvent(makeHeader(VG_MOUNT), patternBody(VG_MOUNT), {"/dev/sda1", "/mnt"});
    setNstr(rec, 1);
    EXPECT_EQ(decode(rec, ev), DecodeError::kTrailingBytes);
    // A body-less type with bytes after the header.
    rec = encodeEvent(makeHeader(VG_SETSID), "xyz", {});
    EXPECT_EQ(decode(rec, ev), DecodeError::kTrailingBytes);
}

TEST(EventDecoderTest, ErrorNamesAreDistinct) {
    std::set<std::string> names;
    for (auto e : {DecodeError::kNone, DecodeError::kTooShort, DecodeError::kBadSize,
                   DecodeError::kUnknownType, DecodeError::kBadBody, DecodeError::kTooManyStrings,
                   DecodeError::kBadString, DecodeError::kTrailingBytes}) {
        names.insert(decodeErrorName(e));
    }
    EXPECT_EQ(names.size(), 8u);
    EXPECT_STREQ(decodeErrorName(DecodeError::kNone), "none");
    EXPECT_STREQ(decodeErrorName(DecodeError::kBadString), "bad_string");
    EXPECT_STREQ(decodeErrorName(DecodeError::kTrailingBytes), "trailing_bytes");
}

// The fuzz seeds (plugins/driver/fuzz/make_corpus.cpp) are records of today's layout: a change
// to vigil_events.h that is not followed by re-making them fails here.
TEST(EventDecoderTest, CommittedFuzzSeedsMatchTheLayout) {
    const char* src = std::getenv("VIGIL_SOURCE_DIR");
    if (src == nullptr) GTEST_SKIP() << "VIGIL_SOURCE_DIR not set (run through ctest)";
    const std::filesystem::path dir =
        std::filesystem::path(src) / "plugins/driver/fuzz/corpus/event_decoder";
    size_t valid = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::ifstream in(entry.path(), std::ios::binary);
        const std::string rec((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
        DecodedEvent ev;
        const DecodeError err = decode(rec, ev);
        const std::string name = entry.path().filename().string();
        if (name.starts_with("bad_")) {
            EXPECT_NE(err, DecodeError::kNone) << name;
        } else {
            EXPECT_EQ(err, DecodeError::kNone) << name << ": " << decodeErrorName(err);
            ++valid;
        }
    }
    EXPECT_GT(valid, 0u);
}

}  // namespace
}  // namespace vigil::driver
