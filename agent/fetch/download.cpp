// vigil-fetch downloads over cpp-httplib (HTTP and HTTPS with OpenSSL).
#include "agent/fetch/download.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>

#include <httplib.h>

#include "libs/common/crypto.h"

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

std::string describe(httplib::Error e) {
    switch (e) {
        case httplib::Error::Connection:
            return "cannot connect";
        case httplib::Error::ConnectionTimeout:
            return "connection timed out";
        case httplib::Error::Read:
            return "reading the response failed (closed or timed out)";
        case httplib::Error::Write:
            return "sending the request failed";
        case httplib::Error::ExceedRedirectCount:
            return "too many redirects";
        case httplib::Error::SSLConnection:
            return "TLS handshake failed";
        case httplib::Error::SSLLoadingCerts:
            return "cannot load the CA certificates";
        case httplib::Error::SSLServerVerification:
            return "TLS server certificate verification failed (wrong CA or host name)";
        default:
            return httplib::to_string(e);
    }
}

}  // namespace

Result<ParsedUrl> parseUrl(const std::string& url) {
    ParsedUrl out;
    size_t sep = url.find("://");
    if (sep == std::string::npos) return makeError("'{}' is not an http(s) URL", url);
    out.scheme = url.substr(0, sep);
    for (char& c : out.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (out.scheme != "http" && out.scheme != "https") {
        return makeError("unsupported URL scheme '{}' in {} (http or https only)", out.scheme, url);
    }
    size_t host_start = sep + 3;
    size_t path_start = url.find_first_of("/?#", host_start);
    std::string authority = url.substr(
        host_start, path_start == std::string::npos ? std::string::npos : path_start - host_start);
    if (authority.empty()) return makeError("no host in URL {}", url);
    if (authority.find('@') != std::string::npos) {
        return makeError("user info in URLs is not supported: {}", url);
    }
    for (char c : authority) {
        if (std::isspace(static_cast<unsigned char>(c)) ||
            std::iscntrl(static_cast<unsigned char>(c))) {
            return makeError("bad character in the host of {}", url);
        }
    }
    out.origin = out.scheme + "://" + authority;
    out.target = path_start == std::string::npos ? "/" : url.substr(path_start);
    if (out.target.front() != '/') out.target.insert(0, "/");
    if (auto hash = out.target.find('#'); hash != std::string::npos) out.target.resize(hash);
    return out;
}

Result<std::string> downloadTo(const std::string& url, int fd, const DownloadOptions& options) {
    auto parsed = parseUrl(url);
    if (!parsed.ok()) return parsed.error();
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    try {
        httplib::Client cli(parsed->origin);
        if (!cli.is_valid()) return makeError("cannot make an HTTP client for {}", parsed->origin);
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
        if (!res) return makeError("{}", describe(res.error()));
        if (res->status != 200) return makeError("HTTP status {}", res->status);
        return hash.finalHex();
    } catch (const std::exception& e) {
        return makeError("download failed: {}", e.what());
    }
}

}  // namespace vigil::agent::fetch
