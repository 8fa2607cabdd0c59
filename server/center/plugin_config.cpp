// Plugin config sets from a YAML file.
#include "server/center/plugin_config.h"

#include <optional>
#include <set>

#include "libs/common/config.h"
#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::center {
namespace {

bool validName(const std::string& n) {
    if (n.empty() || n.size() > 128) return false;
    for (char c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
    }
    return true;
}

bool hex64(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
}

wire::CommandConfig readEntry(const config::Node& n, bool is_agent) {
    n.allowOnly({"name", "type", "version", "sha256", "signature", "download_urls", "detail"});
    wire::CommandConfig c;
    c.name = n.str("name");
    c.type = n.oneOf("type", "exec", {"exec", "tar.gz"});
    c.version = n.str("version");
    c.sha256 = n.str("sha256");
    c.signature = n.str("signature");
    c.download_urls = n.strList("download_urls");
    c.detail = n.str("detail");
    if (!is_agent && !validName(c.name)) n.problem("name", "must be 1-128 of [A-Za-z0-9_-], got '" + c.name + "'");
    if (c.version.empty()) n.problem("version", "is required");
    if (!hex64(c.sha256)) n.problem("sha256", "must be 64 hex digits");
    if (!c.signature.empty() && !hex64(c.signature)) n.problem("signature", "must be 64 hex digits");
    for (const auto& u : c.download_urls) {
        if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
            n.problem("download_urls", "'" + u + "' must be an http:// or https:// URL");
        }
    }
    if (is_agent && c.download_urls.empty()) n.problem("download_urls", "an agent upgrade needs at least one URL");
    return c;
}

std::vector<wire::CommandConfig> readList(const config::Node& n, const char* key) {
    std::vector<wire::CommandConfig> out;
    std::set<std::string> names;
    for (const auto& item : n.mapList(key)) {
        auto c = readEntry(item, false);
        if (!names.insert(c.name).second) item.problem("name", "plugin '" + c.name + "' is listed twice");
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace

std::string configDigest(const std::vector<wire::CommandConfig>& configs) {
    wire::AgentCommand cmd;
    cmd.configs = configs;
    return crypto::sha256Hex(wire::encodeCommand(cmd));
}

Result<PluginConfigData> FilePluginConfig::parse(const std::string& text, const std::string& name,
                                                 const std::string& product) {
    auto doc = config::Document::loadString(text, name);
    if (!doc.ok()) return doc.error();
    config::Node root = doc->root();
    root.allowOnly({"plugins", "agent", "agents"});
    PluginConfigData out;
    out.defaults = readList(root, "plugins");
    std::optional<wire::CommandConfig> agent;
    if (root.has("agent")) {
        auto a = readEntry(root.child("agent"), true);
        a.name = product;
        agent = a;
    }
    config::Node agents = root.child("agents");
    for (const auto& id : agents.keys()) {
        config::Node entry = agents.child(id);
        entry.allowOnly({"plugins"});
        out.per_agent[id] = readList(entry, "plugins");
    }
    if (!doc->problems().empty()) return Error{doc->problems().toString()};
    if (agent) {
        out.defaults.push_back(*agent);
        for (auto& [id, list] : out.per_agent) list.push_back(*agent);
    }
    out.text = text;
    return out;
}

Result<std::unique_ptr<FilePluginConfig>> FilePluginConfig::open(const std::string& path, const std::string& product) {
    auto src = std::make_unique<FilePluginConfig>();
    src->path_ = path;
    src->product_ = product;
    if (path.empty()) return src;
    auto changed = src->reload();
    if (!changed.ok()) return changed.error();
    return src;
}

std::vector<wire::CommandConfig> FilePluginConfig::configFor(const std::string& agent_id) const {
    std::lock_guard lock(mu_);
    auto it = data_.per_agent.find(agent_id);
    return it != data_.per_agent.end() ? it->second : data_.defaults;
}

Result<bool> FilePluginConfig::reload() {
    if (path_.empty()) return false;
    // The file is small: compare its content (mtime alone misses two edits within one clock tick).
    auto text = fs::readFile(path_, 4 << 20);
    if (!text.ok()) return text.error();
    {
        std::lock_guard lock(mu_);
        if (*text == data_.text && !data_.text.empty()) return false;
    }
    auto parsed = parse(*text, path_, product_);
    if (!parsed.ok()) return parsed.error();
    std::lock_guard lock(mu_);
    if (parsed->text == data_.text) return false;
    data_ = std::move(*parsed);
    return true;
}

}  // namespace vigil::center
