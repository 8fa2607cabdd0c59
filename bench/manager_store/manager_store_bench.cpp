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

#include "server/manager/seed/store_seed.h"
#include "server/manager/store/store.h"

using namespace vigil;
using namespace vigil::manager;
using Clock = std::chrono::steady_clock;

namespace {

using seed::agentId;
using seed::Generator;
using seed::kRules;
constexpr int64_t kHour = seed::kHourMs;
constexpr int64_t kDay = seed::kDayMs;

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

    // Load, unless a previous run already did (server/manager/seed, shared with bench/manager).
    seed::SeedOptions load;
    load.alerts = alerts;
    load.hosts = hosts;
    load.progress = [&name](int64_t n) {
        if (n % 100000 == 0)
            std::fprintf(stderr, "%s: %lld alerts loaded\n", name.c_str(),
                         static_cast<long long>(n));
    };
    auto loaded = seed::seedStore(store, gen, load);
    if (!loaded.ok()) {
        std::fprintf(stderr, "%s\n", loaded.message().c_str());
        return 1;
    }
    if (loaded->alerts_loaded > 0) {
        std::printf("%s: loaded %d hosts and %lld alerts in %.1f s, batches of %zu\n", name.c_str(),
                    hosts, static_cast<long long>(loaded->alerts_loaded), loaded->seconds,
                    load.batch);
        std::printf("METRIC manager_%s_alert_ingest_per_s %.0f alerts/s\n", name.c_str(),
                    static_cast<double>(loaded->alerts_loaded) / loaded->seconds);
    } else {
        std::printf("%s: %lld alerts already stored, not loading\n", name.c_str(),
                    static_cast<long long>(loaded->alerts_present));
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
