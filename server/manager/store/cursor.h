// Keyset pagination cursors: the sort key of a page's last row, opaque to clients (hex), tagged
// with the list and sort they belong to so that a cursor of another query is refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libs/common/result.h"

namespace vigil::manager {

std::string encodeCursor(std::string_view kind, const std::vector<std::string>& parts);

// The parts of a cursor made by encodeCursor(kind, <parts of that size>); an error naming the
// problem for anything else.
Result<std::vector<std::string>> decodeCursor(std::string_view cursor, std::string_view kind,
                                              size_t parts);

// A cursor part that must be an integer.
Result<int64_t> cursorInteger(const std::string& part);

}  // namespace vigil::manager
