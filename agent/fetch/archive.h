// Safe tar.gz extraction for vigil-fetch: only regular files and directories, no absolute
// paths, no ".." components, no links, no devices or fifos, and a cap on the bytes written.
// Stateless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "libs/common/result.h"

namespace vigil::agent::fetch {

struct ExtractLimits {
    uint64_t max_bytes = 256ull << 20;  // total bytes of extracted file contents
    size_t max_entries = 10000;
};

// Extracts `archive_path` into the existing, empty directory `dest`. On error `dest` may hold
// part of the archive; the caller removes it.
Status extractTarGz(const std::string& archive_path, const std::string& dest,
                    const ExtractLimits& limits);

// Splits an archive entry path into safe components ("./a//b" -> {a, b}); refuses absolute
// paths and ".." components.
Result<std::vector<std::string>> safeComponents(const std::string& path);

}  // namespace vigil::agent::fetch
