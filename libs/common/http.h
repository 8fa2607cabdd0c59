// Minimal plain-HTTP/1.1 client (one GET per connection) and server (GET/HEAD routes, one
// request per connection) for the agent's discovery look-up and /metrics endpoint. The agent
// carries these instead of cpp-httplib: a shared C++ library would pull libstdc++.so and
// OpenSSL's shared copy into every agent (~2 MB resident). No TLS, no keep-alive.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "libs/common/result.h"

namespace vigil::http {

struct Response {
    int status = 0;
    std::string content_type;
    std::string body;
};

// GET http://host:port<target>. `host` is a name or an address (IPv6 without brackets);
// `timeout` bounds the connection and each wait for the peer. Fails on any network error,
// a malformed answer, or a body over max_body_bytes; any HTTP status is a successful result.
// Thread-safe.
Result<Response> get(const std::string& host, int port, const std::string& target,
                     std::chrono::milliseconds timeout, size_t max_body_bytes = 1 << 20);

struct Reply {
    int status = 200;
    std::string content_type = "text/plain";
    std::string body;
};

// Serves GET (and HEAD) on a few fixed paths from one thread, one connection at a time; every
// answer closes its connection. Handlers run on the server thread and must be thread-safe
// with respect to the rest of the program. Unknown paths get 404, other methods 405, bad
// requests 400. A client that stalls holds the server for at most the I/O timeout (2 s).
class Server {
public:
    using Handler = std::function<Reply()>;

    Server();
    ~Server();  // stops
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Routes `path` (query ignored). Call before start().
    void handle(std::string path, Handler handler);
    // Binds and listens; port 0 picks a free port (see port()).
    Status listen(const std::string& host, int port);
    int port() const;
    // Serves on a new thread until stop().
    void start();
    // Stops accepting and joins the thread (within the I/O timeout of a request in progress).
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::http
