// Registry with a manual clock: least-load order, random ties, count, health levels, expiry and
// the merge rules replication relies on.
#include "server/discovery/registry.h"

#include <gtest/gtest.h>

#include <set>

namespace vigil::discovery {
namespace {

class RegistryTest : public ::testing::Test {
protected:
    RegistryTest() { reset(); }

    void reset(size_t max_instances = 1000, size_t max_detail = 100) {
        RegistryOptions o;
        o.evict_after = std::chrono::milliseconds(7000);  // levels at 3000/4000/5000/6000 ms
        o.max_instances = max_instances;
        o.max_detail = max_detail;
        o.steady_ms = [this] { return now_ms_; };
        o.unix_s = [this] { return 1700000000 + now_ms_ / 1000; };
        registry_ = std::make_unique<Registry>(o);
    }

    static Instance inst(std::string ip, int64_t weight, std::string name = "svc",
                         int port = 6751) {
        Instance i;
        i.name = std::move(name);
        i.ip = std::move(ip);
        i.port = port;
        i.weight = weight;
        return i;
    }

    std::vector<std::string> ips(const std::string& name = "svc", size_t count = 0) {
        std::vector<std::string> out;
        for (const auto& e : registry_->detail(name, count)) out.push_back(e.instance.ip);
        return out;
    }

    int64_t now_ms_ = 1'000'000;
    std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, LeastLoadFirstWithRandomTies) {
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.1", 5)));
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.2", 1)));
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.3", 1)));
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.4", 0)));
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.9", 0, "other")));
    std::set<std::vector<std::string>> seen;
    for (int i = 0; i < 200; ++i) {
        auto order = ips();
        ASSERT_EQ(order.size(), 4u);
        EXPECT_EQ(order[0], "10.0.0.4");
        EXPECT_EQ(order[3], "10.0.0.1");
        seen.insert(order);
    }
    // Both orders of the two weight-1 instances come up (probability of missing one: 2^-199).
    EXPECT_EQ(seen.size(), 2u);
    EXPECT_TRUE(seen.count({"10.0.0.4", "10.0.0.2", "10.0.0.3", "10.0.0.1"}));
    EXPECT_TRUE(seen.count({"10.0.0.4", "10.0.0.3", "10.0.0.2", "10.0.0.1"}));
}

TEST_F(RegistryTest, CountLimitsAndCaps) {
    reset(1000, 3);
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(registry_->registerInstance(inst("10.0.0." + std::to_string(i), i)));
    EXPECT_EQ(ips("svc", 2), (std::vector<std::string>{"10.0.0.0", "10.0.0.1"}));
    EXPECT_EQ(ips("svc", 0).size(), 3u);  // all, capped at max_detail
    EXPECT_EQ(ips("svc", 50).size(), 3u);
    EXPECT_TRUE(ips("unknown").empty());
}

TEST_F(RegistryTest, HealthLevelsByAgeAndExpiry) {
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.1", 0)));
    auto status = [&] {
        auto d = registry_->detail("svc", 0);
        return d.empty() ? std::string("gone") : std::string(healthName(d[0].health));
    };
    const int64_t t0 = now_ms_;
    const std::vector<std::pair<int64_t, std::string>> steps = {
        {0, "green"},     {3000, "green"},  {3001, "blue"}, {4000, "blue"}, {4001, "yellow"},
        {5001, "orange"}, {6000, "orange"}, {6001, "red"},  {7000, "red"},  {7001, "gone"}};
    for (const auto& [age, expected] : steps) {
        now_ms_ = t0 + age;
        EXPECT_EQ(status(), expected) << "age " << age;
    }
    EXPECT_EQ(registry_->size(), 1u);  // not swept yet
    auto gone = registry_->expire();
    ASSERT_EQ(gone.size(), 1u);
    EXPECT_EQ(gone[0].action, ChangeAction::kEvict);
    EXPECT_EQ(gone[0].instance.ip, "10.0.0.1");
    EXPECT_EQ(registry_->size(), 0u);
}

TEST_F(RegistryTest, DefaultLevelsMatchElkeid) {
    RegistryOptions o;  // 105 s
    Registry r(o);
    EXPECT_EQ(r.healthForAge(45000), Health::kGreen);
    EXPECT_EQ(r.healthForAge(45001), Health::kBlue);
    EXPECT_EQ(r.healthForAge(60001), Health::kYellow);
    EXPECT_EQ(r.healthForAge(75001), Health::kOrange);
    EXPECT_EQ(r.healthForAge(90001), Health::kRed);
}

TEST_F(RegistryTest, UnhealthyInstancesSortAfterHealthyOnes) {
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.1", 0)));  // will be red
    now_ms_ += 5500;                                                // orange for .1
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.2", 50)));
    now_ms_ += 1000;  // .1 red, .2 green
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.3", 10)));
    EXPECT_EQ(ips(), (std::vector<std::string>{"10.0.0.3", "10.0.0.2", "10.0.0.1"}));
}

TEST_F(RegistryTest, ReRegistrationKeepsCreateAtAndUpdatesWeight) {
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.1", 3)));
    const int64_t created = registry_->detail("svc", 0)[0].instance.create_at;
    now_ms_ += 5000;
    auto c = registry_->registerInstance(inst("10.0.0.1", 9));
    ASSERT_TRUE(c);
    auto d = registry_->detail("svc", 0);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].instance.weight, 9);
    EXPECT_EQ(d[0].instance.create_at, created);
    EXPECT_EQ(d[0].instance.update_at, created + 5);
    EXPECT_EQ(d[0].health, Health::kGreen);
}

TEST_F(RegistryTest, FullRegistryRefusesNewInstancesOnly) {
    reset(2);
    EXPECT_TRUE(registry_->registerInstance(inst("10.0.0.1", 0)));
    EXPECT_TRUE(registry_->registerInstance(inst("10.0.0.2", 0)));
    EXPECT_FALSE(registry_->registerInstance(inst("10.0.0.3", 0)));
    EXPECT_TRUE(registry_->registerInstance(inst("10.0.0.1", 4)));  // known: updated
    EXPECT_FALSE(registry_->apply(ChangeAction::kRegister, inst("10.0.0.4", 0), 0));
}

TEST_F(RegistryTest, NewerInformationWins) {
    // A peer's registration 1 s old.
    EXPECT_TRUE(registry_->apply(ChangeAction::kRegister, inst("10.0.0.1", 7), 1000));
    // An older copy of the same instance (a snapshot) does not overwrite it.
    EXPECT_FALSE(registry_->apply(ChangeAction::kRegister, inst("10.0.0.1", 99), 3000));
    EXPECT_EQ(registry_->detail("svc", 0)[0].instance.weight, 7);
    // A newer one does.
    EXPECT_TRUE(registry_->apply(ChangeAction::kRegister, inst("10.0.0.1", 8), 0));
    EXPECT_EQ(registry_->detail("svc", 0)[0].instance.weight, 8);
    // An instance already past the eviction age is not resurrected.
    EXPECT_FALSE(registry_->apply(ChangeAction::kRegister, inst("10.0.0.5", 0), 8000));
}

TEST_F(RegistryTest, EvictionsBeatOlderRegistrationsOnly) {
    EXPECT_TRUE(registry_->apply(ChangeAction::kRegister, inst("10.0.0.1", 1), 2000));
    // Evicted 1 s ago (after that registration): removed.
    EXPECT_TRUE(registry_->apply(ChangeAction::kEvict, inst("10.0.0.1", 0), 1000));
    EXPECT_TRUE(ips().empty());
    // A registration from before the eviction arriving late: ignored.
    EXPECT_FALSE(registry_->apply(ChangeAction::kRegister, inst("10.0.0.1", 1), 1500));
    EXPECT_TRUE(ips().empty());
    // A registration after it: accepted.
    EXPECT_TRUE(registry_->apply(ChangeAction::kRegister, inst("10.0.0.1", 1), 500));
    EXPECT_EQ(ips().size(), 1u);
    // An eviction older than the current registration does not remove it.
    EXPECT_FALSE(registry_->apply(ChangeAction::kEvict, inst("10.0.0.1", 0), 900));
    EXPECT_EQ(ips().size(), 1u);
    // A local registration clears the tombstone; a local eviction sets one.
    bool existed = false;
    registry_->evict("svc", "10.0.0.1", 6751, &existed);
    EXPECT_TRUE(existed);
    registry_->evict("svc", "10.0.0.1", 6751, &existed);
    EXPECT_FALSE(existed);
    EXPECT_FALSE(registry_->apply(ChangeAction::kRegister, inst("10.0.0.1", 1), 1));
    now_ms_ += 10;
    EXPECT_TRUE(registry_->registerInstance(inst("10.0.0.1", 1)));
}

TEST_F(RegistryTest, SnapshotHoldsInstancesAndRecentEvictions) {
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.1", 1)));
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.2", 2)));
    registry_->evict("svc", "10.0.0.2", 6751);
    auto snap = registry_->snapshot();
    ASSERT_EQ(snap.size(), 2u);
    size_t registers = 0, evicts = 0;
    for (const auto& c : snap) (c.action == ChangeAction::kRegister ? registers : evicts)++;
    EXPECT_EQ(registers, 1u);
    EXPECT_EQ(evicts, 1u);
    // Evictions are forgotten after the eviction age.
    now_ms_ += 7001;
    registry_->expire();
    EXPECT_TRUE(registry_->snapshot().empty());
}

TEST_F(RegistryTest, ListCountsPerName) {
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.1", 0, "a")));
    now_ms_ += 5500;
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.2", 0, "a")));
    ASSERT_TRUE(registry_->registerInstance(inst("10.0.0.3", 0, "b")));
    auto l = registry_->list();
    ASSERT_EQ(l.size(), 2u);
    EXPECT_EQ(l[0].name, "a");
    EXPECT_EQ(l[0].count, 2u);
    EXPECT_EQ(l[0].healthy, 1u);
    EXPECT_EQ(l[1].name, "b");
    EXPECT_EQ(l[1].count, 1u);
}

}  // namespace
}  // namespace vigil::discovery
