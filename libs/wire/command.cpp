// Hand-written codec for the Command and FileExt.Upload messages of transfer.proto.
#include "libs/wire/command.h"

#include "libs/wire/proto_wire.h"
#include "libs/wire/utf8.h"

namespace vigil::wire {
namespace {

// proto3 `string`: libprotobuf refuses the whole message when one is not valid UTF-8, and so do
// we, so a Command means the same thing to the agent as to the center that encoded it.
bool readString(ProtoReader& r, std::string& out) {
    std::string_view s;
    if (!r.readLengthDelimited(s) || !isValidUtf8(s)) return false;
    out.assign(s.data(), s.size());
    return true;
}

// int32 on the wire is a sign-extended varint; libprotobuf keeps the low 32 bits.
bool readInt32(ProtoReader& r, int32_t& out) {
    uint64_t v;
    if (!r.readVarint(v)) return false;
    out = static_cast<int32_t>(static_cast<uint32_t>(v));
    return true;
}

// Each field is read when its wire type is the declared one; any other wire type makes it an
// unknown field, skipped (what libprotobuf does).
bool parseTask(std::string_view bytes, CommandTask& t) {
    ProtoReader r(bytes);
    uint32_t field;
    WireType type;
    while (r.nextTag(field, type)) {
        bool ok;
        if (field == 1 && type == kVarint) {
            ok = readInt32(r, t.data_type);
        } else if (field == 2 && type == kLengthDelimited) {
            ok = readString(r, t.object_name);
        } else if (field == 3 && type == kLengthDelimited) {
            ok = readString(r, t.data);
        } else if (field == 4 && type == kLengthDelimited) {
            ok = readString(r, t.token);
        } else {
            ok = r.skip(type, field);
        }
        if (!ok) return false;
    }
    return r.ok();
}

bool parseConfig(std::string_view bytes, CommandConfig& c) {
    ProtoReader r(bytes);
    uint32_t field;
    WireType type;
    while (r.nextTag(field, type)) {
        bool ok;
        if (type != kLengthDelimited) {
            ok = r.skip(type, field);
        } else {
            switch (field) {
                case 1:
                    ok = readString(r, c.name);
                    break;
                case 2:
                    ok = readString(r, c.type);
                    break;
                case 3:
                    ok = readString(r, c.version);
                    break;
                case 4:
                    ok = readString(r, c.sha256);
                    break;
                case 5:
                    ok = readString(r, c.signature);
                    break;
                case 6:
                    ok = readString(r, c.download_urls.emplace_back());
                    break;
                case 7:
                    ok = readString(r, c.detail);
                    break;
                default:
                    ok = r.skip(type, field);
                    break;
            }
        }
        if (!ok) return false;
    }
    return r.ok();
}

void putTag(std::string& out, uint32_t field, WireType type) {
    char tmp[10];
    out.append(tmp, putVarint(tmp, makeTag(field, type)) - tmp);
}

void putVarintField(std::string& out, uint32_t field, uint64_t v) {
    putTag(out, field, kVarint);
    char tmp[10];
    out.append(tmp, putVarint(tmp, v) - tmp);
}

void putBytesField(std::string& out, uint32_t field, std::string_view s) {
    putTag(out, field, kLengthDelimited);
    char tmp[10];
    out.append(tmp, putVarint(tmp, s.size()) - tmp);
    out.append(s.data(), s.size());
}

// proto3 singular fields: zero values are not written.
void putStringIfSet(std::string& out, uint32_t field, std::string_view s) {
    if (!s.empty()) putBytesField(out, field, s);
}

void putInt32IfSet(std::string& out, uint32_t field, int32_t v) {
    // Negative int32 values are sign-extended to 64 bits (10 bytes), as libprotobuf writes them.
    if (v != 0) putVarintField(out, field, static_cast<uint64_t>(static_cast<int64_t>(v)));
}

}  // namespace

bool parseCommand(std::string_view bytes, AgentCommand& out) {
    out = AgentCommand{};
    ProtoReader r(bytes);
    uint32_t field;
    WireType type;
    while (r.nextTag(field, type)) {
        bool ok;
        if (field == 1 && type == kVarint) {
            ok = readInt32(r, out.agent_ctrl);
        } else if (field == 2 && type == kLengthDelimited) {
            // A repeated occurrence of a message field merges into the earlier one.
            std::string_view sub;
            ok = r.readLengthDelimited(sub) && parseTask(sub, out.task);
            out.has_task = true;
        } else if (field == 3 && type == kLengthDelimited) {
            std::string_view sub;
            ok = r.readLengthDelimited(sub) && parseConfig(sub, out.configs.emplace_back());
        } else if (field == 16 && type == kVarint) {
            ok = r.readVarint(out.ack_seq);
        } else {
            ok = r.skip(type, field);
        }
        if (!ok) return false;
    }
    return r.ok();
}

std::string encodeCommand(const AgentCommand& command) {
    std::string out;
    putInt32IfSet(out, 1, command.agent_ctrl);
    if (command.has_task) {
        const CommandTask& t = command.task;
        std::string task;
        putInt32IfSet(task, 1, t.data_type);
        putStringIfSet(task, 2, t.object_name);
        putStringIfSet(task, 3, t.data);
        putStringIfSet(task, 4, t.token);
        putBytesField(out, 2, task);
    }
    for (const auto& c : command.configs) {
        std::string config;
        putStringIfSet(config, 1, c.name);
        putStringIfSet(config, 2, c.type);
        putStringIfSet(config, 3, c.version);
        putStringIfSet(config, 4, c.sha256);
        putStringIfSet(config, 5, c.signature);
        for (const auto& url : c.download_urls) putBytesField(config, 6, url);
        putStringIfSet(config, 7, c.detail);
        putBytesField(out, 3, config);
    }
    if (command.ack_seq != 0) putVarintField(out, 16, command.ack_seq);
    return out;
}

void encodeFileUploadRequest(std::string& out, std::string_view token, std::string_view data) {
    out.clear();
    out.reserve(token.size() + data.size() + 12);
    putStringIfSet(out, 1, token);
    putStringIfSet(out, 2, data);
}

bool parseFileUploadResponse(std::string_view bytes, int32_t& status) {
    status = static_cast<int32_t>(UploadStatus::kSuccess);
    ProtoReader r(bytes);
    uint32_t field;
    WireType type;
    while (r.nextTag(field, type)) {
        const bool ok = field == 1 && type == kVarint ? readInt32(r, status) : r.skip(type, field);
        if (!ok) return false;
    }
    return r.ok();
}

bool parseFileUploadRequest(std::string_view bytes, std::string_view& token, std::string_view& data) {
    token = {};
    data = {};
    ProtoReader r(bytes);
    uint32_t field;
    WireType type;
    while (r.nextTag(field, type)) {
        if ((field == 1 || field == 2) && type == kLengthDelimited) {
            std::string_view s;
            if (!r.readLengthDelimited(s)) return false;
            if (field == 1) {
                if (!isValidUtf8(s)) return false;  // proto3 string
                token = s;
            } else {
                data = s;
            }
        } else if (!r.skip(type, field)) {
            return false;
        }
    }
    return r.ok();
}

std::string encodeFileUploadResponse(UploadStatus status) {
    std::string out;
    if (status != UploadStatus::kSuccess) {
        out.push_back(static_cast<char>(makeTag(1, kVarint)));
        out.push_back(static_cast<char>(static_cast<int32_t>(status)));
    }
    return out;
}

}  // namespace vigil::wire
