// JSON encoding and validation of discovery instances and sync changes.
#include "server/discovery/codec.h"

#include <arpa/inet.h>

#include <cctype>

namespace vigil::discovery {
namespace {

using nlohmann::json;

bool validName(const std::string& s) {
    for (char c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ':' &&
            c != '-')
            return false;
    }
    return !s.empty();
}

bool validHost(const std::string& s) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1)
        return true;
    if (s.empty() || s.front() == '-' || s.front() == '.') return false;
    for (char c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
            return false;
    }
    return true;
}

}  // namespace

json instanceJson(const Instance& i, Health health) {
    return json{{"name", i.name},
                {"ip", i.ip},
                {"port", i.port},
                {"weight", i.weight},
                {"status", healthName(health)},
                {"create_at", i.create_at},
                {"update_at", i.update_at},
                {"extra", i.extra.is_object() ? i.extra : json::object()}};
}

json changeJson(const Change& c, int64_t now_ms) {
    json r{{"name", c.instance.name},
           {"ip", c.instance.ip},
           {"port", c.instance.port},
           {"age_ms", std::max<int64_t>(0, now_ms - c.at_ms)}};
    if (c.action == ChangeAction::kRegister) {
        r["weight"] = c.instance.weight;
        r["extra"] = c.instance.extra.is_object() ? c.instance.extra : json::object();
        r["create_at"] = c.instance.create_at;
        r["update_at"] = c.instance.update_at;
    }
    return json{{"action", c.action == ChangeAction::kRegister ? "REGISTER" : "EVICT"},
                {"registry", std::move(r)}};
}

Instance readInstance(server::JsonFields& f, bool with_load) {
    Instance i;
    i.name = f.string("name", true, kMaxNameBytes);
    if (f.ok() && !validName(i.name))
        f.fail("name", "may only contain letters, digits and _ . : -");
    i.ip = f.string("ip", true, kMaxIpBytes);
    if (f.ok() && !validHost(i.ip)) f.fail("ip", "must be an IP address or a host name");
    i.port = static_cast<int>(f.integer("port", true, 1, 65535));
    if (with_load) {
        i.weight = f.integer("weight", false, 0, 1'000'000'000, 0);
        if (const json* extra = f.object("extra", false)) {
            if (extra->dump(-1, ' ', false, json::error_handler_t::replace).size() > kMaxExtraBytes)
                f.fail("extra", "is larger than " + std::to_string(kMaxExtraBytes) + " bytes");
            else
                i.extra = *extra;
        }
    }
    return i;
}

}  // namespace vigil::discovery
