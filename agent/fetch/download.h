// HTTP/HTTPS download for vigil-fetch: follows redirects, streams the body into a file while
// hashing it, and stops as soon as the body goes over the size cap or the deadline passes.
// Stateless; one call per URL.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "libs/common/result.h"

namespace vigil::agent::fetch {

struct DownloadOptions {
    uint64_t max_bytes = 256ull << 20;
    std::chrono::milliseconds timeout{60000};  // connect + whole body
    std::string ca_file;                       // empty: the system CA store
};

// Writes the body of `url` (http or https, as url::parseHttp takes it) into `fd` (from its
// current offset) and returns the body's sha256. Non-200 final statuses, bodies above max_bytes
// and timeouts are errors.
Result<std::string> downloadTo(const std::string& url, int fd, const DownloadOptions& options);

}  // namespace vigil::agent::fetch
