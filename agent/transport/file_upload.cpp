// FileExt.Upload client: size-capped chunked streaming of one file.
#include "agent/transport/file_upload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <grpcpp/impl/codegen/rpc_method.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include "agent/transport/byte_buffer.h"
#include "libs/wire/command.h"

namespace vigil::agent {
namespace {

// Messages travel as raw bytes encoded by libs/wire: no generated stub, no libprotobuf.
constexpr const char* kUploadMethod = "/grpc.FileExt/Upload";

// Generous: the cap bounds the size, the deadline only guards against a center that stalls.
constexpr std::chrono::minutes kUploadDeadline{10};

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace

Status uploadOverChannel(const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext& ctx,
                         const std::string& path, const std::string& token, uint64_t max_bytes,
                         uint32_t chunk_bytes) {
    if (chunk_bytes == 0) chunk_bytes = 512 * 1024;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return makeError("cannot open {}: {}", path, std::strerror(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
        return makeError("cannot stat {}: {}", path, std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return makeError("{} is not a regular file", path);
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
        return makeError("{} is {} bytes, over the {} byte upload limit", path, st.st_size,
                         max_bytes);
    }

    ctx.set_deadline(std::chrono::system_clock::now() + kUploadDeadline);
    grpc::ByteBuffer response;
    grpc::internal::RpcMethod method(kUploadMethod, grpc::internal::RpcMethod::CLIENT_STREAMING,
                                     channel);
    std::unique_ptr<grpc::ClientWriter<grpc::ByteBuffer>> writer(
        grpc::internal::ClientWriterFactory<grpc::ByteBuffer>::Create(channel.get(), method, &ctx,
                                                                      &response));
    std::vector<char> buf(chunk_bytes);
    std::string request;
    uint64_t total = 0;
    bool first = true;
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ctx.TryCancel();
            (void)writer->Finish();
            return makeError("cannot read {}: {}", path, std::strerror(e));
        }
        if (n == 0 && !first) break;
        total += static_cast<uint64_t>(n);
        if (total > max_bytes) {  // the file grew while being sent
            ctx.TryCancel();
            (void)writer->Finish();
            return makeError("{} grew over the {} byte upload limit while being sent", path,
                             max_bytes);
        }
        wire::encodeFileUploadRequest(request, token,
                                      std::string_view(buf.data(), static_cast<size_t>(n)));
        first = false;
        grpc::Slice slice(request);  // copied: `request` is reused for the next chunk
        // False: the center ended the call; Finish() says why.
        if (!writer->Write(grpc::ByteBuffer(&slice, 1))) break;
        if (n == 0) break;  // an empty file: one request with the token only
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (!status.ok()) {
        return makeError("upload of {} failed: {} (code {})", path, status.error_message(),
                         static_cast<int>(status.error_code()));
    }
    int32_t answer = 0;
    if (!wire::parseFileUploadResponse(flattenByteBuffer(response), answer)) {
        return makeError("the center's answer to the upload of {} is not a FileUploadResponse",
                         path);
    }
    if (answer != static_cast<int32_t>(wire::UploadStatus::kSuccess)) {
        return makeError("the center refused the upload of {}", path);
    }
    return okStatus();
}

}  // namespace vigil::agent
