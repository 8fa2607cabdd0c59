// Agent configuration: defaults, regions, flags, and errors that name the key.
#include "agent/app/agent_config.h"

#include <gtest/gtest.h>

namespace vigil::agent {
namespace {

const char* kMinimal = R"(
work_dir: /tmp/vigil-test
regions:
  default:
    private:
      centers: [127.0.0.1:6751]
tls: {ca: /ca.pem, cert: /a.pem, key: /a.key}
)";

TEST(AgentConfig, MinimalConfigGetsDefaults) {
    auto c = parseAgentConfig(kMinimal, "agent.yaml", {});
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->work_dir, "/tmp/vigil-test");
    EXPECT_EQ(c->transport.region, "default");
    EXPECT_EQ(c->transport.regions.at("default").private_net.centers, (std::vector<std::string>{"127.0.0.1:6751"}));
    EXPECT_EQ(c->transport.network_order, (std::vector<std::string>{"private", "public"}));
    EXPECT_EQ(c->batcher.interval.count(), 100);
    EXPECT_EQ(c->spool.dir, "/tmp/vigil-test/spool");
    EXPECT_EQ(c->log_file, "/tmp/vigil-test/log/vigil-agent.log");
    EXPECT_TRUE(c->batcher.critical_data_types.count(5100));
    EXPECT_TRUE(c->batcher.critical_data_types.count(1010));
    EXPECT_EQ(c->plugins.work_dir, "/tmp/vigil-test");
}

TEST(AgentConfig, ExampleConfigIsValid) {
    auto c = parseAgentConfig(exampleAgentConfig(), "example", {});
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->transport.regions.at("default").private_net.discovery.size(), 1u);
}

TEST(AgentConfig, RegionsNetworksAndPlugins) {
    auto c = parseAgentConfig(R"(
work_dir: /w
region: north
network_order: [public, private]
regions:
  north:
    private: {discovery: ["10.0.0.1:8088"], centers: ["10.0.0.2:6751"]}
    public: {centers: ["vigil.example.com:6751"]}
  south:
    private: {centers: ["10.1.0.2:6751"]}
tls: {ca: /ca, cert: /c, key: /k, server_name: center.example}
spool: {max_size: 1GiB, critical_data_types: ["6001"]}
plugins:
  cpu_percent: 20
  memory: 128MiB
  initial:
    - {name: driver, version: "1.0", sha256: abc, download_urls: ["http://x/driver"], detail: "{}"}
)",
                              "agent.yaml", {});
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->transport.region, "north");
    EXPECT_EQ(c->transport.network_order, (std::vector<std::string>{"public", "private"}));
    EXPECT_EQ(c->transport.regions.size(), 2u);
    EXPECT_EQ(c->transport.regions.at("north").public_net.centers[0], "vigil.example.com:6751");
    EXPECT_EQ(c->transport.server_name, "center.example");
    EXPECT_EQ(c->spool.max_bytes, 1ull << 30);
    EXPECT_TRUE(c->batcher.critical_data_types.count(6001));
    EXPECT_EQ(c->plugins.cpu_percent, 20u);
    EXPECT_EQ(c->plugins.memory_bytes, 128ull << 20);
    ASSERT_EQ(c->initial_plugins.size(), 1u);
    EXPECT_EQ(c->initial_plugins[0].name, "driver");
    EXPECT_EQ(c->initial_plugins[0].type, "exec");
}

TEST(AgentConfig, FlagsOverrideTheFile) {
    AgentFlags f;
    f.work_dir = "/other";
    f.centers = {"127.0.0.1:7000"};
    f.spool_size = "32MiB";
    f.plugin_memory = "64MiB";
    f.agent_id = "host-7";
    auto c = parseAgentConfig(kMinimal, "agent.yaml", f);
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->work_dir, "/other");
    EXPECT_EQ(c->agent_id, "host-7");
    EXPECT_EQ(c->transport.regions.at("default").private_net.centers[0], "127.0.0.1:7000");
    EXPECT_EQ(c->spool.max_bytes, 32ull << 20);
    EXPECT_EQ(c->plugins.memory_bytes, 64ull << 20);
}

TEST(AgentConfig, FlagsAloneAreEnough) {
    AgentFlags f;
    f.work_dir = "/w";
    f.centers = {"127.0.0.1:6751"};
    f.ca_file = "/ca";
    f.cert_file = "/c";
    f.key_file = "/k";
    auto c = loadAgentConfig("", f);
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->transport.region, "default");
}

TEST(AgentConfig, EveryProblemNamesItsKey) {
    auto c = parseAgentConfig(R"(
work_dir: relative/dir
regions:
  default:
    private:
      centers: ["no-port"]
tls: {ca: /ca}
transport:
  batch_interval: soon
  batch_max_records: -3
spool: {max_size: 10}
plugins:
  memory: 1KiB
  initial:
    - {name: "../evil"}
unknown_top: 1
)",
                              "bad.yaml", {});
    ASSERT_FALSE(c.ok());
    const std::string& m = c.message();
    for (const char* key : {"regions.default.private.centers", "transport.batch_interval", "transport.batch_max_records",
                            "spool.max_size", "plugins.memory", "plugins.initial[0].name", "plugins.initial[0].sha256",
                            "unknown_top", "work_dir", "tls.cert", "tls.key"}) {
        EXPECT_NE(m.find(std::string("'") + key + "'"), std::string::npos) << "missing " << key << " in:\n" << m;
    }
    EXPECT_NE(m.find("bad.yaml:"), std::string::npos);
    EXPECT_NE(m.find("unknown key"), std::string::npos);
}

TEST(AgentConfig, UnknownRegionAndBadFlags) {
    AgentFlags r;
    r.region = "mars";
    auto u = parseAgentConfig(kMinimal, "agent.yaml", r);
    ASSERT_FALSE(u.ok());
    EXPECT_NE(u.message().find("'region': 'mars' has no entry under regions (known: default)"), std::string::npos)
        << u.message();
    AgentFlags f;
    f.spool_size = "huge";
    f.centers = {"x"};
    auto c = parseAgentConfig(kMinimal, "agent.yaml", f);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.message().find("'--spool-size'"), std::string::npos);
    EXPECT_NE(c.message().find("'--center'"), std::string::npos);
}

TEST(AgentConfig, AddressesAreHostColonPort) {
    for (const char* good : {"127.0.0.1:6751", "[::1]:6751", "center-1.example.com:1", "a_b:65535"}) {
        AgentFlags f;
        f.centers = {good};
        EXPECT_TRUE(parseAgentConfig(kMinimal, "agent.yaml", f).ok()) << good;
    }
    for (const char* bad : {"host", "host:", ":6751", "host:0", "host:65536", "host:123456", "a b:1", "[::1:1",
                            "[zz]:1", "host:12a"}) {
        AgentFlags f;
        f.centers = {bad};
        auto c = parseAgentConfig(kMinimal, "agent.yaml", f);
        EXPECT_FALSE(c.ok()) << bad;
    }
}

TEST(AgentConfig, SyntaxErrorsHavePositions) {
    auto c = parseAgentConfig("work_dir: [\n", "broken.yaml", {});
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.message().find("broken.yaml:"), std::string::npos);
}

}  // namespace
}  // namespace vigil::agent
