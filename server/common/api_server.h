// ApiServer: the HTTP server shared by vigil-discovery, vigil-center's admin API and
// vigil-manager: an ApiRouter (routes, AK/SK, JSON envelope, metrics; see api_router.h) served
// by cpp-httplib on host:port with a bounded pool of worker threads.
//
//   vigil::server::ApiServerOptions o;
//   o.name = "center"; o.host = "0.0.0.0"; o.port = 6752; o.verifier = verifier;
//   vigil::server::ApiServer api(o, metrics);
//   api.get("/conn/count", [&](const ApiRequest&) { return ApiReply::ok(count()); },
//   Auth::kSigned); api.post("/command", handleCommand, Auth::kSigned);   // body parsed as JSON
//   into req.json if (auto s = api.start(); !s.ok()) { ... s.message() ... }
//   ... api.port() ...
//   api.stop();
//
// Thread-safety: add routes before start(); start/stop from one thread; handlers run on the
// worker threads, concurrently with each other.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/common/api_router.h"

namespace vigil::server {

struct ApiServerOptions : ApiOptions {
    std::string host = "127.0.0.1";  // "0.0.0.0" for every interface
    int port = 0;                    // 0: a free port, see ApiServer::port()
    size_t threads = 8;              // worker threads (each holds one connection at a time)
    std::chrono::seconds read_timeout{5};
    std::chrono::seconds write_timeout{5};
    // An idle kept-alive connection holds a worker this long; stop() waits for it too.
    std::chrono::seconds keep_alive_timeout{2};
};

class ApiServer {
public:
    ApiServer(ApiServerOptions options, metrics::Registry& metrics);
    ~ApiServer();  // stop()
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    ApiRouter& router() { return router_; }
    void get(std::string pattern, ApiHandler handler, Auth auth) {
        router_.get(std::move(pattern), std::move(handler), auth);
    }
    void post(std::string pattern, ApiHandler handler, Auth auth, Body body = Body::kJson) {
        router_.post(std::move(pattern), std::move(handler), auth, body);
    }

    // Binds host:port and serves on background threads. Fails with the address and the reason
    // (e.g. "listen 0.0.0.0:8088: address in use or not available").
    Status start();
    int port() const;             // the bound port (after start)
    std::string address() const;  // "host:port" (after start)
    // Stops accepting, finishes requests in progress and joins the threads. Idempotent.
    void stop();

private:
    struct Impl;
    ApiServerOptions options_;
    ApiRouter router_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::server
