// Embedded bus format: entry framing, segment names and scans, heads and position records,
// the bus.meta file.
#include "server/bus/log_format.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "libs/common/fs.h"
#include "server/bus/bus.h"
#include "server/bus/crc32c.h"

namespace vigil::bus::logfmt {
namespace {

constexpr uint32_t kPositionMagic = 0x53504256;  // "VBPS"
constexpr size_t kMaxEntryBytes = kEntryHeaderBytes + kMaxKeyBytes + kMaxValueBytes;

Result<size_t> preadAll(int fd, char* out, size_t n, uint64_t at) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = ::pread(fd, out + done, n - done, static_cast<off_t>(at + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return makeError("read: {}", strerror(errno));
        }
        if (r == 0) break;
        done += static_cast<size_t>(r);
    }
    return done;
}

}  // namespace

void encodeEntryHeader(EntryHeader& out, int64_t bus_time_ns, int32_t data_type,
                       std::string_view key, std::string_view value) {
    char* h = out.bytes;
    put<uint32_t>(h, static_cast<uint32_t>(entrySize(key.size(), value.size())));
    put<int64_t>(h + 8, bus_time_ns);
    put<int32_t>(h + 16, data_type);
    put<uint16_t>(h + 20, static_cast<uint16_t>(key.size()));
    h[22] = static_cast<char>(kEntryVersion);
    h[23] = 0;
    uint32_t crc = crc32c(0, h + 8, kEntryHeaderBytes - 8);
    crc = crc32c(crc, key.data(), key.size());
    crc = crc32c(crc, value.data(), value.size());
    put<uint32_t>(h + 4, crc);
}

ParseStatus parseEntry(std::string_view data, EntryView& out, size_t* need, bool verify_crc) {
    if (data.size() < kEntryHeaderBytes) {
        if (need) *need = kEntryHeaderBytes;
        return ParseStatus::kNeedMore;
    }
    const char* h = data.data();
    uint32_t size = get<uint32_t>(h);
    uint16_t key_len = get<uint16_t>(h + 20);
    if (size < kEntryHeaderBytes || size > kMaxEntryBytes ||
        static_cast<uint8_t>(h[22]) != kEntryVersion || key_len > kMaxKeyBytes ||
        kEntryHeaderBytes + key_len > size) {
        return ParseStatus::kCorrupt;
    }
    if (data.size() < size) {
        if (need) *need = size;
        return ParseStatus::kNeedMore;
    }
    if (verify_crc && get<uint32_t>(h + 4) != crc32c(0, h + 8, size - 8)) {
        return ParseStatus::kCorrupt;
    }
    out.size = size;
    out.bus_time_ns = get<int64_t>(h + 8);
    out.data_type = get<int32_t>(h + 16);
    out.key = std::string_view(h + kEntryHeaderBytes, key_len);
    out.value = std::string_view(h + kEntryHeaderBytes + key_len, size - kEntryHeaderBytes - key_len);
    return ParseStatus::kOk;
}

std::string segmentName(uint64_t base) { return fmt::format("{:020}.seg", base); }

std::optional<uint64_t> parseSegmentName(std::string_view name) {
    if (name.size() != 24 || name.substr(20) != ".seg") return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(name.data(), name.data() + 20, v);
    if (ec != std::errc() || p != name.data() + 20) return std::nullopt;
    return v;
}

std::string partitionDirName(uint32_t partition) { return fmt::format("p{:03}", partition); }

std::vector<uint64_t> listSegments(const std::string& partition_dir) {
    std::vector<uint64_t> out;
    DIR* d = ::opendir(partition_dir.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        if (auto base = parseSegmentName(e->d_name)) out.push_back(*base);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

Result<ScanResult> scanSegment(int fd) {
    ScanResult r;
    off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) return makeError("seek: {}", strerror(errno));
    r.file_bytes = static_cast<uint64_t>(end);
    std::string buf(1 << 20, '\0');
    uint64_t buf_at = 0;  // file offset of buf[0]
    size_t have = 0;
    size_t pos = 0;
    for (;;) {
        EntryView e;
        size_t need = 0;
        ParseStatus st = parseEntry(std::string_view(buf.data() + pos, have - pos), e, &need);
        if (st == ParseStatus::kOk) {
            pos += e.size;
            ++r.entries;
            r.valid_bytes = buf_at + pos;
            continue;
        }
        if (st == ParseStatus::kCorrupt) break;
        // Need more: slide what is left to the front and read on.
        uint64_t next_at = buf_at + pos;
        if (next_at >= r.file_bytes) break;
        if (need > buf.size()) buf.resize(need);
        std::memmove(buf.data(), buf.data() + pos, have - pos);
        have -= pos;
        buf_at = next_at;
        pos = 0;
        auto n = preadAll(fd, buf.data() + have, buf.size() - have, buf_at + have);
        if (!n.ok()) return n.error();
        if (*n == 0) break;  // cut short: torn tail
        have += *n;
    }
    return r;
}

void encodeHead(const Head& head, char out[kHeadBytes]) {
    put<uint64_t>(out, head.next_offset);
    put<uint64_t>(out + 8, head.segment_base);
    put<uint64_t>(out + 16, head.segment_bytes);
    put<uint32_t>(out + 24, 0);
    put<uint32_t>(out + 28, crc32c(0, out, 28));
}

bool decodeHead(const char in[kHeadBytes], Head& out) {
    if (get<uint32_t>(in + 28) != crc32c(0, in, 28)) return false;
    out.next_offset = get<uint64_t>(in);
    out.segment_base = get<uint64_t>(in + 8);
    out.segment_bytes = get<uint64_t>(in + 16);
    return true;
}

void encodePosition(const PositionSlot& slot, char out[kPositionSlotBytes]) {
    put<uint32_t>(out, kPositionMagic);
    put<uint32_t>(out + 4, 0);
    put<uint64_t>(out + 8, slot.seq);
    put<uint64_t>(out + 16, slot.next_offset);
    put<uint32_t>(out + 24, 0);
    put<uint32_t>(out + 28, crc32c(0, out, 28));
}

bool decodePosition(const char in[kPositionSlotBytes], PositionSlot& out) {
    if (get<uint32_t>(in) != kPositionMagic) return false;
    if (get<uint32_t>(in + 28) != crc32c(0, in, 28)) return false;
    out.seq = get<uint64_t>(in + 8);
    out.next_offset = get<uint64_t>(in + 16);
    return true;
}

namespace {

Result<uint32_t> parseMeta(const std::string& text, const std::string& path) {
    // "vigil-bus 1\npartitions N\n"
    constexpr std::string_view kHead = "vigil-bus 1\npartitions ";
    if (text.compare(0, kHead.size(), kHead) != 0) {
        return makeError("{}: not a vigil bus meta file (unknown format)", path);
    }
    uint32_t n = 0;
    const char* b = text.data() + kHead.size();
    auto [p, ec] = std::from_chars(b, text.data() + text.size(), n);
    if (ec != std::errc() || n == 0 || n > 4096) {
        return makeError("{}: bad partition count", path);
    }
    return n;
}

}  // namespace

Result<uint32_t> readMeta(const std::string& dir) {
    std::string path = fs::joinPath(dir, "bus.meta");
    auto text = fs::readFile(path, 4096);
    if (!text.ok()) return makeError("no bus at {}: {}", dir, text.message());
    return parseMeta(*text, path);
}

Result<uint32_t> ensureMeta(const std::string& dir, uint32_t partitions) {
    std::string path = fs::joinPath(dir, "bus.meta");
    if (!fs::exists(path)) {
        // Written whole under a unique name, then linked into place: link() fails when another
        // process got there first, and then its file wins.
        std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
        VIGIL_TRY(fs::writeFileAtomic(tmp, fmt::format("vigil-bus 1\npartitions {}\n", partitions)));
        if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
            int e = errno;
            ::unlink(tmp.c_str());
            return makeError("create {}: {}", path, strerror(e));
        }
        ::unlink(tmp.c_str());
    }
    auto text = fs::readFile(path, 4096);
    if (!text.ok()) return text.error();
    return parseMeta(*text, path);
}

}  // namespace vigil::bus::logfmt
