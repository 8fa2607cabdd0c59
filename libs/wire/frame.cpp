// Frame decoder: in-place parsing of length-prefixed frames with bounded buffering.
#include "libs/wire/frame.h"

#include <algorithm>
#include <cstring>

namespace vigil::wire {

FrameDecoder::FrameDecoder(uint32_t max_frame_bytes, size_t read_chunk)
    : max_(max_frame_bytes), chunk_(read_chunk) {}

void FrameDecoder::compact() {
    if (pos_ == 0) return;
    buf_.consume(pos_);
    pos_ = 0;
}

char* FrameDecoder::readArea(size_t* capacity) {
    // Keep the unread tail at the front so frames stay contiguous.
    if (pos_ > 0 && (pos_ >= buf_.size() || buf_.capacity() - buf_.size() < chunk_)) compact();
    size_t want = chunk_;
    // A partially received frame must fit entirely.
    size_t avail = buf_.size() - pos_;
    if (skip_ == 0 && avail >= 4) {
        uint32_t len;
        std::memcpy(&len, buf_.data() + pos_, 4);
        if (len <= max_) want = std::max(want, static_cast<size_t>(len) + 4 - avail);
    }
    char* p = buf_.ensure(want);
    *capacity = buf_.capacity() - buf_.size();
    return p;
}

void FrameDecoder::commit(size_t n) { buf_.commit(n); }

void FrameDecoder::feed(std::string_view data) {
    compact();
    buf_.append(data);
}

FrameDecoder::Next FrameDecoder::next(std::string_view& frame) {
    if (skip_ > 0) {
        size_t d = static_cast<size_t>(std::min<uint64_t>(skip_, buf_.size() - pos_));
        pos_ += d;
        skip_ -= d;
        if (skip_ > 0) {
            compact();
            return Next::kNeedMore;
        }
    }
    size_t avail = buf_.size() - pos_;
    if (avail < 4) return Next::kNeedMore;
    uint32_t len;
    std::memcpy(&len, buf_.data() + pos_, 4);  // little-endian host (x86_64, arm64)
    if (len > max_) {
        oversized_len_ = len;
        return Next::kOversized;
    }
    if (avail - 4 < len) return Next::kNeedMore;
    frame = std::string_view(buf_.data() + pos_ + 4, len);
    pos_ += 4 + static_cast<size_t>(len);
    return Next::kFrame;
}

void FrameDecoder::skipOversized() {
    if (oversized_len_ == 0) return;
    pos_ += 4;
    skip_ = oversized_len_;
    oversized_len_ = 0;
}

void FrameDecoder::shrinkIfIdle() {
    if (pos_ >= buf_.size() && skip_ == 0) {
        buf_.clear();
        pos_ = 0;
        buf_.shrinkTo(0);
    }
}

void appendFrame(Buffer& out, std::string_view body) {
    uint32_t len = static_cast<uint32_t>(body.size());
    char* p = out.ensure(4 + body.size());
    std::memcpy(p, &len, 4);
    if (!body.empty()) std::memcpy(p + 4, body.data(), body.size());  // data() may be null
    out.commit(4 + body.size());
}

}  // namespace vigil::wire
