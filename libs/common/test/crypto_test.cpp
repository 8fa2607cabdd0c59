// Hash helpers against known vectors.
#include "libs/common/crypto.h"

#include <gtest/gtest.h>

#include "libs/common/fs.h"

namespace vigil::crypto {
namespace {

TEST(Crypto, Sha256KnownVectors) {
    EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, Sha256FileMatchesBuffer) {
    std::string path = ::testing::TempDir() + "/vigil_sha_test";
    std::string data(200000, 'k');
    ASSERT_TRUE(fs::writeFileAtomic(path, data).ok());
    auto h = sha256FileHex(path);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(*h, sha256Hex(data));
    EXPECT_FALSE(sha256FileHex(path, 1000).ok());
    EXPECT_FALSE(sha256FileHex("/nonexistent").ok());
}

TEST(Crypto, HmacKnownVector) {
    // RFC 4231 test case 2.
    EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_TRUE(equalConstantTime("abc", "abc"));
    EXPECT_FALSE(equalConstantTime("abc", "abd"));
    EXPECT_EQ(randomHex(16).size(), 32u);
    EXPECT_NE(randomHex(16), randomHex(16));
}

}  // namespace
}  // namespace vigil::crypto
