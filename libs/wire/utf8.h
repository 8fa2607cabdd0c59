// UTF-8 validation and repair for record values: proto3 string fields must be valid UTF-8 or
// strict consumers reject the whole message.
#pragma once

#include <string>
#include <string_view>

namespace vigil::wire {

bool isValidUtf8(std::string_view s);
// Returns s with every byte that is not part of a valid UTF-8 sequence written as "\xNN".
std::string sanitizeUtf8(std::string_view s);

}  // namespace vigil::wire
