// Reads one plugin's record pipe: large non-blocking reads straight into a FrameDecoder, each
// frame parsed in place and handed to a RecordSink. The hot path of the agent (no per-record
// allocation or syscall). Not thread-safe: one reader per pipe, used by the loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/transport/record_sink.h"
#include "libs/wire/frame.h"

namespace vigil::agent {

// Counts gathered by one or more pump() calls; the caller folds them into its totals.
struct PipeCounts {
    uint64_t records = 0;            // forwarded to the sink
    uint64_t bytes = 0;              // read from the pipe
    uint64_t malformed_record = 0;   // Record is not valid protobuf
    uint64_t malformed_payload = 0;  // Payload is not a valid map<string,string>
    uint64_t oversized = 0;          // frame above max_frame_bytes, skipped
    uint64_t unresyncable = 0;       // length prefix above the resync limit
    uint64_t non_utf8 = 0;           // forwarded records with non-UTF-8 strings

    uint64_t drops() const {
        return malformed_record + malformed_payload + oversized + unresyncable;
    }
    PipeCounts& operator+=(const PipeCounts& o);
};

class RecordPipeReader {
public:
    enum class Result {
        kDrained,       // the pipe is empty for now
        kBudget,        // stopped after `budget_bytes`; more may be waiting
        kEof,           // every writer closed the pipe
        kUnresyncable,  // a length prefix above the resync limit: the stream cannot be trusted
        kError,         // read() failed (errno in lastErrno())
    };

    RecordPipeReader(uint32_t max_frame_bytes, uint64_t resync_limit_bytes,
                     size_t read_chunk = kDefaultReadChunk);

    // Reads from the non-blocking `fd` until it is empty, closed, or `budget_bytes` were read,
    // forwarding every good record to `sink` and adding what happened to `counts`.
    Result pump(int fd, RecordSink& sink, size_t budget_bytes, PipeCounts& counts);

    // Parses frames already buffered (also used by tests that feed bytes without a pipe).
    Result drainFrames(RecordSink& sink, PipeCounts& counts);
    wire::FrameDecoder& decoder() { return decoder_; }

    // Declared length of the frame that made pump() return kUnresyncable.
    uint64_t unresyncableLength() const { return unresyncable_len_; }
    int lastErrno() const { return errno_; }
    // Forgets any partial frame (a new process starts a new stream) and frees the buffer.
    void reset();
    // Frees the read buffer when nothing is pending, so idle plugins cost no memory.
    void shrinkIfIdle() { decoder_.shrinkIfIdle(); }

    static constexpr size_t kDefaultReadChunk = 256 * 1024;

private:
    wire::FrameDecoder decoder_;
    uint32_t max_frame_bytes_;
    uint64_t resync_limit_;
    size_t read_chunk_;
    std::string scratch_;  // parseRecord's merge buffer for repeated payload fields
    uint64_t unresyncable_len_ = 0;
    int errno_ = 0;
};

}  // namespace vigil::agent
