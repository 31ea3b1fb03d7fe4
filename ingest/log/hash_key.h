// Partition-key hashing and shard hash-key ranges, as Kinesis Data Streams does them.
//
// A partition key maps to a 128-bit hash key: the MD5 digest of its UTF-8 bytes read as an unsigned
// big-endian integer. A stream's shards cover [0, 2^128 - 1] in contiguous ranges; CreateStream
// with N shards gives shard i the range starting at floor(i * 2^128 / N).
// Source: AWS Kinesis Data Streams API Reference, PutRecord ("PartitionKey ... MD5 hash function
// is used to map partition keys to 128-bit integer values") and HashKeyRange.
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::log {

using HashKey = unsigned __int128;

/// MD5 of `partition_key` as a big-endian 128-bit integer.
HashKey HashPartitionKey(std::string_view partition_key);

/// Decimal text of a hash key (up to 39 digits), as Kinesis prints HashKeyRange.
std::string HashKeyToString(HashKey k);

/// Parses a decimal hash key in [0, 2^128 - 1]; nullopt for anything else.
std::optional<HashKey> ParseHashKey(std::string_view s);

/// One shard's inclusive hash-key range.
struct HashKeyRange {
  HashKey start = 0;
  HashKey end = 0;
  bool Contains(HashKey k) const { return k >= start && k <= end; }
};

/// The ranges CreateStream gives `shard_count` shards, in shard order. REQUIRES: shard_count >= 1.
std::vector<HashKeyRange> EvenHashKeyRanges(int shard_count);

/// Index of the range containing `k`. REQUIRES: `ranges` sorted, contiguous, covering the space.
int ShardForHashKey(const std::vector<HashKeyRange>& ranges, HashKey k);

}  // namespace sluice::log
