// ConsoleFiles: serves the built web console (console/, `npm run build`) from a directory on
// the manager's HTTP port: static files with their content type and cache headers, and
// index.html for the console's client-side routes (/alerts/ID, ...). /api/, /metrics and
// /healthz never fall back to index.html. Read-only after open(); serve() is thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "libs/common/result.h"
#include "server/common/api_router.h"

namespace vigil::manager::console {

class ConsoleFiles {
public:
    // `dir` must be a directory holding index.html (the build output).
    static Result<std::unique_ptr<ConsoleFiles>> open(const std::string& dir);

    // Adds GET routes for "/" and paths of up to kMaxDepth segments. The router matches routes
    // in the order they were added, so call this after every other route: an API route added
    // later would be shadowed.
    void registerRoutes(server::ApiRouter& router) const;

    // The answer for a GET of `path` (decoded segments, no query).
    server::ApiReply serve(std::string_view path) const;

    const std::string& dir() const { return dir_; }

    static constexpr size_t kMaxDepth = 6;

private:
    explicit ConsoleFiles(std::string dir) : dir_(std::move(dir)) {}
    std::string dir_;  // real path, no trailing slash
};

// The content type for a file name by its extension ("application/octet-stream" if unknown).
std::string_view contentType(std::string_view name);

// <directory of the running executable>/../console/dist when that directory exists, else "".
std::string defaultConsoleDir();

// vigil-manager's start-up: opens `configured` (defaultConsoleDir() when empty), registers its
// routes on `router` (call it after every other route) and logs where the console comes from,
// or why there is none. Null without a console.
std::unique_ptr<ConsoleFiles> serveConsole(const std::string& configured,
                                           server::ApiRouter& router);

}  // namespace vigil::manager::console
