// vigil-hub run on the NATS JetStream backend: records published to a real nats-server on
// loopback (VIGIL_TEST_NATS_URL, or one this test starts), the default rule pack, alerts in a
// JSON lines file and on the alerts stream of the same server; a restart resumes after the
// commit (the durable consumer of the group) without losing or repeating an alert.
#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "libs/wire/buffer.h"
#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "server/bus/bus.h"
#include "server/bus/test/bus_test_env.h"
#include "server/hub/hub_service.h"

namespace vigil::hub {
namespace {

using Fields = std::map<std::string, std::string>;
using nlohmann::json;
namespace bt = vigil::bus::testing;

std::string mqData(const std::string& agent, int32_t data_type, const Fields& f) {
    wire::Buffer body;
    wire::encodePayload(body, f);
    vigil::bus::MQData mq;
    mq.set_data_type(data_type);
    mq.set_agent_time(1700000000);
    mq.set_agent_id(agent);
    mq.set_hostname("host-" + agent);
    mq.set_body(std::string(body.data(), body.size()));
    return mq.SerializeAsString();
}

void publish(const bus::BusOptions& options,
             const std::vector<std::pair<std::string, Fields>>& recs) {
    metrics::Registry reg;
    bus::BusOptions o = options;
    o.writer = true;
    auto b = bus::Bus::open(o, reg);
    ASSERT_TRUE(b.ok()) << b.message();
    std::vector<std::string> values;
    for (const auto& [agent, f] : recs) values.push_back(mqData(agent, 59, f));
    std::vector<bus::Message> msgs;
    for (size_t i = 0; i < recs.size(); ++i) msgs.push_back({recs[i].first, 59, values[i]});
    auto st = (*b)->producer().append(msgs);
    ASSERT_TRUE(st.ok()) << st.message();
}

// The reverse-shell alerts in the JSON lines file (the pack has other rules that may fire).
std::vector<json> readAlerts(const std::string& path) {
    std::vector<json> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        json a = json::parse(line);
        if (a["rule_id"] == "reverse_shell_socket_stdio") out.push_back(std::move(a));
    }
    return out;
}

const Fields kReverse{{"exe", "/bin/bash"},   {"pid", "201"},          {"ppid", "200"},
                      {"argv", "bash -i"},    {"stdin", "socket:[1]"}, {"stdout", "socket:[1]"},
                      {"dip", "203.0.113.7"}, {"dport", "4444"}};
const Fields kHarmless{{"exe", "/usr/bin/ls"}, {"pid", "100"}, {"argv", "ls"}};

TEST(HubServiceNats, AlertsFromAJetStreamBusToJsonLinesAndTheAlertsStream) {
    auto url = bt::NatsServer::sharedUrl();
    ASSERT_TRUE(url.ok()) << url.message();
    bt::TempDir tmp;
    bus::BusOptions records = bt::testOptions("nats", tmp.path(), *url);
    bus::BusOptions alerts_bus = bt::testOptions("nats", tmp.path(), *url);
    publish(records, {{"agent-1", kHarmless}, {"agent-1", kReverse}, {"agent-2", kHarmless}});

    HubConfig cfg;
    cfg.bus = records;
    cfg.bus.writer = false;
    cfg.rules = {
        std::string(std::getenv("VIGIL_SOURCE_DIR") ? std::getenv("VIGIL_SOURCE_DIR") : ".") +
        "/hub/rules"};
    cfg.group = "hub";
    cfg.alerts_jsonl = tmp.path() + "/alerts.jsonl";
    cfg.alerts_bus = true;
    cfg.alerts_bus_options = alerts_bus;
    cfg.alerts_bus_options.writer = true;
    cfg.workers = 2;
    cfg.http_listen.clear();

    auto runUntil = [&](uint64_t records_expected) {
        metrics::Registry reg;
        auto s = HubService::create(cfg, reg);
        ASSERT_TRUE(s.ok()) << s.message();
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while ((*s)->stats().records < records_expected &&
               std::chrono::steady_clock::now() < deadline) {
            auto n = (*s)->pollOnce(std::chrono::milliseconds(200));
            ASSERT_TRUE(n.ok()) << n.message();
        }
        EXPECT_EQ((*s)->stats().records.load(), records_expected);
        EXPECT_EQ((*s)->stats().bad_records.load(), 0u);
    };
    runUntil(3);
    auto alerts = readAlerts(cfg.alerts_jsonl);
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_EQ(alerts[0]["rule_id"], "reverse_shell_socket_stdio");
    EXPECT_EQ(alerts[0]["agent_id"], "agent-1");

    // Restart: only the new record is read (the group's position was committed).
    publish(records, {{"agent-2", kReverse}});
    runUntil(1);
    alerts = readAlerts(cfg.alerts_jsonl);
    ASSERT_EQ(alerts.size(), 2u);
    EXPECT_EQ(alerts[1]["agent_id"], "agent-2");

    // The alerts stream holds both, keyed by agent, data_type 9000.
    {
        metrics::Registry reg;
        bus::BusOptions o = alerts_bus;
        o.writer = false;
        auto b = bus::Bus::open(o, reg);
        ASSERT_TRUE(b.ok()) << b.message();
        auto c = (*b)->consumer({.group = "check"});
        ASSERT_TRUE(c.ok()) << c.message();
        const size_t written = [&] {
            size_t n = 0;
            std::ifstream in(cfg.alerts_jsonl);
            for (std::string line; std::getline(in, line);) n += !line.empty();
            return n;
        }();
        auto got = bt::fetchAtLeast(**c, written, std::chrono::seconds(10));
        ASSERT_EQ(got.size(), written);  // the same alerts as the file, no more
        std::map<std::string, int> by_agent;
        for (const auto& d : got) {
            EXPECT_EQ(d.data_type, kAlertDataType);
            if (json::parse(d.value)["rule_id"] == "reverse_shell_socket_stdio") ++by_agent[d.key];
        }
        EXPECT_EQ(by_agent["agent-1"], 1);
        EXPECT_EQ(by_agent["agent-2"], 1);
    }
    bt::dropNatsStream(records);
    bt::dropNatsStream(alerts_bus);
}

}  // namespace
}  // namespace vigil::hub
