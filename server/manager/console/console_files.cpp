// ConsoleFiles: static files of the web console with an index.html fallback.
#include "server/manager/console/console_files.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <utility>

#include "libs/common/fs.h"
#include "libs/common/log.h"

namespace vigil::manager::console {
namespace {

constexpr uint64_t kMaxFileBytes = 32ull << 20;
// Names with a content hash (vite's assets/) never change: cached for a year. Anything else,
// index.html first, is revalidated on each load so that a new build shows at once.
constexpr const char* kImmutable = "public, max-age=31536000, immutable";
constexpr const char* kRevalidate = "no-cache";

bool isDir(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool isFile(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string realPath(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

// Paths the console must never answer with index.html: the API and the operational endpoints.
bool reserved(std::string_view first) {
    return first == "api" || first == "metrics" || first == "healthz";
}

server::ApiReply fileReply(const std::string& path, std::string_view name, const char* cache) {
    auto body = fs::readFile(path, kMaxFileBytes);
    if (!body.ok()) return server::ApiReply::error(500, "console: " + body.message());
    auto r = server::ApiReply::text(std::move(*body), std::string(contentType(name)));
    r.headers.emplace_back("Cache-Control", cache);
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
}

}  // namespace

std::string_view contentType(std::string_view name) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kTypes{{
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
        {".wasm", "application/wasm"},
    }};
    auto dot = name.rfind('.');
    if (dot != std::string_view::npos && name.find('/', dot) == std::string_view::npos) {
        auto ext = name.substr(dot);
        for (const auto& [e, type] : kTypes) {
            if (e == ext) return type;
        }
    }
    return "application/octet-stream";
}

std::string defaultConsoleDir() {
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0) return {};
    std::string exe(buf, static_cast<size_t>(n));
    std::string dir = fs::joinPath(fs::dirName(fs::dirName(exe)), "console/dist");
    return isDir(dir) ? realPath(dir) : std::string();
}

Result<std::unique_ptr<ConsoleFiles>> ConsoleFiles::open(const std::string& dir) {
    if (!isDir(dir)) return makeError("console directory {} does not exist", dir);
    std::string real = realPath(dir);
    if (real.empty()) return makeError("console directory {}: cannot resolve it", dir);
    if (!isFile(fs::joinPath(real, "index.html")))
        return makeError("console directory {} has no index.html (build the console)", dir);
    return std::unique_ptr<ConsoleFiles>(new ConsoleFiles(std::move(real)));
}

void ConsoleFiles::registerRoutes(server::ApiRouter& router) const {
    auto handler = [this](const server::ApiRequest& req) { return serve(req.path); };
    std::string pattern;
    router.get("/", handler, server::Auth::kOpen);
    for (size_t depth = 1; depth <= kMaxDepth; ++depth) {
        pattern += "/:p" + std::to_string(depth);
        router.get(pattern, handler, server::Auth::kOpen);
    }
}

server::ApiReply ConsoleFiles::serve(std::string_view path) const {
    // Segments of the raw path, each decoded; anything that could leave the directory (.., a
    // dot file, an encoded slash or NUL) is simply not found.
    std::string rel;
    std::string first;
    bool last_has_dot = false;
    size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/') ++i;
        size_t end = path.find('/', i);
        if (end == std::string_view::npos) end = path.size();
        if (end == i) break;
        std::string seg;
        for (size_t k = i; k < end; ++k) {
            char c = path[k];
            if (c == '%' && k + 2 < end) {
                auto hex = [](char x) -> int {
                    if (x >= '0' && x <= '9') return x - '0';
                    if (x >= 'a' && x <= 'f') return x - 'a' + 10;
                    if (x >= 'A' && x <= 'F') return x - 'A' + 10;
                    return -1;
                };
                int hi = hex(path[k + 1]), lo = hex(path[k + 2]);
                if (hi >= 0 && lo >= 0) {
                    c = static_cast<char>(hi * 16 + lo);
                    k += 2;
                }
            }
            seg.push_back(c);
        }
        if (seg.empty() || seg[0] == '.' || seg.find('/') != std::string::npos ||
            seg.find('\\') != std::string::npos || seg.find('\0') != std::string::npos) {
            return server::ApiReply::notFound("no such path: " + std::string(path.substr(0, 100)));
        }
        if (first.empty()) first = seg;
        last_has_dot = seg.find('.') != std::string::npos;
        rel += "/" + seg;
        i = end;
    }
    if (reserved(first))
        return server::ApiReply::notFound("no such path: " + std::string(path.substr(0, 100)));
    if (!rel.empty() && rel != "/index.html") {
        std::string file = dir_ + rel;
        if (isFile(file)) {
            const bool hashed = rel.rfind("/assets/", 0) == 0;
            return fileReply(file, rel, hashed ? kImmutable : kRevalidate);
        }
        // A name with an extension is a file that is missing, not a page of the console.
        if (last_has_dot)
            return server::ApiReply::notFound("no such file: " + std::string(path.substr(0, 100)));
    }
    return fileReply(dir_ + "/index.html", "index.html", kRevalidate);
}

std::unique_ptr<ConsoleFiles> serveConsole(const std::string& configured,
                                           server::ApiRouter& router) {
    auto log = log::get("manager");
    const std::string dir = configured.empty() ? defaultConsoleDir() : configured;
    if (dir.empty()) {
        log->info(
            "console: not built (no ../console/dist next to the binary, no "
            "http.console_dir): the API only");
        return nullptr;
    }
    auto files = ConsoleFiles::open(dir);
    if (!files.ok()) {
        log->error("console: {}", files.message());
        return nullptr;
    }
    (*files)->registerRoutes(router);
    log->info("console: serving {}", (*files)->dir());
    return std::move(*files);
}

}  // namespace vigil::manager::console
