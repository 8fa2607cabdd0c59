// Zero-copy ByteBuffer wrapping of shared strings, and flattening.
#include "agent/transport/byte_buffer.h"

#include <vector>

#include <grpcpp/support/slice.h>

namespace vigil::agent {
namespace {

using Holder = std::shared_ptr<const std::string>;

void releaseHolder(void* p) {
    delete static_cast<Holder*>(p);
}

}  // namespace

grpc::ByteBuffer shareAsByteBuffer(std::shared_ptr<const std::string> bytes) {
    auto* holder = new Holder(std::move(bytes));
    // gRPC never writes through the slice; the const_cast only satisfies the C API signature.
    grpc::Slice slice(const_cast<char*>((*holder)->data()), (*holder)->size(), &releaseHolder,
                      holder);
    return grpc::ByteBuffer(&slice, 1);
}

std::string flattenByteBuffer(const grpc::ByteBuffer& buffer) {
    std::vector<grpc::Slice> slices;
    std::string out;
    if (!buffer.Dump(&slices).ok()) return out;
    size_t total = 0;
    for (const auto& s : slices) total += s.size();
    out.reserve(total);
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    return out;
}

}  // namespace vigil::agent
