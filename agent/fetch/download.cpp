// vigil-fetch downloads over cpp-httplib (HTTP and HTTPS with OpenSSL).
#include "agent/fetch/download.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>

#include <httplib.h>

#include "libs/common/crypto.h"
#include "libs/common/httplib_error.h"
#include "libs/common/url.h"

namespace vigil::agent::fetch {
namespace {

Status writeAll(int fd, const char* data, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, data, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return makeError("cannot write the download: {}", std::strerror(errno));
        }
        data += w;
        n -= static_cast<size_t>(w);
    }
    return okStatus();
}

}  // namespace

Result<std::string> downloadTo(const std::string& url, int fd, const DownloadOptions& options) {
    auto parsed = url::parseHttp(url);
    if (!parsed.ok()) return parsed.error();
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    try {
        httplib::Client cli(parsed->origin());
        if (!cli.is_valid()) {
            return makeError("cannot make an HTTP client for {}", parsed->origin());
        }
        cli.set_follow_location(true);
        cli.set_connection_timeout(options.timeout);
        cli.set_read_timeout(options.timeout);
        cli.set_write_timeout(options.timeout);
        if (parsed->scheme == "https") {
            cli.enable_server_certificate_verification(true);
            if (!options.ca_file.empty()) cli.set_ca_cert_path(options.ca_file);
        }
        crypto::Sha256 hash;
        uint64_t total = 0;
        std::string failure;
        // Identity encoding: the sha256 is of the bytes the server stores.
        httplib::Headers headers = {{"Accept-Encoding", "identity"}};
        auto res = cli.Get(
            parsed->target, headers,
            [&](const httplib::Response& r) {
                if (r.status != 200) {
                    failure = "HTTP status " + std::to_string(r.status);
                    return false;
                }
                if (r.has_header("Content-Length")) {
                    std::string v = r.get_header_value("Content-Length");
                    uint64_t len = 0;
                    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), len);
                    if (ec == std::errc() && len > options.max_bytes) {
                        failure = "download is larger than " + std::to_string(options.max_bytes) +
                                  " bytes (Content-Length " + v + ")";
                        return false;
                    }
                }
                return true;
            },
            [&](const char* data, size_t n) {
                total += n;
                if (total > options.max_bytes) {
                    failure =
                        "download is larger than " + std::to_string(options.max_bytes) + " bytes";
                    return false;
                }
                if (std::chrono::steady_clock::now() > deadline) {
                    failure = "timed out after " + std::to_string(options.timeout.count()) + " ms";
                    return false;
                }
                Status st = writeAll(fd, data, n);
                if (!st.ok()) {
                    failure = st.message();
                    return false;
                }
                hash.update(std::string_view(data, n));
                return true;
            });
        if (!failure.empty()) return Error{failure};
        if (!res) {
            return Error{http::describeClientError(res.error(), cli.get_openssl_verify_result())};
        }
        if (res->status != 200) return makeError("HTTP status {}", res->status);
        return hash.finalHex();
    } catch (const std::exception& e) {
        return makeError("download failed: {}", e.what());
    }
}

}  // namespace vigil::agent::fetch
