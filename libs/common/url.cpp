// URL splitting and checks shared by vigil-fetch and the hub's outputs.
#include "libs/common/url.h"

#include <cctype>
#include <charconv>
#include <string_view>

namespace vigil::url {
namespace {

// Reads the scheme (lower case) of scheme://... into url.scheme; returns where the authority
// starts. `form` says what the text should look like, for the error.
Result<size_t> readScheme(const std::string& text, std::string_view form, Url& url) {
    const size_t sep = text.find("://");
    if (sep == std::string::npos || sep == 0) return makeError("'{}' is not {}", text, form);
    url.scheme = text.substr(0, sep);
    for (char& c : url.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return sep + 3;
}

// Reads host[:port] from `start` up to the first '/', '?' or '#' into url.host and url.port
// (default_port when absent), and the rest of the text into url.target.
Status readAuthority(const std::string& text, size_t start, int default_port, Url& url) {
    const size_t rest = text.find_first_of("/?#", start);
    const std::string authority =
        text.substr(start, rest == std::string::npos ? std::string::npos : rest - start);
    url.target = rest == std::string::npos ? std::string() : text.substr(rest);
    if (authority.empty()) return makeError("no host in '{}'", text);
    if (authority.find('@') != std::string::npos) {
        return makeError("user info in '{}' is not supported", text);
    }
    for (char c : authority) {
        if (std::isspace(static_cast<unsigned char>(c)) ||
            std::iscntrl(static_cast<unsigned char>(c))) {
            return makeError("bad character in the host of '{}'", text);
        }
    }
    std::string_view port_text;
    if (authority.front() == '[') {
        const size_t close = authority.find(']');
        if (close == std::string::npos) return makeError("unclosed '[' in '{}'", text);
        url.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') return makeError("bad host in '{}'", text);
            port_text = std::string_view(authority).substr(close + 2);
        }
    } else {
        const size_t colon = authority.rfind(':');
        url.host = authority.substr(0, colon);
        if (colon != std::string::npos) port_text = std::string_view(authority).substr(colon + 1);
        if (url.host.find(':') != std::string::npos) {
            return makeError("IPv6 address without brackets in '{}'", text);
        }
    }
    if (url.host.empty()) return makeError("no host in '{}'", text);
    url.port = default_port;
    if (!port_text.empty() || authority.back() == ':') {
        int port = 0;
        auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc() || p != port_text.data() + port_text.size() || port < 1 ||
            port > 65535) {
            return makeError("bad port '{}' in '{}'", port_text, text);
        }
        url.port = port;
    }
    return okStatus();
}

}  // namespace

std::string Url::origin() const {
    const bool v6 = host.find(':') != std::string::npos;
    return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Url> split(const std::string& text, int default_port) {
    Url url;
    auto start = readScheme(text, "an address of the form scheme://host[:port]", url);
    if (!start.ok()) return start.error();
    VIGIL_TRY(readAuthority(text, *start, default_port, url));
    return url;
}

Result<Url> parseHttp(const std::string& text) {
    Url url;
    auto start = readScheme(text, "an http or https URL", url);
    if (!start.ok()) return start.error();
    if (url.scheme != "http" && url.scheme != "https") {
        return makeError("unsupported URL scheme '{}' in '{}' (http or https)", url.scheme, text);
    }
    VIGIL_TRY(readAuthority(text, *start, url.scheme == "https" ? 443 : 80, url));
    if (auto hash = url.target.find('#'); hash != std::string::npos) url.target.resize(hash);
    if (url.target.empty() || url.target.front() != '/') url.target.insert(0, "/");
    return url;
}

}  // namespace vigil::url
