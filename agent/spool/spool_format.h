// On-disk format of the agent spool: framed batch entries in segment files and the small ack
// state file. Kept apart from the Spool logic so the crash tests can write torn entries by hand.
// Stateless functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/spool/spool.h"
#include "libs/common/result.h"

namespace vigil::agent::spool_format {

// Every entry: a fixed 32-byte little-endian header, then `length` bytes of serialized
// PackagedData. The header has its own CRC so a garbage length is rejected before anything is
// read or allocated; the payload CRC catches a write torn by kill -9 or power loss.
inline constexpr uint32_t kEntryMagic = 0x4c505356;  // "VSPL"
inline constexpr uint8_t kEntryVersion = 1;
inline constexpr size_t kEntryHeaderBytes = 32;
// A batch is at most a gRPC message (16 MiB by default); anything beyond this is corruption.
inline constexpr uint32_t kMaxEntryBytes = 256u << 20;

struct EntryHeader {
    uint32_t length = 0;
    uint64_t seq = 0;
    uint32_t records = 0;
    Lane lane = Lane::kTelemetry;
    uint32_t payload_crc = 0;
};

uint32_t crc32(std::string_view data);

// Serializes `h` into exactly kEntryHeaderBytes at `out`.
void encodeEntryHeader(const EntryHeader& h, char* out);
// False when the magic, version, header CRC, lane or length is wrong.
bool decodeEntryHeader(const char* in, EntryHeader& out);

// One valid entry found by scanSegment.
struct ScannedEntry {
    EntryHeader header;
    uint64_t offset = 0;  // of the entry header in the file
};

struct ScanResult {
    std::vector<ScannedEntry> entries;
    uint64_t valid_bytes = 0;  // end of the last valid entry: the file is truncated here
    uint64_t file_bytes = 0;
};

// Reads every entry of an open segment file from the start, checking both CRCs, and stops at
// the first entry that is torn or corrupt.
Result<ScanResult> scanSegment(int fd, const std::string& path);

// Reads the entry whose header is at `offset`, checks it is `seq` and that its CRC matches,
// and returns its payload.
Result<std::string> readEntry(int fd, uint64_t offset, uint64_t seq);

// Ack state: two 32-byte slots written alternately with pwrite, each with a generation counter
// and a CRC, so a torn write of one slot leaves the other one valid.
struct AckState {
    uint64_t generation = 0;
    uint64_t acked_seq = 0;   // every batch <= this is durable at a center
    uint64_t issued_seq = 0;  // highest batch_seq ever handed out (never reuse a shed seq)
};
inline constexpr size_t kAckSlotBytes = 32;

// The newest valid slot of the file (a zero state when missing or unreadable).
AckState readAckState(int fd);
// Writes `state` into the slot chosen by its generation.
Status writeAckState(int fd, const AckState& state);

// Segment file names: "<t|c>-<20-digit first seq>.seg". The name only has to be unique and
// sort by age; the seqs themselves come from the entries.
std::string segmentFileName(Lane lane, uint64_t first_seq);
// False when `name` is not a segment file name.
bool parseSegmentFileName(std::string_view name, Lane& lane, uint64_t& first_seq);

}  // namespace vigil::agent::spool_format
