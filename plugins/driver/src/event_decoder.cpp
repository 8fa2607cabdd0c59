// Ring-buffer record validation and the test encoder; see event_decoder.h.
#include "plugins/driver/src/event_decoder.h"

#include <limits>

namespace vigil::driver {
namespace {

struct TypeLayout {
    size_t body;
    size_t max_strings;
};

constexpr size_t kUnknown = std::numeric_limits<size_t>::max();

// The table of vigil_events.h: body struct and string count per event type.
constexpr TypeLayout layoutOf(uint32_t type) {
    switch (type) {
        case VG_EXECVE:
            return {sizeof(vg_exec), VG_EXEC_NSTR};
        case VG_CONNECT:
        case VG_BIND:
        case VG_ACCEPT:
            return {sizeof(vg_sock_event), 0};
        case VG_RENAME:
        case VG_LINK:
            return {0, VG_RENAME_NSTR};
        case VG_UNLINK:
        case VG_OPEN:
        case VG_FILE_CREATE:
        case VG_WRITE:
        case VG_READ:
            return {sizeof(vg_file_event), VG_FILE_NSTR};
        case VG_PTRACE:
            return {sizeof(vg_ptrace), 0};
        case VG_SETSID:
            return {0, 0};
        case VG_PRCTL:
            return {sizeof(vg_prctl), VG_PRCTL_NSTR};
        case VG_MOUNT:
            return {sizeof(vg_mount), VG_MOUNT_NSTR};
        case VG_MEMFD_CREATE:
            return {sizeof(vg_memfd), VG_MEMFD_NSTR};
        case VG_DNS:
            return {sizeof(vg_dns), VG_DNS_NSTR};
        case VG_MODULE_LOAD:
            return {0, VG_MODULE_NSTR};
        case VG_CRED_CHANGE:
            return {sizeof(vg_cred), 0};
        case VG_KILL:
            return {sizeof(vg_kill), 0};
        case VG_EXIT:
            return {0, 0};
        case VG_PROC_SNAPSHOT:
            return {sizeof(vg_snapshot), VG_SNAPSHOT_NSTR};
        default:
            return {kUnknown, 0};
    }
}

static_assert(layoutOf(VG_EXECVE).max_strings <= kMaxRecordStrings);
static_assert(VG_MAX_STR <= 0xffff && VG_DNS_MAX <= VG_MAX_STR);

}  // namespace

const char* decodeErrorName(DecodeError error) {
    switch (error) {
        case DecodeError::kNone:
            return "none";
        case DecodeError::kTooShort:
            return "too_short";
        case DecodeError::kBadSize:
            return "bad_size";
        case DecodeError::kUnknownType:
            return "unknown_type";
        case DecodeError::kBadBody:
            return "bad_body";
        case DecodeError::kTooManyStrings:
            return "too_many_strings";
        case DecodeError::kBadString:
            return "bad_string";
        case DecodeError::kTrailingBytes:
            return "trailing_bytes";
    }
    return "unknown";
}

size_t bodySize(uint32_t type) {
    return layoutOf(type).body;
}

size_t maxStrings(uint32_t type) {
    return layoutOf(type).max_strings;
}

DecodeError decodeEvent(std::span<const uint8_t> in, DecodedEvent& out) {
    out.body = {};
    out.nstr = 0;
    if (in.size() < sizeof(vg_header)) {
        out.hdr = {};
        return DecodeError::kTooShort;
    }
    std::memcpy(&out.hdr, in.data(), sizeof(vg_header));
    const size_t size = in.size();
    if (out.hdr.size != size || size > VG_MAX_RECORD) return DecodeError::kBadSize;
    const TypeLayout layout = layoutOf(out.hdr.type);
    if (layout.body == kUnknown) return DecodeError::kUnknownType;
    const auto* bytes = reinterpret_cast<const char*>(in.data());
    size_t off = sizeof(vg_header);
    if (size - off < layout.body) return DecodeError::kBadBody;
    out.body = std::string_view(bytes + off, layout.body);
    off += layout.body;
    if (out.hdr.nstr > layout.max_strings) return DecodeError::kTooManyStrings;
    // The DNS packet is the one string with a tighter bound than a path.
    const size_t max_len = out.hdr.type == VG_DNS ? VG_DNS_MAX : VG_MAX_STR;
    for (size_t i = 0; i < out.hdr.nstr; ++i) {
        if (size - off < 2) return DecodeError::kBadString;
        const size_t len = size_t{in[off]} | (size_t{in[off + 1]} << 8);
        off += 2;
        if (len > max_len || len > size - off) return DecodeError::kBadString;
        out.strs[i] = std::string_view(bytes + off, len);
        off += len;
    }
    if (off != size) return DecodeError::kTrailingBytes;
    out.nstr = out.hdr.nstr;
    return DecodeError::kNone;
}

std::string encodeEvent(const vg_header& h, std::string_view body,
                        std::initializer_list<std::string_view> strs) {
    vg_header hdr = h;
    hdr.nstr = static_cast<vg_u16>(strs.size());
    std::string tail(body);
    for (std::string_view s : strs) {
        const size_t len = std::min<size_t>(s.size(), 0xffff);
        tail.push_back(static_cast<char>(len & 0xff));
        tail.push_back(static_cast<char>(len >> 8));
        tail.append(s.substr(0, len));
    }
    hdr.size = static_cast<vg_u32>(sizeof(vg_header) + tail.size());
    std::string out(sizeof(vg_header), '\0');
    std::memcpy(out.data(), &hdr, sizeof(vg_header));
    out += tail;
    return out;
}

}  // namespace vigil::driver
