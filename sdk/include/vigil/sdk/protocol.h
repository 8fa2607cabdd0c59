// Constants of the plugin pipe protocol (DESIGN.md §3, documented in sdk/README.md) that a
// plugin needs: file descriptors, the SDK's data_types and the frame limit.
#pragma once

#include <cstdint>

namespace vigil::sdk {

// The agent starts every plugin with these descriptors already open.
constexpr int kTaskFd = 3;    // agent -> plugin: Task frames (read end of a pipe)
constexpr int kRecordFd = 4;  // plugin -> agent: Record frames (write end of a pipe)

// Record data_types shared by every plugin (Elkeid's numbers).
constexpr int32_t kDataTypeLog = 1010;         // fields: level, msg, source, timestamp
constexpr int32_t kDataTypeTaskResult = 5100;  // fields: token, status, msg

// The agent skips (and counts) frames above this size; the SDK drops such records itself.
constexpr uint32_t kMaxFrameBytes = 4u << 20;

}  // namespace vigil::sdk
