// PackagedData and Task codecs.
#include "libs/wire/batch.h"

#include <cstring>

#include "libs/wire/proto_wire.h"

namespace vigil::wire {
namespace {

void putString(Buffer& out, uint32_t field, std::string_view s) {
    char* p = out.ensure(1 + 10 + s.size());
    char* q = putVarint(p, makeTag(field, kLengthDelimited));
    q = putVarint(q, s.size());
    std::memcpy(q, s.data(), s.size());
    q += s.size();
    out.commit(static_cast<size_t>(q - p));
}

void putVarintField(Buffer& out, uint32_t field, uint64_t v) {
    char* p = out.ensure(3 + 10);
    char* q = putVarint(p, makeTag(field, kVarint));
    q = putVarint(q, v);
    out.commit(static_cast<size_t>(q - p));
}

}  // namespace

std::string encodeBatchHeader(const BatchHeader& h) {
    Buffer b;
    if (!h.agent_id.empty()) putString(b, 2, h.agent_id);
    for (const auto& s : h.intranet_ipv4) putString(b, 3, s);
    for (const auto& s : h.extranet_ipv4) putString(b, 4, s);
    for (const auto& s : h.intranet_ipv6) putString(b, 5, s);
    for (const auto& s : h.extranet_ipv6) putString(b, 6, s);
    if (!h.hostname.empty()) putString(b, 7, h.hostname);
    if (!h.version.empty()) putString(b, 8, h.version);
    if (!h.product.empty()) putString(b, 9, h.product);
    return b.toString();
}

void BatchBuilder::add(int32_t data_type, int64_t timestamp, std::string_view payload) {
    const uint64_t dt = static_cast<uint64_t>(static_cast<int64_t>(data_type));
    const uint64_t ts = static_cast<uint64_t>(timestamp);
    const size_t inner = 1 + varintSize(dt) + 1 + varintSize(ts) + 1 + varintSize(payload.size()) + payload.size();
    char* p = buf_.ensure(1 + varintSize(inner) + inner);
    char* q = p;
    *q++ = static_cast<char>(makeTag(1, kLengthDelimited));
    q = putVarint(q, inner);
    *q++ = static_cast<char>(makeTag(1, kVarint));
    q = putVarint(q, dt);
    *q++ = static_cast<char>(makeTag(2, kVarint));
    q = putVarint(q, ts);
    *q++ = static_cast<char>(makeTag(3, kLengthDelimited));
    q = putVarint(q, payload.size());
    if (!payload.empty()) std::memcpy(q, payload.data(), payload.size());  // data() may be null
    q += payload.size();
    buf_.commit(static_cast<size_t>(q - p));
    ++records_;
}

void BatchBuilder::seal(std::string_view encoded_header, uint64_t batch_seq, Buffer& out) {
    buf_.append(encoded_header);
    putVarintField(buf_, 16, batch_seq);
    out = std::move(buf_);
    buf_ = Buffer();
    records_ = 0;
}

bool parseBatch(std::string_view bytes, BatchView& out) {
    out = BatchView{};
    ProtoReader r(bytes);
    uint32_t field;
    WireType type;
    while (r.nextTag(field, type)) {
        if (field >= 1 && field <= 9) {
            if (type != kLengthDelimited) return false;
            std::string_view s;
            if (!r.readLengthDelimited(s)) return false;
            switch (field) {
                case 1: {
                    EncodedRecordView rec;
                    ProtoReader e(s);
                    uint32_t f;
                    WireType t;
                    while (e.nextTag(f, t)) {
                        uint64_t v;
                        if (f == 1 && t == kVarint) {
                            if (!e.readVarint(v)) return false;
                            rec.data_type = static_cast<int32_t>(v);
                        } else if (f == 2 && t == kVarint) {
                            if (!e.readVarint(v)) return false;
                            rec.timestamp = static_cast<int64_t>(v);
                        } else if (f == 3 && t == kLengthDelimited) {
                            if (!e.readLengthDelimited(rec.data)) return false;
                        } else if (!e.skip(t, f)) {
                            return false;
                        }
                    }
                    if (!e.ok()) return false;
                    out.records.push_back(rec);
                    break;
                }
                case 2: out.header.agent_id.assign(s); break;
                case 3: out.header.intranet_ipv4.emplace_back(s); break;
                case 4: out.header.extranet_ipv4.emplace_back(s); break;
                case 5: out.header.intranet_ipv6.emplace_back(s); break;
                case 6: out.header.extranet_ipv6.emplace_back(s); break;
                case 7: out.header.hostname.assign(s); break;
                case 8: out.header.version.assign(s); break;
                case 9: out.header.product.assign(s); break;
            }
        } else if (field == 16 && type == kVarint) {
            if (!r.readVarint(out.batch_seq)) return false;
        } else if (!r.skip(type, field)) {
            return false;
        }
    }
    return r.ok();
}

void appendTaskFrame(Buffer& out, int32_t data_type, std::string_view object_name, std::string_view data,
                     std::string_view token) {
    size_t start = out.size();
    out.ensure(4);
    out.commit(4);
    putVarintField(out, 1, static_cast<uint64_t>(static_cast<int64_t>(data_type)));
    if (!object_name.empty()) putString(out, 2, object_name);
    if (!data.empty()) putString(out, 3, data);
    if (!token.empty()) putString(out, 4, token);
    auto len = static_cast<uint32_t>(out.size() - start - 4);
    std::memcpy(out.data() + start, &len, 4);
}

bool parseTask(std::string_view frame, TaskView& out) {
    out = TaskView{};
    ProtoReader r(frame);
    uint32_t field;
    WireType type;
    while (r.nextTag(field, type)) {
        if (field == 1 && type == kVarint) {
            uint64_t v;
            if (!r.readVarint(v)) return false;
            out.data_type = static_cast<int32_t>(v);
        } else if (field >= 2 && field <= 4 && type == kLengthDelimited) {
            std::string_view s;
            if (!r.readLengthDelimited(s)) return false;
            if (field == 2) out.object_name = s;
            else if (field == 3) out.data = s;
            else out.token = s;
        } else if (!r.skip(type, field)) {
            return false;
        }
    }
    return r.ok();
}

}  // namespace vigil::wire
