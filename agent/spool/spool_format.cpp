// Spool entry framing, segment scanning and the ack state file.
#include "agent/spool/spool_format.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace vigil::agent::spool_format {
namespace {

void putU32(char* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void putU64(char* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint32_t getU32(const char* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
    return v;
}
uint64_t getU64(const char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
    return v;
}

// Reads exactly n bytes at offset; returns the count read (short at end of file) or -1.
ssize_t preadFull(int fd, char* buf, size_t n, uint64_t offset) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        done += static_cast<size_t>(r);
    }
    return static_cast<ssize_t>(done);
}

constexpr uint32_t kAckMagic = 0x4b414356;  // "VCAK"

}  // namespace

uint32_t crc32(std::string_view data) {
    uLong c = ::crc32_z(0L, Z_NULL, 0);
    c = ::crc32_z(c, reinterpret_cast<const Bytef*>(data.data()), data.size());
    return static_cast<uint32_t>(c);
}

// Layout: magic u32 | length u32 | seq u64 | records u32 | lane u8 | version u8 | 0 u16 |
//         payload_crc u32 | header_crc u32 (over the 28 bytes before it).
void encodeEntryHeader(const EntryHeader& h, char* out) {
    putU32(out, kEntryMagic);
    putU32(out + 4, h.length);
    putU64(out + 8, h.seq);
    putU32(out + 16, h.records);
    out[20] = static_cast<char>(h.lane);
    out[21] = static_cast<char>(kEntryVersion);
    out[22] = 0;
    out[23] = 0;
    putU32(out + 24, h.payload_crc);
    putU32(out + 28, crc32(std::string_view(out, 28)));
}

bool decodeEntryHeader(const char* in, EntryHeader& out) {
    if (getU32(in) != kEntryMagic) return false;
    if (getU32(in + 28) != crc32(std::string_view(in, 28))) return false;
    if (static_cast<uint8_t>(in[21]) != kEntryVersion) return false;
    auto lane = static_cast<uint8_t>(in[20]);
    if (lane > static_cast<uint8_t>(Lane::kCritical)) return false;
    out.length = getU32(in + 4);
    if (out.length > kMaxEntryBytes) return false;
    out.seq = getU64(in + 8);
    out.records = getU32(in + 16);
    out.lane = static_cast<Lane>(lane);
    out.payload_crc = getU32(in + 24);
    return true;
}

Result<ScanResult> scanSegment(int fd, const std::string& path) {
    ScanResult result;
    struct stat st;
    if (::fstat(fd, &st) != 0) return makeError("cannot stat {}: {}", path, std::strerror(errno));
    result.file_bytes = static_cast<uint64_t>(st.st_size);
    std::string payload;
    char head[kEntryHeaderBytes];
    uint64_t offset = 0;
    while (offset + kEntryHeaderBytes <= result.file_bytes) {
        ssize_t n = preadFull(fd, head, kEntryHeaderBytes, offset);
        if (n < 0) return makeError("cannot read {}: {}", path, std::strerror(errno));
        if (static_cast<size_t>(n) < kEntryHeaderBytes) break;
        EntryHeader h;
        if (!decodeEntryHeader(head, h)) break;
        if (offset + kEntryHeaderBytes + h.length > result.file_bytes) break;
        payload.resize(h.length);
        n = preadFull(fd, payload.data(), h.length, offset + kEntryHeaderBytes);
        if (n < 0) return makeError("cannot read {}: {}", path, std::strerror(errno));
        if (static_cast<size_t>(n) < h.length) break;
        if (crc32(payload) != h.payload_crc) break;
        result.entries.push_back(ScannedEntry{h, offset});
        offset += kEntryHeaderBytes + h.length;
    }
    result.valid_bytes = offset;
    return result;
}

Result<std::string> readEntry(int fd, uint64_t offset, uint64_t seq) {
    char head[kEntryHeaderBytes];
    ssize_t n = preadFull(fd, head, kEntryHeaderBytes, offset);
    if (n < 0) return makeError("read failed: {}", std::strerror(errno));
    EntryHeader h;
    if (static_cast<size_t>(n) < kEntryHeaderBytes || !decodeEntryHeader(head, h)) {
        return makeError("bad entry header at offset {}", offset);
    }
    if (h.seq != seq)
        return makeError("entry at offset {} has seq {}, expected {}", offset, h.seq, seq);
    std::string payload(h.length, '\0');
    n = preadFull(fd, payload.data(), h.length, offset + kEntryHeaderBytes);
    if (n < 0) return makeError("read failed: {}", std::strerror(errno));
    if (static_cast<size_t>(n) < h.length) return makeError("entry {} is truncated", seq);
    if (crc32(payload) != h.payload_crc) return makeError("entry {} fails its CRC check", seq);
    return payload;
}

// Slot layout: magic u32 | crc u32 (over bytes 8..31) | generation u64 | acked_seq u64 |
// issued_seq u64.
AckState readAckState(int fd) {
    AckState best;
    char buf[2 * kAckSlotBytes];
    ssize_t n = preadFull(fd, buf, sizeof(buf), 0);
    if (n <= 0) return best;
    bool found = false;
    for (size_t slot = 0; slot < 2; ++slot) {
        if (static_cast<size_t>(n) < (slot + 1) * kAckSlotBytes) break;
        const char* p = buf + slot * kAckSlotBytes;
        if (getU32(p) != kAckMagic) continue;
        if (getU32(p + 4) != crc32(std::string_view(p + 8, kAckSlotBytes - 8))) continue;
        AckState s{getU64(p + 8), getU64(p + 16), getU64(p + 24)};
        if (!found || s.generation > best.generation) {
            best = s;
            found = true;
        }
    }
    return best;
}

Status writeAckState(int fd, const AckState& state) {
    char p[kAckSlotBytes];
    putU32(p, kAckMagic);
    putU64(p + 8, state.generation);
    putU64(p + 16, state.acked_seq);
    putU64(p + 24, state.issued_seq);
    putU32(p + 4, crc32(std::string_view(p + 8, kAckSlotBytes - 8)));
    auto offset = static_cast<off_t>((state.generation % 2) * kAckSlotBytes);
    for (;;) {
        ssize_t n = ::pwrite(fd, p, sizeof(p), offset);
        if (n == static_cast<ssize_t>(sizeof(p))) return okStatus();
        if (n < 0 && errno == EINTR) continue;
        return makeError("cannot write the spool ack state: {}",
                         n < 0 ? std::strerror(errno) : "short write");
    }
}

std::string segmentFileName(Lane lane, uint64_t first_seq) {
    return fmt::format("{}-{:020d}.seg", lane == Lane::kCritical ? 'c' : 't', first_seq);
}

bool parseSegmentFileName(std::string_view name, Lane& lane, uint64_t& first_seq) {
    if (name.size() != 2 + 20 + 4 || name[1] != '-' || name.substr(22) != ".seg") return false;
    if (name[0] == 't')
        lane = Lane::kTelemetry;
    else if (name[0] == 'c')
        lane = Lane::kCritical;
    else
        return false;
    uint64_t v = 0;
    for (char ch : name.substr(2, 20)) {
        if (ch < '0' || ch > '9') return false;
        v = v * 10 + static_cast<uint64_t>(ch - '0');
    }
    first_seq = v;
    return true;
}

}  // namespace vigil::agent::spool_format
