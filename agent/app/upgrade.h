// Self-upgrade: a config entry naming the agent with another version is fetched (vigil-fetch),
// verified (sha256, signature, the new binary must run and report that version) and installed
// over the running executable; the caller then re-executes. Any failure leaves the running
// agent and its executable untouched.
#pragma once

#include <chrono>
#include <string>

#include "agent/plugin_host/plugin_host.h"
#include "libs/common/result.h"

namespace vigil::agent {

struct UpgradeOptions {
    std::string work_dir;
    std::string fetch_helper;
    std::string self_exe;      // path of the running executable (replaced on success)
    std::string product;       // executable name expected in the download
    uint64_t max_bytes = 256ull << 20;
    std::chrono::milliseconds timeout{120000};
};

// Downloads, verifies and installs `spec`. On success the new binary is at self_exe and the
// previous one at self_exe + ".old".
Status installUpgrade(const PluginSpec& spec, const UpgradeOptions& options);

// Runs `argv` with a timeout, capturing stdout+stderr (at most 64 KiB). Returns the exit code
// (or an error when it could not run or timed out).
Result<int> runCapture(const std::vector<std::string>& argv, std::chrono::milliseconds timeout, std::string* output);

}  // namespace vigil::agent
