// ApiServer: cpp-httplib glue around ApiRouter. Every method and path goes to the router, which
// makes the routing, auth and error decisions; httplib only frames HTTP.
#include "server/common/api_server.h"

#include <httplib.h>

#include <sys/socket.h>

#include <atomic>
#include <thread>

#include "libs/common/log.h"

namespace vigil::server {
namespace {

HttpRequest toHttpRequest(const httplib::Request& in) {
    HttpRequest out;
    out.method = in.method;
    out.target = in.target.empty() ? in.path : in.target;
    out.headers.reserve(in.headers.size());
    for (const auto& [k, v] : in.headers) out.headers.emplace_back(k, v);
    out.body = in.body;
    out.remote = in.remote_addr + ":" + std::to_string(in.remote_port);
    return out;
}

void fill(httplib::Response& res, const HttpResponse& r, const std::atomic<bool>* stopping) {
    res.status = r.status;
    for (const auto& [name, value] : r.headers) res.set_header(name, value);
    if (!r.stream) {
        res.set_content(r.body, r.content_type.c_str());
        return;
    }
    // Called by httplib after the headers, on this worker thread; one call writes it all.
    res.set_chunked_content_provider(
        r.content_type, [body = r.stream, stopping](size_t, httplib::DataSink& sink) {
            StreamSink out;
            out.write = [&sink](std::string_view chunk) {
                return chunk.empty() || sink.write(chunk.data(), chunk.size());
            };
            out.alive = [&sink, stopping] { return !stopping->load() && sink.is_writable(); };
            if (!body(out)) return false;
            sink.done();
            return true;
        });
}

}  // namespace

struct ApiServer::Impl {
    httplib::Server http;
    std::thread thread;
    int port = 0;
    bool started = false;
    std::atomic<bool> stopping{false};  // ends streamed bodies (StreamSink::alive)
};

ApiServer::ApiServer(ApiServerOptions options, metrics::Registry& metrics)
    : options_(std::move(options)),
      router_(static_cast<const ApiOptions&>(options_), metrics),
      impl_(std::make_unique<Impl>()) {}

ApiServer::~ApiServer() {
    stop();
}

Status ApiServer::start() {
    if (impl_->started) return makeError("{}: already started", options_.name);
    auto& http = impl_->http;
    const size_t threads = std::max<size_t>(1, options_.threads);
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(options_.max_body_bytes);
    http.set_read_timeout(options_.read_timeout.count(), 0);
    http.set_write_timeout(options_.write_timeout.count(), 0);
    http.set_keep_alive_timeout(options_.keep_alive_timeout.count());
    // httplib's default also sets SO_REUSEPORT, which lets a second server bind the same port
    // and silently take half the connections: only SO_REUSEADDR (fast restarts).
    http.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });

    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
        fill(res, router_.dispatch(toHttpRequest(req)), &impl_->stopping);
    };
    http.Get(".*", handler);
    http.Post(".*", handler);
    http.Put(".*", handler);
    http.Patch(".*", handler);
    http.Delete(".*", handler);
    http.Options(".*", handler);
    // Errors httplib answers itself (body over the cap, malformed request line, URI too long)
    // come without a body: give them the JSON envelope. Answers of the router have a body.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            std::string msg;
            switch (res.status) {
                case 413:
                    msg = "request body is over the limit of " +
                          std::to_string(options_.max_body_bytes) + " bytes";
                    break;
                case 414:
                    msg = "request target is too long";
                    break;
                case 400:
                    msg = "malformed HTTP request";
                    break;
                default:
                    msg = "HTTP error " + std::to_string(res.status);
                    break;
            }
            fill(res, router_.transportError(toHttpRequest(req), res.status, msg),
                 &impl_->stopping);
            return httplib::Server::HandlerResponse::Handled;
        }));

    int port = options_.port;
    if (port == 0) {
        port = http.bind_to_any_port(options_.host);
        if (port <= 0) return makeError("listen {}:0: cannot bind (bad address?)", options_.host);
    } else if (!http.bind_to_port(options_.host, port)) {
        return makeError("listen {}:{}: address in use or not available", options_.host, port);
    }
    impl_->port = port;
    impl_->started = true;
    impl_->thread = std::thread([this] { impl_->http.listen_after_bind(); });
    // stop() is only effective once httplib considers itself running.
    for (int i = 0; i < 5000 && !http.is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    log::get(options_.name)->info("{}: HTTP API on {}:{}", options_.name, options_.host, port);
    return okStatus();
}

int ApiServer::port() const {
    return impl_->port;
}

std::string ApiServer::address() const {
    const std::string& h = options_.host;
    return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" +
           std::to_string(impl_->port);
}

void ApiServer::stop() {
    if (!impl_ || !impl_->started) return;
    impl_->stopping = true;
    impl_->http.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
    impl_->started = false;
    impl_->stopping = false;
}

}  // namespace vigil::server
