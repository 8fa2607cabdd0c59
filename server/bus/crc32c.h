// CRC32C (Castagnoli) for the bus log's entry checksums: the SSE4.2 instruction where the CPU
// has it, a table-driven fallback elsewhere. Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vigil::bus {

// Continues `crc` (0 to start) over `n` bytes. crc32c("123456789") == 0xE3069283.
uint32_t crc32c(uint32_t crc, const void* data, size_t n);
// The table-driven version alone (tests compare both).
uint32_t crc32cPortable(uint32_t crc, const void* data, size_t n);

}  // namespace vigil::bus
