// PluginConfig: the DETAIL forms a plugin accepts and the errors it reports.
#include "vigil/sdk/plugin_config.h"

#include <gtest/gtest.h>

namespace vigil::sdk {
namespace {

TEST(PluginConfig, EmptyAndBlank) {
    for (const char* s : {"", "   ", "\n"}) {
        auto c = PluginConfig::parse(s);
        ASSERT_TRUE(c.ok()) << c.message();
        EXPECT_TRUE(c->values().empty());
    }
}

TEST(PluginConfig, KeyValuePairs) {
    auto c = PluginConfig::parse("interval_ms=500, name=x;flag= empty= path=/a=b");
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->get("interval_ms"), "500");
    EXPECT_EQ(c->get("name"), "x");
    EXPECT_EQ(c->get("flag"), "");
    EXPECT_EQ(c->get("empty"), "");
    EXPECT_EQ(c->get("path"), "/a=b");
    EXPECT_EQ(c->get("absent", "dflt"), "dflt");
    EXPECT_FALSE(PluginConfig::parse("novalue").ok());
    EXPECT_FALSE(PluginConfig::parse("=x").ok());
}

TEST(PluginConfig, FlatJson) {
    auto c = PluginConfig::parse(
        R"( {"interval_ms": 250, "name": "a \"q\" \u00e9\ud83d\ude00\n", "on": true,
             "off": false, "none": null, "ratio": -1.5e3} )");
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(c->get("interval_ms"), "250");
    EXPECT_EQ(c->get("name"), "a \"q\" \xc3\xa9\xf0\x9f\x98\x80\n");
    EXPECT_EQ(c->get("on"), "true");
    EXPECT_EQ(c->get("off"), "false");
    EXPECT_TRUE(c->has("none"));
    EXPECT_EQ(c->get("none", "x"), "");
    EXPECT_EQ(c->get("ratio"), "-1.5e3");
    EXPECT_TRUE(PluginConfig::parse("{}").ok());
}

TEST(PluginConfig, JsonErrorsSayWhatAndWhere) {
    const char* bad[] = {
        R"({"a": {"nested": 1}})",
        R"({"a": [1]})",
        R"({"a": 1,})",
        R"({"a" 1})",
        R"({"a": "unterminated)",
        R"({"a": 1} trailing)",
        R"({"a": tru})",
        R"({"a": "\ud800"})",
        R"({"a": 1)",
    };
    for (const char* s : bad) {
        auto c = PluginConfig::parse(s);
        ASSERT_FALSE(c.ok()) << s;
        EXPECT_NE(c.message().find("DETAIL: "), std::string::npos) << c.message();
        EXPECT_NE(c.message().find("offset"), std::string::npos) << c.message();
    }
    auto nested = PluginConfig::parse(R"({"a": {"nested": 1}})");
    EXPECT_NE(nested.message().find("\"a\""), std::string::npos) << nested.message();
}

TEST(PluginConfig, GetInt) {
    auto c = PluginConfig::parse("n=42,neg=-3,word=abc,big=99999999999999999999");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->getInt("n", 0).value(), 42);
    EXPECT_EQ(c->getInt("neg", 0).value(), -3);
    EXPECT_EQ(c->getInt("absent", 7).value(), 7);
    auto word = c->getInt("word", 0);
    ASSERT_FALSE(word.ok());
    EXPECT_NE(word.message().find("word"), std::string::npos);
    EXPECT_FALSE(c->getInt("big", 0).ok());
    auto range = c->getInt("n", 0, 0, 10);
    ASSERT_FALSE(range.ok());
    EXPECT_NE(range.message().find("out of range"), std::string::npos);
}

}  // namespace
}  // namespace vigil::sdk
