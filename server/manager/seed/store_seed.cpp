// Synthetic hosts and alerts for the manager's store (benchmarks, browser tests, demos).
#include "server/manager/seed/store_seed.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace vigil::manager::seed {

std::string agentId(int host) {
    return fmt::format("{:08x}-5ac1-4c3e-9a8b-{:012}", host, host);
}

int Generator::host() {
    const int noisy = std::max(1, hosts_ / 20);
    return pick(100) < 80 ? pick(noisy) : pick(hosts_);
}

int Generator::rule() {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    return std::min(kRules - 1, static_cast<int>(std::exp(u * std::log(kRules + 1.0)) - 1));
}

Alert Generator::alert(int64_t i) {
    Alert a;
    const int h = host(), r = rule();
    a.alert_id = fmt::format("{}-{}-{}-rule_{}", agentId(h), i % 16, i, r);
    a.rule_id = fmt::format("rule_{}", r);
    a.rule_name = fmt::format("Suspicious behaviour number {}", r);
    const int s = pick(100);
    a.severity = s < 40   ? Severity::kInfo
                 : s < 65 ? Severity::kLow
                 : s < 85 ? Severity::kMedium
                 : s < 95 ? Severity::kHigh
                          : Severity::kCritical;
    a.mitre = {"T1059.004"};
    a.agent_id = agentId(h);
    a.hostname = fmt::format("host-{:05}", h);
    a.data_type = 59;
    static const char* exes[] = {"/usr/bin/curl", "/usr/bin/bash",  "/usr/bin/python3",
                                 "/usr/bin/nc",   "/usr/sbin/sshd", "/usr/bin/wget"};
    a.argv = fmt::format("{} -s http://10.0.{}.{}/x{}", exes[pick(6)], pick(255), pick(255),
                         pick(100000));
    a.time_ms = now_ - static_cast<int64_t>(pick(static_cast<int>(days_ * kDayMs / 1000))) * 1000;
    a.hub_time_ms = a.time_ms + 40;
    const int st = pick(100);
    a.status = st < 82   ? AlertStatus::kNew
               : st < 87 ? AlertStatus::kConfirmed
               : st < 90 ? AlertStatus::kFalsePositive
                         : AlertStatus::kResolved;
    const int pid = 1000 + pick(60000), ppid = 900 + pick(100);
    a.json = fmt::format(
        R"({{"alert_id":"{}","rule_id":"{}","rule_name":"{}","severity":"{}","data_type":59,)"
        R"("mitre":["T1059.004"],"agent_id":"{}","hostname":"{}","time":{},"hub_time":{},)"
        R"("description":"A shell or network tool started by a service process.",)"
        R"("suggestion":"Check who started it and what it connected to.",)"
        R"("fields":{{"exe":"/usr/bin/bash","argv":"{}","pid":"{}","ppid":"{}","uid":"0",)"
        R"("comm":"bash","pid_tree":"{}.bash<{}.sshd<1.systemd"}},)"
        R"("process_tree":[{{"pid":"{}","exe":"/usr/bin/bash","argv":"{}"}},)"
        R"({{"pid":"{}","exe":"/usr/sbin/sshd","argv":"sshd: root@pts/0"}},)"
        R"({{"pid":"1","exe":"/usr/lib/systemd/systemd","argv":"/sbin/init"}}]}})",
        a.alert_id, a.rule_id, a.rule_name, severityName(a.severity), a.agent_id, a.hostname,
        a.time_ms / 1000, a.hub_time_ms, a.argv, pid, ppid, pid, ppid, pid, a.argv, ppid);
    return a;
}

Host Generator::hostRecord(int h) {
    Host host;
    host.agent_id = agentId(h);
    host.hostname = fmt::format("host-{:05}", h);
    host.version = "1.9.1";
    host.platform = "debian 12 (6.1.0-18-amd64)";
    host.intranet_ips = {fmt::format("10.{}.{}.{}", h / 65536, h / 256 % 256, h % 256)};
    host.last_heartbeat_ms = now_ - (pick(10) < 9 ? pick(60) * 1000 : pick(86400) * 1000LL);
    host.cpu_percent = 0.3;
    host.rss_bytes = 14 << 20;
    host.plugins_json = R"([{"name":"driver","version":"1.0.0","status":"running"}])";
    return host;
}

int64_t storedAlerts(Store& store) {
    auto counts = store.alertStatusCounts();
    int64_t present = 0;
    if (counts.ok()) {
        for (const auto& row : *counts) {
            for (int64_t n : row) present += n;
        }
    }
    return present;
}

Result<SeedResult> seedStore(Store& store, Generator& gen, const SeedOptions& options) {
    SeedResult out;
    out.alerts_present = storedAlerts(store);
    if (out.alerts_present >= options.alerts) return out;
    const auto start = std::chrono::steady_clock::now();
    const auto batch = static_cast<int64_t>(std::max<size_t>(1, options.batch));
    for (int h = 0; h < options.hosts; h += static_cast<int>(batch)) {
        std::vector<Host> hosts;
        for (int i = h; i < std::min<int64_t>(options.hosts, h + batch); ++i)
            hosts.push_back(gen.hostRecord(i));
        if (auto r = store.upsertHosts(std::move(hosts)); !r.ok())
            return makeError("hosts: {}", r.message());
    }
    for (int64_t i = out.alerts_present; i < options.alerts; i += batch) {
        std::vector<Alert> alerts;
        for (int64_t k = i; k < std::min(options.alerts, i + batch); ++k)
            alerts.push_back(gen.alert(k));
        if (auto r = store.insertAlerts(std::move(alerts)); !r.ok())
            return makeError("alerts: {}", r.message());
        if (options.progress) options.progress(std::min(options.alerts, i + batch));
    }
    out.alerts_loaded = options.alerts - out.alerts_present;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

}  // namespace vigil::manager::seed
