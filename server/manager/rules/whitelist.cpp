// Whitelist rules from alerts, written as Vigil YAML with yaml-cpp's emitter (values quoted).
#include "server/manager/rules/whitelist.h"

#include <yaml-cpp/yaml.h>

#include "libs/common/crypto.h"

namespace vigil::manager::rules {

namespace {

std::string fieldsHash(const WhitelistSpec& spec) {
    std::string text = spec.rule_id + '\0' + std::to_string(spec.data_type);
    for (const auto& [k, v] : spec.fields) text += '\0' + k + '\0' + v;
    return crypto::sha256Hex(text).substr(0, 12);
}

// For a YAML comment: printable ASCII only (an agent id may hold anything).
std::string printable(const std::string& text) {
    std::string out;
    for (unsigned char c : text) out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
    return out;
}

}  // namespace

std::string whitelistId(const WhitelistSpec& spec) {
    return "wl_" + spec.rule_id + "_" + fieldsHash(spec);
}

std::string whitelistPackName(const WhitelistSpec& spec) {
    return "whitelist-" + fieldsHash(spec);
}

Result<std::string> whitelistYaml(const WhitelistSpec& spec) {
    if (spec.rule_id.empty()) return makeError("the alert has no rule id");
    if (spec.fields.empty()) return makeError("no field to match");
    YAML::Emitter out;
    out << YAML::Comment("Whitelist made by vigil-manager from alert " + printable(spec.alert_id) +
                         " (by " + printable(spec.created_by) + ")");
    out << YAML::BeginMap << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq;
    out << YAML::BeginMap;
    out << YAML::Key << "id" << YAML::Value << YAML::DoubleQuoted << whitelistId(spec);
    out << YAML::Key << "name" << YAML::Value << YAML::DoubleQuoted
        << "Whitelist of " + spec.rule_id + " from alert " + spec.alert_id;
    out << YAML::Key << "data_type" << YAML::Value << spec.data_type;
    out << YAML::Key << "severity" << YAML::Value << "info";
    out << YAML::Key << "description" << YAML::Value << YAML::DoubleQuoted << spec.comment;
    out << YAML::Key << "whitelist" << YAML::Value << true;
    out << YAML::Key << "applies_to" << YAML::Value << YAML::Flow << YAML::BeginSeq
        << YAML::DoubleQuoted << spec.rule_id << YAML::EndSeq;
    out << YAML::Key << "checks" << YAML::Value << YAML::BeginMap;
    size_t n = 0;
    for (const auto& [field, value] : spec.fields) {
        out << YAML::Key << "f" + std::to_string(++n) << YAML::Value << YAML::Flow
            << YAML::BeginMap;
        out << YAML::Key << "field" << YAML::Value << YAML::DoubleQuoted << field;
        if (value.empty())
            out << YAML::Key << "is_null" << YAML::Value << true;
        else
            out << YAML::Key << "equals" << YAML::Value << YAML::DoubleQuoted << value;
        out << YAML::EndMap;
    }
    out << YAML::EndMap;  // checks
    out << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
    if (!out.good()) return makeError("whitelist YAML: {}", out.GetLastError());
    return std::string(out.c_str()) + "\n";
}

}  // namespace vigil::manager::rules
