// vigil-discovery configuration: defaults, overrides, problems named by key.
#include "server/discovery/discovery_config.h"

#include <gtest/gtest.h>

namespace vigil::discovery {
namespace {

TEST(DiscoveryConfigTest, DefaultsAreElkeidLike) {
    auto c = parseDiscoveryConfig("", "test", {});
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->options.api.host, "0.0.0.0");
    EXPECT_EQ(c->options.api.port, 8088);
    EXPECT_EQ(c->options.registry.evict_after.count(), 105000);
    EXPECT_EQ(c->options.registry.max_detail, 100u);
    EXPECT_TRUE(c->options.replication.peers.empty());
    EXPECT_FALSE(c->auth_disabled);
    EXPECT_EQ(c->key_count, 0u);
}

TEST(DiscoveryConfigTest, FullFileAndFlags) {
    const std::string yaml = R"(
listen: 127.0.0.1:9000
advertise: 10.0.0.1:9000
auth:
  keys: {a1: secret-one-0123456789, a2: secret-two-0123456789}
peers: [10.0.0.2:9000, "[fd00::3]:9000"]
replication:
  access_key: a2
  flush_interval: 200ms
  batch: 10
expiry:
  evict_after: 3s
)";
    DiscoveryFlags flags;
    flags.peers = {"10.0.0.4:9000"};
    auto c = parseDiscoveryConfig(yaml, "d.yaml", flags);
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->options.api.port, 9000);
    EXPECT_EQ(c->options.advertise, "10.0.0.1:9000");
    EXPECT_EQ(c->key_count, 2u);
    EXPECT_EQ(c->options.replication.key.access_key, "a2");
    EXPECT_EQ(c->options.replication.peers,
              (std::vector<std::string>{"10.0.0.2:9000", "[fd00::3]:9000", "10.0.0.4:9000"}));
    EXPECT_EQ(c->options.replication.flush_interval.count(), 200);
    EXPECT_EQ(c->options.replication.batch, 10u);
    EXPECT_EQ(c->options.registry.evict_after.count(), 3000);
    EXPECT_TRUE(c->options.api.verifier->enabled());

    flags.listen = "127.0.0.1:0";
    flags.evict_after = "2s";
    flags.auth_disabled = true;
    c = parseDiscoveryConfig(yaml, "d.yaml", flags);
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->options.api.port, 0);
    EXPECT_EQ(c->options.registry.evict_after.count(), 2000);
    EXPECT_TRUE(c->options.api.auth_disabled);
}

TEST(DiscoveryConfigTest, ProblemsNameKeysAndPositions) {
    const std::string yaml =
        "listen: nowhere\npeers: [ok:1, bad]\nexpiry:\n  evict_after: soon\nreplication:\n  "
        "access_key: missing\nthreds: 4\n";
    auto c = parseDiscoveryConfig(yaml, "d.yaml", {});
    ASSERT_FALSE(c.ok());
    const std::string m = c.message();
    for (const char* key :
         {"'listen'", "'peers'", "'expiry.evict_after'", "'replication.access_key'", "'threds'"})
        EXPECT_NE(m.find(key), std::string::npos) << key << " in:\n" << m;
    EXPECT_NE(m.find("d.yaml:1:"), std::string::npos) << m;
    DiscoveryFlags bad;
    bad.listen = "x";
    bad.peers = {"y"};
    c = parseDiscoveryConfig("", "test", bad);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.message().find("--listen"), std::string::npos);
    EXPECT_NE(c.message().find("--peer"), std::string::npos);
}

}  // namespace
}  // namespace vigil::discovery
