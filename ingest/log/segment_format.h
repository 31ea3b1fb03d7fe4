// On-disk format of a shard's segment files, shared by the writer and the reader.
// Described for people in docs/formats/segment.md; change both together.
//
// A shard is a directory of segment files named by the first sequence number they hold, as
// 20 zero-padded decimal digits plus ".seg" ("00000000000000000001.seg"). A segment is a plain
// sequence of batches, with no file header. All integers are little-endian.
//
// Batch (format version 1):
//   offset size  field
//   0      4     magic            0x31424C53 ("SLB1" in file order)
//   4      1     version          1
//   5      1     flags            0 (reserved)
//   6      2     reserved         0
//   8      4     crc32c           CRC32C (core/crc32c.h) of bytes [12, total_length)
//   12     4     total_length     header + records, in bytes; >= kBatchHeaderSize
//   16     4     record_count     >= 1
//   20     8     first_sequence   sequence number of the first record; record i has first + i
//   28     8     first_arrival_ms arrival time of the first record, Unix ms
//   36     8     last_arrival_ms  arrival time of the last record, Unix ms
//   44     ...   records
//
// Record:
//   u32 partition_key_length, partition key bytes (UTF-8, 1..256 bytes)
//   u32 data_length, data bytes (opaque, 0..1 MiB)
//   i64 arrival_ms (ApproximateArrivalTimestamp, Unix ms)
//
// One commit (one or more batches of at most ShardLogOptions::max_batch_bytes each, a larger record
// alone in its batch) is written with one write(2) and made durable by fdatasync before any of its
// records is acknowledged. Arrival times never decrease within a shard (ShardLog::Append keeps
// them so); readers still tolerate files written before that rule. Recovery reads batches in order; the first batch whose magic, version, length or
// CRC fails ends the good prefix. In the newest segment, the bytes after it are a torn tail and
// are truncated; anywhere else it is reported as corruption.
#pragma once

#include <cstdint>

namespace sluice::log {

inline constexpr uint32_t kBatchMagic = 0x31424C53u;
inline constexpr uint8_t kBatchVersion = 1;
inline constexpr uint32_t kBatchHeaderSize = 44;
inline constexpr uint32_t kBatchCrcOffset = 8;
inline constexpr uint32_t kBatchCrcStart = 12;
/// Fixed bytes per record besides its key and data: two u32 lengths and an i64 arrival time.
inline constexpr uint32_t kRecordOverhead = 16;
/// Largest batch a reader will accept. Unit: bytes. Guards against a corrupt length.
inline constexpr uint32_t kMaxBatchBytes = 64u << 20;

}  // namespace sluice::log
