// Password hashes, tokens, the login rate limit and the remote address parsing.
#include <gtest/gtest.h>

#include <set>

#include "server/manager/auth/authenticator.h"
#include "server/manager/auth/password.h"
#include "server/manager/auth/rate_limiter.h"

namespace vigil::manager::auth {
namespace {

TEST(Password, HashIsArgon2idAndVerifies) {
    auto h = hashPassword("correct horse", HashCost::kMinimum);
    ASSERT_TRUE(h.ok()) << h.message();
    EXPECT_EQ(h->rfind("$argon2id$", 0), 0u) << *h;
    EXPECT_TRUE(verifyPassword("correct horse", *h));
    EXPECT_FALSE(verifyPassword("correct horsE", *h));
    EXPECT_FALSE(verifyPassword("correct horse", "not a hash"));
    EXPECT_FALSE(verifyPassword("", ""));
    // Salted: the same password hashes differently.
    EXPECT_NE(*h, hashPassword("correct horse", HashCost::kMinimum).valueOr(""));
}

TEST(Password, InteractiveCostIsWhatItSays) {
    auto h = hashPassword("pw", HashCost::kInteractive);
    ASSERT_TRUE(h.ok());
    EXPECT_NE(h->find("m=65536,t=2"), std::string::npos) << *h;
    EXPECT_TRUE(verifyPassword("pw", *h));
}

TEST(Password, TooLongRefused) {
    EXPECT_FALSE(hashPassword(std::string(kMaxPasswordBytes + 1, 'a'), HashCost::kMinimum).ok());
}

TEST(Token, RandomBase64UrlAndHashedHex) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        std::string t = newSessionToken();
        EXPECT_EQ(t.size(), 43u);
        EXPECT_EQ(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789-_"),
                  std::string::npos)
            << t;
        seen.insert(t);
    }
    EXPECT_EQ(seen.size(), 100u);
    EXPECT_EQ(tokenHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(randomPassword().size(), 24u);
}

TEST(RateLimiter, BlocksAfterMaxFailuresUntilWindowMoves) {
    LoginRateLimiter l(3, 1000);
    EXPECT_EQ(l.blockedFor("k", 0), 0);
    l.recordFailure("k", 100);
    l.recordFailure("k", 200);
    EXPECT_EQ(l.blockedFor("k", 250), 0);
    l.recordFailure("k", 300);
    EXPECT_EQ(l.blockedFor("k", 300), 800);  // the failure at 100 leaves at 1100
    EXPECT_EQ(l.blockedFor("other", 300), 0);
    EXPECT_EQ(l.blockedFor("k", 1099), 1);
    EXPECT_EQ(l.blockedFor("k", 1100), 0);
    l.reset("k");
    l.recordFailure("k", 1200);
    EXPECT_EQ(l.blockedFor("k", 1200), 0);
}

TEST(RateLimiter, AttemptCountsUntilForgotten) {
    LoginRateLimiter l(2, 1000);
    EXPECT_EQ(l.attempt("k", 10), 0);
    EXPECT_EQ(l.attempt("k", 20), 0);
    EXPECT_EQ(l.attempt("k", 30), 980);  // two tries in flight fill the window
    l.forgetAttempt("k", 20);            // that one succeeded
    EXPECT_EQ(l.attempt("k", 40), 0);
    EXPECT_EQ(l.blockedFor("k", 40), 970);
    l.forgetAttempt("k", 10);
    l.forgetAttempt("k", 40);
    EXPECT_EQ(l.trackedKeys(), 0u);
}

TEST(RateLimiter, BoundedKeys) {
    LoginRateLimiter l(2, 1000, 10);
    for (int i = 0; i < 100; ++i) l.recordFailure("k" + std::to_string(i), 0);
    EXPECT_LE(l.trackedKeys(), 10u);
}

TEST(RemoteIp, StripsPort) {
    EXPECT_EQ(remoteIp("10.0.0.1:5555"), "10.0.0.1");
    EXPECT_EQ(remoteIp("[::1]:5555"), "::1");
    EXPECT_EQ(remoteIp("10.0.0.1"), "10.0.0.1");
    EXPECT_EQ(remoteIp("::1"), "::1");
    EXPECT_EQ(remoteIp(""), "");
}

}  // namespace
}  // namespace vigil::manager::auth
