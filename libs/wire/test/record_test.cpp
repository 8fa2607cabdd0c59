// Record codec: compatibility with libprotobuf in both directions and tolerant parsing.
#include "libs/wire/record.h"

#include <gtest/gtest.h>

#include "libs/wire/frame.h"
#include "proto/plugin.pb.h"

namespace vigil::wire {
namespace {

std::string bodyOf(const Buffer& b) { return std::string(b.data() + 4, b.size() - 4); }

TEST(RecordEncoder, OutputParsesWithLibprotobuf) {
    Buffer b;
    RecordEncoder enc(b);
    size_t n = enc.begin(59, 1700000000).field("exe", "/bin/bash").field("pid", 4242).field("empty", "").end();
    EXPECT_EQ(n, b.size());
    uint32_t len;
    std::memcpy(&len, b.data(), 4);
    EXPECT_EQ(len + 4, b.size());
    vigil::plugin::Record rec;
    ASSERT_TRUE(rec.ParseFromString(bodyOf(b)));
    EXPECT_EQ(rec.data_type(), 59);
    EXPECT_EQ(rec.timestamp(), 1700000000);
    EXPECT_EQ(rec.data().fields().at("exe"), "/bin/bash");
    EXPECT_EQ(rec.data().fields().at("pid"), "4242");
    EXPECT_EQ(rec.data().fields().at("empty"), "");
}

TEST(RecordEncoder, IntegerFieldsAreDecimalAndKeysStillRepaired) {
    Buffer b;
    RecordEncoder enc(b);
    enc.begin(1, 2)
        .field("u64", uint64_t{18446744073709551615ull})
        .field("i64", int64_t{-9223372036854775807 - 1})
        .field("flag", true)
        .field("bad\xffkey", 7)
        .end();
    vigil::plugin::Record rec;
    ASSERT_TRUE(rec.ParseFromString(bodyOf(b)));
    EXPECT_EQ(rec.data().fields().at("u64"), "18446744073709551615");
    EXPECT_EQ(rec.data().fields().at("i64"), "-9223372036854775808");
    EXPECT_EQ(rec.data().fields().at("flag"), "true");
    EXPECT_EQ(rec.data().fields().at("bad\\xffkey"), "7");
}

TEST(RecordEncoder, LargePayloadLengthVarint) {
    Buffer b;
    RecordEncoder enc(b);
    std::string big(70000, 'v');  // payload length needs a 3-byte varint
    enc.begin(1, 2).field("k", big).end();
    vigil::plugin::Record rec;
    ASSERT_TRUE(rec.ParseFromString(bodyOf(b)));
    EXPECT_EQ(rec.data().fields().at("k"), big);
}

TEST(RecordEncoder, SeveralRecordsAndAbort) {
    Buffer b;
    RecordEncoder enc(b);
    enc.begin(1, 1).field("a", "1").end();
    enc.begin(2, 2).field("b", "2");
    enc.abort();
    enc.begin(3, 3).field("c", "3").end();
    FrameDecoder d;
    d.feed(b.view());
    std::string_view f;
    std::vector<int> types;
    std::string scratch;
    while (d.next(f) == FrameDecoder::Next::kFrame) {
        RecordView v;
        ASSERT_EQ(parseRecord(f, v, scratch), RecordError::kNone);
        types.push_back(v.data_type);
    }
    EXPECT_EQ(types, (std::vector<int>{1, 3}));
}

TEST(RecordEncoder, RepairsInvalidUtf8) {
    Buffer b;
    RecordEncoder enc(b);
    enc.begin(1, 1).field("argv", std::string("a\xff" "b")).end();
    vigil::plugin::Record rec;
    ASSERT_TRUE(rec.ParseFromString(bodyOf(b)));
    EXPECT_EQ(rec.data().fields().at("argv"), "a\\xffb");
}

TEST(RecordEncoder, NegativeAndZeroValues) {
    Buffer b;
    RecordEncoder enc(b);
    enc.begin(-5, -1).field("n", -17).field("t", true).end();
    vigil::plugin::Record rec;
    ASSERT_TRUE(rec.ParseFromString(bodyOf(b)));
    EXPECT_EQ(rec.data_type(), -5);
    EXPECT_EQ(rec.timestamp(), -1);
    EXPECT_EQ(rec.data().fields().at("n"), "-17");
    EXPECT_EQ(rec.data().fields().at("t"), "true");
    std::string scratch;
    RecordView v;
    ASSERT_EQ(parseRecord(bodyOf(b), v, scratch), RecordError::kNone);
    EXPECT_EQ(v.data_type, -5);
    EXPECT_EQ(v.timestamp, -1);
}

TEST(ParseRecord, AcceptsLibprotobufEncoding) {
    vigil::plugin::Record rec;
    rec.set_data_type(42);
    rec.set_timestamp(123);
    (*rec.mutable_data()->mutable_fields())["dip"] = "127.0.0.1";
    (*rec.mutable_data()->mutable_fields())["dport"] = "80";
    std::string bytes = rec.SerializeAsString();
    RecordView v;
    std::string scratch;
    PayloadCheck check;
    ASSERT_EQ(parseRecord(bytes, v, scratch, &check), RecordError::kNone);
    EXPECT_EQ(v.data_type, 42);
    EXPECT_EQ(v.timestamp, 123);
    EXPECT_EQ(check.fields, 2u);
    EXPECT_TRUE(check.utf8);
    std::map<std::string, std::string> fields;
    ASSERT_TRUE(decodePayload(v.payload, fields));
    EXPECT_EQ(fields.at("dip"), "127.0.0.1");
    // The payload bytes are forwarded as they were.
    EXPECT_EQ(std::string(v.payload), rec.data().SerializeAsString());
}

TEST(ParseRecord, AnyFieldOrderZeroValuesAndUnknownFields) {
    vigil::plugin::Payload payload;
    (*payload.mutable_fields())["k"] = "v";
    std::string p = payload.SerializeAsString();
    // data first, then an unknown fixed32 field 9, then timestamp, no data_type (zero).
    std::string bytes;
    bytes += static_cast<char>(0x1a);
    bytes += static_cast<char>(p.size());
    bytes += p;
    bytes += static_cast<char>((9 << 3) | 5);
    bytes += std::string("\x01\x02\x03\x04", 4);
    bytes += static_cast<char>(0x10);
    bytes += static_cast<char>(0x07);
    RecordView v;
    std::string scratch;
    ASSERT_EQ(parseRecord(bytes, v, scratch), RecordError::kNone);
    EXPECT_EQ(v.data_type, 0);
    EXPECT_EQ(v.timestamp, 7);
    EXPECT_EQ(std::string(v.payload), p);
    // An empty message is a valid record with no fields.
    ASSERT_EQ(parseRecord("", v, scratch), RecordError::kNone);
    EXPECT_EQ(v.data_type, 0);
    EXPECT_TRUE(v.payload.empty());
}

TEST(ParseRecord, RepeatedDataFieldsMergeLikeLibprotobuf) {
    vigil::plugin::Payload a, b;
    (*a.mutable_fields())["x"] = "1";
    (*b.mutable_fields())["y"] = "2";
    std::string pa = a.SerializeAsString(), pb = b.SerializeAsString();
    std::string bytes = std::string("\x08\x05", 2);
    bytes += '\x1a';
    bytes += static_cast<char>(pa.size());
    bytes += pa;
    bytes += '\x1a';
    bytes += static_cast<char>(pb.size());
    bytes += pb;
    vigil::plugin::Record expected;
    ASSERT_TRUE(expected.ParseFromString(bytes));
    RecordView v;
    std::string scratch;
    ASSERT_EQ(parseRecord(bytes, v, scratch), RecordError::kNone);
    std::map<std::string, std::string> fields;
    ASSERT_TRUE(decodePayload(v.payload, fields));
    EXPECT_EQ(fields.size(), static_cast<size_t>(expected.data().fields_size()));
    EXPECT_EQ(fields.at("x"), "1");
    EXPECT_EQ(fields.at("y"), "2");
}

TEST(ParseRecord, RejectsMalformedInput) {
    RecordView v;
    std::string scratch;
    EXPECT_EQ(parseRecord(std::string("\x08", 1), v, scratch), RecordError::kMalformed);         // truncated varint
    EXPECT_EQ(parseRecord(std::string("\x1a\x05\x01", 3), v, scratch), RecordError::kMalformed); // short length
    EXPECT_EQ(parseRecord(std::string("\x0a\x00", 2), v, scratch), RecordError::kMalformed);     // wrong wire type
    EXPECT_EQ(parseRecord(std::string("\x1a\x02\x08\x01", 4), v, scratch), RecordError::kBadPayload);
    EXPECT_EQ(parseRecord(std::string("\x07", 1), v, scratch), RecordError::kMalformed);         // bad wire type 7
    EXPECT_EQ(parseRecord(std::string("\x00\x00", 2), v, scratch), RecordError::kMalformed);     // field 0
}

TEST(ParseRecord, ReportsNonUtf8Values) {
    std::string p;
    std::string entry = std::string("\x0a\x01k\x12\x02\xc3\x28", 7);  // invalid 2-byte sequence
    p += '\x0a';
    p += static_cast<char>(entry.size());
    p += entry;
    std::string bytes = "\x1a" + std::string(1, static_cast<char>(p.size())) + p;
    RecordView v;
    std::string scratch;
    PayloadCheck check;
    ASSERT_EQ(parseRecord(bytes, v, scratch, &check), RecordError::kNone);
    EXPECT_FALSE(check.utf8);
    EXPECT_EQ(check.fields, 1u);
}

}  // namespace
}  // namespace vigil::wire
