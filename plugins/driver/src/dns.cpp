// DNS message parsing; see dns.h. Names follow RFC 1035 section 4.1.4 (compression) with the
// limits of section 2.3.4 (63-byte labels, 255-byte names).
#include "plugins/driver/src/dns.h"

#include <arpa/inet.h>

#include <array>

namespace vigil::driver {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxLabel = 63;
constexpr size_t kMaxName = 255;  // wire form: length bytes, labels and the final zero
// A name of at most 255 bytes has at most 127 labels; more jumps than that can only be a loop.
constexpr int kMaxPointerHops = 128;

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeAaaa = 28;

uint16_t be16(std::string_view b, size_t off) {
    return static_cast<uint16_t>((static_cast<uint8_t>(b[off]) << 8) |
                                 static_cast<uint8_t>(b[off + 1]));
}

void appendLabel(std::string_view label, std::string& out) {
    for (char c : label) {
        const auto u = static_cast<uint8_t>(c);
        if (c == '.' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x21 || u > 0x7e) {
            out.push_back('\\');
            out.push_back(static_cast<char>('0' + u / 100));
            out.push_back(static_cast<char>('0' + u / 10 % 10));
            out.push_back(static_cast<char>('0' + u % 10));
        } else {
            out.push_back(c);
        }
    }
}

// Reads the name at `off` into `out` (presentation form) and sets `next` to the first byte
// after it where it starts (after the first pointer when it is compressed).
Status readName(std::string_view msg, size_t off, std::string& out, size_t& next) {
    out.clear();
    size_t wire_len = 1;  // the final zero
    int hops = 0;
    bool jumped = false;
    for (;;) {
        if (off >= msg.size()) return makeError("dns: label runs past the end");
        const auto len = static_cast<uint8_t>(msg[off]);
        if ((len & 0xc0) == 0xc0) {
            if (off + 1 >= msg.size())
                return makeError("dns: compression pointer runs past the end");
            if (++hops > kMaxPointerHops) return makeError("dns: compression loop");
            if (!jumped) next = off + 2;
            jumped = true;
            off = be16(msg, off) & 0x3fff;
            continue;
        }
        if (len > kMaxLabel) {
            return makeError("dns: label length {} over {} (or reserved label type)", len,
                             kMaxLabel);
        }
        if (len == 0) {
            if (!jumped) next = off + 1;
            break;
        }
        wire_len += 1 + len;
        if (wire_len > kMaxName) return makeError("dns: name longer than {} bytes", kMaxName);
        if (msg.size() - off - 1 < len) return makeError("dns: label runs past the end");
        if (!out.empty()) out.push_back('.');
        appendLabel(msg.substr(off + 1, len), out);
        off += 1 + len;
    }
    if (out.empty()) out = ".";
    return okStatus();
}

std::string addressText(int family, std::string_view raw) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    if (inet_ntop(family, raw.data(), buf.data(), buf.size()) == nullptr) return {};
    return std::string(buf.data());
}

// Adds what the answers say to `msg.answers`, from `off` on; stops quietly at the first record
// that does not fit.
void readAnswers(std::string_view bytes, size_t off, DnsMessage& msg) {
    std::string name;
    for (uint16_t i = 0; i < msg.ancount && msg.answers.size() < kMaxDnsAnswers; ++i) {
        size_t next = 0;
        if (!readName(bytes, off, name, next).ok()) return;
        // type, class, ttl, rdlength
        if (bytes.size() - next < 10) return;
        const uint16_t type = be16(bytes, next);
        const uint16_t rdlength = be16(bytes, next + 8);
        const size_t rdata = next + 10;
        if (bytes.size() - rdata < rdlength) return;
        const std::string_view rd = bytes.substr(rdata, rdlength);
        if (type == kTypeA && rdlength == 4) {
            msg.answers.push_back(addressText(AF_INET, rd));
        } else if (type == kTypeAaaa && rdlength == 16) {
            msg.answers.push_back(addressText(AF_INET6, rd));
        } else if (type == kTypeCname) {
            // The target may point anywhere earlier in the message, but must start in rdata.
            std::string target;
            size_t end = 0;
            if (rdlength > 0 && readName(bytes, rdata, target, end).ok() &&
                end <= rdata + rdlength) {
                msg.answers.push_back(std::move(target));
            }
        }
        off = rdata + rdlength;
    }
}

// Moves `off` past one question; false when it does not fit.
bool skipQuestion(std::string_view bytes, size_t& off) {
    std::string name;
    size_t next = 0;
    if (!readName(bytes, off, name, next).ok() || bytes.size() - next < 4) return false;
    off = next + 4;
    return true;
}

}  // namespace

std::string DnsMessage::qtypeName() const {
    switch (qtype) {
        case 1:
            return "A";
        case 2:
            return "NS";
        case 5:
            return "CNAME";
        case 6:
            return "SOA";
        case 12:
            return "PTR";
        case 15:
            return "MX";
        case 16:
            return "TXT";
        case 28:
            return "AAAA";
        case 33:
            return "SRV";
        case 65:
            return "HTTPS";
        case 255:
            return "ANY";
        default:
            return std::to_string(qtype);
    }
}

Result<DnsMessage> parseDns(std::string_view bytes) {
    if (bytes.size() < kHeaderSize) return makeError("dns: header shorter than 12 bytes");
    DnsMessage msg;
    const uint16_t flags = be16(bytes, 2);
    msg.response = (flags & 0x8000) != 0;
    msg.opcode = (flags >> 11) & 0xf;
    msg.rcode = flags & 0xf;
    msg.qdcount = be16(bytes, 4);
    msg.ancount = be16(bytes, 6);

    size_t off = kHeaderSize;
    if (msg.qdcount > 0) {
        size_t next = 0;
        VIGIL_TRY(readName(bytes, off, msg.query, next));
        if (bytes.size() - next < 4) return makeError("dns: question runs past the end");
        msg.qtype = be16(bytes, next);
        off = next + 4;
        // Further questions (rare in practice) are skipped to reach the answers.
        for (uint16_t i = 1; i < msg.qdcount; ++i) {
            if (!skipQuestion(bytes, off)) return msg;
        }
    }
    readAnswers(bytes, off, msg);
    return msg;
}

}  // namespace vigil::driver
