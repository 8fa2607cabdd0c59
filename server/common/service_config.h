// Configuration helpers shared by the servers (discovery, center, manager): host:port
// addresses, the `auth:` section (AK/SK pairs inline or from a keys file of "ak: sk" lines)
// and the verifier built from it. Functions are stateless and thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "libs/common/config.h"
#include "libs/common/result.h"
#include "server/common/auth.h"

namespace vigil::server {

struct HostPort {
    std::string host;  // IPv6 without brackets
    int port = 0;
    std::string toString() const;  // "host:port" or "[v6]:port"
};

// Parses "host:port" or "[v6]:port" (port 0..65535 when allow_zero, else 1..65535).
Result<HostPort> parseHostPort(std::string_view text, bool allow_zero = false);

// Reads a keys file: a YAML mapping of access key to secret key, i.e. lines "ak: sk".
Result<std::map<std::string, std::string>> loadKeysFile(const std::string& path);

struct AuthSettings {
    std::map<std::string, std::string> keys;  // access key -> secret key
    bool disabled = false;                    // accept unsigned writes (tests, demos only)
    std::chrono::seconds window{60};          // accepted clock skew of TimeStamp
};

// Reads an `auth:` section:
//   auth:
//     keys: {ak1: sk1}           # inline pairs
//     keys_file: /etc/vigil/keys.yaml   # more pairs, "ak: sk" per line
//     disabled: false
//     window: 60s
// Problems (unreadable keys file, empty secret, unknown key) are added to the node's document.
AuthSettings readAuthSettings(const config::Node& auth);

// Reads a `log:` section (level: trace..off, default info; file: empty = stderr) into `level`
// and `file`, then applies the --log-level and --log-file flags when set ("-" = stderr). A bad
// --log-level value is added to `flag_problems` (source "command line").
void readLogSettings(const config::Node& log, const std::string& flag_level,
                     const std::string& flag_file, std::string& level, std::string& file,
                     config::Problems& flag_problems);

// The verifier for ApiOptions::verifier.
std::shared_ptr<const RequestVerifier> makeVerifier(const AuthSettings& settings);

// The key a service signs its own requests with: `access_key` when set (it must be one of
// `keys`), else the first key; empty when there are none.
Result<AkSk> signingKey(const std::map<std::string, std::string>& keys,
                        const std::string& access_key);

}  // namespace vigil::server
