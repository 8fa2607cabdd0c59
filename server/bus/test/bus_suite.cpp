// The backend-independent bus behaviour: append/ack/fetch/commit, per-key order, restart after
// commit, groups, partition and family filters, large values, concurrent appends.
#include "server/bus/test/bus_suite.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <map>
#include <set>
#include <thread>

namespace vigil::bus::testing {

using namespace std::chrono_literals;

void BusSuite::SetUp() {
    std::string url;
    if (nats()) {
        auto u = NatsServer::sharedUrl();
        ASSERT_TRUE(u.ok()) << u.message();
        url = *u;
    }
    options_ = testOptions(GetParam(), dir_.path(), url);
}

void BusSuite::TearDown() { dropNatsStream(options_); }

std::unique_ptr<Bus> BusSuite::openBus(bool writer) {
    BusOptions o = options_;
    o.writer = writer;
    auto bus = Bus::open(o, metrics_);
    EXPECT_TRUE(bus.ok()) << bus.message();
    return bus.ok() ? std::move(*bus) : nullptr;
}

std::unique_ptr<Consumer> BusSuite::consumer(Bus& bus, ConsumerOptions options) {
    auto c = bus.consumer(options);
    EXPECT_TRUE(c.ok()) << c.message();
    return c.ok() ? std::move(*c) : nullptr;
}

namespace {

struct Owned {
    std::string key;
    int32_t data_type;
    std::string value;
};

Status appendAll(Producer& p, const std::vector<Owned>& msgs) {
    std::vector<Message> view;
    for (const auto& m : msgs) view.push_back({m.key, m.data_type, m.value});
    return p.append(view);
}

std::vector<Owned> makeMessages(int agents, int per_agent, int32_t data_type = 59,
                                size_t size = 120) {
    std::vector<Owned> out;
    for (int s = 0; s < per_agent; ++s) {
        for (int a = 0; a < agents; ++a) {
            std::string k = agentKey(a);
            out.push_back({k, data_type, valueFor(k, s, size)});
        }
    }
    return out;
}

}  // namespace

TEST_P(BusSuite, AppendAckFetchCommit) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    auto msgs = makeMessages(10, 10);
    ASSERT_TRUE(appendAll(bus->producer(), msgs).ok());
    EXPECT_EQ(metrics_.counterTotal("vigil_bus_appended_messages_total"), msgs.size());

    auto c = consumer(*bus, {.group = "hub"});
    ASSERT_TRUE(c);
    auto got = fetchAtLeast(*c, msgs.size(), 10s);
    ASSERT_EQ(got.size(), msgs.size());
    std::multiset<std::string> want, have;
    for (const auto& m : msgs) want.insert(m.key + "|" + m.value);
    for (const auto& d : got) {
        have.insert(d.key + "|" + d.value);
        EXPECT_EQ(d.partition, partitionOf(d.key, bus->partitions()));
        EXPECT_EQ(d.data_type, 59);
        EXPECT_GT(d.bus_time_ns, 0);
    }
    EXPECT_EQ(have, want);
    ASSERT_TRUE(c->commit(got).ok());
    c.reset();

    // Everything was committed: a new consumer of the group finds nothing.
    auto again = consumer(*bus, {.group = "hub"});
    ASSERT_TRUE(again);
    auto rest = again->fetch(1000, 300ms);
    ASSERT_TRUE(rest.ok()) << rest.message();
    EXPECT_TRUE(rest->empty()) << rest->size() << " messages delivered again";
}

TEST_P(BusSuite, KeepsPerKeyOrderWithSeveralThreads) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    constexpr int kThreads = 4, kAgentsPerThread = 5, kRounds = 60;
    const int32_t kTypes[] = {59, 1000, 5100, 42, 6003};  // driver, agent, collector, scanner
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int r = 0; r < kRounds; ++r) {
                std::vector<Owned> batch;
                for (int a = 0; a < kAgentsPerThread; ++a) {
                    const std::string k = agentKey(t * 100 + a);
                    for (int i = 0; i < 3; ++i) {
                        const int seq = r * 3 + i;
                        batch.push_back({k, kTypes[(seq + a) % 5], valueFor(k, seq)});
                    }
                }
                if (!appendAll(bus->producer(), batch).ok()) ++failures;
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0);

    const size_t total = kThreads * kAgentsPerThread * kRounds * 3;
    auto c = consumer(*bus, {.group = "order"});
    ASSERT_TRUE(c);
    auto got = fetchAtLeast(*c, total, 20s);
    ASSERT_EQ(got.size(), total);
    // Both backends keep each key's order across families (NATS: a key's family change seals
    // the batch holding its earlier messages, see nats_producer.h).
    std::map<std::string, int> last;
    for (const auto& d : got) {
        const int seq = seqOf(d.value);
        auto [it, fresh] = last.try_emplace(d.key, -1);
        ASSERT_EQ(seq, it->second + 1) << "key " << d.key << " out of order or lost a message";
        it->second = seq;
    }
    std::set<std::string> values;
    for (const auto& d : got) values.insert(d.value);
    EXPECT_EQ(values.size(), total) << "duplicates or losses";
}

TEST_P(BusSuite, RestartedConsumerResumesAfterItsCommit) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    const std::string k = agentKey(7);
    // Five appends of ten, each acknowledged before the next.
    for (int a = 0; a < 5; ++a) {
        std::vector<Owned> batch;
        for (int i = 0; i < 10; ++i) batch.push_back({k, 59, valueFor(k, a * 10 + i)});
        ASSERT_TRUE(appendAll(bus->producer(), batch).ok());
    }
    {
        auto c = consumer(*bus, {.group = "resume"});
        ASSERT_TRUE(c);
        auto got = fetchAtLeast(*c, 50, 10s);
        ASSERT_EQ(got.size(), 50u);
        for (int i = 0; i < 50; ++i) ASSERT_EQ(seqOf(got[i].value), i);
        // Processed the first 20 only; then the process "stops".
        ASSERT_TRUE(c->commit(std::span<const Delivery>(got.data(), 20)).ok());
    }
    auto c = consumer(*bus, {.group = "resume"});
    ASSERT_TRUE(c);
    auto again = fetchAtLeast(*c, 30, 10s);
    ASSERT_EQ(again.size(), 30u) << "uncommitted messages must be delivered again";
    for (int i = 0; i < 30; ++i) EXPECT_EQ(seqOf(again[i].value), 20 + i);
    auto more = c->fetch(100, 200ms);
    ASSERT_TRUE(more.ok());
    EXPECT_TRUE(more->empty());
}

TEST_P(BusSuite, GroupsAreIndependent) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    auto msgs = makeMessages(6, 5);
    ASSERT_TRUE(appendAll(bus->producer(), msgs).ok());
    auto a = consumer(*bus, {.group = "hub"});
    ASSERT_TRUE(a);
    auto got_a = fetchAtLeast(*a, msgs.size(), 10s);
    ASSERT_EQ(got_a.size(), msgs.size());
    ASSERT_TRUE(a->commit(got_a).ok());
    auto b = consumer(*bus, {.group = "manager"});
    ASSERT_TRUE(b);
    auto got_b = fetchAtLeast(*b, msgs.size(), 10s);
    EXPECT_EQ(got_b.size(), msgs.size());
}

TEST_P(BusSuite, PartitionFilterAndDisjointConsumersSplitTheWork) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    auto msgs = makeMessages(40, 3);
    ASSERT_TRUE(appendAll(bus->producer(), msgs).ok());
    size_t in_p1 = 0;
    for (const auto& m : msgs) in_p1 += partitionOf(m.key, 4) == 1;
    ASSERT_GT(in_p1, 0u);

    auto one = consumer(*bus, {.group = "only1", .partitions = {1}});
    ASSERT_TRUE(one);
    auto got = fetchAtLeast(*one, in_p1, 10s);
    EXPECT_EQ(got.size(), in_p1);
    for (const auto& d : got) EXPECT_EQ(d.partition, 1u);
    auto extra = one->fetch(100, 200ms);
    ASSERT_TRUE(extra.ok());
    EXPECT_TRUE(extra->empty());

    // One group, two consumers with disjoint partitions: together they see everything once.
    auto left = consumer(*bus, {.group = "split", .partitions = {0, 1}});
    auto right = consumer(*bus, {.group = "split", .partitions = {2, 3}});
    ASSERT_TRUE(left && right);
    size_t in_left = 0;
    for (const auto& m : msgs) in_left += partitionOf(m.key, 4) < 2;
    auto l = fetchAtLeast(*left, in_left, 10s);
    auto r = fetchAtLeast(*right, msgs.size() - in_left, 10s);
    EXPECT_EQ(l.size(), in_left);
    EXPECT_EQ(r.size(), msgs.size() - in_left);
    for (const auto& d : l) EXPECT_LT(d.partition, 2u);
    for (const auto& d : r) EXPECT_GE(d.partition, 2u);
}

TEST_P(BusSuite, InstancesOfAGroupOnTheSamePartitions) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    auto a = bus->consumer({.group = "shared"});
    ASSERT_TRUE(a.ok()) << a.message();
    auto b = bus->consumer({.group = "shared"});
    if (!nats()) {
        // The embedded log gives a group's partition to one consumer at a time.
        ASSERT_FALSE(b.ok());
        EXPECT_NE(b.message().find("in use"), std::string::npos) << b.message();
        return;
    }
    // NATS: both pull from the group's durables and share the messages.
    ASSERT_TRUE(b.ok()) << b.message();
    for (int i = 0; i < 40; ++i) {
        std::vector<Owned> batch;
        for (int j = 0; j < 10; ++j) {
            const std::string k = agentKey(j);
            batch.push_back({k, 59, valueFor(k, i * 10 + j)});
        }
        ASSERT_TRUE(appendAll(bus->producer(), batch).ok());
    }
    std::mutex mu;
    std::multiset<int> seen;
    auto run = [&](Consumer& c) {
        const auto deadline = std::chrono::steady_clock::now() + 15s;
        while (std::chrono::steady_clock::now() < deadline) {
            {
                std::lock_guard lock(mu);
                if (seen.size() >= 400) return;
            }
            auto got = c.fetch(20, 100ms);
            if (!got.ok() || got->empty()) continue;
            ASSERT_TRUE(c.commit(*got).ok());
            std::lock_guard lock(mu);
            for (const auto& d : *got) seen.insert(seqOf(d.value));
        }
    };
    std::thread ta([&] { run(**a); });
    std::thread tb([&] { run(**b); });
    ta.join();
    tb.join();
    EXPECT_EQ(seen.size(), 400u) << "each message once, between the two";
    EXPECT_EQ(std::set<int>(seen.begin(), seen.end()).size(), 400u);
}

TEST_P(BusSuite, FamilyFilter) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    std::vector<Owned> msgs;
    const int32_t types[] = {59, 900, 1000, 4000, 5100, 5050, 6003, 8000, 3000, -1};
    for (int i = 0; i < 200; ++i) {
        const std::string k = agentKey(i % 9);
        msgs.push_back({k, types[i % 10], valueFor(k, i)});
    }
    ASSERT_TRUE(appendAll(bus->producer(), msgs).ok());
    auto count = [&](std::initializer_list<Family> fams) {
        size_t n = 0;
        for (const auto& m : msgs) {
            for (Family f : fams) n += familyOf(m.data_type) == f;
        }
        return n;
    };

    auto drivers = consumer(*bus, {.group = "drv", .families = {Family::kDriver}});
    ASSERT_TRUE(drivers);
    auto got = fetchAtLeast(*drivers, count({Family::kDriver}), 10s);
    EXPECT_EQ(got.size(), count({Family::kDriver}));
    for (const auto& d : got) EXPECT_EQ(familyOf(d.data_type), Family::kDriver);

    const auto two = {Family::kAgent, Family::kCollector};
    {
        auto c = consumer(*bus, {.group = "assets", .families = two});
        ASSERT_TRUE(c);
        auto g = fetchAtLeast(*c, count(two), 10s);
        EXPECT_EQ(g.size(), count(two));
        for (const auto& d : g) {
            const Family f = familyOf(d.data_type);
            EXPECT_TRUE(f == Family::kAgent || f == Family::kCollector) << d.data_type;
        }
        auto none = c->fetch(100, 200ms);
        ASSERT_TRUE(none.ok());
        EXPECT_TRUE(none->empty());
        ASSERT_TRUE(c->commit(g).ok());
    }
    auto c = consumer(*bus, {.group = "assets", .families = two});
    ASSERT_TRUE(c);
    auto after = c->fetch(100, 300ms);
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE(after->empty()) << after->size() << " filtered messages came back after commit";
}

TEST_P(BusSuite, NewGroupFromLatestSeesOnlyNewMessages) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    ASSERT_TRUE(appendAll(bus->producer(), makeMessages(5, 4)).ok());
    auto c = consumer(*bus, {.group = "late", .from_latest = true});
    ASSERT_TRUE(c);
    const std::string k = agentKey(99);
    ASSERT_TRUE(appendAll(bus->producer(), {{k, 59, valueFor(k, 1000)}}).ok());
    auto got = fetchAtLeast(*c, 1, 10s);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(seqOf(got[0].value), 1000);
}

TEST_P(BusSuite, LargeValues) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    std::vector<Owned> msgs;
    const std::string k = agentKey(3);
    for (int i = 0; i < 6; ++i) {
        // Up to ~700 KB: below NATS's default max_payload of 1 MB, so both backends take it.
        const size_t size = i % 2 == 0 ? 700 * 1024 - i : 200 + i;
        msgs.push_back({k, 5100, valueFor(k, i, size)});
    }
    ASSERT_TRUE(appendAll(bus->producer(), msgs).ok());
    auto c = consumer(*bus, {.group = "big"});
    ASSERT_TRUE(c);
    auto got = fetchAtLeast(*c, msgs.size(), 10s, 2);
    ASSERT_EQ(got.size(), msgs.size());
    for (size_t i = 0; i < msgs.size(); ++i) EXPECT_TRUE(got[i].value == msgs[i].value) << i;
}

TEST_P(BusSuite, OversizedMessageFailsItsAppend) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    const std::string k = agentKey(1);
    const std::string huge(nats() ? (2u << 20) : (kMaxValueBytes + 1), 'x');
    std::vector<Message> m = {{k, 59, "fine"}, {k, 59, huge}};
    Status s = bus->producer().append(m);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("too large"), std::string::npos) << s.message();
    EXPECT_EQ(metrics_.counterTotal("vigil_bus_failed_appends_total"), 1u);
}

TEST_P(BusSuite, ConcurrentAsyncAppendsAllComplete) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    constexpr int kThreads = 4, kAppends = 150, kPer = 10;
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int a = 0; a < kAppends; ++a) {
                std::vector<Owned> own;
                for (int i = 0; i < kPer; ++i) {
                    const std::string k = agentKey(t * 1000 + i);
                    own.push_back({k, 59, valueFor(k, a)});
                }
                std::vector<Message> view;
                for (const auto& m : own) view.push_back({m.key, m.data_type, m.value});
                bus->producer().appendAsync(view, [&](Status s) { (s.ok() ? ok : failed)++; });
            }
        });
    }
    for (auto& th : threads) th.join();
    bus->producer().flush();
    EXPECT_EQ(ok.load(), kThreads * kAppends);
    EXPECT_EQ(failed.load(), 0);
    const size_t total = kThreads * kAppends * kPer;
    auto c = consumer(*bus, {.group = "all"});
    ASSERT_TRUE(c);
    auto got = fetchAtLeast(*c, total, 20s);
    EXPECT_EQ(got.size(), total);
    std::set<std::string> distinct;
    for (const auto& d : got) distinct.insert(d.value);
    EXPECT_EQ(distinct.size(), total);
}

TEST_P(BusSuite, AnAppendFromInsideACallbackCompletes) {
    BusOptions tight = options_;
    tight.max_pending_bytes = 1;  // every append waits for room, except from a callback
    options_ = tight;
    auto bus = openBus();
    ASSERT_TRUE(bus);
    const std::string k = agentKey(4);
    const std::string first = valueFor(k, 0), second = valueFor(k, 1);
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    int failed = 0;
    std::vector<Message> m1 = {{k, 59, first}};
    bus->producer().appendAsync(m1, [&](Status s) {
        ASSERT_TRUE(s.ok()) << s.message();
        // The first inner append fills the pending space; the second would wait for room on
        // the very thread that makes room.
        for (int i = 0; i < 2; ++i) {
            std::vector<Message> m2 = {{k, 59, second}};
            bus->producer().appendAsync(m2, [&](Status s2) {
                std::lock_guard lock(mu);
                failed += !s2.ok();
                ++done;
                cv.notify_all();
            });
        }
    });
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return done == 2; })) << "an inner append hung";
    EXPECT_EQ(failed, 0);
}

TEST_P(BusSuite, ReadOnlyProcessCannotAppend) {
    {
        auto writer = openBus();  // creates the bus (directory or stream)
        ASSERT_TRUE(writer);
        const std::string k = agentKey(5);
        ASSERT_TRUE(appendAll(writer->producer(), {{k, 59, valueFor(k, 0)}}).ok());
        if (nats()) {
            auto reader = openBus(false);
            ASSERT_TRUE(reader);
            Status s = appendAll(reader->producer(), {{k, 59, valueFor(k, 1)}});
            ASSERT_FALSE(s.ok());
            EXPECT_NE(s.message().find("read-only"), std::string::npos) << s.message();
            return;
        }
    }
    // Embedded: a read-only process takes no writer lock and reads what is there.
    auto reader = openBus(false);
    ASSERT_TRUE(reader);
    const std::string k = agentKey(5);
    Status s = appendAll(reader->producer(), {{k, 59, valueFor(k, 1)}});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("read-only"), std::string::npos) << s.message();
    auto c = consumer(*reader, {.group = "ro"});
    ASSERT_TRUE(c);
    EXPECT_EQ(fetchAtLeast(*c, 1, 5s).size(), 1u);
}

TEST_P(BusSuite, ConsumerOptionsAreChecked) {
    auto bus = openBus();
    ASSERT_TRUE(bus);
    auto bad_name = bus->consumer({.group = "a/b"});
    ASSERT_FALSE(bad_name.ok());
    EXPECT_NE(bad_name.message().find("group"), std::string::npos);
    auto bad_partition = bus->consumer({.group = "x", .partitions = {99}});
    ASSERT_FALSE(bad_partition.ok());
    EXPECT_NE(bad_partition.message().find("partition 99"), std::string::npos)
        << bad_partition.message();
}

}  // namespace vigil::bus::testing
