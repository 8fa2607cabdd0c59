// URLs of the form scheme://host[:port][/path][?query], split and checked in one place for the
// processes that take them from configuration or the command line (vigil-fetch, the hub's
// webhook and syslog outputs).
#pragma once

#include <string>

#include "libs/common/result.h"

namespace vigil::url {

// A URL split up. A value type.
struct Url {
    std::string scheme;  // lower case
    std::string host;    // a name or an address, IPv6 without brackets
    int port = 0;
    std::string target;  // what follows host[:port] (path, query); for http(s), "/" at least
    // scheme://host:port (brackets around IPv6), as cpp-httplib's Client wants it.
    std::string origin() const;
};

// Splits scheme://host[:port][target], any scheme; port is default_port when the text names
// none. Refuses an empty host, user info, spaces and control characters in the host, IPv6
// addresses without brackets and ports outside 1-65535.
Result<Url> split(const std::string& text, int default_port);

// http://host[:port][/path][?query][#fragment] or https://... as split() takes them: port 80 or
// 443 by default, the fragment dropped, target "/" at least. An unsupported scheme is the error
// named even when the rest is malformed too (file:///etc/passwd).
Result<Url> parseHttp(const std::string& text);

}  // namespace vigil::url
