// Server configuration helpers: addresses, AK/SK keys inline or from a keys file.
#include "server/common/service_config.h"

#include <cctype>
#include <charconv>

#include "libs/common/log.h"

namespace vigil::server {
namespace {

bool validKeyName(const std::string& s) {
    if (s.empty() || s.size() > 256) return false;
    for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c)) ||
            std::iscntrl(static_cast<unsigned char>(c)))
            return false;
    }
    return true;
}

// Adds the pairs of a YAML mapping node; problems go through `problem(key, message)`.
template <typename Report>
void addPairs(const YAML::Node& map, std::map<std::string, std::string>& out, Report&& problem) {
    if (!map || map.IsNull()) return;
    if (!map.IsMap()) {
        problem("", "must be a mapping of access key to secret key (ak: sk)");
        return;
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
        if (!it->first.IsScalar() || !validKeyName(it->first.Scalar())) {
            problem("", "access keys must be non-empty strings without spaces");
            continue;
        }
        const std::string ak = it->first.Scalar();
        if (!it->second.IsScalar() || it->second.Scalar().empty()) {
            problem(ak, "the secret key must be a non-empty string");
            continue;
        }
        const std::string sk = it->second.Scalar();
        if (sk.size() < 16) {
            log::get("config")->warn(
                "secret key of access key '{}' has only {} characters; use 16 or more "
                "random characters",
                ak, sk.size());
        }
        out[ak] = sk;
    }
}

}  // namespace

std::string HostPort::toString() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
}

Result<HostPort> parseHostPort(std::string_view text, bool allow_zero) {
    std::string_view h, p;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return makeError("'{}' is not host:port ([v6]:port for IPv6)", text);
        h = text.substr(1, close - 1);
        p = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return makeError("'{}' is not host:port", text);
        h = text.substr(0, colon);
        p = text.substr(colon + 1);
        if (h.find(':') != std::string_view::npos)
            return makeError("'{}': write IPv6 addresses as [v6]:port", text);
    }
    int port = -1;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (h.empty() || ec != std::errc() || ptr != p.data() + p.size() ||
        port < (allow_zero ? 0 : 1) || port > 65535)
        return makeError("'{}' is not host:port with a port in {}..65535", text,
                         allow_zero ? 0 : 1);
    for (char c : h) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' &&
            c != ':' && c != '%')
            return makeError(
                "'{}': the host has a character that is not allowed in a name or address", text);
    }
    return HostPort{std::string(h), port};
}

Result<std::map<std::string, std::string>> loadKeysFile(const std::string& path) {
    auto doc = config::Document::loadFile(path);
    if (!doc.ok()) return doc.error();
    std::map<std::string, std::string> keys;
    std::string first_problem;
    addPairs(doc->root().yaml(), keys, [&](const std::string& key, const std::string& message) {
        if (first_problem.empty())
            first_problem = key.empty() ? message : "key '" + key + "': " + message;
    });
    if (!first_problem.empty()) return makeError("keys file {}: {}", path, first_problem);
    return keys;
}

AuthSettings readAuthSettings(const config::Node& auth) {
    auth.allowOnly({"keys", "keys_file", "disabled", "window"});
    AuthSettings s;
    s.disabled = auth.boolean("disabled", false);
    s.window = std::chrono::duration_cast<std::chrono::seconds>(
        auth.duration("window", std::chrono::seconds(60), std::chrono::seconds(1)));
    if (auth.has("keys")) {
        const YAML::Node keys = auth.yaml()["keys"];
        addPairs(keys, s.keys, [&](const std::string& key, const std::string& message) {
            auth.problem("keys", key.empty() ? message : "'" + key + "': " + message);
        });
    }
    const std::string file = auth.str("keys_file");
    if (!file.empty()) {
        auto loaded = loadKeysFile(file);
        if (!loaded.ok()) {
            auth.problem("keys_file", loaded.message());
        } else {
            for (auto& [ak, sk] : *loaded) s.keys[ak] = sk;
        }
    }
    return s;
}

std::shared_ptr<const RequestVerifier> makeVerifier(const AuthSettings& settings) {
    return std::make_shared<const RequestVerifier>(settings.keys, settings.window.count());
}

Result<AkSk> signingKey(const std::map<std::string, std::string>& keys,
                        const std::string& access_key) {
    if (access_key.empty())
        return keys.empty() ? AkSk{} : AkSk{keys.begin()->first, keys.begin()->second};
    auto it = keys.find(access_key);
    if (it == keys.end())
        return makeError("access key '{}' is not among the configured keys", access_key);
    return AkSk{it->first, it->second};
}

void readLogSettings(const config::Node& log, const std::string& flag_level,
                     const std::string& flag_file, std::string& level, std::string& file,
                     config::Problems& flag_problems) {
    log.allowOnly({"level", "file"});
    level = log.oneOf("level", "info", {"trace", "debug", "info", "warn", "error", "off"});
    file = log.str("file");
    if (!flag_level.empty()) {
        level = flag_level;
        if (level != "trace" && level != "debug" && level != "info" && level != "warn" &&
            level != "error" && level != "off") {
            flag_problems.add(config::Problem{"command line", 0, 0, "--log-level",
                                              "must be trace, debug, info, warn, error or off"});
        }
    }
    if (!flag_file.empty()) file = flag_file == "-" ? std::string() : flag_file;
}

}  // namespace vigil::server
