// Plugin config file parsing and change detection.
#include "server/center/plugin_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "libs/common/fs.h"

namespace vigil::center {
namespace {

const std::string kSha(64, 'a');

TEST(PluginConfig, DefaultsPerAgentAndAgentEntry) {
    std::string text = "plugins:\n  - {name: driver, version: '1.0', sha256: " + kSha +
                       ", download_urls: ['http://x/driver'], detail: 'd'}\n"
                       "agent: {version: '0.2.0', sha256: " + kSha + ", download_urls: ['https://x/agent']}\n"
                       "agents:\n  special: {plugins: []}\n";
    auto parsed = FilePluginConfig::parse(text, "plugins.yaml", "vigil-agent");
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    ASSERT_EQ(parsed->defaults.size(), 2u);
    EXPECT_EQ(parsed->defaults[0].name, "driver");
    EXPECT_EQ(parsed->defaults[0].type, "exec");
    EXPECT_EQ(parsed->defaults[1].name, "vigil-agent");
    EXPECT_EQ(parsed->defaults[1].version, "0.2.0");
    ASSERT_EQ(parsed->per_agent.at("special").size(), 1u);  // just the agent entry
}

TEST(PluginConfig, ProblemsNameKeys) {
    auto parsed = FilePluginConfig::parse("plugins:\n  - {name: '../x', sha256: short}\n  - {name: ok, version: '1', sha256: " +
                                              kSha + ", download_urls: ['ftp://x']}\nbogus: 1\n",
                                          "p.yaml", "vigil-agent");
    ASSERT_FALSE(parsed.ok());
    for (const char* k : {"'plugins[0].name'", "'plugins[0].sha256'", "'plugins[0].version'", "'plugins[1].download_urls'",
                          "'bogus'"}) {
        EXPECT_NE(parsed.message().find(k), std::string::npos) << k << "\n" << parsed.message();
    }
}

TEST(PluginConfig, ReloadDetectsChanges) {
    std::string path = ::testing::TempDir() + "/plugins-" + std::to_string(::getpid()) + ".yaml";
    ASSERT_TRUE(fs::writeFileAtomic(path, "plugins: []\n").ok());
    auto src = FilePluginConfig::open(path, "vigil-agent");
    ASSERT_TRUE(src.ok()) << src.message();
    EXPECT_TRUE((*src)->configFor("a").empty());
    EXPECT_FALSE(*(*src)->reload());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(fs::writeFileAtomic(path, "plugins:\n  - {name: p, version: '1', sha256: " + kSha + "}\n").ok());
    auto changed = (*src)->reload();
    ASSERT_TRUE(changed.ok());
    EXPECT_TRUE(*changed);
    EXPECT_EQ((*src)->configFor("a").size(), 1u);
    // A broken edit keeps the previous set and reports why.
    ASSERT_TRUE(fs::writeFileAtomic(path, "plugins: [\n").ok());
    EXPECT_FALSE((*src)->reload().ok());
    EXPECT_EQ((*src)->configFor("a").size(), 1u);
    EXPECT_NE(configDigest((*src)->configFor("a")), configDigest({}));
}

}  // namespace
}  // namespace vigil::center
