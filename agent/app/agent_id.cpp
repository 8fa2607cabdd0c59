// Agent ID resolution and persistence.
#include "agent/app/agent_id.h"

#include <dirent.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <vector>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::agent {
namespace {

std::string trimmed(const std::string& path) {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }), s.end());
    return s;
}

std::string firstMac(const std::string& net_dir) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(net_dir.c_str())) {
        while (auto* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != ".." && n != "lo") names.push_back(n);
        }
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
        std::string mac = trimmed(net_dir + "/" + n + "/address");
        if (!mac.empty() && mac != "00:00:00:00:00:00") return mac;
    }
    return {};
}

std::string asUuid(const std::string& hex32) {
    return hex32.substr(0, 8) + "-" + hex32.substr(8, 4) + "-" + hex32.substr(12, 4) + "-" + hex32.substr(16, 4) +
           "-" + hex32.substr(20, 12);
}

bool validId(const std::string& id) {
    if (id.empty() || id.size() > 128 || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
    for (char c : id) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' && c != '-') return false;
    }
    return true;
}

}  // namespace

Result<std::string> resolveAgentId(const std::string& work_dir, const std::string& override_id,
                                   const AgentIdSources& sources) {
    const std::string path = fs::joinPath(work_dir, "agent-id");
    if (!override_id.empty()) {
        if (!validId(override_id)) {
            return makeError("agent id '{}' is invalid: use 1-128 of [A-Za-z0-9._:-], starting alphanumeric",
                             override_id);
        }
        if (trimmed(path) != override_id) {
            VIGIL_TRY(fs::makeDirs(work_dir, 0700));
            VIGIL_TRY(fs::writeFileAtomic(path, override_id + "\n", 0644));
        }
        return override_id;
    }
    std::string persisted = trimmed(path);
    if (!persisted.empty() && validId(persisted)) return persisted;

    std::string material;
    for (const auto& part : {trimmed(sources.machine_id_file), trimmed(sources.product_uuid_file),
                             firstMac(sources.net_class_dir)}) {
        if (!part.empty()) material += part + "|";
    }
    std::string hex = material.empty() ? crypto::randomHex(16) : crypto::sha256Hex(material).substr(0, 32);
    std::string id = asUuid(hex);
    VIGIL_TRY(fs::makeDirs(work_dir, 0700));
    VIGIL_TRY(fs::writeFileAtomic(path, id + "\n", 0644));
    return id;
}

}  // namespace vigil::agent
