// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), as used by iSCSI (RFC 3720 §B.4),
// ext4, LevelDB and Kafka record batches. Uses the SSE4.2 crc32 instruction when the CPU has it,
// else a slice-by-8 table. Thread-safety: pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::crc32c {

/// Extends `init_crc` (the CRC of preceding bytes, 0 for none) over `n` bytes at `data`.
uint32_t Extend(uint32_t init_crc, const void* data, size_t n);

/// CRC32C of `n` bytes. Value(“123456789”) == 0xE3069283.
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }

}  // namespace sluice::crc32c
