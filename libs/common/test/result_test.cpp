// Result<T> and Status behaviour.
#include "libs/common/result.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

Result<int> half(int x) {
    if (x % 2) return makeError("{} is odd", x);
    return x / 2;
}

Status chain(int x) {
    VIGIL_TRY(half(x));
    return okStatus();
}

TEST(Result, ValueAndError) {
    auto a = half(4);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(*a, 2);
    auto b = half(3);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.message(), "3 is odd");
    EXPECT_EQ(b.valueOr(-1), -1);
    EXPECT_TRUE(chain(2).ok());
    EXPECT_EQ(chain(5).message(), "5 is odd");
}

}  // namespace
}  // namespace vigil
