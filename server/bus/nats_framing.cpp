// NATS batch framing: builder and bounds-checked decoder.
#include "server/bus/nats_framing.h"

#include "server/bus/log_format.h"

namespace vigil::bus::natsfmt {

using logfmt::get;
using logfmt::put;

void BatchBuilder::reset(Family family) {
    buf_.clear();
    char* h = buf_.ensure(kBatchHeaderBytes);
    std::memset(h, 0, kBatchHeaderBytes);
    h[0] = 1;
    h[1] = static_cast<char>(family);
    buf_.commit(kBatchHeaderBytes);
    count_ = 0;
}

void BatchBuilder::add(const Message& m) {
    const size_t n = entryBytes(m);
    char* w = buf_.ensure(n);
    put<uint32_t>(w, static_cast<uint32_t>(m.value.size()));
    put<int32_t>(w + 4, m.data_type);
    put<uint16_t>(w + 8, static_cast<uint16_t>(m.key.size()));
    std::memcpy(w + kEntryHeaderBytes, m.key.data(), m.key.size());
    std::memcpy(w + kEntryHeaderBytes + m.key.size(), m.value.data(), m.value.size());
    buf_.commit(n);
    ++count_;
}

std::string_view BatchBuilder::finish(int64_t bus_time_ns) {
    put<uint32_t>(buf_.data() + 4, count_);
    put<int64_t>(buf_.data() + 8, bus_time_ns);
    return buf_.view();
}

Status decodeBatch(std::string_view payload, DecodedBatch& out) {
    out.entries.clear();
    if (payload.size() < kBatchHeaderBytes) {
        return makeError("bus batch of {} bytes is shorter than its header", payload.size());
    }
    const char* p = payload.data();
    if (p[0] != 1) return makeError("bus batch version {} is unknown", static_cast<int>(p[0]));
    const uint8_t family = static_cast<uint8_t>(p[1]);
    out.family = family <= static_cast<uint8_t>(Family::kOther) ? static_cast<Family>(family)
                                                                : Family::kOther;
    const uint32_t count = get<uint32_t>(p + 4);
    out.bus_time_ns = get<int64_t>(p + 8);
    if (count > kMaxBatchCount) return makeError("bus batch claims {} messages", count);
    size_t at = kBatchHeaderBytes;
    out.entries.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
        if (payload.size() - at < kEntryHeaderBytes) {
            return makeError("bus batch cut short in the header of message {}", i);
        }
        const uint32_t value_len = get<uint32_t>(p + at);
        const int32_t data_type = get<int32_t>(p + at + 4);
        const uint16_t key_len = get<uint16_t>(p + at + 8);
        at += kEntryHeaderBytes;
        if (payload.size() - at < static_cast<size_t>(key_len) + value_len) {
            return makeError("bus batch cut short in message {}", i);
        }
        out.entries.push_back({data_type, payload.substr(at, key_len),
                               payload.substr(at + key_len, value_len)});
        at += static_cast<size_t>(key_len) + value_len;
    }
    if (at != payload.size()) {
        return makeError("bus batch has {} bytes after its {} messages", payload.size() - at, count);
    }
    return okStatus();
}

}  // namespace vigil::bus::natsfmt
