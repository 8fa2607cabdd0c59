// Agent id: derivation, persistence, override.
#include "agent/app/agent_id.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>

#include "libs/common/fs.h"

namespace vigil::agent {
namespace {

class AgentIdTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "/agent_id_" + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
        (void)fs::removeAll(dir_);
        ASSERT_TRUE(fs::makeDirs(dir_ + "/net/eth0").ok());
        ASSERT_TRUE(fs::writeFileAtomic(dir_ + "/machine-id", "0123456789abcdef0123456789abcdef\n").ok());
        ASSERT_TRUE(fs::writeFileAtomic(dir_ + "/net/eth0/address", "52:54:00:12:34:56\n").ok());
        src_.machine_id_file = dir_ + "/machine-id";
        src_.product_uuid_file = dir_ + "/no-dmi";
        src_.net_class_dir = dir_ + "/net";
    }
    void TearDown() override { (void)fs::removeAll(dir_); }
    std::string dir_;
    AgentIdSources src_;
};

TEST_F(AgentIdTest, DerivedIdIsStableAndPersisted) {
    auto a = resolveAgentId(dir_ + "/work", "", src_);
    ASSERT_TRUE(a.ok()) << a.message();
    EXPECT_TRUE(std::regex_match(*a, std::regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")))
        << *a;
    EXPECT_TRUE(fs::exists(dir_ + "/work/agent-id"));
    // The persisted id wins even if the machine id changes later.
    ASSERT_TRUE(fs::writeFileAtomic(dir_ + "/machine-id", "ffffffffffffffffffffffffffffffff\n").ok());
    auto b = resolveAgentId(dir_ + "/work", "", src_);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(*a, *b);
    // A fresh work dir on a host with another machine id derives another id.
    auto c = resolveAgentId(dir_ + "/work2", "", src_);
    ASSERT_TRUE(c.ok());
    EXPECT_NE(*a, *c);
}

TEST_F(AgentIdTest, OverrideIsValidatedAndPersisted) {
    auto a = resolveAgentId(dir_ + "/work", "web-01.prod", src_);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(*a, "web-01.prod");
    auto b = resolveAgentId(dir_ + "/work", "", src_);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(*b, "web-01.prod");
    EXPECT_FALSE(resolveAgentId(dir_ + "/work", "bad id/with slash", src_).ok());
}

TEST_F(AgentIdTest, NoSourcesGivesARandomPersistedId) {
    AgentIdSources none{dir_ + "/x", dir_ + "/y", dir_ + "/z"};
    auto a = resolveAgentId(dir_ + "/w", "", none);
    auto b = resolveAgentId(dir_ + "/w2", "", none);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_NE(*a, *b);
    EXPECT_EQ(*resolveAgentId(dir_ + "/w", "", none), *a);
}

}  // namespace
}  // namespace vigil::agent
