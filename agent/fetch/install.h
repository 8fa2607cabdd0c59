// vigil-fetch's job: try each URL in order until a download has the expected sha256, then
// install it as <dest>/<name> (type exec) or extract it into a fresh directory that replaces
// <dest> atomically (type tar.gz). Stateless.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "libs/common/result.h"

namespace vigil::agent::fetch {

struct FetchRequest {
    std::vector<std::string> urls;
    std::string sha256;  // of the download, lower-case hex
    std::string type = "exec";
    std::string dest;  // the plugin directory
    std::string name;  // the executable expected in dest
    uint64_t max_bytes = 256ull << 20;
    std::string ca_file;
    std::chrono::milliseconds timeout{60000};  // per URL
};

struct FetchResult {
    std::string url;
    std::string sha256;
    std::string executable_sha256;
};

Result<FetchResult> fetchPlugin(const FetchRequest& request);

}  // namespace vigil::agent::fetch
