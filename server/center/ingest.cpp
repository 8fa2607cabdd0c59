// PackagedData -> MQData bus messages.
#include "server/center/ingest.h"

#include <cstring>

#include "libs/wire/proto_wire.h"
#include "libs/wire/record.h"

namespace vigil::center {
namespace {

using wire::kLengthDelimited;
using wire::kVarint;
using wire::makeTag;
using wire::putVarint;
using wire::varintSize;

void putBytes(std::string& out, uint32_t field, std::string_view s) {
    char buf[16];
    char* p = putVarint(buf, makeTag(field, kLengthDelimited));
    p = putVarint(p, s.size());
    out.append(buf, static_cast<size_t>(p - buf));
    out.append(s.data(), s.size());
}

void putInt(std::string& out, uint32_t field, uint64_t v) {
    char buf[24];
    char* p = putVarint(buf, makeTag(field, kVarint));
    p = putVarint(p, v);
    out.append(buf, static_cast<size_t>(p - buf));
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ',';
        out += s;
    }
    return out;
}

bool printableId(std::string_view id, size_t max) {
    if (id.empty() || id.size() > max) return false;
    for (char c : id) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
    }
    return true;
}

}  // namespace

const char* ingestErrorName(IngestError e) {
    switch (e) {
        case IngestError::kNone: return "none";
        case IngestError::kMalformed: return "malformed_batch";
        case IngestError::kNoAgentId: return "no_agent_id";
        case IngestError::kTooManyRecords: return "too_many_records";
    }
    return "unknown";
}

void BatchIngest::clear() {
    agent_id.clear();
    batch_seq = 0;
    header = wire::BatchHeader{};
    records = dropped = 0;
    has_agent_heartbeat = false;
    encoded.clear();
    messages.clear();
}

IngestError ingestBatch(std::string_view bytes, int64_t svr_time, const IngestLimits& limits, BatchIngest& out) {
    out.clear();
    wire::BatchView view;
    if (!wire::parseBatch(bytes, view)) return IngestError::kMalformed;
    if (!printableId(view.header.agent_id, limits.max_agent_id_bytes)) return IngestError::kNoAgentId;
    if (view.records.size() > limits.max_records) return IngestError::kTooManyRecords;
    out.agent_id = view.header.agent_id;
    out.batch_seq = view.batch_seq;
    out.header = view.header;

    // Fields 4..11 are the same for every record of the batch: encode them once.
    std::string common;
    putBytes(common, 4, view.header.agent_id);
    for (auto [field, list] : {std::pair{5u, &view.header.intranet_ipv4}, {6u, &view.header.extranet_ipv4},
                               {7u, &view.header.intranet_ipv6}, {8u, &view.header.extranet_ipv6}}) {
        if (!list->empty()) putBytes(common, field, join(*list));
    }
    if (!view.header.hostname.empty()) putBytes(common, 9, view.header.hostname);
    if (!view.header.version.empty()) putBytes(common, 10, view.header.version);
    if (!view.header.product.empty()) putBytes(common, 11, view.header.product);
    putInt(common, 12, static_cast<uint64_t>(svr_time));

    size_t total = 0;
    for (const auto& r : view.records) total += r.data.size() + common.size() + 32;
    out.encoded.reserve(total);
    std::vector<std::pair<size_t, size_t>> spans;  // offsets, since `encoded` may not move
    std::vector<int32_t> types;
    spans.reserve(view.records.size());
    types.reserve(view.records.size());
    for (const auto& r : view.records) {
        if (r.data.size() > limits.max_record_bytes || !wire::checkPayload(r.data)) {
            ++out.dropped;
            continue;
        }
        const size_t start = out.encoded.size();
        putInt(out.encoded, 1, static_cast<uint64_t>(static_cast<int64_t>(r.data_type)));
        putInt(out.encoded, 2, static_cast<uint64_t>(r.timestamp));
        putBytes(out.encoded, 3, r.data);
        out.encoded.append(common);
        if (view.batch_seq) putInt(out.encoded, 16, view.batch_seq);
        putInt(out.encoded, 17, spans.size());
        spans.emplace_back(start, out.encoded.size() - start);
        types.push_back(r.data_type);
        if (r.data_type == 1000) out.has_agent_heartbeat = true;
    }
    out.records = static_cast<uint32_t>(spans.size());
    out.messages.reserve(spans.size());
    for (size_t i = 0; i < spans.size(); ++i) {
        bus::Message m;
        m.key = out.agent_id;
        m.data_type = types[i];
        m.value = std::string_view(out.encoded).substr(spans[i].first, spans[i].second);
        out.messages.push_back(m);
    }
    return IngestError::kNone;
}

}  // namespace vigil::center
