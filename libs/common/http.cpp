// Plain-HTTP/1.1 GET client and small route server over non-blocking sockets with poll()
// deadlines; message framing by libs/wire/http1.
#include "libs/common/http.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <thread>

#include "libs/wire/http1.h"

namespace vigil::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxHeadBytes = 16 * 1024;
constexpr std::chrono::milliseconds kServerIoTimeout{2000};

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = o.release();
        }
        return *this;
    }
    int get() const { return fd_; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
};

std::string hostPort(const std::string& host, int port) {
    return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                               : host + ":" + std::to_string(port);
}

// Waits for `events` on fd (and, when wake_fd >= 0, for a stop request on it) until the
// deadline. 1: ready, 0: timed out or stop requested, -1: poll failed (errno set).
int waitFor(int fd, short events, Clock::time_point deadline, int wake_fd = -1) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return 0;
        pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
        const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(left.count()) + 1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (wake_fd >= 0 && (fds[1].revents & POLLIN)) return 0;
        if (n > 0 && fds[0].revents != 0) return 1;
    }
}

// Writes all of `data`. False on error, timeout or stop request (errno says which).
bool writeAll(int fd, std::string_view data, Clock::time_point deadline, int wake_fd = -1) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            const int w = waitFor(fd, POLLOUT, deadline, wake_fd);
            if (w == 0) errno = ETIMEDOUT;
            if (w != 1) return false;
            continue;
        }
        return false;
    }
    return true;
}

using AddrList = std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>;

// The TCP addresses of host:port (numeric port). `passive`: addresses to bind, an empty host
// meaning every local address.
Result<AddrList> resolveTcp(const std::string& host, int port, bool passive) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(passive && host.empty() ? nullptr : host.c_str(),
                                 std::to_string(port).c_str(), &hints, &list);
    if (rc != 0) return makeError("cannot resolve {}: {}", host, ::gai_strerror(rc));
    return AddrList(list, &::freeaddrinfo);
}

Result<Fd> connectTo(const std::string& host, int port, std::chrono::milliseconds timeout) {
    auto list = resolveTcp(host, port, false);
    if (!list.ok()) return list.error();
    const auto deadline = Clock::now() + timeout;
    std::string last_error = "no address";
    for (addrinfo* ai = list->get(); ai != nullptr; ai = ai->ai_next) {
        Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol));
        if (fd.get() < 0) {
            last_error = std::strerror(errno);
            continue;
        }
        if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) return fd;
        if (errno != EINPROGRESS) {
            last_error = std::strerror(errno);
            continue;
        }
        const int w = waitFor(fd.get(), POLLOUT, deadline);
        if (w == 0) {
            last_error = "timed out";
            break;
        }
        int err = 0;
        socklen_t len = sizeof(err);
        if (w < 0 || ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            last_error = std::strerror(errno);
            continue;
        }
        if (err == 0) return fd;
        last_error = std::strerror(err);
    }
    return makeError("cannot connect to {}: {}", hostPort(host, port), last_error);
}

// Whether `buf` holds a complete answer; fills `out`. An error for malformed answers.
enum class Progress { kNeedMore, kComplete };

Result<Progress> examine(const std::string& buf, bool eof, size_t max_body, Response& out,
                         size_t& interim_bytes) {
    std::string_view data(buf);
    data.remove_prefix(interim_bytes);
    wire::HttpResponseHead head;
    switch (wire::parseHttpResponseHead(data, head, kMaxHeadBytes)) {
        case wire::HttpParse::kIncomplete:
            if (eof) return makeError("the connection closed before a complete answer");
            return Progress::kNeedMore;
        case wire::HttpParse::kBad:
            return makeError("malformed HTTP answer");
        case wire::HttpParse::kDone:
            break;
    }
    if (head.status < 200) {  // 100 Continue and friends precede the real answer
        interim_bytes += head.head_bytes;
        return examine(buf, eof, max_body, out, interim_bytes);
    }
    out.status = head.status;
    if (const std::string* ct = wire::findHttpHeader(head.headers, "content-type")) {
        out.content_type = *ct;
    }
    const std::string_view rest = data.substr(head.head_bytes);
    if (head.status == 204 || head.status == 304) {
        out.body.clear();
        return Progress::kComplete;
    }
    if (head.chunked) {
        size_t consumed = 0;
        switch (wire::decodeHttpChunked(rest, out.body, consumed, max_body)) {
            case wire::HttpParse::kDone:
                return Progress::kComplete;
            case wire::HttpParse::kBad:
                return makeError("malformed chunked body or body over {} bytes", max_body);
            case wire::HttpParse::kIncomplete:
                if (eof) return makeError("the connection closed inside a chunked body");
                return Progress::kNeedMore;
        }
    }
    if (head.content_length) {
        if (*head.content_length > max_body) {
            return makeError("body of {} bytes is over the {} byte limit", *head.content_length,
                             max_body);
        }
        if (rest.size() >= *head.content_length) {
            out.body.assign(rest.substr(0, *head.content_length));
            return Progress::kComplete;
        }
        if (eof) return makeError("the connection closed before the end of the body");
        return Progress::kNeedMore;
    }
    // No framing: the body runs to the end of the connection.
    if (rest.size() > max_body) return makeError("body over the {} byte limit", max_body);
    if (!eof) return Progress::kNeedMore;
    out.body.assign(rest);
    return Progress::kComplete;
}

const char* reasonPhrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

}  // namespace

Result<Response> get(const std::string& host, int port, const std::string& target,
                     std::chrono::milliseconds timeout, size_t max_body_bytes) {
    if (target.empty() || target.front() != '/') {
        return makeError("HTTP target \"{}\" must start with '/'", target);
    }
    for (char c : target) {
        // Blanks and controls would end the request line early or start a header.
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            return makeError("HTTP target \"{}\" must be percent-encoded", target);
        }
    }
    auto fd = connectTo(host, port, timeout);
    if (!fd.ok()) return makeError("{}", fd.message());
    const std::string where = hostPort(host, port);
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + where +
                                "\r\nUser-Agent: vigil-agent\r\nAccept: */*\r\n"
                                "Connection: close\r\n\r\n";
    if (!writeAll(fd->get(), request, Clock::now() + timeout)) {
        return makeError("cannot send the request to {}: {}", where, std::strerror(errno));
    }
    std::string buf;
    Response out;
    size_t interim = 0;
    char chunk[kReadChunk];
    for (;;) {
        const ssize_t n = ::recv(fd->get(), chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            const int w = waitFor(fd->get(), POLLIN, Clock::now() + timeout);
            if (w == 0) return makeError("{} did not answer within {} ms", where, timeout.count());
            if (w < 0) return makeError("waiting for {}: {}", where, std::strerror(errno));
            continue;
        }
        if (n < 0) return makeError("reading from {}: {}", where, std::strerror(errno));
        const bool eof = n == 0;
        buf.append(chunk, static_cast<size_t>(n));
        if (buf.size() > kMaxHeadBytes * 2 + max_body_bytes + kReadChunk) {
            return makeError("answer from {} is over the size limit", where);
        }
        auto progress = examine(buf, eof, max_body_bytes, out, interim);
        if (!progress.ok()) return makeError("{}: {}", where, progress.message());
        if (*progress == Progress::kComplete) return out;
        // examine() reports every incomplete answer at EOF as an error.
    }
}

struct Server::Impl {
    void serve();
    void answer(int fd);

    std::map<std::string, Handler, std::less<>> routes;
    Fd listen_fd;
    Fd wake_fd;
    int port = 0;
    std::thread thread;
};

Server::Server() : impl_(std::make_unique<Impl>()) {}

Server::~Server() {
    stop();
}

void Server::handle(std::string path, Handler handler) {
    impl_->routes[std::move(path)] = std::move(handler);
}

Status Server::listen(const std::string& host, int port) {
    auto list = resolveTcp(host, port, true);
    if (!list.ok()) return list.error();
    std::string last_error = "no address";
    for (addrinfo* ai = list->get(); ai != nullptr; ai = ai->ai_next) {
        Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol));
        if (fd.get() < 0) {
            last_error = std::strerror(errno);
            continue;
        }
        const int one = 1;
        (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 16) != 0) {
            last_error = std::strerror(errno);
            continue;
        }
        sockaddr_storage addr{};
        socklen_t len = sizeof(addr);
        if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            impl_->port = ntohs(addr.ss_family == AF_INET6
                                    ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                    : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
        }
        impl_->listen_fd = std::move(fd);
        return okStatus();
    }
    return makeError("cannot listen on {}: {}", hostPort(host, port), last_error);
}

int Server::port() const {
    return impl_->port;
}

void Server::start() {
    Impl& d = *impl_;
    if (d.thread.joinable() || d.listen_fd.get() < 0) return;
    d.wake_fd = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    d.thread = std::thread([&d] { d.serve(); });
}

void Server::stop() {
    Impl& d = *impl_;
    if (d.thread.joinable()) {
        const uint64_t one = 1;
        (void)!::write(d.wake_fd.get(), &one, sizeof(one));
        d.thread.join();
    }
    d.listen_fd.reset();
    d.wake_fd.reset();
}

void Server::Impl::serve() {
    for (;;) {
        pollfd fds[2] = {{listen_fd.get(), POLLIN, 0}, {wake_fd.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents & POLLIN) return;
        if (!(fds[0].revents & POLLIN)) continue;
        Fd conn(::accept4(listen_fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (conn.get() >= 0) {
            answer(conn.get());
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            // The pending connection stays pending: pause instead of spinning on it.
            pollfd wake = {wake_fd.get(), POLLIN, 0};
            if (::poll(&wake, 1, 100) > 0) return;
        }
    }
}

void Server::Impl::answer(int fd) {
    const auto deadline = Clock::now() + kServerIoTimeout;
    std::string buf;
    wire::HttpRequestHead request;
    wire::HttpParse parsed = wire::HttpParse::kIncomplete;
    char chunk[4096];
    while (parsed == wire::HttpParse::kIncomplete) {
        const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (waitFor(fd, POLLIN, deadline, wake_fd.get()) != 1) return;
            continue;
        }
        if (n <= 0) return;  // closed or failed before a whole request: nobody to answer
        buf.append(chunk, static_cast<size_t>(n));
        parsed = wire::parseHttpRequestHead(buf, request, kMaxHeadBytes);
    }

    Reply reply;
    std::string extra_headers;
    if (parsed == wire::HttpParse::kBad) {
        reply = {400, "text/plain", "bad request\n"};
    } else if (request.method != "GET" && request.method != "HEAD") {
        reply = {405, "text/plain", "only GET and HEAD\n"};
        extra_headers = "Allow: GET, HEAD\r\n";
    } else if (auto route = routes.find(request.path); route == routes.end()) {
        reply = {404, "text/plain", "not found\n"};
    } else {
        // A handler's exception must not end the agent: it becomes a 500 for this request.
        try {
            reply = route->second();
        } catch (const std::exception& e) {
            reply = {500, "text/plain", std::string("internal error: ") + e.what() + "\n"};
        }
    }
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                      reasonPhrase(reply.status) + "\r\nContent-Type: " + reply.content_type +
                      "\r\nContent-Length: " + std::to_string(reply.body.size()) +
                      "\r\nConnection: close\r\n" + extra_headers + "\r\n";
    if (parsed != wire::HttpParse::kDone || request.method != "HEAD") out += reply.body;
    if (writeAll(fd, out, deadline, wake_fd.get())) ::shutdown(fd, SHUT_WR);
}

}  // namespace vigil::http
