// Pipe frame codec (DESIGN.md §3): uint32 little-endian length, then that many protobuf bytes.
// The decoder reads straight into its own buffer and hands out frames in place, so a reader
// copies each byte once. Not thread-safe: one decoder per pipe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "libs/wire/buffer.h"

namespace vigil::wire {

constexpr uint32_t kDefaultMaxFrameBytes = 4u << 20;  // 4 MiB

class FrameDecoder {
public:
    enum class Next { kFrame, kNeedMore, kOversized };

    explicit FrameDecoder(uint32_t max_frame_bytes = kDefaultMaxFrameBytes, size_t read_chunk = 64 * 1024);

    // Where the next read() should write, and how many bytes fit (at least the read chunk).
    // Invalidates frames returned earlier.
    char* readArea(size_t* capacity);
    // Declares that `n` bytes were written into the read area.
    void commit(size_t n);
    // Copies `data` in (tests and fuzzing); invalidates earlier frames.
    void feed(std::string_view data);

    // Yields the next complete frame body (without its length prefix). On kOversized the
    // declared length is in oversizedLength(); the caller must either call skipOversized()
    // (discard that many bytes as they arrive) or stop using this decoder (resync is impossible).
    Next next(std::string_view& frame);
    uint64_t oversizedLength() const { return oversized_len_; }
    void skipOversized();

    // Bytes buffered but not yet returned as frames.
    size_t buffered() const { return buf_.size() - pos_; }
    // Bytes still to be discarded from a skipped oversized frame.
    uint64_t skipping() const { return skip_; }
    uint32_t maxFrameBytes() const { return max_; }
    // Releases buffer memory when nothing is pending (idle pipes stay small).
    void shrinkIfIdle();

private:
    void compact();

    Buffer buf_;
    size_t pos_ = 0;
    uint64_t skip_ = 0;
    uint64_t oversized_len_ = 0;
    uint32_t max_;
    size_t chunk_;
};

// Appends a length prefix + body (one frame).
void appendFrame(Buffer& out, std::string_view body);

}  // namespace vigil::wire
