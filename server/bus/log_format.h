// On-disk format of the embedded bus (a durable local log shared by processes on one machine).
// Writers and readers use only these functions, so the format lives in one place.
//
// Layout of a bus directory:
//   bus.meta                  "vigil-bus 1\npartitions N\n", created once (atomic link)
//   writer.lock               flock()ed by the one writer process; holds its pid
//   heads                     N records of 32 bytes: what each partition holds durably (below)
//   p000/ ... p<N-1>/         one directory per partition, a sequence of segment files
//     <base offset, 20 digits>.seg
//   groups/<group>/p000.pos   committed position of a consumer group in a partition (below);
//                             flock()ed by the consumer that owns the partition
//
// Segment entry (little-endian), one per message; the offset of an entry is the segment's base
// offset plus its index in the file:
//   u32 size        whole entry, header included
//   u32 crc         CRC32C of bytes [8, size)
//   i64 bus_time    ns since the epoch, when the bus accepted the append
//   i32 data_type
//   u16 key_len
//   u8  version     1
//   u8  reserved    0
//   key, value      value_len = size - 24 - key_len
// A torn tail (size or crc wrong, or the entry cut short) is truncated when the writer opens
// the partition. A segment is rolled at a batch boundary once it holds segment_bytes.
//
// heads record (one per partition, rewritten with pwrite after every fsync, never truncated):
//   u64 next_offset, u64 segment_base, u64 segment_bytes (durable bytes of that segment),
//   u32 reserved, u32 crc (CRC32C of the 28 bytes before it).
// Readers never read past it, so they see only durable entries, and offsets never go back
// after a crash. The writer rewrites it after recovery.
//
// position file: two 32-byte slots at byte 0 and byte 512, written alternately with pwrite
// (no fsync: a power loss may roll a group back to an earlier commit, which is at-least-once):
//   u32 magic "VBPS", u32 reserved, u64 seq, u64 next_offset, u32 reserved, u32 crc.
// The valid slot with the highest seq wins. Bytes from 1024: the owning consumer's pid.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/common/result.h"

namespace vigil::bus::logfmt {

inline constexpr size_t kEntryHeaderBytes = 24;
inline constexpr uint8_t kEntryVersion = 1;
inline constexpr size_t kHeadBytes = 32;
inline constexpr size_t kPositionSlotBytes = 32;
inline constexpr uint64_t kPositionSlot1 = 512;
inline constexpr uint64_t kPositionPid = 1024;

struct EntryHeader {
    char bytes[kEntryHeaderBytes];
};

// Builds the header of one entry, crc included, so the caller can copy header, key and value
// wherever they go (producers do this outside the writer's lock).
void encodeEntryHeader(EntryHeader& out, int64_t bus_time_ns, int32_t data_type,
                       std::string_view key, std::string_view value);
inline size_t entrySize(size_t key_len, size_t value_len) {
    return kEntryHeaderBytes + key_len + value_len;
}

struct EntryView {
    uint32_t size = 0;  // bytes of the whole entry
    int64_t bus_time_ns = 0;
    int32_t data_type = 0;
    std::string_view key;
    std::string_view value;
};

enum class ParseStatus { kOk, kNeedMore, kCorrupt };

// Parses the entry starting at data[0]. kNeedMore: `data` ends inside the entry (*need is then
// the entry size when known, else the header size). `verify_crc` false skips the checksum.
ParseStatus parseEntry(std::string_view data, EntryView& out, size_t* need = nullptr,
                       bool verify_crc = true);

// Segment files.
std::string segmentName(uint64_t base);  // 00000000000000000042.seg
std::optional<uint64_t> parseSegmentName(std::string_view name);
std::string partitionDirName(uint32_t partition);  // p003
// Bases of every segment file in a partition directory, ascending (empty when missing).
std::vector<uint64_t> listSegments(const std::string& partition_dir);

struct ScanResult {
    uint64_t entries = 0;      // valid entries from the start of the file
    uint64_t valid_bytes = 0;  // where the first invalid or missing entry starts
    uint64_t file_bytes = 0;
};
// Walks every entry of an open segment file, verifying each.
Result<ScanResult> scanSegment(int fd);

struct Head {
    uint64_t next_offset = 0;
    uint64_t segment_base = 0;
    uint64_t segment_bytes = 0;
};
void encodeHead(const Head& head, char out[kHeadBytes]);
bool decodeHead(const char in[kHeadBytes], Head& out);  // false: torn or never written

struct PositionSlot {
    uint64_t seq = 0;
    uint64_t next_offset = 0;
};
void encodePosition(const PositionSlot& slot, char out[kPositionSlotBytes]);
bool decodePosition(const char in[kPositionSlotBytes], PositionSlot& out);

// bus.meta: creates it with `partitions` when absent (atomically, racing processes agree) and
// returns the partition count it holds.
Result<uint32_t> ensureMeta(const std::string& dir, uint32_t partitions);
// Reads bus.meta; an error when it is missing or malformed.
Result<uint32_t> readMeta(const std::string& dir);

// Little-endian helpers shared by the writer and the reader (the formats are little-endian;
// so is every host Vigil builds for, checked below).
static_assert(std::endian::native == std::endian::little, "bus formats assume little-endian");
template <typename T>
inline void put(char* p, T v) {
    std::memcpy(p, &v, sizeof(T));
}
template <typename T>
inline T get(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

}  // namespace vigil::bus::logfmt
