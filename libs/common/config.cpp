// YAML configuration reader: typed getters that collect positioned problems.
#include "libs/common/config.h"

#include <cctype>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vigil::config {

std::string Problem::toString() const {
    std::string out = file.empty() ? std::string("config") : file;
    if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
    out += ": ";
    if (!key.empty()) out += "key '" + key + "': ";
    out += message;
    return out;
}

std::string Problems::toString() const {
    std::string out;
    for (const auto& p : list_) {
        if (!out.empty()) out += "\n";
        out += p.toString();
    }
    return out;
}

Node::Node(YAML::Node node, std::string path, std::string file, std::shared_ptr<Problems> problems)
    : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)), problems_(std::move(problems)) {}

std::string Node::keyPath(std::string_view key) const {
    if (path_.empty()) return std::string(key);
    if (key.empty()) return path_;
    return path_ + "." + std::string(key);
}

YAML::Node Node::get(std::string_view key) const {
    if (!node_ || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    for (auto it = node_.begin(); it != node_.end(); ++it) {
        if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
    }
    return YAML::Node(YAML::NodeType::Undefined);
}

void Node::report(const YAML::Node& at, std::string_view key, std::string message) const {
    Problem p;
    p.file = file_;
    const YAML::Node& pos = (at && at.IsDefined()) ? at : node_;
    if (pos && pos.IsDefined() && pos.Mark().line >= 0) {
        p.line = pos.Mark().line + 1;
        p.column = pos.Mark().column + 1;
    }
    p.key = keyPath(key);
    p.message = std::move(message);
    problems_->add(std::move(p));
}

void Node::problem(std::string_view key, std::string message) const {
    report(key.empty() ? node_ : get(key), key, std::move(message));
}

bool Node::has(std::string_view key) const {
    YAML::Node n = get(key);
    return n.IsDefined() && !n.IsNull();
}

Node Node::child(std::string_view key) const {
    YAML::Node n = get(key);
    if (n.IsDefined() && !n.IsNull() && !n.IsMap()) {
        report(n, key, "must be a mapping");
        return Node(YAML::Node(YAML::NodeType::Map), keyPath(key), file_, problems_);
    }
    if (!n.IsDefined() || n.IsNull()) n = YAML::Node(YAML::NodeType::Map);
    return Node(n, keyPath(key), file_, problems_);
}

std::string Node::str(std::string_view key, std::string fallback) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    if (!n.IsScalar()) {
        report(n, key, "must be a string");
        return fallback;
    }
    return n.Scalar();
}

int64_t Node::integer(std::string_view key, int64_t fallback, int64_t min, int64_t max) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    const std::string s = n.IsScalar() ? n.Scalar() : std::string();
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!n.IsScalar() || ec != std::errc() || ptr != s.data() + s.size()) {
        report(n, key, "must be an integer, got '" + s + "'");
        return fallback;
    }
    if (v < min || v > max) {
        report(n, key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
        return fallback;
    }
    return v;
}

double Node::number(std::string_view key, double fallback, double min, double max) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    const std::string s = n.IsScalar() ? n.Scalar() : std::string();
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (!n.IsScalar() || s.empty() || end != s.c_str() + s.size()) {
        report(n, key, "must be a number, got '" + s + "'");
        return fallback;
    }
    if (v < min || v > max) {
        std::ostringstream os;
        os << "must be between " << min << " and " << max << ", got " << s;
        report(n, key, os.str());
        return fallback;
    }
    return v;
}

bool Node::boolean(std::string_view key, bool fallback) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    const std::string s = n.IsScalar() ? n.Scalar() : std::string();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    report(n, key, "must be true or false, got '" + s + "'");
    return fallback;
}

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    double value = std::strtod(std::string(text.substr(0, i)).c_str(), nullptr);
    std::string_view unit = text.substr(i);
    double ms;
    if (unit.empty() || unit == "s") ms = value * 1000;
    else if (unit == "ms") ms = value;
    else if (unit == "m" || unit == "min") ms = value * 60'000;
    else if (unit == "h") ms = value * 3'600'000;
    else if (unit == "d") ms = value * 86'400'000;
    else return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

std::optional<uint64_t> parseSize(std::string_view text) {
    if (text.empty()) return std::nullopt;
    size_t i = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == 0) return std::nullopt;
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, value);
    if (ec != std::errc()) return std::nullopt;
    std::string unit(text.substr(i));
    for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    uint64_t mult;
    if (unit.empty() || unit == "b") mult = 1;
    else if (unit == "k" || unit == "kib") mult = 1ull << 10;
    else if (unit == "m" || unit == "mib") mult = 1ull << 20;
    else if (unit == "g" || unit == "gib") mult = 1ull << 30;
    else if (unit == "kb") mult = 1000;
    else if (unit == "mb") mult = 1000 * 1000;
    else if (unit == "gb") mult = 1000ull * 1000 * 1000;
    else return std::nullopt;
    if (value != 0 && mult > UINT64_MAX / value) return std::nullopt;
    return value * mult;
}

std::chrono::milliseconds Node::duration(std::string_view key, std::chrono::milliseconds fallback,
                                         std::chrono::milliseconds min) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    const std::string s = n.IsScalar() ? n.Scalar() : std::string();
    auto d = parseDuration(s);
    if (!n.IsScalar() || !d) {
        report(n, key, "must be a duration like 100ms, 5s, 2m or 1h, got '" + s + "'");
        return fallback;
    }
    if (*d < min) {
        report(n, key, "must be at least " + std::to_string(min.count()) + "ms, got " + s);
        return fallback;
    }
    return *d;
}

uint64_t Node::size(std::string_view key, uint64_t fallback, uint64_t min, uint64_t max) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    const std::string s = n.IsScalar() ? n.Scalar() : std::string();
    auto v = parseSize(s);
    if (!n.IsScalar() || !v) {
        report(n, key, "must be a size like 512, 64KiB, 16MiB or 1GiB, got '" + s + "'");
        return fallback;
    }
    if (*v < min || *v > max) {
        report(n, key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                           " bytes, got " + s);
        return fallback;
    }
    return *v;
}

std::vector<std::string> Node::strList(std::string_view key) const {
    std::vector<std::string> out;
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return out;
    if (n.IsScalar()) {
        out.push_back(n.Scalar());
        return out;
    }
    if (!n.IsSequence()) {
        report(n, key, "must be a list of strings");
        return out;
    }
    for (const auto& item : n) {
        if (!item.IsScalar()) {
            report(item, key, "every entry must be a string");
            continue;
        }
        out.push_back(item.Scalar());
    }
    return out;
}

std::vector<Node> Node::mapList(std::string_view key) const {
    std::vector<Node> out;
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsSequence()) {
        report(n, key, "must be a list");
        return out;
    }
    for (size_t i = 0; i < n.size(); ++i) {
        std::string item_path = keyPath(key) + "[" + std::to_string(i) + "]";
        if (!n[i].IsMap()) {
            report(n[i], key, "item " + std::to_string(i) + " must be a mapping");
            continue;
        }
        out.emplace_back(n[i], item_path, file_, problems_);
    }
    return out;
}

std::string Node::oneOf(std::string_view key, std::string fallback,
                        std::initializer_list<std::string_view> choices) const {
    YAML::Node n = get(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    std::string v = str(key, fallback);
    for (auto c : choices) {
        if (v == c) return v;
    }
    std::string list;
    for (auto c : choices) {
        if (!list.empty()) list += ", ";
        list += c;
    }
    report(n, key, "must be one of " + list + ", got '" + v + "'");
    return fallback;
}

std::vector<std::string> Node::keys() const {
    std::vector<std::string> out;
    if (!node_ || !node_.IsMap()) return out;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
        if (it->first.IsScalar()) out.push_back(it->first.Scalar());
    }
    return out;
}

void Node::allowOnly(std::initializer_list<std::string_view> known) const {
    if (!node_ || !node_.IsMap()) return;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
        std::string k = it->first.IsScalar() ? it->first.Scalar() : std::string("?");
        bool found = false;
        for (auto kk : known) found = found || (kk == k);
        if (!found) {
            Problem p;
            p.file = file_;
            p.line = it->first.Mark().line + 1;
            p.column = it->first.Mark().column + 1;
            p.key = keyPath(k);
            p.message = "unknown key";
            problems_->add(std::move(p));
        }
    }
}

Result<Document> Document::loadString(const std::string& text, const std::string& name) {
    try {
        YAML::Node yaml = YAML::Load(text);
        if (yaml.IsDefined() && !yaml.IsNull() && !yaml.IsMap()) {
            return makeError("{}: the document must be a mapping of keys to values", name);
        }
        if (!yaml.IsDefined() || yaml.IsNull()) yaml = YAML::Node(YAML::NodeType::Map);
        return Document(yaml, name);
    } catch (const YAML::Exception& e) {
        return makeError("{}:{}:{}: YAML syntax error: {}", name, e.mark.line + 1, e.mark.column + 1, e.msg);
    }
}

Result<Document> Document::loadFile(const std::string& path) {
    std::ifstream in(path);
    if (!in) return makeError("cannot read config file {}: {}", path, std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    return loadString(ss.str(), path);
}

}  // namespace vigil::config
