// vigil::http client and server on loopback: against each other, against cpp-httplib (framing
// it chooses: Content-Length, chunked), and against peers that misbehave (silence, truncation,
// garbage, slow clients).
#include "libs/common/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include "libs/wire/http1.h"

#include <atomic>
#include <functional>
#include <thread>

namespace vigil::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A one-connection-at-a-time TCP peer on loopback running `script` on each accepted socket.
class RawPeer {
public:
    explicit RawPeer(std::function<void(int)> script) : script_(std::move(script)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
        EXPECT_EQ(::listen(fd_, 4), 0);
        socklen_t len = sizeof(a);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] {
            for (;;) {
                int c = ::accept(fd_, nullptr, nullptr);
                if (c < 0 || stop_) {
                    if (c >= 0) ::close(c);
                    return;
                }
                script_(c);
                ::close(c);
            }
        });
    }
    ~RawPeer() {
        stop_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    int port() const { return port_; }

private:
    std::function<void(int)> script_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

std::string readRequest(int fd) {
    std::string req;
    char buf[1024];
    while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
    }
    return req;
}

void sendAll(int fd, const std::string& s) {
    (void)!::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
}

// A raw client: sends `request`, returns everything until the server closes.
std::string rawExchange(int port, const std::string& request) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return "";
    }
    sendAll(fd, request);
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

class HttpServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        server.handle("/metrics", [] { return Reply{200, "text/plain; version=0.0.4", "a 1\n"}; });
        server.handle("/healthz", [] { return Reply{503, "application/json", "{\"ok\":false}"}; });
        server.handle("/throws", []() -> Reply { throw std::runtime_error("boom"); });
        ASSERT_TRUE(server.listen("127.0.0.1", 0).ok());
        ASSERT_GT(server.port(), 0);
        server.start();
    }
    Server server;
};

TEST_F(HttpServerTest, OurClientGetsRoutesStatusesAndTypes) {
    auto r = get("127.0.0.1", server.port(), "/metrics?name=x", 2000ms);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->content_type, "text/plain; version=0.0.4");
    EXPECT_EQ(r->body, "a 1\n");
    auto h = get("127.0.0.1", server.port(), "/healthz", 2000ms);
    ASSERT_TRUE(h.ok()) << h.message();
    EXPECT_EQ(h->status, 503);
    EXPECT_EQ(h->body, "{\"ok\":false}");
    auto missing = get("127.0.0.1", server.port(), "/nope", 2000ms);
    ASSERT_TRUE(missing.ok());
    EXPECT_EQ(missing->status, 404);
    auto thrown = get("127.0.0.1", server.port(), "/throws", 2000ms);
    ASSERT_TRUE(thrown.ok());
    EXPECT_EQ(thrown->status, 500);  // the server thread survives
    EXPECT_EQ(get("127.0.0.1", server.port(), "/metrics", 2000ms)->status, 200);
}

TEST_F(HttpServerTest, HttplibClientReadsIt) {
    httplib::Client c("127.0.0.1", server.port());
    auto r = c.Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "a 1\n");
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4");
    auto head = c.Head("/metrics");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_TRUE(head->body.empty());
}

TEST_F(HttpServerTest, BadRequestsAndOtherMethods) {
    const std::string bad = rawExchange(server.port(), "NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(bad.rfind("HTTP/1.1 400 ", 0), 0u) << bad;
    const std::string post =
        rawExchange(server.port(), "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(post.rfind("HTTP/1.1 405 ", 0), 0u) << post;
    EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
    const std::string head = rawExchange(server.port(), "HEAD /metrics HTTP/1.0\r\n\r\n");
    EXPECT_NE(head.find("Content-Length: 4\r\n"), std::string::npos);
    EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");  // no body after a HEAD
}

TEST_F(HttpServerTest, ASilentClientDoesNotBlockOthersForLong) {
    // Connects and says nothing: the server gives up on it after its I/O timeout.
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(server.port()));
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    const auto t0 = Clock::now();
    auto r = get("127.0.0.1", server.port(), "/metrics", 5000ms);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_LT(Clock::now() - t0, 4s);
    ::close(fd);
}

TEST_F(HttpServerTest, StopIsPromptWithAClientConnected) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(server.port()));
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    sendAll(fd, "GET /metr");  // half a request: the server waits for the rest
    std::this_thread::sleep_for(100ms);
    const auto t0 = Clock::now();
    server.stop();
    EXPECT_LT(Clock::now() - t0, 500ms);
    ::close(fd);
    EXPECT_FALSE(get("127.0.0.1", server.port(), "/metrics", 500ms).ok());
}

TEST(HttpServer, ListenFailuresAreReported) {
    Server a;
    ASSERT_TRUE(a.listen("127.0.0.1", 0).ok());
    Server b;
    auto st = b.listen("127.0.0.1", a.port());
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("cannot listen"), std::string::npos);
    EXPECT_FALSE(b.listen("no-such-host.invalid", 80).ok());
}

TEST(HttpClient, ReadsHttplibAnswersWithLengthOrChunks) {
    httplib::Server s;
    s.Get("/registry/detail", [](const httplib::Request& req, httplib::Response& res) {
        res.set_content(req.get_param_value("name") + "|" + req.get_param_value("count"),
                        "application/json");
    });
    s.Get("/chunked", [](const httplib::Request&, httplib::Response& res) {
        res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
            if (offset < 30000) {
                std::string part(1000, static_cast<char>('a' + offset / 1000 % 26));
                sink.write(part.data(), part.size());
            } else {
                sink.done();
            }
            return true;
        });
    });
    const int port = s.bind_to_any_port("127.0.0.1");
    std::thread t([&] { s.listen_after_bind(); });
    for (int i = 0; i < 200 && !s.is_running(); ++i) std::this_thread::sleep_for(5ms);

    auto r = get("127.0.0.1", port,
                 "/registry/detail?name=" + wire::urlEncode("a b&c") + "&count=5", 2000ms);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r->body, "a b&c|5");
    EXPECT_EQ(r->content_type, "application/json");
    auto chunked = get("127.0.0.1", port, "/chunked", 2000ms);
    ASSERT_TRUE(chunked.ok()) << chunked.message();
    ASSERT_EQ(chunked->body.size(), 30000u);
    EXPECT_EQ(chunked->body.substr(29000, 3), "ddd");
    auto small = get("127.0.0.1", port, "/chunked", 2000ms, 10000);
    EXPECT_FALSE(small.ok());  // over the body limit
    s.stop();
    t.join();
}

TEST(HttpClient, RefusedAndUnresolvableFailFast) {
    const auto t0 = Clock::now();
    auto r = get("127.0.0.1", 1, "/", 1000ms);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.message().find("127.0.0.1:1"), std::string::npos) << r.message();
    EXPECT_LT(Clock::now() - t0, 1s);
    EXPECT_FALSE(get("no-such-host.invalid", 80, "/", 1000ms).ok());
    EXPECT_FALSE(get("127.0.0.1", 80, "no-slash", 1000ms).ok());
    EXPECT_FALSE(get("127.0.0.1", 80, "/a b", 1000ms).ok());  // would split the request line
    EXPECT_FALSE(get("127.0.0.1", 80, "/a\r\nX: y", 1000ms).ok());
}

TEST(HttpClient, ASilentServerTimesOut) {
    RawPeer peer([](int fd) {
        readRequest(fd);
        std::this_thread::sleep_for(800ms);
    });
    const auto t0 = Clock::now();
    auto r = get("127.0.0.1", peer.port(), "/", 300ms);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.message().find("did not answer"), std::string::npos) << r.message();
    EXPECT_LT(Clock::now() - t0, 1200ms);
}

TEST(HttpClient, TruncatedGarbageAndUnframedAnswers) {
    RawPeer truncated([](int fd) {
        readRequest(fd);
        sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    });
    EXPECT_FALSE(get("127.0.0.1", truncated.port(), "/", 1000ms).ok());

    RawPeer garbage([](int fd) {
        readRequest(fd);
        sendAll(fd, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
    });
    auto g = get("127.0.0.1", garbage.port(), "/", 1000ms);
    EXPECT_FALSE(g.ok());
    EXPECT_NE(g.message().find("malformed"), std::string::npos) << g.message();

    RawPeer until_close([](int fd) {
        EXPECT_NE(readRequest(fd).find("Connection: close\r\n"), std::string::npos);
        sendAll(fd, "HTTP/1.0 200 OK\r\n\r\n");
        sendAll(fd, "all of it");
    });
    auto u = get("127.0.0.1", until_close.port(), "/", 1000ms);
    ASSERT_TRUE(u.ok()) << u.message();
    EXPECT_EQ(u->body, "all of it");

    RawPeer interim([](int fd) {
        readRequest(fd);
        sendAll(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    auto i = get("127.0.0.1", interim.port(), "/", 1000ms);
    ASSERT_TRUE(i.ok()) << i.message();
    EXPECT_EQ(i->status, 200);
    EXPECT_EQ(i->body, "ok");

    RawPeer too_long([](int fd) {
        readRequest(fd);
        sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n");
    });
    EXPECT_FALSE(get("127.0.0.1", too_long.port(), "/", 1000ms).ok());
}

}  // namespace
}  // namespace vigil::http
