// AK/SK signing: known vectors computed with openssl, and every way verification must fail.
#include "server/common/auth.h"

#include <gtest/gtest.h>

namespace vigil::server {
namespace {

const AkSk kKey{"vigil-ak", "vigil-secret-0123456789"};
constexpr int64_t kNow = 1700000000;
const std::string kBody = R"({"name":"svc","ip":"10.0.0.5","port":6751,"weight":3})";

// Computed by hand:
//   h=$(printf '%s' '{"name":"svc","ip":"10.0.0.5","port":6751,"weight":3}' | openssl dgst -sha256
//   -r | cut -d' ' -f1)
//     -> 9bf5c56e789d46e6c645df85857875f24199d255dc12e2e4cf064a4086e654ac
//   printf 'POST\n/registry/register\n\nvigil-ak\n1700000000\n%s' "$h" |
//     openssl dgst -sha256 -hmac 'vigil-secret-0123456789' -r
//     -> ca286529492f972329a37e0637ecdda64c022fd8667b9a54ac03c587c0a0cc8d
TEST(AuthTest, KnownVectorWithBody) {
    EXPECT_EQ(signingString("POST", "/registry/register", "", "vigil-ak", "1700000000", kBody),
              "POST\n/registry/register\n\nvigil-ak\n1700000000\n"
              "9bf5c56e789d46e6c645df85857875f24199d255dc12e2e4cf064a4086e654ac");
    SignedHeaders h = sign(kKey, "POST", "/registry/register", "", kBody, kNow);
    EXPECT_EQ(h.access_key, "vigil-ak");
    EXPECT_EQ(h.timestamp, "1700000000");
    EXPECT_EQ(h.signature, "ca286529492f972329a37e0637ecdda64c022fd8667b9a54ac03c587c0a0cc8d");
}

// Empty body: the hash part is empty.
//   printf 'GET\n/registry/detail\nname=hids_svr_grpc&count=2\nvigil-ak\n1700000000\n' |
//     openssl dgst -sha256 -hmac 'vigil-secret-0123456789' -r
//     -> a9e35c9754b436409a421fcf9ba082427c02bbc62592c566a279904cecc7e27f
TEST(AuthTest, KnownVectorEmptyBodyAndTrailingSlash) {
    const std::string expected = "a9e35c9754b436409a421fcf9ba082427c02bbc62592c566a279904cecc7e27f";
    EXPECT_EQ(
        sign(kKey, "GET", "/registry/detail", "name=hids_svr_grpc&count=2", "", kNow).signature,
        expected);
    // The path is signed without its trailing slash.
    EXPECT_EQ(
        sign(kKey, "GET", "/registry/detail/", "name=hids_svr_grpc&count=2", "", kNow).signature,
        expected);
    EXPECT_EQ(signingString("GET", "/", "", "a", "1", ""), "GET\n/\n\na\n1\n");
}

class VerifyTest : public ::testing::Test {
protected:
    RequestVerifier verifier_{
        {{"vigil-ak", "vigil-secret-0123456789"}, {"other", "other-secret-0123456789"}}};

    Status verify(const SignedHeaders& h, std::string_view body = kBody, int64_t now = kNow,
                  std::string_view path = "/registry/register", std::string_view query = "") {
        return verifier_.verify("POST", path, query, body, h.access_key, h.timestamp, h.signature,
                                now);
    }
};

TEST_F(VerifyTest, AcceptsAGoodSignatureWithinTheWindow) {
    SignedHeaders h = sign(kKey, "POST", "/registry/register", "", kBody, kNow);
    EXPECT_TRUE(verify(h).ok());
    EXPECT_TRUE(verify(h, kBody, kNow + 60).ok());
    EXPECT_TRUE(verify(h, kBody, kNow - 60).ok());
    // Upper-case hex is the same MAC.
    for (char& c : h.signature) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_TRUE(verify(h).ok());
}

TEST_F(VerifyTest, RefusesStaleAndSkewedTimestamps) {
    SignedHeaders h = sign(kKey, "POST", "/registry/register", "", kBody, kNow);
    Status stale = verify(h, kBody, kNow + 61);
    ASSERT_FALSE(stale.ok());
    EXPECT_NE(stale.message().find("stale TimeStamp"), std::string::npos) << stale.message();
    EXPECT_NE(stale.message().find("behind"), std::string::npos) << stale.message();
    Status ahead = verify(h, kBody, kNow - 3600);
    ASSERT_FALSE(ahead.ok());
    EXPECT_NE(ahead.message().find("ahead"), std::string::npos) << ahead.message();
    h.timestamp = "17e8";
    EXPECT_NE(verify(h).message().find("unix seconds"), std::string::npos);
    h.timestamp = "-5";
    EXPECT_FALSE(verify(h).ok());
}

TEST_F(VerifyTest, RefusesWrongKeysAndTampering) {
    // Signed with the right access key but another secret.
    SignedHeaders wrong_secret =
        sign({"vigil-ak", "not-the-secret-000000"}, "POST", "/registry/register", "", kBody, kNow);
    EXPECT_NE(verify(wrong_secret).message().find("bad signature"), std::string::npos);
    // Unknown access key.
    SignedHeaders unknown =
        sign({"nobody", "vigil-secret-0123456789"}, "POST", "/registry/register", "", kBody, kNow);
    EXPECT_EQ(verify(unknown).message(), "unknown access key");
    // The other configured key works on its own secret.
    EXPECT_TRUE(verify(sign({"other", "other-secret-0123456789"}, "POST", "/registry/register", "",
                            kBody, kNow))
                    .ok());
    SignedHeaders h = sign(kKey, "POST", "/registry/register", "", kBody, kNow);
    EXPECT_FALSE(verify(h, R"({"name":"svc","ip":"10.0.0.6","port":6751,"weight":3})")
                     .ok());                                                 // body changed
    EXPECT_FALSE(verify(h, kBody, kNow, "/registry/evict").ok());            // path changed
    EXPECT_FALSE(verify(h, kBody, kNow, "/registry/register", "x=1").ok());  // query added
    EXPECT_FALSE(verifier_
                     .verify("GET", "/registry/register", "", kBody, h.access_key, h.timestamp,
                             h.signature, kNow)
                     .ok());  // method changed
    h.signature.pop_back();
    EXPECT_FALSE(verify(h).ok());  // truncated
}

TEST_F(VerifyTest, NamesTheMissingHeader) {
    SignedHeaders h = sign(kKey, "POST", "/registry/register", "", kBody, kNow);
    SignedHeaders no_ak = h, no_ts = h, no_sig = h;
    no_ak.access_key.clear();
    no_ts.timestamp.clear();
    no_sig.signature.clear();
    EXPECT_NE(verify(no_ak).message().find("AccessKey"), std::string::npos);
    EXPECT_NE(verify(no_ts).message().find("TimeStamp"), std::string::npos);
    EXPECT_NE(verify(no_sig).message().find("Signature"), std::string::npos);
}

TEST(AuthTest, VerifierWithoutKeysIsDisabled) {
    EXPECT_FALSE(RequestVerifier(std::map<std::string, std::string>{}).enabled());
    EXPECT_TRUE(RequestVerifier(std::map<std::string, std::string>{{"a", "b"}}).enabled());
}

}  // namespace
}  // namespace vigil::server
