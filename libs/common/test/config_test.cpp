// Config reader: typed getters, positioned problems, unknown keys.
#include "libs/common/config.h"

#include <gtest/gtest.h>

namespace vigil::config {
namespace {

TEST(Config, ReadsTypedValuesWithDefaults) {
    auto doc = Document::loadString(
        "work_dir: /var/lib/vigil\n"
        "transport:\n"
        "  batch_interval: 100ms\n"
        "  max_batch_records: 2000\n"
        "  spool_size: 64MiB\n"
        "  compress: true\n"
        "  centers: [a:1, b:2]\n",
        "agent.yaml");
    ASSERT_TRUE(doc.ok());
    Node root = doc->root();
    EXPECT_EQ(root.str("work_dir"), "/var/lib/vigil");
    Node t = root.child("transport");
    EXPECT_EQ(t.duration("batch_interval", std::chrono::seconds(1)).count(), 100);
    EXPECT_EQ(t.integer("max_batch_records", 1, 1, 100000), 2000);
    EXPECT_EQ(t.size("spool_size", 0), 64ull << 20);
    EXPECT_TRUE(t.boolean("compress", false));
    EXPECT_EQ(t.strList("centers"), (std::vector<std::string>{"a:1", "b:2"}));
    EXPECT_EQ(t.str("missing", "dflt"), "dflt");
    EXPECT_TRUE(doc->problems().empty());
}

TEST(Config, ProblemsNameTheKeyAndPosition) {
    auto doc = Document::loadString(
        "transport:\n"
        "  max_batch_records: lots\n"
        "  batch_intervl: 1s\n",
        "agent.yaml");
    ASSERT_TRUE(doc.ok());
    Node t = doc->root().child("transport");
    EXPECT_EQ(t.integer("max_batch_records", 7, 1, 10), 7);
    t.allowOnly({"max_batch_records", "batch_interval"});
    const auto& list = doc->problems().list();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].key, "transport.max_batch_records");
    EXPECT_EQ(list[0].line, 2);
    EXPECT_NE(list[0].message.find("integer"), std::string::npos);
    EXPECT_EQ(list[1].key, "transport.batch_intervl");
    EXPECT_EQ(list[1].message, "unknown key");
    EXPECT_NE(doc->problems().toString().find("agent.yaml:3:3: key 'transport.batch_intervl': unknown key"),
              std::string::npos);
}

TEST(Config, RangeAndChoiceChecks) {
    auto doc = Document::loadString("n: 500\nmode: fast\nd: 10x\ns: 3XB\n");
    ASSERT_TRUE(doc.ok());
    Node r = doc->root();
    EXPECT_EQ(r.integer("n", 1, 1, 100), 1);
    EXPECT_EQ(r.oneOf("mode", "private", {"private", "public"}), "private");
    EXPECT_EQ(r.duration("d", std::chrono::milliseconds(5)).count(), 5);
    EXPECT_EQ(r.size("s", 9), 9u);
    EXPECT_EQ(doc->problems().list().size(), 4u);
}

TEST(Config, SyntaxErrorHasPosition) {
    auto doc = Document::loadString("a: [1, 2\nb: 3\n", "bad.yaml");
    ASSERT_FALSE(doc.ok());
    EXPECT_NE(doc.message().find("bad.yaml:"), std::string::npos);
    EXPECT_NE(doc.message().find("YAML syntax error"), std::string::npos);
}

TEST(Config, MissingFileIsAnError) {
    auto doc = Document::loadFile("/nonexistent/vigil.yaml");
    ASSERT_FALSE(doc.ok());
    EXPECT_NE(doc.message().find("/nonexistent/vigil.yaml"), std::string::npos);
}

TEST(Config, ParsesDurationsAndSizes) {
    EXPECT_EQ(parseDuration("2m")->count(), 120000);
    EXPECT_EQ(parseDuration("1.5s")->count(), 1500);
    EXPECT_FALSE(parseDuration("abc"));
    EXPECT_EQ(*parseSize("1GiB"), 1ull << 30);
    EXPECT_EQ(*parseSize("10MB"), 10'000'000u);
    EXPECT_FALSE(parseSize("-1"));
    EXPECT_FALSE(parseSize("99999999999999999999GiB"));
}

}  // namespace
}  // namespace vigil::config
