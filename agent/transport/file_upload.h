// File upload to a center over FileExt.Upload (client streaming; task 1050). Used by
// CenterClient::uploadFile on the channel of its open stream. Thread-safe (one call per context).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "libs/common/result.h"

namespace vigil::agent {

// Streams `path` in chunks of `chunk_bytes`, each carrying `token`. Fails when the file is not
// a regular file, is (or grows) larger than `max_bytes`, on any RPC error, or when the center
// answers FAILED. `ctx` may be cancelled from another thread to abort.
Status uploadOverChannel(const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext& ctx,
                         const std::string& path, const std::string& token, uint64_t max_bytes,
                         uint32_t chunk_bytes);

}  // namespace vigil::agent
