// Command and FileExt.Upload codecs against libprotobuf: same bytes out, same fields in, same
// verdict on malformed input (also for randomly mutated messages).
#include "libs/wire/command.h"

#include <gtest/gtest.h>

#include <google/protobuf/stubs/logging.h>

#include <random>

#include "libs/wire/proto_wire.h"
#include "proto/transfer.pb.h"

namespace vigil::wire {
namespace {

AgentCommand fromProto(const grpc::Command& c) {
    AgentCommand a;
    a.agent_ctrl = c.agent_ctrl();
    a.has_task = c.has_task();
    a.task.data_type = c.task().data_type();
    a.task.object_name = c.task().object_name();
    a.task.data = c.task().data();
    a.task.token = c.task().token();
    for (const auto& pc : c.configs()) {
        CommandConfig cc;
        cc.name = pc.name();
        cc.type = pc.type();
        cc.version = pc.version();
        cc.sha256 = pc.sha256();
        cc.signature = pc.signature();
        cc.download_urls.assign(pc.download_urls().begin(), pc.download_urls().end());
        cc.detail = pc.detail();
        a.configs.push_back(std::move(cc));
    }
    a.ack_seq = c.ack_seq();
    return a;
}

grpc::Command sampleCommand() {
    grpc::Command c;
    c.set_agent_ctrl(-7);
    auto* t = c.mutable_task();
    t->set_data_type(1050);
    t->set_object_name("vigil-agent");
    t->set_data(R"({"path":"/etc/passwd"})");
    t->set_token("tok-1");
    for (int i = 0; i < 2; ++i) {
        auto* cfg = c.add_configs();
        cfg->set_name("collector-" + std::to_string(i));
        cfg->set_type("exec");
        cfg->set_version("1.2." + std::to_string(i));
        cfg->set_sha256(std::string(64, 'a'));
        cfg->set_signature("sig");
        cfg->add_download_urls("https://a.example/p.tar.gz");
        cfg->add_download_urls("");
        cfg->add_download_urls("https://b.example/p.tar.gz");
        cfg->set_detail("interval_ms=1000 ünïcode");
    }
    c.set_ack_seq(1ull << 40);
    return c;
}

// Both parsers on the same bytes: the same verdict and, when accepted, the same fields.
void expectSameAsLibprotobuf(const std::string& bytes) {
    grpc::Command pb;
    const bool pb_ok = pb.ParseFromString(bytes);
    AgentCommand ours;
    const bool ours_ok = parseCommand(bytes, ours);
    ASSERT_EQ(ours_ok, pb_ok) << "input of " << bytes.size() << " bytes";
    if (pb_ok) EXPECT_EQ(ours, fromProto(pb));
}

std::string hex(const std::string& s) {
    static const char* k = "0123456789abcdef";
    std::string out;
    for (unsigned char ch : s) {
        out += k[ch >> 4];
        out += k[ch & 15];
    }
    return out;
}

std::string tag(uint32_t field, WireType type) {
    char buf[10];
    return std::string(buf, putVarint(buf, makeTag(field, type)));
}

std::string varint(uint64_t v) {
    char buf[10];
    return std::string(buf, putVarint(buf, v));
}

std::string bytesField(uint32_t field, const std::string& s) {
    return tag(field, kLengthDelimited) + varint(s.size()) + s;
}

TEST(CommandCodec, ParsesWhatLibprotobufWrites) {
    const grpc::Command pb = sampleCommand();
    AgentCommand ours;
    ASSERT_TRUE(parseCommand(pb.SerializeAsString(), ours));
    EXPECT_EQ(ours, fromProto(pb));
    EXPECT_EQ(ours.agent_ctrl, -7);
    ASSERT_TRUE(ours.has_task);
    EXPECT_EQ(ours.task.data_type, 1050);
    ASSERT_EQ(ours.configs.size(), 2u);
    EXPECT_EQ(
        ours.configs[1].download_urls,
        (std::vector<std::string>{"https://a.example/p.tar.gz", "", "https://b.example/p.tar.gz"}));
    EXPECT_EQ(ours.ack_seq, 1ull << 40);
}

TEST(CommandCodec, EncodesTheBytesLibprotobufWrites) {
    const grpc::Command pb = sampleCommand();
    EXPECT_EQ(encodeCommand(fromProto(pb)), pb.SerializeAsString());

    grpc::Command bare_ack;
    bare_ack.set_ack_seq(5);
    EXPECT_EQ(encodeCommand(fromProto(bare_ack)), bare_ack.SerializeAsString());

    grpc::Command empty_task;
    empty_task.mutable_task();  // present but empty: still written, as a zero-length message
    EXPECT_EQ(encodeCommand(fromProto(empty_task)), empty_task.SerializeAsString());
    EXPECT_EQ(encodeCommand(AgentCommand{}), "");
}

TEST(CommandCodec, EmptyAndZeroValues) {
    AgentCommand c;
    c.ack_seq = 9;
    ASSERT_TRUE(parseCommand("", c));
    EXPECT_EQ(c, AgentCommand{});  // reset: an empty Command is a sync to an empty set
    // Zero values written explicitly are accepted as zero.
    expectSameAsLibprotobuf(tag(1, kVarint) + varint(0) + tag(16, kVarint) + varint(0));
    // An empty task is present.
    ASSERT_TRUE(parseCommand(bytesField(2, ""), c));
    EXPECT_TRUE(c.has_task);
    expectSameAsLibprotobuf(bytesField(2, ""));
}

TEST(CommandCodec, AnyFieldOrderUnknownFieldsAndWrongWireTypes) {
    const std::string task = bytesField(4, "tok") + tag(1, kVarint) + varint(59) +
                             tag(99, kFixed32) + "abcd" + bytesField(2, "collector");
    const std::string config = bytesField(7, "d") + bytesField(6, "u1") + bytesField(1, "n") +
                               tag(3, kVarint) + varint(3) +  // version with a wrong wire type
                               bytesField(6, "u2") + tag(8, kFixed64) + "12345678";
    const std::string group = tag(50, kStartGroup) + tag(1, kVarint) + varint(1) +
                              tag(51, kStartGroup) + tag(51, kEndGroup) + tag(50, kEndGroup);
    const std::string bytes = tag(16, kVarint) + varint(42) + bytesField(3, config) + group +
                              bytesField(2, task) + tag(1, kFixed32) + "xxxx" +  // wrong type
                              tag(1000, kLengthDelimited) + varint(3) + "abc" + tag(1, kVarint) +
                              varint(2);
    AgentCommand c;
    ASSERT_TRUE(parseCommand(bytes, c));
    EXPECT_EQ(c.ack_seq, 42u);
    EXPECT_EQ(c.agent_ctrl, 2);
    EXPECT_EQ(c.task.token, "tok");
    EXPECT_EQ(c.task.object_name, "collector");
    EXPECT_EQ(c.task.data_type, 59);
    ASSERT_EQ(c.configs.size(), 1u);
    EXPECT_EQ(c.configs[0].name, "n");
    EXPECT_EQ(c.configs[0].version, "");
    EXPECT_EQ(c.configs[0].download_urls, (std::vector<std::string>{"u1", "u2"}));
    expectSameAsLibprotobuf(bytes);
}

TEST(CommandCodec, LastScalarWinsAndTaskOccurrencesMerge) {
    const std::string bytes = tag(16, kVarint) + varint(1) + tag(16, kVarint) + varint(7) +
                              bytesField(2, tag(1, kVarint) + varint(5) + bytesField(4, "t1")) +
                              bytesField(2, bytesField(2, "obj") + bytesField(4, "t2")) +
                              bytesField(3, bytesField(1, "a")) + bytesField(3, bytesField(1, "b"));
    AgentCommand c;
    ASSERT_TRUE(parseCommand(bytes, c));
    EXPECT_EQ(c.ack_seq, 7u);
    EXPECT_EQ(c.task.data_type, 5);  // kept from the first occurrence
    EXPECT_EQ(c.task.object_name, "obj");
    EXPECT_EQ(c.task.token, "t2");
    ASSERT_EQ(c.configs.size(), 2u);
    EXPECT_EQ(c.configs[1].name, "b");
    expectSameAsLibprotobuf(bytes);
}

TEST(CommandCodec, Int32KeepsTheLow32Bits) {
    // -1 as a 10-byte varint, and a value over 32 bits.
    expectSameAsLibprotobuf(tag(1, kVarint) + varint(~0ull));
    expectSameAsLibprotobuf(tag(1, kVarint) + varint(0x1234567890ull));
    AgentCommand c;
    ASSERT_TRUE(parseCommand(tag(1, kVarint) + varint(~0ull), c));
    EXPECT_EQ(c.agent_ctrl, -1);
}

TEST(CommandCodec, RejectsWhatLibprotobufRejects) {
    google::protobuf::LogSilencer quiet;  // libprotobuf logs each invalid UTF-8 string
    const std::string good = sampleCommand().SerializeAsString();
    for (size_t n = 0; n < good.size(); ++n) expectSameAsLibprotobuf(good.substr(0, n));
    const std::vector<std::string> bad = {
        tag(1, kVarint),                               // value missing
        std::string("\x00", 1),                        // field 0
        tag(1, kEndGroup),                             // end group without a start
        tag(5, kStartGroup) + tag(6, kEndGroup),       // mismatched group end
        tag(5, kStartGroup),                           // unterminated group
        tag(1, static_cast<WireType>(6)) + varint(1),  // wire type 6
        std::string(11, '\xff'),                       // varint over 10 bytes
        bytesField(2, bytesField(2, "\xff\xfe")),      // task string not UTF-8
        bytesField(3, bytesField(6, "\xc0\x80")),      // overlong UTF-8 in a URL
        bytesField(3, bytesField(1, "\xed\xa0\x80")),  // a surrogate
        bytesField(3, tag(1, kLengthDelimited) + varint(100) + "short"),
        tag(2, kLengthDelimited) + varint(1ull << 40),  // length past the end
    };
    for (const auto& b : bad) {
        AgentCommand c;
        EXPECT_FALSE(parseCommand(b, c));
        expectSameAsLibprotobuf(b);
    }
    // Bytes fields of unknown numbers may hold anything.
    expectSameAsLibprotobuf(bytesField(9, "\xff\xfe"));
}

// Random mutations of real messages (flips, truncations, insertions, splices): both parsers
// must agree on every one. Fixed seed: a failure is reproducible.
TEST(CommandCodec, AgreesWithLibprotobufOnMutatedMessages) {
    google::protobuf::LogSilencer quiet;
    std::mt19937_64 rng(20240611);
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    std::vector<std::string> seeds = {sampleCommand().SerializeAsString()};
    {
        grpc::Command c;
        c.set_ack_seq(3);
        seeds.push_back(c.SerializeAsString());
        c.mutable_task()->set_data_type(1060);
        seeds.push_back(c.SerializeAsString());
    }
    int accepted = 0;
    for (int i = 0; i < 30000; ++i) {
        std::string s = seeds[pick(seeds.size())];
        const int edits = 1 + static_cast<int>(pick(4));
        for (int e = 0; e < edits && !s.empty(); ++e) {
            switch (pick(5)) {
                case 0:
                    s[pick(s.size())] = static_cast<char>(rng());
                    break;
                case 1:
                    s[pick(s.size())] ^= static_cast<char>(1u << pick(8));
                    break;
                case 2:
                    s.resize(pick(s.size() + 1));
                    break;
                case 3:
                    s.insert(pick(s.size() + 1), 1, static_cast<char>(rng()));
                    break;
                case 4: {
                    const std::string& o = seeds[pick(seeds.size())];
                    const size_t from = pick(o.size());
                    s.insert(pick(s.size() + 1), o.substr(from, pick(16)));
                    break;
                }
            }
        }
        grpc::Command pb;
        const bool pb_ok = pb.ParseFromString(s);
        AgentCommand ours;
        const bool ours_ok = parseCommand(s, ours);
        ASSERT_EQ(ours_ok, pb_ok) << "iteration " << i << " input " << hex(s);
        if (pb_ok) {
            ASSERT_EQ(ours, fromProto(pb)) << "iteration " << i;
            ++accepted;
        }
    }
    EXPECT_GT(accepted, 1000);  // the mutations must not all be rejected
}

TEST(FileUploadCodec, RequestBytesAreLibprotobufs) {
    const std::string data("\x00\xff binary \x01", 12);
    grpc::FileUploadRequest pb;
    pb.set_token("tok-9");
    pb.set_data(data);
    std::string ours;
    encodeFileUploadRequest(ours, "tok-9", data);
    EXPECT_EQ(ours, pb.SerializeAsString());

    grpc::FileUploadRequest token_only;
    token_only.set_token("t");
    encodeFileUploadRequest(ours, "t", "");  // an empty file: one request with the token only
    EXPECT_EQ(ours, token_only.SerializeAsString());

    const std::string big(600 * 1024, 'x');
    encodeFileUploadRequest(ours, "t", big);
    grpc::FileUploadRequest back;
    ASSERT_TRUE(back.ParseFromString(ours));
    EXPECT_EQ(back.data(), big);
}

TEST(FileUploadCodec, ResponseStatus) {
    for (int v : {0, 1, 2, -3}) {
        grpc::FileUploadResponse pb;
        pb.set_status(static_cast<grpc::FileUploadResponse::Status>(v));
        int32_t status = 99;
        ASSERT_TRUE(parseFileUploadResponse(pb.SerializeAsString(), status));
        EXPECT_EQ(status, v);
    }
    int32_t status = 99;
    ASSERT_TRUE(parseFileUploadResponse("", status));
    EXPECT_EQ(status, static_cast<int32_t>(UploadStatus::kSuccess));
    ASSERT_TRUE(parseFileUploadResponse(bytesField(7, "x") + tag(1, kVarint) + varint(1), status));
    EXPECT_EQ(status, static_cast<int32_t>(UploadStatus::kFailed));
    EXPECT_FALSE(parseFileUploadResponse(tag(1, kVarint), status));
}

TEST(UploadCodec, CenterSideMatchesLibprotobuf) {
    grpc::FileUploadRequest req;
    req.set_token("tok-9");
    req.set_data(std::string("\x00\x01" "binary\xff", 9));
    const std::string bytes = req.SerializeAsString();
    std::string_view token, data;
    ASSERT_TRUE(parseFileUploadRequest(bytes, token, data));
    EXPECT_EQ(token, "tok-9");
    EXPECT_EQ(data, req.data());
    // Repeated singular fields: the last wins, as in libprotobuf.
    std::string twice = req.SerializeAsString();
    grpc::FileUploadRequest second;
    second.set_data("second");
    twice += second.SerializeAsString();
    grpc::FileUploadRequest merged;
    ASSERT_TRUE(merged.ParseFromString(twice));
    ASSERT_TRUE(parseFileUploadRequest(twice, token, data));
    EXPECT_EQ(data, merged.data());
    EXPECT_EQ(token, merged.token());
    EXPECT_FALSE(parseFileUploadRequest(std::string("\x0a\x05ab", 4), token, data));

    for (auto st : {UploadStatus::kSuccess, UploadStatus::kFailed}) {
        grpc::FileUploadResponse resp;
        ASSERT_TRUE(resp.ParseFromString(encodeFileUploadResponse(st)));
        EXPECT_EQ(static_cast<int32_t>(resp.status()), static_cast<int32_t>(st));
        resp.set_status(static_cast<grpc::FileUploadResponse_Status>(st));
        EXPECT_EQ(encodeFileUploadResponse(st), resp.SerializeAsString());
    }
}

}  // namespace
}  // namespace vigil::wire
