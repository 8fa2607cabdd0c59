// GrpcStream on nghttp2: DATA frames are written without copying into nghttp2 (NO_COPY: the
// frame header from nghttp2, the payload straight from tx_), so a session's 16 KB frame buffer
// is never filled and stays mostly untouched memory.
#include "bench/center_swarm/grpc_stream.h"

#include <algorithm>
#include <cstring>

namespace vigil::bench {
namespace {

constexpr size_t kGrpcPrefix = 5;

bool nameIs(const uint8_t* name, size_t len, std::string_view want) {
    return len == want.size() && std::memcmp(name, want.data(), len) == 0;
}

int parseSmallInt(const uint8_t* v, size_t len) {
    int n = 0;
    if (len == 0 || len > 9) return -1;
    for (size_t i = 0; i < len; ++i) {
        if (v[i] < '0' || v[i] > '9') return -1;
        n = n * 10 + (v[i] - '0');
    }
    return n;
}

nghttp2_nv header(std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                      value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

}  // namespace

nghttp2_session_callbacks* GrpcStream::callbacks() {
    static nghttp2_session_callbacks* cbs = [] {
        nghttp2_session_callbacks* c = nullptr;
        nghttp2_session_callbacks_new(&c);
        nghttp2_session_callbacks_set_send_data_callback(c, onDataSend);
        nghttp2_session_callbacks_set_on_header_callback(c, onHeader);
        nghttp2_session_callbacks_set_on_frame_recv_callback(c, onFrameRecv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, onDataChunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(c, onStreamClose);
        return c;
    }();
    return cbs;
}

nghttp2_option* GrpcStream::sessionOptions() {
    static nghttp2_option* opt = [] {
        nghttp2_option* o = nullptr;
        nghttp2_option_new(&o);
        // The request headers go out once per connection: an HPACK dynamic table would only
        // cost memory.
        nghttp2_option_set_max_deflate_dynamic_table_size(o, 0);
        return o;
    }();
    return opt;
}

bool GrpcStream::open(const GrpcStreamConfig& config) {
    close();
    config_ = &config;
    if (nghttp2_session_client_new3(&session_, callbacks(), this, sessionOptions(), config.mem) !=
        0) {
        session_ = nullptr;
        error_ = "nghttp2_session_client_new3 failed";
        return false;
    }
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384},
    };
    if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0) {
        error_ = "nghttp2_submit_settings failed";
        close();
        return false;
    }
    const nghttp2_nv headers[] = {
        header(":method", "POST"),
        header(":scheme", "https"),
        header(":path", config.path),
        header(":authority", config.authority),
        header("content-type", "application/grpc"),
        header("te", "trailers"),
        header("user-agent", "vigil-swarm/" VIGIL_VERSION),
    };
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = onDataRead;
    stream_id_ = nghttp2_submit_request(session_, nullptr, headers, std::size(headers), &provider,
                                        nullptr);
    if (stream_id_ < 0) {
        error_ = nghttp2_strerror(stream_id_);
        close();
        return false;
    }
    return true;
}

void GrpcStream::close() {
    if (session_) nghttp2_session_del(session_);
    session_ = nullptr;
    tx_ = wire::Buffer();
    rx_ = wire::Buffer();
    tx_off_ = 0;
    stream_id_ = -1;
    grpc_status_ = -1;
    http_status_ = 0;
    data_deferred_ = false;
    got_settings_ = false;
    stream_closed_ = false;
}

void GrpcStream::queueMessage(std::string_view body) {
    if (tx_off_ > 0 && tx_off_ * 2 >= tx_.size()) {
        tx_.consume(tx_off_);
        tx_off_ = 0;
    }
    char* p = tx_.ensure(kGrpcPrefix + body.size());
    const auto n = static_cast<uint32_t>(body.size());
    p[0] = 0;  // not compressed
    p[1] = static_cast<char>(n >> 24);
    p[2] = static_cast<char>(n >> 16);
    p[3] = static_cast<char>(n >> 8);
    p[4] = static_cast<char>(n);
    std::memcpy(p + kGrpcPrefix, body.data(), body.size());
    tx_.commit(kGrpcPrefix + body.size());
    if (data_deferred_ && session_ && !stream_closed_) {
        data_deferred_ = false;
        nghttp2_session_resume_data(session_, stream_id_);
    }
}

void GrpcStream::ping() {
    if (session_) nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
}

bool GrpcStream::receive(const uint8_t* data, size_t len) {
    if (!session_) return false;
    const ssize_t rv = nghttp2_session_mem_recv(session_, data, len);
    if (rv < 0) {
        if (!*error_) error_ = nghttp2_strerror(static_cast<int>(rv));
        return false;
    }
    return true;
}

bool GrpcStream::produce(wire::Buffer& out, size_t limit) {
    if (!session_) return false;
    out_ = &out;
    out_limit_ = limit;
    bool ok = true;
    while (out.size() < limit) {
        const uint8_t* p = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session_, &p);
        if (n < 0) {
            error_ = nghttp2_strerror(static_cast<int>(n));
            ok = false;
            break;
        }
        if (n == 0) break;
        out.append(p, static_cast<size_t>(n));
    }
    out_ = nullptr;
    if (tx_off_ == tx_.size()) {
        tx_.clear();
        tx_off_ = 0;
    }
    return ok;
}

bool GrpcStream::alive() const {
    return session_ && (nghttp2_session_want_read(session_) || nghttp2_session_want_write(session_));
}

ssize_t GrpcStream::onDataRead(nghttp2_session*, int32_t, uint8_t*, size_t length,
                               uint32_t* data_flags, nghttp2_data_source*, void* user_data) {
    auto* self = static_cast<GrpcStream*>(user_data);
    const size_t avail = self->tx_.size() - self->tx_off_;
    if (avail == 0) {
        self->data_deferred_ = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    return static_cast<ssize_t>(std::min(length, avail));
}

int GrpcStream::onDataSend(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                           size_t length, nghttp2_data_source*, void* user_data) {
    auto* self = static_cast<GrpcStream*>(user_data);
    if (!self->out_ || self->out_->size() >= self->out_limit_) return NGHTTP2_ERR_WOULDBLOCK;
    if (frame->data.padlen != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;  // we never pad
    self->out_->append(framehd, 9);
    self->out_->append(self->tx_.data() + self->tx_off_, length);
    self->tx_off_ += length;
    return 0;
}

int GrpcStream::onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                         size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                         void* user_data) {
    auto* self = static_cast<GrpcStream*>(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != self->stream_id_) return 0;
    if (nameIs(name, namelen, "grpc-status")) {
        self->grpc_status_ = parseSmallInt(value, valuelen);
    } else if (nameIs(name, namelen, ":status")) {
        self->http_status_ = parseSmallInt(value, valuelen);
    }
    return 0;
}

int GrpcStream::onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto* self = static_cast<GrpcStream*>(user_data);
    switch (frame->hd.type) {
        case NGHTTP2_SETTINGS:
            if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && !self->got_settings_) {
                self->got_settings_ = true;
                self->handler_->onRemoteSettings();
            }
            break;
        case NGHTTP2_HEADERS:
            if (frame->hd.stream_id == self->stream_id_ &&
                frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
                self->handler_->onResponseHeaders(self->http_status_);
            }
            break;
        case NGHTTP2_GOAWAY:
            self->handler_->onGoaway(frame->goaway.error_code);
            break;
        case NGHTTP2_PING:
            if (frame->hd.flags & NGHTTP2_FLAG_ACK) self->handler_->onPingAck();
            break;
        default:
            break;
    }
    return 0;
}

int GrpcStream::onDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                            size_t len, void* user_data) {
    auto* self = static_cast<GrpcStream*>(user_data);
    if (stream_id != self->stream_id_) return 0;
    self->rx_.append(data, len);
    return self->deliverMessages() ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

bool GrpcStream::deliverMessages() {
    size_t off = 0;
    const auto* p = reinterpret_cast<const uint8_t*>(rx_.data());
    while (rx_.size() - off >= kGrpcPrefix) {
        const uint32_t len = (uint32_t{p[off + 1]} << 24) | (uint32_t{p[off + 2]} << 16) |
                             (uint32_t{p[off + 3]} << 8) | uint32_t{p[off + 4]};
        if (len > config_->max_message_bytes) {
            error_ = "gRPC message from the center above the size limit";
            return false;
        }
        if (rx_.size() - off - kGrpcPrefix < len) break;
        handler_->onMessage(
            std::string_view(reinterpret_cast<const char*>(p) + off + kGrpcPrefix, len),
            (p[off] & 1) != 0);
        off += kGrpcPrefix + len;
    }
    rx_.consume(off);
    if (rx_.empty()) rx_.shrinkTo(0);
    return true;
}

int GrpcStream::onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                              void* user_data) {
    auto* self = static_cast<GrpcStream*>(user_data);
    if (stream_id != self->stream_id_) return 0;
    self->stream_closed_ = true;
    StreamEnd end;
    end.h2_error = error_code;
    end.grpc_status = self->grpc_status_;
    if (self->grpc_status_ >= 0) {
        end.kind = StreamEnd::Kind::kGrpcStatus;
    } else if (error_code != NGHTTP2_NO_ERROR) {
        end.kind = StreamEnd::Kind::kReset;
    }
    self->handler_->onStreamEnd(end);
    return 0;
}

}  // namespace vigil::bench
