// Writes the seed corpus of event_decoder_fuzz (plugins/driver/fuzz/corpus/event_decoder/): a few
// valid records of today's layout, DNS queries and answers among them, and a few invalid ones
// (named bad_*). Built with encodeEvent, so the seeds follow vigil_events.h; re-run after
// changing it (event_decoder_test checks that the committed seeds still decode):
//   cmake --build build-fuzz --target event_decoder_make_corpus &&
//   build-fuzz/fuzz/event_decoder_make_corpus plugins/driver/fuzz/corpus/event_decoder
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>

#include "plugins/driver/src/event_decoder.h"

namespace {

using vigil::driver::encodeEvent;

vg_header header(uint32_t type) {
    vg_header h{};
    h.type = type;
    h.ktime_ns = 1000000000;
    h.start_time = 500000000;
    h.cgroup_id = 1;
    h.exe_ino = 131;
    h.pid = h.tgid = 4242;
    h.ppid = 1;
    h.pgid = h.sid = 4242;
    std::memcpy(h.comm, "bash", 5);
    return h;
}

template <class T>
std::string_view bytesOf(const T& v) {
    return std::string_view(reinterpret_cast<const char*>(&v), sizeof(v));
}

std::string be16(uint16_t v) {
    return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

// DNS header: id, flags, qdcount, ancount, nscount, arcount.
std::string dnsHeader(uint16_t flags, uint16_t qd, uint16_t an) {
    return be16(0x1234) + be16(flags) + be16(qd) + be16(an) + be16(0) + be16(0);
}

const std::string kQname(
    "\x03www\x07"
    "example\x03"
    "com\x00",
    17);

std::string dnsQuery() {
    return dnsHeader(0x0100, 1, 0) + kQname + be16(1) + be16(1);
}

// www.example.com CNAME edge.example.com (compressed), A 93.184.216.34.
std::string dnsAnswer() {
    std::string p = dnsHeader(0x8180, 1, 2) + kQname + be16(1) + be16(1);
    p += "\xc0\x0c" + be16(5) + be16(1) + std::string("\x00\x00\x01\x2c", 4) + be16(7);
    p += std::string(
        "\x04"
        "edge\xc0\x10",
        7);
    p += "\xc0\x2d" + be16(1) + be16(1) + std::string("\x00\x00\x01\x2c", 4) + be16(4);
    p += "\x5d\xb8\xd8\x22";
    return p;
}

std::string dnsLoop() {
    return dnsHeader(0x8183, 1, 0) + "\xc0\x0c" + be16(1) + be16(1);
}

bool write(const std::string& dir, const char* name, const std::string& bytes) {
    std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];

    vg_exec exec{};
    exec.stdin_kind = VG_FD_CHAR;
    exec.stdout_kind = VG_FD_PIPE;
    exec.n_ancestors = 1;
    exec.ancestors[0].tgid = 1;
    std::memcpy(exec.ancestors[0].comm, "systemd", 8);
    const std::string argv_nul("bash\0-c\0id", 10);

    vg_sock_event sock{};
    sock.addr.family = 2;
    sock.addr.protocol = 6;
    sock.addr.dport = 0x5c11;  // 4444, network order
    sock.addr.daddr[0] = 10;
    sock.addr.daddr[3] = 7;

    vg_file_event file{};
    file.flags = 0101;
    file.mode = 0100644;

    vg_dns dns{};
    dns.addr.family = 2;
    dns.addr.protocol = 17;
    dns.addr.sport = 0x3500;  // 53, network order

    vg_mount mount{};
    vg_snapshot snap{};

    struct Seed {
        const char* name;
        std::string bytes;
    };
    std::string bad_size = encodeEvent(header(VG_EXIT), "", {});
    bad_size.push_back('\0');
    std::string bad_string = encodeEvent(header(VG_MODULE_LOAD), "", {"nf_tables"});
    bad_string[sizeof(vg_header)] = 0x7f;
    const Seed seeds[] = {
        {"exec", encodeEvent(header(VG_EXECVE), bytesOf(exec),
                             {"/usr/bin/bash", argv_nul, "/root", "pts/0", "", "/dev/pts/0",
                              "pipe:[7]", "web-1"})},
        {"exec_failed", encodeEvent(header(VG_EXECVE), bytesOf(exec), {"/tmp/x", "/tmp"})},
        {"connect", encodeEvent(header(VG_CONNECT), bytesOf(sock), {})},
        {"open", encodeEvent(header(VG_OPEN), bytesOf(file), {"/etc/shadow", ""})},
        {"rename", encodeEvent(header(VG_RENAME), "", {"a", "/tmp/b", "/tmp", ""})},
        {"mount", encodeEvent(header(VG_MOUNT), bytesOf(mount), {"/dev/sda1", "/mnt", "ext4", ""})},
        {"exit", encodeEvent(header(VG_EXIT), "", {})},
        {"snapshot", encodeEvent(header(VG_PROC_SNAPSHOT), bytesOf(snap), {"/usr/sbin/sshd", "h"})},
        {"dns_query", encodeEvent(header(VG_DNS), bytesOf(dns), {dnsQuery()})},
        {"dns_answer", encodeEvent(header(VG_DNS), bytesOf(dns), {dnsAnswer()})},
        {"dns_loop", encodeEvent(header(VG_DNS), bytesOf(dns), {dnsLoop()})},
        {"bad_raw_dns_answer", dnsAnswer()},  // no record; the target also parses raw input as DNS
        {"bad_size", bad_size},
        {"bad_string", bad_string},
        {"bad_type", encodeEvent(header(7), "", {})},
    };
    for (const Seed& s : seeds) {
        if (!write(dir, s.name, s.bytes)) {
            std::fprintf(stderr, "make_corpus: cannot write %s/%s\n", dir.c_str(), s.name);
            return 1;
        }
    }
    return 0;
}
