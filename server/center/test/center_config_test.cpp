// vigil-center configuration.
#include "server/center/center_config.h"

#include <gtest/gtest.h>

namespace vigil::center {
namespace {

TEST(CenterConfig, ExampleIsValidWithKeysAndDefaults) {
    CenterFlags f;
    f.no_auth = true;
    auto c = parseCenterConfig(exampleCenterConfig(), "example", f);
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->grpc.listen, "0.0.0.0:6751");
    EXPECT_EQ(c->bus.backend, "embedded");
    EXPECT_EQ(c->bus.dir, "/var/lib/vigil-center/bus");
    EXPECT_EQ(c->upload_dir, "/var/lib/vigil-center/uploads");
    EXPECT_EQ(c->discovery_name, "hids_svr_grpc");
}

// plugins.manager: the sets from vigil-manager, exclusive with plugins.config.
TEST(CenterConfig, PluginsFromTheManager) {
    CenterFlags f;
    f.no_auth = true;
    const std::string base = "data_dir: /d\ntls: {ca: /ca, cert: /c, key: /k}\n";
    auto c = parseCenterConfig(base + "plugins: {manager: {url: \"http://10.0.0.9:8080\", timeout: 2s}}\n", "c.yaml", f);
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->plugin_manager_url, "http://10.0.0.9:8080");
    EXPECT_EQ(c->plugin_manager_timeout, std::chrono::seconds(2));
    EXPECT_TRUE(c->plugin_config.empty());
    auto bad = parseCenterConfig(base + "plugins: {config: /p.yaml, manager: {url: \"10.0.0.9:8080\", port: 1}}\n",
                                 "c.yaml", f);
    ASSERT_FALSE(bad.ok());
    for (const char* k : {"'plugins.manager.url'", "'plugins.manager'", "port"}) {
        EXPECT_NE(bad.message().find(k), std::string::npos) << k << " in " << bad.message();
    }
}

TEST(CenterConfig, FlagsAloneAndProblems) {
    CenterFlags f;
    f.data_dir = "/d";
    f.ca_file = "/ca";
    f.cert_file = "/c";
    f.key_file = "/k";
    f.no_auth = true;
    f.bus = "nats";
    f.nats_url = "nats://127.0.0.1:4333";
    f.discovery = {"127.0.0.1:8088"};
    auto c = loadCenterConfig("", f);
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->bus.backend, "nats");
    EXPECT_EQ(c->bus.nats_url, "nats://127.0.0.1:4333");

    auto bad = parseCenterConfig("data_dir: rel\ngrpc: {listen: nope, completion_queues: 0}\nbus: {backend: kafka}\n",
                                 "c.yaml", {});
    ASSERT_FALSE(bad.ok());
    for (const char* k : {"'data_dir'", "'grpc.listen'", "'grpc.completion_queues'", "'bus.backend'", "'tls.ca'",
                          "'auth.keys'"}) {
        EXPECT_NE(bad.message().find(k), std::string::npos) << k << "\n" << bad.message();
    }
}

}  // namespace
}  // namespace vigil::center
