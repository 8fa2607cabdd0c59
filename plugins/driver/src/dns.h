// Parsing of DNS messages (RFC 1035) as the driver copies them out of a process's UDP reads: at
// most VG_DNS_MAX bytes, possibly cut short, possibly hostile. No read goes past the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/common/result.h"

namespace vigil::driver {

// Answers kept per message.
inline constexpr size_t kMaxDnsAnswers = 16;

// What a DNS message says about one lookup. A value type.
struct DnsMessage {
    bool response = false;  // QR bit
    int opcode = 0;
    int rcode = 0;  // header RCODE (4 bits; an EDNS extended RCODE is not applied)
    // First question's name in presentation form without the trailing dot, case kept as sent;
    // "." for the root, "" when the message has no question. Bytes other than printable ASCII,
    // and '.' or '\' inside a label, are escaped as \DDD / \. / \\ (RFC 1035 section 5.1).
    std::string query;
    uint16_t qtype = 0;
    uint16_t qdcount = 0;
    uint16_t ancount = 0;
    // In answer order, up to kMaxDnsAnswers: A and AAAA addresses as text, CNAME targets.
    // Best effort: parsing stops at the first answer that runs past the end of the input.
    std::vector<std::string> answers;

    // "A", "AAAA", "CNAME", ... for the common types, else the number ("257").
    std::string qtypeName() const;
};

// Parses the header and first question (an error when they are cut or malformed), then as many
// answers as the bytes allow. Errors read "dns: <what>".
Result<DnsMessage> parseDns(std::string_view bytes);

}  // namespace vigil::driver
