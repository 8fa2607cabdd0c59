// Record parsing and direct wire encoding.
#include "libs/wire/record.h"

#include <cstring>

#include "libs/wire/proto_wire.h"
#include "libs/wire/utf8.h"

namespace vigil::wire {

const char* recordErrorName(RecordError e) {
    switch (e) {
        case RecordError::kNone: return "none";
        case RecordError::kMalformed: return "malformed_record";
        case RecordError::kBadPayload: return "malformed_payload";
    }
    return "unknown";
}

bool checkPayload(std::string_view payload, PayloadCheck* check) {
    PayloadCheck local;
    PayloadCheck& c = check ? *check : local;
    c = PayloadCheck{};
    ProtoReader r(payload);
    uint32_t field;
    WireType type;
    while (r.nextTag(field, type)) {
        if (field == 1) {
            if (type != kLengthDelimited) return false;
            std::string_view entry;
            if (!r.readLengthDelimited(entry)) return false;
            ProtoReader e(entry);
            uint32_t f;
            WireType t;
            while (e.nextTag(f, t)) {
                if (f == 1 || f == 2) {
                    if (t != kLengthDelimited) return false;
                    std::string_view s;
                    if (!e.readLengthDelimited(s)) return false;
                    if (c.utf8 && !isValidUtf8(s)) c.utf8 = false;
                } else if (!e.skip(t, f)) {
                    return false;
                }
            }
            if (!e.ok()) return false;
            ++c.fields;
        } else if (!r.skip(type, field)) {
            return false;
        }
    }
    return r.ok();
}

RecordError parseRecord(std::string_view frame, RecordView& out, std::string& scratch, PayloadCheck* check) {
    out = RecordView{};
    ProtoReader r(frame);
    uint32_t field;
    WireType type;
    int data_fields = 0;
    while (r.nextTag(field, type)) {
        switch (field) {
            case 1: {
                if (type != kVarint) return RecordError::kMalformed;
                uint64_t v;
                if (!r.readVarint(v)) return RecordError::kMalformed;
                out.data_type = static_cast<int32_t>(v);
                break;
            }
            case 2: {
                if (type != kVarint) return RecordError::kMalformed;
                uint64_t v;
                if (!r.readVarint(v)) return RecordError::kMalformed;
                out.timestamp = static_cast<int64_t>(v);
                break;
            }
            case 3: {
                if (type != kLengthDelimited) return RecordError::kMalformed;
                std::string_view d;
                if (!r.readLengthDelimited(d)) return RecordError::kMalformed;
                if (data_fields == 0) {
                    out.payload = d;
                } else {
                    // A repeated embedded message merges; for Payload that is concatenation.
                    if (data_fields == 1) scratch.assign(out.payload.data(), out.payload.size());
                    scratch.append(d.data(), d.size());
                    out.payload = scratch;
                }
                ++data_fields;
                break;
            }
            default:
                if (!r.skip(type, field)) return RecordError::kMalformed;
        }
    }
    if (!r.ok()) return RecordError::kMalformed;
    if (!checkPayload(out.payload, check)) return RecordError::kBadPayload;
    return RecordError::kNone;
}

bool decodePayload(std::string_view payload, std::map<std::string, std::string>& out) {
    return forEachField(payload, [&](std::string_view k, std::string_view v) {
        out[std::string(k)] = std::string(v);
    });
}

namespace {
constexpr size_t kLenReserve = 5;  // room for a payload length varint up to 4 GiB
}

RecordEncoder& RecordEncoder::begin(int32_t data_type, int64_t timestamp) {
    if (building_) abort();
    building_ = true;
    start_ = out_->size();
    char* p = out_->ensure(4 + 1 + 10 + 1 + 10 + 1 + kLenReserve);
    char* q = p + 4;
    *q++ = static_cast<char>(makeTag(1, kVarint));
    q = putVarint(q, static_cast<uint64_t>(static_cast<int64_t>(data_type)));
    *q++ = static_cast<char>(makeTag(2, kVarint));
    q = putVarint(q, static_cast<uint64_t>(timestamp));
    *q++ = static_cast<char>(makeTag(3, kLengthDelimited));
    q += kLenReserve;
    out_->commit(static_cast<size_t>(q - p));
    payload_start_ = out_->size();
    return *this;
}

void RecordEncoder::appendEntry(std::string_view key, std::string_view value) {
    const size_t klen = key.size();
    const size_t vlen = value.size();
    const size_t entry = 1 + varintSize(klen) + klen + 1 + varintSize(vlen) + vlen;
    char* p = out_->ensure(1 + varintSize(entry) + entry);
    char* q = p;
    *q++ = static_cast<char>(makeTag(1, kLengthDelimited));
    q = putVarint(q, entry);
    *q++ = static_cast<char>(makeTag(1, kLengthDelimited));
    q = putVarint(q, klen);
    if (klen) std::memcpy(q, key.data(), klen);  // an empty view's data() may be null
    q += klen;
    *q++ = static_cast<char>(makeTag(2, kLengthDelimited));
    q = putVarint(q, vlen);
    if (vlen) std::memcpy(q, value.data(), vlen);
    q += vlen;
    out_->commit(static_cast<size_t>(q - p));
}

RecordEncoder& RecordEncoder::field(std::string_view key, std::string_view value) {
    if (!building_) return *this;
    if (isValidUtf8(value) && isValidUtf8(key)) {
        appendEntry(key, value);
    } else {
        appendEntry(sanitizeUtf8(key), sanitizeUtf8(value));
    }
    return *this;
}

RecordEncoder& RecordEncoder::asciiField(std::string_view key, std::string_view value) {
    if (!building_) return *this;
    if (isValidUtf8(key)) {
        appendEntry(key, value);
    } else {
        appendEntry(sanitizeUtf8(key), value);
    }
    return *this;
}

size_t RecordEncoder::end() {
    if (!building_) return 0;
    building_ = false;
    const size_t plen = out_->size() - payload_start_;
    const size_t k = varintSize(plen);
    char* base = out_->data();
    char* len_at = base + payload_start_ - kLenReserve;
    if (k < kLenReserve) {
        std::memmove(len_at + k, base + payload_start_, plen);
        out_->resize(out_->size() - (kLenReserve - k));
    }
    putVarint(len_at, plen);
    const size_t frame_len = out_->size() - start_ - 4;
    const auto len32 = static_cast<uint32_t>(frame_len);
    std::memcpy(out_->data() + start_, &len32, 4);
    return frame_len + 4;
}

void RecordEncoder::abort() {
    if (!building_) return;
    building_ = false;
    out_->resize(start_);
}

void encodePayload(Buffer& out, const std::map<std::string, std::string>& fields) {
    for (const auto& [k, v] : fields) {
        const size_t entry = 1 + varintSize(k.size()) + k.size() + 1 + varintSize(v.size()) + v.size();
        char* p = out.ensure(1 + varintSize(entry) + entry);
        char* q = p;
        *q++ = static_cast<char>(makeTag(1, kLengthDelimited));
        q = putVarint(q, entry);
        *q++ = static_cast<char>(makeTag(1, kLengthDelimited));
        q = putVarint(q, k.size());
        std::memcpy(q, k.data(), k.size());
        q += k.size();
        *q++ = static_cast<char>(makeTag(2, kLengthDelimited));
        q = putVarint(q, v.size());
        std::memcpy(q, v.data(), v.size());
        q += v.size();
        out.commit(static_cast<size_t>(q - p));
    }
}

}  // namespace vigil::wire
