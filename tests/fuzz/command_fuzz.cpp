// libFuzzer target for what a center sends the agent: parseCommand and parseFileUploadResponse on
// the whole input. Beyond "no crash, no hang": an accepted Command re-encodes to bytes that parse
// back to the same Command, and re-encoding those gives the same bytes (one canonical encoding).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "libs/wire/command.h"

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    int32_t status = 0;
    (void)vigil::wire::parseFileUploadResponse(input, status);

    vigil::wire::AgentCommand command;
    if (!vigil::wire::parseCommand(input, command)) return 0;
    const std::string encoded = vigil::wire::encodeCommand(command);
    // Re-encoding drops unknown fields and overlong varints; only a negative int32 written in
    // 5 bytes grows (to 10), in agent_ctrl and task.data_type.
    FUZZ_CHECK(encoded.size() <= size + 16);
    vigil::wire::AgentCommand again;
    FUZZ_CHECK(vigil::wire::parseCommand(encoded, again));
    FUZZ_CHECK(again == command);
    FUZZ_CHECK(vigil::wire::encodeCommand(again) == encoded);
    return 0;
}
