// Manager store benchmark: loads N alerts (default 1,000,000) and H hosts (10,000) through the
// store's ingest API, in batches as the bus consumer writes them, then times the queries the
// console makes: alert list pages under each filter and sort, deep cursors, dashboard counts,
// host lists. Prints METRIC lines per backend; the headline is the p99 of the alert list mix.
//   manager_store_bench --url sqlite:///tmp/x.db|postgresql://... [--alerts N] [--hosts H]
//                       [--days D] [--queries Q] [--name NAME]
// A store that already holds at least N alerts is queried without loading (re-runs).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "server/manager/store/store.h"

using namespace vigil;
using namespace vigil::manager;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kHour = 3600 * 1000;
constexpr int64_t kDay = 24 * kHour;
constexpr int kRules = 200;

int64_t wallNowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
    return v[i];
}

std::string agentId(int host) {
    return fmt::format("{:08x}-5ac1-4c3e-9a8b-{:012}", host, host);
}

// The data set: skewed like a real fleet (a few noisy hosts and rules, most quiet), severities
// mostly low, most alerts new.
class Generator {
public:
    Generator(int hosts, int64_t now_ms, int days) : hosts_(hosts), now_(now_ms), days_(days) {}

    int host() {
        // 80% of alerts from 5% of the hosts.
        const int noisy = std::max(1, hosts_ / 20);
        return pick(100) < 80 ? pick(noisy) : pick(hosts_);
    }
    int rule() {
        // Roughly Zipf: rule k is picked about 1/(k+1) as often as rule 0.
        const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
        return std::min(kRules - 1, static_cast<int>(std::exp(u * std::log(kRules + 1.0)) - 1));
    }

    Alert alert(int64_t i) {
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
        a.time_ms = now_ - static_cast<int64_t>(pick(static_cast<int>(days_ * kDay / 1000))) * 1000;
        a.hub_time_ms = a.time_ms + 40;
        const int st = pick(100);
        a.status = st < 82   ? AlertStatus::kNew
                   : st < 87 ? AlertStatus::kConfirmed
                   : st < 90 ? AlertStatus::kFalsePositive
                             : AlertStatus::kResolved;
        a.json = fmt::format(
            R"({{"alert_id":"{}","rule_id":"{}","rule_name":"{}","severity":"{}","data_type":59,)"
            R"("agent_id":"{}","hostname":"{}","time":{},"hub_time":{},"fields":{{"exe":"/usr/)"
            R"(bin/bash","argv":"{}","pid":"{}","ppid":"{}","uid":"0","comm":"bash",)"
            R"("pid_tree":"{}.bash<{}.sshd<1.systemd"}}}})",
            a.alert_id, a.rule_id, a.rule_name, severityName(a.severity), a.agent_id, a.hostname,
            a.time_ms / 1000, a.hub_time_ms, a.argv, 1000 + pick(60000), 900 + pick(100),
            1000 + pick(60000), 900 + pick(100));
        return a;
    }

    Host hostRecord(int h) {
        Host host;
        host.agent_id = agentId(h);
        host.hostname = fmt::format("host-{:05}", h);
        host.version = "1.9.1";
        host.platform = "debian 12 (6.1.0-18-amd64)";
        host.intranet_ips = {fmt::format("10.{}.{}.{}", h / 65536, h / 256 % 256, h % 256)};
        host.last_heartbeat_ms = now_ - (pick(10) < 9 ? pick(60) * 1000 : pick(86400) * 1000LL);
        host.cpu_percent = 0.3;
        host.rss_bytes = 14 << 20;
        host.plugins_json = R"([{"name":"driver","status":"running"}])";
        return host;
    }

    int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

private:
    std::mt19937 rng_{20231114};
    int hosts_;
    int64_t now_;
    int days_;
};

struct Timings {
    std::map<std::string, std::vector<double>> by_kind;
    std::vector<double> list_all;  // every alert list query but the rare-text search
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"manager store benchmark"};
    std::string url, name;
    int64_t alerts = 1000000;
    int hosts = 10000, days = 30, queries = 50;
    app.add_option("--url", url, "store URL")->required();
    app.add_option("--alerts", alerts, "alerts to load");
    app.add_option("--hosts", hosts, "hosts to load");
    app.add_option("--days", days, "days the alerts span, ending now");
    app.add_option("--queries", queries, "timed queries of each kind");
    app.add_option("--name", name, "backend name in the METRIC lines (default: the store's)");
    CLI11_PARSE(app, argc, argv);

    StoreOptions options;
    auto opened = openStore(url, options);
    if (!opened.ok()) {
        std::fprintf(stderr, "store: %s\n", opened.message().c_str());
        return 1;
    }
    Store& store = **opened;
    if (name.empty()) name = std::string(store.backend());
    const int64_t now = wallNowMs();
    Generator gen(hosts, now, days);

    // Load, unless a previous run already did.
    auto counts = store.alertStatusCounts();
    int64_t present = 0;
    if (counts.ok()) {
        for (const auto& row : *counts) {
            for (int64_t n : row) present += n;
        }
    }
    if (present < alerts) {
        const auto start = Clock::now();
        constexpr int kBatch = 1000;
        for (int h = 0; h < hosts; h += kBatch) {
            std::vector<Host> batch;
            for (int i = h; i < std::min(hosts, h + kBatch); ++i)
                batch.push_back(gen.hostRecord(i));
            if (auto r = store.upsertHosts(std::move(batch)); !r.ok()) {
                std::fprintf(stderr, "hosts: %s\n", r.message().c_str());
                return 1;
            }
        }
        for (int64_t i = present; i < alerts; i += kBatch) {
            std::vector<Alert> batch;
            for (int64_t k = i; k < std::min(alerts, i + kBatch); ++k)
                batch.push_back(gen.alert(k));
            if (auto r = store.insertAlerts(std::move(batch)); !r.ok()) {
                std::fprintf(stderr, "alerts: %s\n", r.message().c_str());
                return 1;
            }
            if ((i / kBatch) % 100 == 0) {
                std::fprintf(stderr, "%s: %lld alerts loaded\n", name.c_str(),
                             static_cast<long long>(i));
            }
        }
        const double s = msSince(start) / 1000;
        std::printf("%s: loaded %d hosts and %lld alerts in %.1f s, batches of %d\n", name.c_str(),
                    hosts, static_cast<long long>(alerts - present), s, kBatch);
        std::printf("METRIC manager_%s_alert_ingest_per_s %.0f alerts/s\n", name.c_str(),
                    static_cast<double>(alerts - present) / s);
    } else {
        std::printf("%s: %lld alerts already stored, not loading\n", name.c_str(),
                    static_cast<long long>(present));
    }

    Timings t;
    auto timeList = [&](const std::string& kind, const AlertQuery& q, bool in_headline = true) {
        const auto start = Clock::now();
        auto page = store.listAlerts(q);
        const double ms = msSince(start);
        if (!page.ok()) {
            std::fprintf(stderr, "%s: %s\n", kind.c_str(), page.message().c_str());
            std::exit(1);
        }
        t.by_kind[kind].push_back(ms);
        if (in_headline) t.list_all.push_back(ms);
        return std::move(*page);
    };
    for (int i = 0; i < queries; ++i) {
        AlertQuery q;
        timeList("newest", q);
        // A console user paging deep: 20 pages of 50 by cursor.
        for (int p = 0; p < 20; ++p) {
            auto page = timeList("cursor_page", q);
            if (page.next_cursor.empty()) break;
            q.cursor = page.next_cursor;
        }
        q = {};
        q.severities = {Severity::kHigh, Severity::kCritical};
        timeList("severity_high_critical", q);
        q = {};
        q.severities = {Severity::kCritical};
        q.statuses = {AlertStatus::kNew};
        timeList("critical_new", q);
        q = {};
        q.sort = AlertSort::kSeverityDesc;
        auto first = timeList("sort_severity", q);
        q.cursor = first.next_cursor;
        timeList("sort_severity", q);
        q = {};
        q.statuses = {AlertStatus::kResolved};
        timeList("status_resolved", q);
        q = {};
        q.rule_id = fmt::format("rule_{}", gen.rule());
        timeList("rule", q);
        q = {};
        q.rule_id = fmt::format("rule_{}", kRules - 1 - gen.pick(20));  // a quiet rule
        timeList("rule_rare", q);
        q = {};
        q.agent_id = agentId(gen.host());
        timeList("host", q);
        q = {};
        q.agent_id = agentId(gen.pick(hosts));
        q.sort = AlertSort::kSeverityDesc;
        timeList("host_sort_severity", q);
        q = {};
        q.from_ms = now - kDay;
        q.severities = {Severity::kMedium, Severity::kHigh};
        q.statuses = {AlertStatus::kNew, AlertStatus::kConfirmed};
        timeList("last_day_medium_high_open", q);
        q = {};
        q.from_ms = now - 7 * kDay - gen.pick(10) * kDay;
        q.to_ms = q.from_ms + kHour;
        timeList("one_hour_window", q);
        q = {};
        q.text = gen.pick(2) ? "curl" : "host-0001";
        timeList("text_common", q);
        q = {};
        q.text = fmt::format("x{}", 99990 + gen.pick(10));  // matches ~1 in 10,000 alerts
        timeList("text_rare", q, false);

        auto stats_start = Clock::now();
        auto day = store.alertStats({now - kDay, now, kHour, 10});
        t.by_kind["stats_24h"].push_back(msSince(stats_start));
        stats_start = Clock::now();
        auto week = store.alertStats({now - 7 * kDay, now, 6 * kHour, 10});
        t.by_kind["stats_7d"].push_back(msSince(stats_start));
        stats_start = Clock::now();
        auto month = store.alertStats({now - days * kDay, now, kDay, 10});
        t.by_kind["stats_30d"].push_back(msSince(stats_start));
        if (!day.ok() || !week.ok() || !month.ok()) {
            std::fprintf(stderr, "stats failed\n");
            return 1;
        }
        stats_start = Clock::now();
        (void)store.alertStatusCounts();
        (void)store.hostCounts();
        t.by_kind["status_and_host_counts"].push_back(msSince(stats_start));

        HostQuery hq;
        hq.state = gen.pick(2) ? HostState::kOnline : HostState::kOffline;
        auto host_start = Clock::now();
        auto hp = store.listHosts(hq);
        t.by_kind["hosts_by_state"].push_back(msSince(host_start));
        hq.cursor = hp.ok() ? hp->next_cursor : "";
        host_start = Clock::now();
        (void)store.listHosts(hq);
        t.by_kind["hosts_by_state"].push_back(msSince(host_start));
        hq = {};
        hq.sort = HostSort::kLastHeartbeatDesc;
        hq.hostname_prefix = fmt::format("host-0{}", gen.pick(10));
        host_start = Clock::now();
        (void)store.listHosts(hq);
        t.by_kind["hosts_prefix_heartbeat"].push_back(msSince(host_start));
    }

    std::printf("%-28s %8s %8s %8s %6s\n", "query (page of 50)", "p50 ms", "p99 ms", "max ms", "n");
    for (const auto& [kind, v] : t.by_kind) {
        std::printf("%-28s %8.2f %8.2f %8.2f %6zu\n", kind.c_str(), percentile(v, 0.5),
                    percentile(v, 0.99), *std::max_element(v.begin(), v.end()), v.size());
    }
    auto worst = [&](const std::vector<std::string>& kinds) {
        std::vector<double> all;
        for (const auto& k : kinds) all.insert(all.end(), t.by_kind[k].begin(), t.by_kind[k].end());
        return percentile(all, 0.99);
    };
    std::printf("METRIC manager_alert_list_p99_ms_%s %.2f ms\n", name.c_str(),
                percentile(t.list_all, 0.99));
    std::printf("METRIC manager_alert_list_p50_ms_%s %.2f ms\n", name.c_str(),
                percentile(t.list_all, 0.5));
    std::printf("METRIC manager_alert_search_rare_p99_ms_%s %.2f ms\n", name.c_str(),
                worst({"text_rare"}));
    std::printf("METRIC manager_alert_stats_p99_ms_%s %.2f ms\n", name.c_str(),
                worst({"stats_24h", "stats_7d", "stats_30d"}));
    std::printf("METRIC manager_host_list_p99_ms_%s %.2f ms\n", name.c_str(),
                worst({"hosts_by_state", "hosts_prefix_heartbeat"}));
    return 0;
}
