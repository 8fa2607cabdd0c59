// Plugin executables on disk: spec validation, sha256 verification before every start, and
// downloads through the vigil-fetch helper (a short-lived child, so untrusted HTTP bodies and
// archives are parsed outside the agent). Stateless functions; callers serialise fetches into
// the same plugin directory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "agent/plugin_host/plugin_host.h"
#include "libs/common/result.h"

namespace vigil::agent {

struct FetchOptions {
    std::string helper;  // path of vigil-fetch
    uint64_t max_bytes = 256ull << 20;
    std::chrono::milliseconds timeout{300000};  // the whole helper run
    std::string ca_file;
    // When set and true, a running helper is killed and the fetch fails (host shutdown).
    const std::atomic<bool>* cancel = nullptr;
};

struct FetchOutcome {
    std::string url;                // the URL that worked
    std::string sha256;             // of the download
    std::string executable_sha256;  // of <dir>/<name> after installing
};

// Name of the file in a tar.gz plugin's directory that records which archive was extracted and
// the hash of its executable (used when the spec has no signature).
inline constexpr const char* kManifestFile = ".vigil-manifest.json";

// True for [A-Za-z0-9_-]{1,128}.
bool isValidPluginName(const std::string& name);
// Fills defaults (type "exec") and lower-cases the hashes.
PluginSpec normalizeSpec(PluginSpec spec);
// Refuses bad names, unknown types, malformed hashes and specs without sha256 and signature.
Status validateSpec(const PluginSpec& spec);

// The sha256 <dir>/<name> must have; empty when unknown (tar.gz without signature and without a
// manifest for this archive).
std::string expectedExecutableSha256(const PluginSpec& spec, const std::string& dir);

// Makes sure <dir>/<name> is the executable `spec` describes: verifies its sha256 and, when it
// is missing or different, runs the helper and verifies again. Returns the executable's
// sha256, or an error such as "sha256 mismatch: want X, got Y".
Result<std::string> ensureExecutable(const FetchOptions& options, const PluginSpec& spec,
                                     const std::string& dir);

// Runs vigil-fetch for `spec` into `dir` and parses its JSON line. The error is the helper's
// stderr (or why it could not run / was killed at the timeout).
Result<FetchOutcome> runFetchHelper(const FetchOptions& options, const PluginSpec& spec,
                                    const std::string& dir);

}  // namespace vigil::agent
