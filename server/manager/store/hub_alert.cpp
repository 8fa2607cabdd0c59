// Hub alert JSON -> Alert.
#include "server/manager/store/hub_alert.h"

#include <nlohmann/json.hpp>

namespace vigil::manager {

namespace {

std::string stringField(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t integerField(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

}  // namespace

Result<Alert> alertFromHubJson(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return makeError("alert: not a JSON object");
    Alert a;
    a.alert_id = stringField(j, "alert_id");
    a.rule_id = stringField(j, "rule_id");
    a.agent_id = stringField(j, "agent_id");
    for (auto [value, name] : {std::pair{&a.alert_id, "alert_id"}, std::pair{&a.rule_id, "rule_id"},
                               std::pair{&a.agent_id, "agent_id"}}) {
        if (value->empty()) return makeError("alert: no {}", name);
    }
    const std::string severity = stringField(j, "severity");
    auto parsed = parseSeverity(severity);
    if (!parsed) return makeError("alert {}: unknown severity '{}'", a.alert_id, severity);
    a.severity = *parsed;
    a.rule_name = stringField(j, "rule_name");
    a.hostname = stringField(j, "hostname");
    a.data_type = static_cast<int32_t>(integerField(j, "data_type"));
    a.time_ms = integerField(j, "time") * 1000;
    a.hub_time_ms = integerField(j, "hub_time");
    if (auto m = j.find("mitre"); m != j.end() && m->is_array()) {
        for (const auto& id : *m) {
            if (id.is_string()) a.mitre.push_back(id.get<std::string>());
        }
    }
    if (auto f = j.find("fields"); f != j.end() && f->is_object()) {
        a.argv = stringField(*f, "argv");
        if (a.argv.empty()) a.argv = stringField(*f, "exe");
        if (a.argv.size() > kMaxAlertArgv) {
            size_t cut = kMaxAlertArgv;  // on a character boundary: PostgreSQL wants UTF-8
            while (cut > 0 && (static_cast<unsigned char>(a.argv[cut]) & 0xC0) == 0x80) --cut;
            a.argv.resize(cut);
        }
    }
    a.json = std::string(text);
    return a;
}

}  // namespace vigil::manager
