// Center -> agent Command (transfer.proto: Command, Config, PluginTask) and FileExt.Upload
// messages, decoded and encoded by hand so the agent links no libprotobuf (its code alone is
// ~1.2 MB of the agent's text). Stateless functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::wire {

// grpc.PluginTask: a task for a plugin (or, when object_name is the product, for the agent).
struct CommandTask {
    int32_t data_type = 0;
    std::string object_name;
    std::string data;
    std::string token;
    bool operator==(const CommandTask&) const = default;
};

// grpc.Config: one entry of the desired plugin set (or the agent itself, for self-upgrade).
struct CommandConfig {
    std::string name;
    std::string type;
    std::string version;
    std::string sha256;
    std::string signature;
    std::vector<std::string> download_urls;
    std::string detail;
    bool operator==(const CommandConfig&) const = default;
};

// grpc.Command.
struct AgentCommand {
    int32_t agent_ctrl = 0;
    bool has_task = false;  // the task field was present (even if empty)
    CommandTask task;
    std::vector<CommandConfig> configs;
    uint64_t ack_seq = 0;
    bool operator==(const AgentCommand&) const = default;
};

// Parses a serialized Command into `out` (reset first). Accepts what libprotobuf accepts:
// fields in any order, unknown fields (of any wire type, also known field numbers with an
// unexpected wire type) skipped, the last value of a repeated scalar wins, repeated `task`
// occurrences merge, each `configs` occurrence is one more entry. Fails, like libprotobuf, on
// truncated or malformed input and on strings that are not valid UTF-8 (proto3). One deliberate
// difference: unknown groups nest at most 8 deep here.
bool parseCommand(std::string_view bytes, AgentCommand& out);

// Serializes a Command the way libprotobuf does (proto3: zero values omitted, field order).
// The agent only parses Commands; tests, fuzzing and tools encode them.
std::string encodeCommand(const AgentCommand& command);

// grpc.FileUploadRequest {token = 1, data = 2}: replaces `out` with the message.
void encodeFileUploadRequest(std::string& out, std::string_view token, std::string_view data);

// grpc.FileUploadResponse.Status.
enum class UploadStatus : int32_t { kSuccess = 0, kFailed = 1 };

// Parses a serialized FileUploadResponse. An absent status is SUCCESS (proto3 zero value);
// values outside the enum are kept as they are (open enum).
bool parseFileUploadResponse(std::string_view bytes, int32_t& status);

// The center's side of FileExt.Upload: a request's token and data (views into `bytes`), and the
// response. A repeated field's last occurrence wins (protobuf semantics for singular fields).
bool parseFileUploadRequest(std::string_view bytes, std::string_view& token, std::string_view& data);
std::string encodeFileUploadResponse(UploadStatus status);

}  // namespace vigil::wire
