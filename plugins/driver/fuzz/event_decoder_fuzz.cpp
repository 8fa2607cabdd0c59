// libFuzzer target for the driver's ring-buffer records (plugins/driver/src/event_decoder.h) and
// the DNS packets they carry (plugins/driver/src/dns.h): decodeEvent on the input and, for a
// VG_DNS record, parseDns on its packet; parseDns also on the raw input, so the DNS parser is
// fuzzed directly and not only through mutations that keep a record's lengths consistent.
// Beyond "no crash, no hang", it checks that a decoded record accounts for every input byte and
// that a parsed DNS message stays within its documented bounds.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "plugins/driver/src/dns.h"
#include "plugins/driver/src/event_decoder.h"

namespace {

using vigil::driver::DecodedEvent;
using vigil::driver::DecodeError;

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

bool within(std::string_view part, const uint8_t* data, size_t size) {
    const auto* p = reinterpret_cast<const uint8_t*>(part.data());
    return part.empty() || (p >= data && p + part.size() <= data + size);
}

void checkDns(std::string_view packet) {
    auto r = vigil::driver::parseDns(packet);
    if (!r.ok()) {
        FUZZ_CHECK(r.message().starts_with("dns: "));
        return;
    }
    FUZZ_CHECK(packet.size() >= 12);
    FUZZ_CHECK(r->answers.size() <= vigil::driver::kMaxDnsAnswers);
    FUZZ_CHECK(r->opcode >= 0 && r->opcode < 16 && r->rcode >= 0 && r->rcode < 16);
    // 253 presentation bytes at most, each escaped to at most 4.
    FUZZ_CHECK(r->query.size() <= 4 * 253);
    FUZZ_CHECK(r->qdcount > 0 || (r->query.empty() && r->qtype == 0));
    FUZZ_CHECK(r->qdcount == 0 || !r->query.empty());
    FUZZ_CHECK(!r->qtypeName().empty());
    for (const auto& a : r->answers) FUZZ_CHECK(!a.empty() && a.size() <= 4 * 253);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    DecodedEvent ev;
    const DecodeError err = vigil::driver::decodeEvent(std::span<const uint8_t>(data, size), ev);
    FUZZ_CHECK(vigil::driver::decodeErrorName(err) != nullptr);
    if (err == DecodeError::kNone) {
        FUZZ_CHECK(ev.hdr.size == size);
        FUZZ_CHECK(ev.body.size() == vigil::driver::bodySize(ev.hdr.type));
        FUZZ_CHECK(ev.nstr == ev.hdr.nstr && ev.nstr <= vigil::driver::maxStrings(ev.hdr.type));
        FUZZ_CHECK(within(ev.body, data, size));
        // Header, body and every length-prefixed string: nothing more, nothing less.
        size_t total = sizeof(vg_header) + ev.body.size();
        for (size_t i = 0; i < ev.nstr; ++i) {
            FUZZ_CHECK(within(ev.strs[i], data, size) && ev.strs[i].size() <= VG_MAX_STR);
            total += 2 + ev.strs[i].size();
        }
        FUZZ_CHECK(total == size);
        FUZZ_CHECK(ev.str(ev.nstr).empty());
        if (ev.hdr.type == VG_DNS && ev.nstr >= 1) {
            FUZZ_CHECK(ev.str(0).size() <= VG_DNS_MAX);
            checkDns(ev.str(0));
        }
    } else {
        FUZZ_CHECK(ev.nstr == 0);
    }
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    checkDns(raw.substr(0, VG_DNS_MAX));
    return 0;
}
