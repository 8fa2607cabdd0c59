// Streamed replies (ApiReply::streamed) through ApiServer over loopback: chunks arrive as they
// are written, before the stream ends; a stream that aborts truncates the body; stop() ends an
// open stream through StreamSink::alive; plain replies are unchanged.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/common/api_server.h"

namespace vigil::server {
namespace {

using namespace std::chrono_literals;

class ApiStreamTest : public ::testing::Test {
protected:
    void SetUp() override {
        ApiServerOptions o;
        o.name = "t";
        o.threads = 4;
        server_ = std::make_unique<ApiServer>(o, metrics_);
        server_->get(
            "/plain", [](const ApiRequest&) { return ApiReply::ok("x"); }, Auth::kOpen);
        server_->get(
            "/count",
            [](const ApiRequest& r) {
                const int n = std::stoi(r.param("n", "3"));
                ApiReply a = ApiReply::streamed("text/plain", [n](StreamSink& sink) {
                    for (int i = 0; i < n; ++i) {
                        if (!sink.write("line " + std::to_string(i) + "\n")) return false;
                    }
                    return true;
                });
                a.headers.emplace_back("Content-Disposition", "attachment; filename=\"c.txt\"");
                return a;
            },
            Auth::kOpen);
        server_->get(
            "/abort",
            [](const ApiRequest&) {
                return ApiReply::streamed("text/plain", [](StreamSink& sink) {
                    sink.write("partial\n");
                    return false;
                });
            },
            Auth::kOpen);
        // Writes one chunk, then waits for the test's go (or the server's stop) before the next.
        server_->get(
            "/wait",
            [this](const ApiRequest&) {
                return ApiReply::streamed("text/event-stream", [this](StreamSink& sink) {
                    if (!sink.write("first\n")) return false;
                    std::unique_lock lock(mu_);
                    while (!go_) {
                        cv_.wait_for(lock, 100ms);
                        if (!sink.alive()) {
                            ended_by_stop_ = true;
                            return true;
                        }
                    }
                    return sink.write("second\n");
                });
            },
            Auth::kOpen);
        ASSERT_TRUE(server_->start().ok());
    }
    void TearDown() override { server_->stop(); }

    httplib::Client client() {
        httplib::Client c("127.0.0.1", server_->port());
        c.set_read_timeout(5, 0);
        return c;
    }

    metrics::Registry metrics_;
    std::unique_ptr<ApiServer> server_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool go_ = false;
    std::atomic<bool> ended_by_stop_{false};
};

TEST_F(ApiStreamTest, PlainRepliesUnchanged) {
    auto c = client();
    auto r = c.Get("/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"code":0,"data":"x","msg":"ok"})");
    EXPECT_FALSE(r->has_header("Transfer-Encoding"));
}

TEST_F(ApiStreamTest, StreamedBodyIsChunkedWithHeaders) {
    auto c = client();
    auto r = c.Get("/count?n=5000");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Transfer-Encoding"), "chunked");
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain");
    EXPECT_EQ(r->get_header_value("Content-Disposition"), "attachment; filename=\"c.txt\"");
    std::string want;
    for (int i = 0; i < 5000; ++i) want += "line " + std::to_string(i) + "\n";
    EXPECT_EQ(r->body, want);
    // The same through dispatch (tests, fuzzers): the stream is handed over, not run.
    HttpRequest req;
    req.method = "GET";
    req.target = "/count?n=2";
    HttpResponse resp = server_->router().dispatch(req);
    ASSERT_TRUE(resp.stream);
    std::string got;
    StreamSink sink{[&](std::string_view s) {
                        got += s;
                        return true;
                    },
                    [] { return true; }};
    EXPECT_TRUE(resp.stream(sink));
    EXPECT_EQ(got, "line 0\nline 1\n");
}

TEST_F(ApiStreamTest, AbortedStreamIsTruncated) {
    auto c = client();
    auto r = c.Get("/abort");
    // No terminating chunk: the client sees an error (or at most the partial body).
    if (r) {
        EXPECT_NE(r->body, "partial\n") << "a complete body after an abort";
    } else {
        SUCCEED();
    }
}

TEST_F(ApiStreamTest, ChunksArriveBeforeTheEnd) {
    std::string seen;
    std::atomic<bool> got_first{false};
    std::thread reader([&] {
        auto c = client();
        c.Get("/wait", [&](const char* data, size_t n) {
            seen.append(data, n);
            if (seen.find("first\n") != std::string::npos) got_first = true;
            return true;
        });
    });
    for (int i = 0; i < 500 && !got_first; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(got_first.load()) << "the first chunk did not arrive while the stream was open";
    {
        std::lock_guard lock(mu_);
        go_ = true;
    }
    cv_.notify_all();
    reader.join();
    EXPECT_EQ(seen, "first\nsecond\n");
}

TEST_F(ApiStreamTest, StopEndsAnOpenStream) {
    std::atomic<bool> got_first{false};
    std::thread reader([&] {
        auto c = client();
        c.Get("/wait", [&](const char*, size_t) {
            got_first = true;
            return true;
        });
    });
    for (int i = 0; i < 500 && !got_first; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(got_first.load());
    const auto t0 = std::chrono::steady_clock::now();
    server_->stop();
    const auto took = std::chrono::steady_clock::now() - t0;
    reader.join();
    EXPECT_TRUE(ended_by_stop_.load());
    EXPECT_LT(took, 3s) << "stop() waited for the stream";
}

}  // namespace
}  // namespace vigil::server
