// The fixture of the store suite, parameterised by backend ("sqlite", "postgresql"): a fresh
// database per test (an SQLite file in a temp dir, or a PostgreSQL schema of its own), a store
// opened on it with a clock the test sets, and builders of alerts and hosts.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "server/manager/store/sql.h"
#include "server/manager/store/store.h"
#include "server/manager/store/test/pg_test_server.h"

namespace vigil::manager::testing {

// 2023-11-14 22:13:20 UTC, a whole hour: where the tests' clock starts.
inline constexpr int64_t kT0 = 1700000000000 - 1700000000000 % 3600000;

class StoreTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override;
    void TearDown() override;

    // A URL of an empty database of this backend, new on each call.
    std::string freshUrl();
    // Opens another store on `url` (default: the test's database) with the test's clock.
    Result<std::unique_ptr<Store>> open(const std::string& url = "");
    // The test's database without the store on top, for schema tests.
    std::unique_ptr<sql::Database> raw();

    void setNow(int64_t ms) { now_->store(ms); }
    int64_t now() const { return now_->load(); }

    std::unique_ptr<Store> store_;
    std::string url_;

private:
    std::shared_ptr<std::atomic<int64_t>> now_ = std::make_shared<std::atomic<int64_t>>(kT0);
    std::unique_ptr<TempDir> dir_;
    std::vector<std::unique_ptr<PgSchema>> schemas_;
    int databases_ = 0;
};

// An alert numbered `i`: alert_id "alert-<i>", the given rule (rule_id "rule-<rule>", rule_name
// "Rule <rule>"), host (agent_id "agent-<host>", hostname "host-<host>"), severity and time.
Alert makeAlert(int i, int rule, int host, Severity severity, int64_t time_ms);
// A host "agent-<n>" named `hostname` with its last heartbeat at `heartbeat_ms`.
Host makeHost(int n, const std::string& hostname, int64_t heartbeat_ms);

// The value of `r`; on an error, fails the test with the error's message and returns T{}.
template <typename T>
T must(Result<T> r) {
    if (r.ok()) return std::move(r).value();
    ADD_FAILURE() << r.message();
    return T{};
}

// Every alert of `query`, following next_cursor with pages of `page` alerts; the alert_ids in
// order. Fails the test on an error.
std::vector<std::string> listAllAlerts(Store& store, AlertQuery query, size_t page = 7);

}  // namespace vigil::manager::testing
