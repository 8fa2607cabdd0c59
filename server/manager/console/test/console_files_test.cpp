// ConsoleFiles: static files with content types and cache headers, the index.html fallback for
// the console's routes but never for /api/, /metrics, /healthz, paths that try to leave the
// directory, over ApiRouter::dispatch and over HTTP; http.console_dir in the manager's config.
#include "server/manager/console/console_files.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "libs/common/fs.h"
#include "server/common/api_server.h"
#include "server/manager/manager_config.h"

namespace vigil::manager::console {
namespace {

class ConsoleFilesTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vigil-console-test.XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        root_ = tmpl;
        dist_ = root_ + "/dist";
        ASSERT_TRUE(fs::makeDirs(dist_ + "/assets").ok());
        write(dist_ + "/index.html", "<!doctype html><title>Vigil</title>");
        write(dist_ + "/assets/index-abc123.js", "console.log(1)");
        write(dist_ + "/assets/index-abc123.css", "body{}");
        write(dist_ + "/logo.svg", "<svg/>");
        write(root_ + "/secret.txt", "secret");
        auto files = ConsoleFiles::open(dist_);
        ASSERT_TRUE(files.ok()) << files.message();
        files_ = std::move(*files);
        router_ = std::make_unique<server::ApiRouter>(server::ApiOptions{}, metrics_);
        router_->get(
            "/api/v1/hosts",
            [](const server::ApiRequest&) { return server::ApiReply::ok("hosts"); },
            server::Auth::kOpen);
        files_->registerRoutes(*router_);
    }
    void TearDown() override { (void)fs::removeAll(root_); }

    static void write(const std::string& path, const std::string& text) {
        ASSERT_TRUE(fs::writeFileAtomic(path, text).ok()) << path;
    }
    server::HttpResponse get(const std::string& target, const std::string& method = "GET") {
        server::HttpRequest r;
        r.method = method;
        r.target = target;
        return router_->dispatch(r);
    }
    static std::string header(const server::HttpResponse& r, const std::string& name) {
        for (const auto& [k, v] : r.headers) {
            if (k == name) return v;
        }
        return {};
    }

    std::string root_, dist_;
    metrics::Registry metrics_;
    std::unique_ptr<ConsoleFiles> files_;
    std::unique_ptr<server::ApiRouter> router_;
};

TEST_F(ConsoleFilesTest, RootAndClientRoutesAreIndexHtml) {
    for (const char* path :
         {"/", "/alerts", "/alerts/abc-1", "/hosts/h1/", "/tasks?x=1", "/a/b/c/d/e/f"}) {
        auto r = get(path);
        EXPECT_EQ(r.status, 200) << path;
        EXPECT_EQ(r.body, "<!doctype html><title>Vigil</title>") << path;
        EXPECT_EQ(r.content_type, "text/html; charset=utf-8") << path;
        EXPECT_EQ(header(r, "Cache-Control"), "no-cache") << path;
    }
    EXPECT_EQ(get("/index.html").body, "<!doctype html><title>Vigil</title>");
    EXPECT_EQ(get("/", "HEAD").status, 200);
}

TEST_F(ConsoleFilesTest, FilesWithTypesAndCacheHeaders) {
    auto js = get("/assets/index-abc123.js");
    EXPECT_EQ(js.status, 200);
    EXPECT_EQ(js.body, "console.log(1)");
    EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
    EXPECT_EQ(header(js, "Cache-Control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(header(js, "X-Content-Type-Options"), "nosniff");
    auto css = get("/assets/index-abc123.css");
    EXPECT_EQ(css.content_type, "text/css; charset=utf-8");
    auto svg = get("/logo.svg");
    EXPECT_EQ(svg.content_type, "image/svg+xml");
    EXPECT_EQ(header(svg, "Cache-Control"), "no-cache");  // not a hashed asset
    EXPECT_EQ(contentType("a.png"), "image/png");
    EXPECT_EQ(contentType("a.woff2"), "font/woff2");
    EXPECT_EQ(contentType("noext"), "application/octet-stream");
}

TEST_F(ConsoleFilesTest, MissingFilesAndReservedPathsAre404) {
    EXPECT_EQ(get("/assets/gone-123.js").status, 404);
    EXPECT_EQ(get("/favicon.ico").status, 404);
    // The API keeps its JSON 404 for unknown paths; no index.html under /api, /metrics, /healthz.
    for (const char* path : {"/api", "/api/v1/nope", "/api/v2/x/y", "/metrics/x", "/healthz/x"}) {
        auto r = get(path);
        EXPECT_EQ(r.status, 404) << path;
        EXPECT_EQ(r.content_type, "application/json") << path;
        auto body = nlohmann::json::parse(r.body, nullptr, false);
        ASSERT_TRUE(body.is_object()) << path;
        EXPECT_EQ(body["code"], 404) << path;
    }
    // Routes registered before the console still answer.
    EXPECT_EQ(nlohmann::json::parse(get("/api/v1/hosts").body)["data"], "hosts");
    EXPECT_EQ(get("/metrics").content_type.rfind("text/plain", 0), 0u);
    EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(ConsoleFilesTest, PathsOutsideTheDirectoryAreNotServed) {
    for (const char* path :
         {"/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt",
          "/..%2Fsecret.txt", "/.hidden", "/assets/%00x.js", "/a%5c..%5csecret.txt"}) {
        auto r = get(path);
        EXPECT_NE(r.body, "secret") << path;
        EXPECT_EQ(r.status, 404) << path;
    }
}

TEST_F(ConsoleFilesTest, ServedOverHttp) {
    server::ApiServerOptions o;
    o.name = "console-test";
    o.threads = 2;
    server::ApiServer http(o, metrics_);
    files_->registerRoutes(http.router());
    ASSERT_TRUE(http.start().ok());
    httplib::Client client("127.0.0.1", http.port());
    auto index = client.Get("/alerts/x");
    ASSERT_TRUE(index);
    EXPECT_EQ(index->status, 200);
    EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(index->body, "<!doctype html><title>Vigil</title>");
    auto js = client.Get("/assets/index-abc123.js");
    ASSERT_TRUE(js);
    EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
    EXPECT_EQ(js->get_header_value("Cache-Control"), "public, max-age=31536000, immutable");
    auto api = client.Get("/api/v1/none");
    ASSERT_TRUE(api);
    EXPECT_EQ(api->status, 404);
    http.stop();
}

TEST_F(ConsoleFilesTest, OpenRefusesADirectoryWithoutIndex) {
    auto none = ConsoleFiles::open(root_ + "/missing");
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.message().find("does not exist"), std::string::npos) << none.message();
    auto noindex = ConsoleFiles::open(dist_ + "/assets");
    ASSERT_FALSE(noindex.ok());
    EXPECT_NE(noindex.message().find("index.html"), std::string::npos) << noindex.message();
    metrics::Registry m;
    server::ApiRouter router(server::ApiOptions{}, m);
    EXPECT_EQ(serveConsole(root_ + "/missing", router), nullptr);
    EXPECT_NE(serveConsole(dist_, router), nullptr);
}

TEST_F(ConsoleFilesTest, ConfigKey) {
    ManagerFlags flags;
    auto ok = parseManagerConfig("http: {console_dir: " + dist_ + "}\n", "t.yaml", flags);
    ASSERT_TRUE(ok.ok()) << ok.message();
    EXPECT_EQ(ok->console_dir, dist_);
    auto defaulted = parseManagerConfig("", "t.yaml", flags);
    ASSERT_TRUE(defaulted.ok());
    EXPECT_EQ(defaulted->console_dir, "");
    auto missing = parseManagerConfig("http: {console_dir: " + root_ + "/nope}\n", "t.yaml", flags);
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.message().find("console_dir"), std::string::npos) << missing.message();
    EXPECT_NE(missing.message().find("does not exist"), std::string::npos) << missing.message();
    auto noindex =
        parseManagerConfig("http: {console_dir: " + dist_ + "/assets}\n", "t.yaml", flags);
    ASSERT_FALSE(noindex.ok());
    EXPECT_NE(noindex.message().find("index.html"), std::string::npos) << noindex.message();
    // The printed example is valid.
    EXPECT_TRUE(parseManagerConfig(exampleManagerConfig(), "example", flags).ok());
}

}  // namespace
}  // namespace vigil::manager::console
