// Plugin sets polled from vigil-manager.
#include "server/center/manager_plugin_config.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

namespace vigil::center {

ManagerPluginConfig::ManagerPluginConfig(ManagerPluginConfigOptions options)
    : options_(std::move(options)) {}

std::vector<wire::CommandConfig> ManagerPluginConfig::configFor(const std::string& agent_id) const {
    std::lock_guard lock(mu_);
    auto it = data_.per_agent.find(agent_id);
    return it != data_.per_agent.end() ? it->second : data_.defaults;
}

bool ManagerPluginConfig::loaded() const {
    std::lock_guard lock(mu_);
    return loaded_;
}

Result<bool> ManagerPluginConfig::reload() {
    constexpr const char* kPath = "/internal/v1/plugin-config";
    httplib::Client client(options_.url);
    client.set_connection_timeout(options_.timeout);
    client.set_read_timeout(options_.timeout);
    client.set_write_timeout(options_.timeout);
    httplib::Headers headers;
    if (!options_.key.access_key.empty()) {
        const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        auto s = server::sign(options_.key, "GET", kPath, "", "", now);
        headers.emplace("AccessKey", s.access_key);
        headers.emplace("TimeStamp", s.timestamp);
        headers.emplace("Signature", s.signature);
    }
    auto res = client.Get(kPath, headers);
    if (!res) return makeError("manager {}: {}", options_.url, httplib::to_string(res.error()));
    auto doc = nlohmann::json::parse(res->body, nullptr, false);
    std::string msg = doc.is_object() && doc.contains("msg") && doc["msg"].is_string()
                          ? doc["msg"].get<std::string>()
                          : res->body.substr(0, 200);
    // 404: the manager has no host group yet, a normal state: nothing to apply, no error.
    if (res->status == 404) return false;
    if (res->status != 200 || !doc.is_object() || !doc.contains("data") ||
        !doc["data"].is_object()) {
        return makeError("manager {}{}: HTTP {}: {}", options_.url, kPath, res->status, msg);
    }
    // JSON is YAML: the file parser checks the entries the same way.
    const std::string text = doc["data"].dump();
    {
        std::lock_guard lock(mu_);
        if (loaded_ && text == data_.text) return false;
    }
    auto parsed = FilePluginConfig::parse(text, options_.url + kPath, options_.product);
    if (!parsed.ok()) return parsed.error();
    std::lock_guard lock(mu_);
    data_ = std::move(*parsed);
    loaded_ = true;
    return true;
}

}  // namespace vigil::center
