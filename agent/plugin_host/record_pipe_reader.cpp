// Record pipe reader: read() into the frame decoder, parse in place, forward to the sink.
#include "agent/plugin_host/record_pipe_reader.h"

#include <unistd.h>

#include <cerrno>

#include "libs/wire/record.h"

namespace vigil::agent {

PipeCounts& PipeCounts::operator+=(const PipeCounts& o) {
    records += o.records;
    bytes += o.bytes;
    malformed_record += o.malformed_record;
    malformed_payload += o.malformed_payload;
    oversized += o.oversized;
    unresyncable += o.unresyncable;
    non_utf8 += o.non_utf8;
    return *this;
}

RecordPipeReader::RecordPipeReader(uint32_t max_frame_bytes, uint64_t resync_limit_bytes,
                                   size_t read_chunk)
    : decoder_(max_frame_bytes, read_chunk),
      max_frame_bytes_(max_frame_bytes),
      resync_limit_(resync_limit_bytes),
      read_chunk_(read_chunk) {}

void RecordPipeReader::reset() {
    decoder_ = wire::FrameDecoder(max_frame_bytes_, read_chunk_);
    unresyncable_len_ = 0;
    errno_ = 0;
}

RecordPipeReader::Result RecordPipeReader::drainFrames(RecordSink& sink, PipeCounts& counts) {
    std::string_view frame;
    wire::RecordView rec;
    wire::PayloadCheck check;
    for (;;) {
        switch (decoder_.next(frame)) {
            case wire::FrameDecoder::Next::kNeedMore:
                return Result::kDrained;
            case wire::FrameDecoder::Next::kOversized: {
                uint64_t len = decoder_.oversizedLength();
                if (len > resync_limit_) {
                    unresyncable_len_ = len;
                    ++counts.unresyncable;
                    return Result::kUnresyncable;
                }
                ++counts.oversized;
                decoder_.skipOversized();
                break;
            }
            case wire::FrameDecoder::Next::kFrame: {
                wire::RecordError err = wire::parseRecord(frame, rec, scratch_, &check);
                if (err == wire::RecordError::kNone) {
                    if (!check.utf8) ++counts.non_utf8;
                    sink.put(rec.data_type, rec.timestamp, rec.payload);
                    ++counts.records;
                } else if (err == wire::RecordError::kBadPayload) {
                    ++counts.malformed_payload;
                } else {
                    ++counts.malformed_record;
                }
                break;
            }
        }
    }
}

RecordPipeReader::Result RecordPipeReader::pump(int fd, RecordSink& sink, size_t budget_bytes,
                                                PipeCounts& counts) {
    size_t total = 0;
    for (;;) {
        size_t capacity = 0;
        char* area = decoder_.readArea(&capacity);
        ssize_t n = ::read(fd, area, capacity);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return Result::kDrained;
            errno_ = errno;
            return Result::kError;
        }
        if (n == 0) return Result::kEof;
        decoder_.commit(static_cast<size_t>(n));
        counts.bytes += static_cast<uint64_t>(n);
        total += static_cast<size_t>(n);
        if (drainFrames(sink, counts) == Result::kUnresyncable) return Result::kUnresyncable;
        // A short read means the pipe was empty a moment ago: skip the read() that would only
        // say EAGAIN; level-triggered epoll reports anything that arrives later.
        if (static_cast<size_t>(n) < capacity) return Result::kDrained;
        if (total >= budget_bytes) return Result::kBudget;
    }
}

}  // namespace vigil::agent
