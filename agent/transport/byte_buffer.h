// Raw gRPC messages: wraps spooled PackagedData bytes in a ByteBuffer without copying or
// re-encoding them, and flattens received ByteBuffers. Stateless; thread-safe.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/support/byte_buffer.h>

namespace vigil::agent {

// A ByteBuffer sharing `bytes`: the string stays alive until gRPC has sent it.
grpc::ByteBuffer shareAsByteBuffer(std::shared_ptr<const std::string> bytes);

// The message bytes as one string (one copy; a single-slice buffer is the common case).
std::string flattenByteBuffer(const grpc::ByteBuffer& buffer);

}  // namespace vigil::agent
