// Upload tokens and stored files.
#include "server/center/upload_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::center {
namespace {

TEST(UploadStore, IssuedTokenStoresFileWithSha256Once) {
    metrics::Registry m;
    std::string dir = ::testing::TempDir() + "/uploads-" + std::to_string(::getpid());
    (void)fs::removeAll(dir);
    UploadStore store(dir, 1000, std::chrono::seconds(60), m);
    EXPECT_FALSE(store.begin("never-issued").ok());
    store.issue("t1", "agent-1", "/etc/passwd");
    auto up = store.begin("t1");
    ASSERT_TRUE(up.ok()) << up.message();
    ASSERT_TRUE((*up)->write("hello ").ok());
    ASSERT_TRUE((*up)->write("world").ok());
    auto rec = (*up)->finish();
    ASSERT_TRUE(rec.ok()) << rec.message();
    EXPECT_EQ(rec->size, 11u);
    EXPECT_EQ(rec->sha256, crypto::sha256Hex("hello world"));
    EXPECT_EQ(*fs::readFile(dir + "/agent-1/t1"), "hello world");
    auto log = fs::readFile(dir + "/uploads.jsonl");
    ASSERT_TRUE(log.ok());
    EXPECT_NE(log->find(crypto::sha256Hex("hello world")), std::string::npos);
    EXPECT_NE(log->find("/etc/passwd"), std::string::npos);
    EXPECT_FALSE(store.begin("t1").ok()) << "a token is used once";
}

TEST(UploadStore, SizeCapAndBadNames) {
    metrics::Registry m;
    std::string dir = ::testing::TempDir() + "/uploads2-" + std::to_string(::getpid());
    UploadStore store(dir, 10, std::chrono::seconds(60), m);
    store.issue("big", "agent-1", "/x");
    auto up = store.begin("big");
    ASSERT_TRUE(up.ok());
    EXPECT_FALSE((*up)->write(std::string(11, 'x')).ok());
    EXPECT_FALSE(fs::exists(dir + "/agent-1/big"));
    store.issue("../evil", "agent-1", "/x");
    EXPECT_FALSE(store.begin("../evil").ok());
    EXPECT_GE(m.counterValue("vigil_center_uploads_refused_total"), 2u);
}

}  // namespace
}  // namespace vigil::center
