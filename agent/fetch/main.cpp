// vigil-fetch: downloads, verifies and installs one plugin. vigil-agent runs it as a
// short-lived child so untrusted HTTP bodies and archives are parsed outside the agent.
// Exit codes: 0 installed (one JSON line on stdout), 1 failed (reason on stderr), 2 bad usage.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "agent/fetch/install.h"

namespace {

bool isHex64(const std::string& s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c));
           });
}

bool isPluginName(const std::string& s) {
    return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    });
}

}  // namespace

int main(int argc, char** argv) {
    vigil::agent::fetch::FetchRequest req;
    int64_t timeout_ms = 60000;
    CLI::App app{
        "vigil-fetch: download a plugin from the first URL that serves the expected "
        "sha256 and install it (run by vigil-agent)"};
    app.add_option("--url", req.urls,
                   "download URL (http or https); repeat to give fallbacks, "
                   "tried in order")
        ->required();
    app.add_option("--sha256", req.sha256, "sha256 of the download (64 hex digits)")->required();
    app.add_option("--type", req.type,
                   "exec: the download is the executable; tar.gz: an archive "
                   "holding it")
        ->check(CLI::IsMember({"exec", "tar.gz"}))
        ->capture_default_str();
    app.add_option("--dest", req.dest, "the plugin directory")->required();
    app.add_option("--name", req.name, "name of the executable in the plugin directory")
        ->required();
    app.add_option("--max-bytes", req.max_bytes,
                   "size cap for the download and the extracted "
                   "files")
        ->capture_default_str();
    app.add_option("--ca-file", req.ca_file, "CA bundle (PEM) for HTTPS; default: the system's")
        ->check(CLI::ExistingFile);
    app.add_option("--timeout-ms", timeout_ms, "time limit per URL")
        ->check(CLI::Range(int64_t{1}, int64_t{24} * 3600 * 1000))
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    std::transform(req.sha256.begin(), req.sha256.end(), req.sha256.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!isHex64(req.sha256)) {
        std::fprintf(stderr, "vigil-fetch: --sha256 must be 64 hex digits\n");
        return 2;
    }
    if (!isPluginName(req.name)) {
        std::fprintf(stderr, "vigil-fetch: --name must be 1-128 of [A-Za-z0-9_-]\n");
        return 2;
    }
    if (req.dest.empty() || req.dest == "/") {
        std::fprintf(stderr, "vigil-fetch: --dest must name a plugin directory\n");
        return 2;
    }
    while (req.dest.size() > 1 && req.dest.back() == '/') req.dest.pop_back();
    if (req.max_bytes == 0) {
        std::fprintf(stderr, "vigil-fetch: --max-bytes must be > 0\n");
        return 2;
    }
    req.timeout = std::chrono::milliseconds(timeout_ms);

    auto result = vigil::agent::fetch::fetchPlugin(req);
    if (!result.ok()) {
        std::fprintf(stderr, "vigil-fetch: %s\n", result.message().c_str());
        return 1;
    }
    nlohmann::json out = {{"ok", true},
                          {"url", result->url},
                          {"sha256", result->sha256},
                          {"executable_sha256", result->executable_sha256}};
    std::printf("%s\n", out.dump().c_str());
    return 0;
}
