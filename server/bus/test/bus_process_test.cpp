// The bus across processes, against both backends: a consumer in another process sees appends;
// every append acknowledged to a writer process that is then SIGKILLed can be read afterwards;
// NATS outages fail appends with a clear error and the bus recovers when NATS is back.
#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "server/bus/bus.h"
#include "server/bus/test/bus_test_env.h"

namespace vigil::bus::testing {
namespace {

using namespace std::chrono_literals;

class BusProcess : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        std::string url;
        if (GetParam() == "nats") {
            auto u = NatsServer::sharedUrl();
            ASSERT_TRUE(u.ok()) << u.message();
            url = *u;
        }
        options_ = testOptions(GetParam(), dir_.path(), url);
    }
    void TearDown() override { dropNatsStream(options_); }

    std::vector<std::string> toolArgs(const std::string& mode) const {
        return {selfDir() + "/bus_test_tool", mode,
                "--backend", options_.backend,
                "--dir", options_.dir,
                "--url", options_.nats_url,
                "--stream", options_.stream,
                "--prefix", options_.nats_subject_prefix,
                "--partitions", std::to_string(options_.partitions)};
    }

    TempDir dir_;
    BusOptions options_;
    metrics::Registry metrics_;
};

TEST_P(BusProcess, ConsumerInAnotherProcessSeesAppends) {
    auto bus = Bus::open(options_, metrics_);  // creates the directory or the stream
    ASSERT_TRUE(bus.ok()) << bus.message();
    constexpr int kCount = 300;
    auto args = toolArgs("read");
    for (std::string a : {"--group", "xproc", "--count", "300", "--timeout-ms", "20000"}) {
        args.push_back(a);
    }
    auto reader = Child::spawn(args);
    ASSERT_TRUE(reader.ok()) << reader.message();
    std::string line;
    ASSERT_TRUE((*reader)->readLine(line, 15s)) << "reader did not start";
    ASSERT_EQ(line, "READY");

    std::set<int> sent;
    for (int round = 0; round < 10; ++round) {
        std::vector<std::string> keys, values;
        for (int i = 0; i < kCount / 10; ++i) {
            const int seq = round * (kCount / 10) + i;
            keys.push_back(agentKey(seq % 13));
            values.push_back(valueFor(keys.back(), seq));
            sent.insert(seq);
        }
        std::vector<Message> m;
        for (size_t i = 0; i < keys.size(); ++i) m.push_back({keys[i], 59, values[i]});
        ASSERT_TRUE((*bus)->producer().append(m).ok());
        std::this_thread::sleep_for(20ms);  // the reader waits for each round
    }
    std::set<int> received;
    while (received.size() < sent.size() && (*reader)->readLine(line, 20s)) {
        std::istringstream in(line);
        uint32_t partition = 0;
        uint64_t offset = 0;
        std::string key;
        int seq = -1;
        in >> partition >> offset >> key >> seq;
        EXPECT_EQ(partition, partitionOf(key, options_.partitions)) << line;
        received.insert(seq);
    }
    EXPECT_EQ(received, sent);
    const int st = (*reader)->wait(20s);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "reader status " << st;
}

TEST_P(BusProcess, AcknowledgedAppendsSurviveKill9OfTheWriter) {
    auto writer = Child::spawn(toolArgs("write"));
    ASSERT_TRUE(writer.ok()) << writer.message();
    std::vector<std::pair<int, int>> acked;
    size_t acked_messages = 0;
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (acked_messages < 20000 && std::chrono::steady_clock::now() < deadline &&
           (*writer)->readLine(line, 10s)) {
        int first = 0, last = 0;
        ASSERT_EQ(std::sscanf(line.c_str(), "ACK %d %d", &first, &last), 2) << line;
        acked.emplace_back(first, last);
        acked_messages += static_cast<size_t>(last - first + 1);
    }
    // Killed in the middle of its appends (8 in flight), some of them half-written.
    (*writer)->kill(SIGKILL);
    (*writer)->wait(10s);
    ASSERT_GT(acked_messages, 1000u) << "the writer acknowledged too little to test anything";

    auto bus = Bus::open(options_, metrics_);  // embedded: recovery, torn tails truncated
    ASSERT_TRUE(bus.ok()) << bus.message();
    auto c = (*bus)->consumer({.group = "verify"});
    ASSERT_TRUE(c.ok()) << c.message();
    std::set<int> want;
    for (auto [first, last] : acked) {
        for (int s = first; s <= last; ++s) want.insert(s);
    }
    std::set<int> have;
    const auto read_deadline = std::chrono::steady_clock::now() + 30s;
    bool has_all = false;
    while (!has_all && std::chrono::steady_clock::now() < read_deadline) {
        auto got = (*c)->fetch(5000, 500ms);
        ASSERT_TRUE(got.ok()) << got.message();
        if (got->empty()) break;  // everything stored has been read
        for (const auto& d : *got) have.insert(seqOf(d.value));
        has_all = std::includes(have.begin(), have.end(), want.begin(), want.end());
    }
    std::vector<int> missing;
    std::set_difference(want.begin(), want.end(), have.begin(), have.end(),
                        std::back_inserter(missing));
    EXPECT_TRUE(missing.empty()) << missing.size() << " acknowledged messages lost, first "
                                 << (missing.empty() ? -1 : missing.front());
}

INSTANTIATE_TEST_SUITE_P(Embedded, BusProcess, ::testing::Values("embedded"));
INSTANTIATE_TEST_SUITE_P(Nats, BusProcess, ::testing::Values("nats"));

TEST(NatsOutage, OpenFailsClearlyWhenNatsIsUnreachable) {
    TempDir dir;
    BusOptions o = testOptions("nats", dir.path(), "nats://127.0.0.1:1");
    o.nats_timeout = 1000ms;
    metrics::Registry m;
    auto bus = Bus::open(o, m);
    ASSERT_FALSE(bus.ok());
    EXPECT_NE(bus.message().find("connect to NATS at nats://127.0.0.1:1"), std::string::npos)
        << bus.message();
}

TEST(NatsOutage, AppendsFailWhileNatsIsDownAndRecoverAfter) {
    auto server = NatsServer::start();  // its own server: this test stops it
    ASSERT_TRUE(server.ok()) << server.message();
    TempDir dir;
    BusOptions o = testOptions("nats", dir.path(), (*server)->url());
    o.nats_timeout = 2000ms;
    metrics::Registry m;
    auto bus = Bus::open(o, m);
    ASSERT_TRUE(bus.ok()) << bus.message();
    auto appendOne = [&](int seq) {
        const std::string k = agentKey(seq % 3);
        const std::string v = valueFor(k, seq);
        std::vector<Message> msg = {{k, 1000, v}};
        return (*bus)->producer().append(msg);
    };
    ASSERT_TRUE(appendOne(0).ok());

    (*server)->stop();
    Status down = appendOne(1);
    const auto fail_deadline = std::chrono::steady_clock::now() + 15s;
    for (int seq = 2; down.ok() && std::chrono::steady_clock::now() < fail_deadline; ++seq) {
        down = appendOne(seq);
    }
    ASSERT_FALSE(down.ok()) << "appends kept succeeding with NATS down";
    EXPECT_NE(down.message().find("NATS"), std::string::npos) << down.message();
    EXPECT_GT(m.counterTotal("vigil_bus_failed_appends_total"), 0u);
    EXPECT_GT(m.counterTotal("vigil_bus_errors_total"), 0u);

    ASSERT_TRUE((*server)->restart().ok());
    Status up = makeError("not tried");
    const auto up_deadline = std::chrono::steady_clock::now() + 20s;
    int seq = 100;
    while (!up.ok() && std::chrono::steady_clock::now() < up_deadline) {
        up = appendOne(seq++);
        if (!up.ok()) std::this_thread::sleep_for(200ms);
    }
    ASSERT_TRUE(up.ok()) << "the bus did not recover: " << up.message();
    auto c = (*bus)->consumer({.group = "after"});
    ASSERT_TRUE(c.ok()) << c.message();
    std::set<int> seen;
    for (const auto& d : fetchAtLeast(**c, 2, 10s)) seen.insert(seqOf(d.value));
    EXPECT_TRUE(seen.count(0)) << "stored before the outage";
    EXPECT_TRUE(seen.count(seq - 1)) << "stored after the recovery";
}

}  // namespace
}  // namespace vigil::bus::testing
