// UTF-8 validation and repair.
#include "libs/wire/utf8.h"

#include <gtest/gtest.h>

namespace vigil::wire {
namespace {

TEST(Utf8, ValidatesCommonText) {
    EXPECT_TRUE(isValidUtf8(""));
    EXPECT_TRUE(isValidUtf8("plain ascii text longer than eight bytes"));
    EXPECT_TRUE(isValidUtf8("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"));
}

TEST(Utf8, RejectsInvalidSequences) {
    EXPECT_FALSE(isValidUtf8("\xff"));
    EXPECT_FALSE(isValidUtf8("abc\xc3"));             // truncated
    EXPECT_FALSE(isValidUtf8("\xc0\xaf"));            // overlong
    EXPECT_FALSE(isValidUtf8("\xed\xa0\x80"));        // surrogate
    EXPECT_FALSE(isValidUtf8("\xf4\x90\x80\x80"));    // above U+10FFFF
    EXPECT_FALSE(isValidUtf8("12345678\x80"));        // after the fast path
}

TEST(Utf8, ShortAsciiTailsAndMixedTails) {
    EXPECT_TRUE(isValidUtf8("pid"));
    EXPECT_TRUE(isValidUtf8("12345678abc"));           // fast path, then an ASCII tail
    EXPECT_TRUE(isValidUtf8("12345678a\xc3\xa9" "b"));  // ASCII, a 2-byte sequence, ASCII
    EXPECT_FALSE(isValidUtf8("12345678ab\xc3"));       // truncated sequence in the tail
    EXPECT_FALSE(isValidUtf8("ab\x80"));
}

TEST(Utf8, SanitizeEscapesOnlyInvalidBytes) {
    EXPECT_EQ(sanitizeUtf8("ok"), "ok");
    EXPECT_EQ(sanitizeUtf8("a\xff\xc3\xa9"), "a\\xff\xc3\xa9");
    EXPECT_TRUE(isValidUtf8(sanitizeUtf8("\xc3\x28\xe2\x82")));
}

}  // namespace
}  // namespace vigil::wire
