// One client HTTP/2 connection (nghttp2) carrying one gRPC bidi stream, by default
// POST /grpc.Transfer/Transfer: outgoing messages get the 5-byte gRPC prefix, incoming ones
// are reassembled, the stream's end (grpc-status, RST_STREAM), GOAWAY and PING acks are
// reported. Transport-agnostic: TLS plaintext bytes in (receive), bytes out (produce).
// Not thread-safe: one owner thread. Handler calls happen inside receive()/produce(); a
// handler must not destroy the GrpcStream from there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nghttp2/nghttp2.h>

#include "libs/wire/buffer.h"

namespace vigil::bench {

// How the stream ended.
struct StreamEnd {
    enum class Kind { kGrpcStatus, kReset, kEnded };
    Kind kind = Kind::kEnded;
    int grpc_status = -1;  // from trailers (or a trailers-only response)
    uint32_t h2_error = 0;  // RST_STREAM / GOAWAY error code
};

class GrpcStreamHandler {
public:
    virtual ~GrpcStreamHandler() = default;
    virtual void onRemoteSettings() = 0;          // the center's first SETTINGS frame
    virtual void onResponseHeaders(int status) = 0;  // initial response headers (:status)
    virtual void onMessage(std::string_view body, bool compressed) = 0;
    virtual void onStreamEnd(const StreamEnd& end) = 0;
    virtual void onGoaway(uint32_t error_code) = 0;
    virtual void onPingAck() = 0;
};

// Shared by all streams of a swarm; must outlive them.
struct GrpcStreamConfig {
    std::string authority = "vigil-center";
    std::string path = "/grpc.Transfer/Transfer";
    uint32_t max_message_bytes = 4u << 20;
    nghttp2_mem* mem = nullptr;  // allocator for nghttp2 (null: malloc)
};

class GrpcStream {
public:
    explicit GrpcStream(GrpcStreamHandler& handler) : handler_(&handler) {}
    ~GrpcStream() { close(); }
    GrpcStream(const GrpcStream&) = delete;
    GrpcStream& operator=(const GrpcStream&) = delete;

    // Starts the HTTP/2 session (preface, SETTINGS) and submits the request. False on failure.
    bool open(const GrpcStreamConfig& config);
    // Drops the session and every buffer.
    void close();
    bool isOpen() const { return session_ != nullptr; }

    // Queues one gRPC message (uncompressed).
    void queueMessage(std::string_view body);
    size_t queuedBytes() const { return tx_.size() - tx_off_; }
    void ping();
    // Gives back idle buffer memory (after everything queued was produced).
    void trim() {
        if (tx_off_ == tx_.size()) tx_.shrinkTo(0);
    }

    // Feeds bytes received from the center. False on a connection-level error (error()).
    bool receive(const uint8_t* data, size_t len);
    // Appends serialized frames to `out` until it holds at least `limit` bytes or nothing is
    // left to send. False on a fatal error.
    bool produce(wire::Buffer& out, size_t limit);
    // The session still wants to read or write (false after GOAWAY and the stream's end).
    bool alive() const;
    const char* error() const { return error_; }

private:
    static nghttp2_session_callbacks* callbacks();
    static nghttp2_option* sessionOptions();
    static ssize_t onDataRead(nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t*,
                              nghttp2_data_source*, void*);
    static int onDataSend(nghttp2_session*, nghttp2_frame*, const uint8_t*, size_t,
                          nghttp2_data_source*, void*);
    static int onHeader(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                        const uint8_t*, size_t, uint8_t, void*);
    static int onFrameRecv(nghttp2_session*, const nghttp2_frame*, void*);
    static int onDataChunk(nghttp2_session*, uint8_t, int32_t, const uint8_t*, size_t, void*);
    static int onStreamClose(nghttp2_session*, int32_t, uint32_t, void*);

    bool deliverMessages();

    GrpcStreamHandler* handler_;
    const GrpcStreamConfig* config_ = nullptr;
    nghttp2_session* session_ = nullptr;
    wire::Buffer tx_;   // framed messages not yet handed to nghttp2
    size_t tx_off_ = 0;
    wire::Buffer rx_;   // bytes of incoming messages not yet complete
    wire::Buffer* out_ = nullptr;  // during produce()
    size_t out_limit_ = 0;
    const char* error_ = "";
    int32_t stream_id_ = -1;
    int grpc_status_ = -1;
    int http_status_ = 0;
    bool data_deferred_ = false;
    bool got_settings_ = false;
    bool stream_closed_ = false;
};

}  // namespace vigil::bench
