// PackagedData and Task codecs against libprotobuf.
#include "libs/wire/batch.h"

#include <gtest/gtest.h>

#include "libs/wire/record.h"
#include "proto/plugin.pb.h"
#include "proto/transfer.pb.h"

namespace vigil::wire {
namespace {

TEST(BatchBuilder, SealedBatchParsesWithLibprotobuf) {
    BatchHeader h;
    h.agent_id = "agent-1";
    h.intranet_ipv4 = {"10.0.0.1", "10.0.0.2"};
    h.extranet_ipv6 = {"2001:db8::1"};
    h.hostname = "web-1";
    h.version = "0.1.0";
    h.product = "vigil-agent";
    std::string header = encodeBatchHeader(h);

    vigil::plugin::Payload p;
    (*p.mutable_fields())["exe"] = "/bin/sh";
    std::string payload = p.SerializeAsString();

    BatchBuilder b;
    b.add(59, 100, payload);
    b.add(42, 101, "");
    EXPECT_EQ(b.records(), 2u);
    Buffer out;
    b.seal(header, 77, out);
    EXPECT_TRUE(b.empty());

    grpc::PackagedData pd;
    ASSERT_TRUE(pd.ParseFromArray(out.data(), static_cast<int>(out.size())));
    EXPECT_EQ(pd.agent_id(), "agent-1");
    EXPECT_EQ(pd.batch_seq(), 77u);
    ASSERT_EQ(pd.records_size(), 2);
    EXPECT_EQ(pd.records(0).data_type(), 59);
    EXPECT_EQ(pd.records(0).timestamp(), 100);
    EXPECT_EQ(pd.records(0).data(), payload);
    EXPECT_EQ(pd.records(1).data_type(), 42);
    ASSERT_EQ(pd.intranet_ipv4_size(), 2);
    EXPECT_EQ(pd.intranet_ipv4(1), "10.0.0.2");
    EXPECT_EQ(pd.extranet_ipv6(0), "2001:db8::1");
    EXPECT_EQ(pd.hostname(), "web-1");
    EXPECT_EQ(pd.product(), "vigil-agent");

    BatchView v;
    ASSERT_TRUE(parseBatch(out.view(), v));
    EXPECT_EQ(v.batch_seq, 77u);
    ASSERT_EQ(v.records.size(), 2u);
    EXPECT_EQ(v.records[0].data, payload);
    EXPECT_EQ(v.header.hostname, "web-1");
    EXPECT_EQ(v.header.intranet_ipv4.size(), 2u);
}

TEST(ParseBatch, AcceptsLibprotobufEncodingAndRejectsGarbage) {
    grpc::PackagedData pd;
    pd.set_agent_id("x");
    pd.set_batch_seq(5);
    auto* r = pd.add_records();
    r->set_data_type(1000);
    r->set_timestamp(9);
    r->set_data("abc");
    std::string bytes = pd.SerializeAsString();
    BatchView v;
    ASSERT_TRUE(parseBatch(bytes, v));
    EXPECT_EQ(v.header.agent_id, "x");
    EXPECT_EQ(v.batch_seq, 5u);
    ASSERT_EQ(v.records.size(), 1u);
    EXPECT_EQ(v.records[0].data_type, 1000);
    EXPECT_EQ(v.records[0].data, "abc");
    EXPECT_FALSE(parseBatch(std::string("\x0a\x10", 2), v));
}

TEST(TaskFrames, RoundTripWithLibprotobuf) {
    Buffer b;
    appendTaskFrame(b, 1060, "vigil-agent", "{\"x\":1}", "tok-1");
    uint32_t len;
    std::memcpy(&len, b.data(), 4);
    ASSERT_EQ(len + 4, b.size());
    vigil::plugin::Task t;
    ASSERT_TRUE(t.ParseFromArray(b.data() + 4, static_cast<int>(len)));
    EXPECT_EQ(t.data_type(), 1060);
    EXPECT_EQ(t.object_name(), "vigil-agent");
    EXPECT_EQ(t.data(), "{\"x\":1}");
    EXPECT_EQ(t.token(), "tok-1");

    vigil::plugin::Task t2;
    t2.set_token("only-token");
    TaskView v;
    const std::string bytes = t2.SerializeAsString();  // v points into it
    ASSERT_TRUE(parseTask(bytes, v));
    EXPECT_EQ(v.data_type, 0);
    EXPECT_EQ(v.token, "only-token");
    EXPECT_TRUE(v.data.empty());
}

}  // namespace
}  // namespace vigil::wire
