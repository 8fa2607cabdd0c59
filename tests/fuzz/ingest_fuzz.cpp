// libFuzzer target for the center's gRPC ingest decoding: fuzzer bytes are a PackagedData as an
// agent (or anyone with a client certificate) could send it. ingestBatch must never crash, and
// whatever it accepts must be consistent: one bus message per kept record, each a well-formed
// MQData whose key is the batch's agent id and whose body is a valid Payload.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "libs/wire/proto_wire.h"
#include "libs/wire/record.h"
#include "server/center/ingest.h"

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    vigil::center::IngestLimits limits;
    limits.max_records = 4096;
    limits.max_record_bytes = 1 << 16;
    vigil::center::BatchIngest out;
    auto err = vigil::center::ingestBatch(bytes, 1700000000, limits, out);
    if (err != vigil::center::IngestError::kNone) {
        FUZZ_CHECK(out.messages.empty());
        return 0;
    }
    FUZZ_CHECK(!out.agent_id.empty());
    FUZZ_CHECK(out.messages.size() == out.records);
    for (const auto& m : out.messages) {
        FUZZ_CHECK(m.key == out.agent_id);
        vigil::wire::ProtoReader r(m.value);
        uint32_t field;
        vigil::wire::WireType type;
        bool saw_body = false, saw_agent = false;
        while (r.nextTag(field, type)) {
            if (field == 3 || field == 4) {
                std::string_view s;
                FUZZ_CHECK(type == vigil::wire::kLengthDelimited && r.readLengthDelimited(s));
                if (field == 3) {
                    FUZZ_CHECK(vigil::wire::checkPayload(s));
                    saw_body = true;
                } else {
                    FUZZ_CHECK(s == out.agent_id);
                    saw_agent = true;
                }
            } else {
                FUZZ_CHECK(r.skip(type, field));
            }
        }
        FUZZ_CHECK(r.ok() && saw_body && saw_agent);
    }
    return 0;
}
