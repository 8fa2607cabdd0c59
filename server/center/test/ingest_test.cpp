// Ingest: PackagedData -> MQData, checked against libprotobuf.
#include "server/center/ingest.h"

#include <gtest/gtest.h>

#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "proto/plugin.pb.h"
#include "proto/transfer.pb.h"

namespace vigil::center {
namespace {

std::string payload(const std::map<std::string, std::string>& fields) {
    vigil::plugin::Payload p;
    for (const auto& [k, v] : fields) (*p.mutable_fields())[k] = v;
    return p.SerializeAsString();
}

grpc::PackagedData batch() {
    grpc::PackagedData pd;
    pd.set_agent_id("agent-7");
    pd.add_intranet_ipv4("10.0.0.1");
    pd.add_intranet_ipv4("10.0.0.2");
    pd.add_extranet_ipv6("2001:db8::1");
    pd.set_hostname("web-1");
    pd.set_version("0.1.0");
    pd.set_product("vigil-agent");
    pd.set_batch_seq(42);
    auto* r = pd.add_records();
    r->set_data_type(59);
    r->set_timestamp(1700000000);
    r->set_data(payload({{"exe", "/bin/sh"}, {"pid", "7"}}));
    r = pd.add_records();
    r->set_data_type(1000);
    r->set_timestamp(1700000001);
    r->set_data(payload({{"rss", "123"}}));
    return pd;
}

TEST(Ingest, BuildsOneMqDataPerRecord) {
    const grpc::PackagedData pd = batch();  // one object: map serialization order varies between objects
    std::string bytes = pd.SerializeAsString();
    BatchIngest out;
    ASSERT_EQ(ingestBatch(bytes, 1800000000, {}, out), IngestError::kNone);
    EXPECT_EQ(out.agent_id, "agent-7");
    EXPECT_EQ(out.batch_seq, 42u);
    EXPECT_EQ(out.records, 2u);
    EXPECT_TRUE(out.has_agent_heartbeat);
    ASSERT_EQ(out.messages.size(), 2u);
    vigil::bus::MQData mq;
    ASSERT_TRUE(mq.ParseFromString(std::string(out.messages[0].value)));
    EXPECT_EQ(out.messages[0].key, "agent-7");
    EXPECT_EQ(out.messages[0].data_type, 59);
    EXPECT_EQ(mq.data_type(), 59);
    EXPECT_EQ(mq.agent_time(), 1700000000);
    EXPECT_EQ(mq.body(), pd.records(0).data());  // forwarded byte for byte
    EXPECT_EQ(mq.agent_id(), "agent-7");
    EXPECT_EQ(mq.intranet_ipv4(), "10.0.0.1,10.0.0.2");
    EXPECT_EQ(mq.extranet_ipv6(), "2001:db8::1");
    EXPECT_EQ(mq.extranet_ipv4(), "");
    EXPECT_EQ(mq.hostname(), "web-1");
    EXPECT_EQ(mq.version(), "0.1.0");
    EXPECT_EQ(mq.product(), "vigil-agent");
    EXPECT_EQ(mq.svr_time(), 1800000000);
    EXPECT_EQ(mq.batch_seq(), 42u);
    EXPECT_EQ(mq.batch_index(), 0u);
    ASSERT_TRUE(mq.ParseFromString(std::string(out.messages[1].value)));
    EXPECT_EQ(mq.data_type(), 1000);
    EXPECT_EQ(mq.batch_index(), 1u);
}

TEST(Ingest, RejectsMalformedBatchesAndMissingIds) {
    BatchIngest out;
    EXPECT_EQ(ingestBatch(std::string("\x0a\x10", 2), 0, {}, out), IngestError::kMalformed);
    grpc::PackagedData pd = batch();
    pd.clear_agent_id();
    EXPECT_EQ(ingestBatch(pd.SerializeAsString(), 0, {}, out), IngestError::kNoAgentId);
    pd = batch();
    pd.set_agent_id("has space");
    EXPECT_EQ(ingestBatch(pd.SerializeAsString(), 0, {}, out), IngestError::kNoAgentId);
    IngestLimits small;
    small.max_records = 1;
    EXPECT_EQ(ingestBatch(batch().SerializeAsString(), 0, small, out), IngestError::kTooManyRecords);
}

TEST(Ingest, DropsBadRecordsKeepsTheRest) {
    grpc::PackagedData pd = batch();
    pd.mutable_records(0)->set_data(std::string("\x0a\x05\x0a\x01", 4));  // truncated map entry
    BatchIngest out;
    ASSERT_EQ(ingestBatch(pd.SerializeAsString(), 0, {}, out), IngestError::kNone);
    EXPECT_EQ(out.records, 1u);
    EXPECT_EQ(out.dropped, 1u);
    EXPECT_EQ(out.messages[0].data_type, 1000);
    IngestLimits tiny;
    tiny.max_record_bytes = 5;
    ASSERT_EQ(ingestBatch(batch().SerializeAsString(), 0, tiny, out), IngestError::kNone);
    EXPECT_EQ(out.records, 0u);
    EXPECT_EQ(out.dropped, 2u);
}

}  // namespace
}  // namespace vigil::center
