#include "plugins/driver/src/driver_config.h"

#include <algorithm>
#include <charconv>

#include "plugins/driver/src/bpf_source.h"

namespace vigil::driver {

namespace {

std::vector<std::string> splitList(const std::string& text, std::string_view seps) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : text) {
        if (seps.find(c) != std::string_view::npos) {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    for (auto& s : out) {
        size_t b = s.find_first_not_of(' ');
        size_t e = s.find_last_not_of(' ');
        s = b == std::string::npos ? "" : s.substr(b, e - b + 1);
    }
    out.erase(std::remove(out.begin(), out.end(), ""), out.end());
    return out;
}

Result<const EventSpec*> eventByNameOrNumber(const std::string& key, const std::string& item) {
    int number = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), number);
    for (const auto& spec : eventSpecs()) {
        if (item == spec.name) return &spec;
        if (ec == std::errc() && p == item.data() + item.size() && spec.data_type == number) {
            return &spec;
        }
    }
    std::string known;
    for (const auto& spec : eventSpecs()) {
        known += (known.empty() ? "" : ", ") + std::string(spec.name) + " (" +
                 std::to_string(spec.data_type) + ")";
    }
    return Error(key + ": unknown event '" + item + "'; known: " + known);
}

Result<uint64_t> eventMask(const std::string& key, const std::string& value) {
    uint64_t mask = 0;
    for (const auto& item : splitList(value, ":,; ")) {
        auto spec = eventByNameOrNumber(key, item);
        if (!spec.ok()) return spec.error();
        mask |= 1ULL << (*spec)->slot;
    }
    return mask;
}

Result<bool> boolValue(const std::string& key, const std::string& v) {
    if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "0" || v == "no" || v == "off" || v.empty()) return false;
    return Error(key + ": expected true or false, got '" + v + "'");
}

}  // namespace

uint64_t defaultEnabledEvents() {
    uint64_t mask = 0;
    for (const auto& spec : eventSpecs()) {
        if (spec.default_on) mask |= 1ULL << spec.slot;
    }
    return mask;
}

Result<DriverConfig> parseDriverConfig(const sdk::PluginConfig& detail, const DriverConfig* base) {
    DriverConfig cfg;
    if (base) {
        cfg = *base;
    } else {
        cfg.enabled = defaultEnabledEvents();
    }
    static const std::vector<std::string> known = {
        "mode",          "events",           "enable",
        "disable",       "ring_kb",          "poll_ms",
        "heartbeat_s",   "flood_per_minute", "drop_loopback_connect",
        "exe_allowlist", "argv_allowlist",   "watch_paths",
        "report_agent"};
    for (const auto& [k, v] : detail.values()) {
        if (std::find(known.begin(), known.end(), k) == known.end()) {
            return Error("unknown key '" + k + "' (see driver --help)");
        }
    }
    if (detail.has("mode")) {
        cfg.mode = detail.get("mode");
        if (cfg.mode != "auto" && cfg.mode != "ebpf" && cfg.mode != "proc") {
            return Error("mode: expected auto, ebpf or proc, got '" + cfg.mode + "'");
        }
    }
    if (detail.has("events")) {
        auto m = eventMask("events", detail.get("events"));
        if (!m.ok()) return m.error();
        cfg.enabled = *m;
    }
    if (detail.has("enable")) {
        auto m = eventMask("enable", detail.get("enable"));
        if (!m.ok()) return m.error();
        cfg.enabled |= *m;
    }
    if (detail.has("disable")) {
        auto m = eventMask("disable", detail.get("disable"));
        if (!m.ok()) return m.error();
        cfg.enabled &= ~*m;
    }
    if (detail.has("ring_kb")) {
        auto v = detail.getInt("ring_kb", 4096, 64, 1048576);
        if (!v.ok()) return v.error();
        if ((*v & (*v - 1)) != 0) {
            return Error("ring_kb: must be a power of two, got " + std::to_string(*v));
        }
        cfg.ring_bytes = static_cast<uint32_t>(*v) * 1024u;
    }
    if (auto v = detail.getInt("poll_ms", cfg.poll_ms, 1, 1000); v.ok()) {
        cfg.poll_ms = static_cast<int>(*v);
    } else {
        return v.error();
    }
    if (auto v = detail.getInt("heartbeat_s", cfg.heartbeat_s, 1, 3600); v.ok()) {
        cfg.heartbeat_s = static_cast<int>(*v);
    } else {
        return v.error();
    }
    if (auto v = detail.getInt("flood_per_minute", cfg.flood_per_minute, 0, 100000000); v.ok()) {
        cfg.flood_per_minute = static_cast<uint32_t>(*v);
    } else {
        return v.error();
    }
    if (detail.has("drop_loopback_connect")) {
        auto b = boolValue("drop_loopback_connect", detail.get("drop_loopback_connect"));
        if (!b.ok()) return b.error();
        cfg.drop_loopback_connect = *b;
    }
    if (detail.has("report_agent")) {
        auto b = boolValue("report_agent", detail.get("report_agent"));
        if (!b.ok()) return b.error();
        cfg.report_agent = *b;
    }
    if (detail.has("exe_allowlist"))
        cfg.exe_allowlist = splitList(detail.get("exe_allowlist"), ":");
    if (detail.has("watch_paths")) cfg.watch_paths = splitList(detail.get("watch_paths"), ":");
    if (detail.has("argv_allowlist")) {
        cfg.argv_allowlist.clear();
        for (const auto& line : splitList(detail.get("argv_allowlist"), "|")) {
            // The kernel hashes argv as it lies in memory: each argument NUL-terminated.
            std::string nul;
            for (const auto& arg : splitList(line, " ")) {
                nul += arg;
                nul += '\0';
            }
            cfg.argv_allowlist.push_back(nul);
        }
    }
    return cfg;
}

std::string driverUsage() {
    std::string out =
        "driver: Vigil's kernel telemetry plugin (eBPF CO-RE; proc connector fallback).\n"
        "Started by vigil-agent with the record pipe on fd 4 and tasks on fd 3; configured by\n"
        "the DETAIL environment variable (flat JSON or key=value pairs):\n"
        "  mode=auto|ebpf|proc        event source (auto: eBPF, else the proc connector)\n"
        "  events=a:b:...             events to report (replaces the default set)\n"
        "  enable=a:b  disable=a:b    add to / remove from the set\n"
        "  ring_kb=4096               kernel ring buffer, KiB (power of two, 64..1048576)\n"
        "  poll_ms=5                  ring drain interval, ms (1..1000)\n"
        "  heartbeat_s=60             900 heartbeat interval, s (1..3600)\n"
        "  flood_per_minute=9000      quiet an exe above this many events/min (0 = off)\n"
        "  drop_loopback_connect=false  drop connects to 127.0.0.0/8 and ::1\n"
        "  exe_allowlist=/p1:/p2      executables whose events are not reported\n"
        "  argv_allowlist='a b|c d'   exec command lines not reported (exact)\n"
        "  watch_paths=/p1:/p2        files whose reads/writes are reported (read, write)\n"
        "  report_agent=false         also report the agent's and its plugins' own events\n"
        "Tasks: 9300 set filters (data = the keys above), 9301 status (sends a heartbeat).\n"
        "Events (name data_type, * = on by default):\n";
    for (const auto& spec : eventSpecs()) {
        out += "  " + std::string(spec.default_on ? "* " : "  ") + spec.name + " " +
               std::to_string(spec.data_type) + "\n";
    }
    return out;
}

}  // namespace vigil::driver
