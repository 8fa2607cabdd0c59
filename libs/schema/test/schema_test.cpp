// The generated data_type table.
#include "libs/schema/schema.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace vigil::schema {
namespace {

TEST(Schema, KnowsTheAgentRecords) {
    const DataTypeInfo* hb = find(dt::kAgentHeartbeat);
    ASSERT_NE(hb, nullptr);
    EXPECT_EQ(hb->data_type, 1000);
    EXPECT_EQ(hb->name, "agent_heartbeat");
    ASSERT_NE(hb->field("rss"), nullptr);
    EXPECT_EQ(hb->field("rss")->type, FieldType::kInt);
    EXPECT_EQ(hb->field("no_such_field"), nullptr);
    EXPECT_NE(find(1001), nullptr);
    EXPECT_NE(find(1010), nullptr);
    EXPECT_EQ(find(5100)->field("status")->type, FieldType::kString);
    EXPECT_EQ(find(4242), nullptr);
    EXPECT_EQ(findByName("task_result")->data_type, 5100);
}

TEST(Schema, TableIsSortedAndCriticalSetIsRight) {
    auto table = all();
    EXPECT_TRUE(std::is_sorted(table.begin(), table.end(),
                               [](const auto& a, const auto& b) { return a.data_type < b.data_type; }));
    auto critical = criticalDataTypes();
    EXPECT_NE(std::find(critical.begin(), critical.end(), 5100), critical.end());
    EXPECT_EQ(std::find(critical.begin(), critical.end(), 1000), critical.end());
}

}  // namespace
}  // namespace vigil::schema
