// Shard hash-key ranges, as Kinesis Data Streams does them (HashKey, HashKeyRange and
// HashPartitionKey itself are in core/hash_key.h).
//
// A stream's shards cover [0, 2^128 - 1] in contiguous ranges; CreateStream
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

#include "core/hash_key.h"

namespace sluice::log {

using ::sluice::HashKey;
using ::sluice::HashKeyRange;
using ::sluice::HashPartitionKey;

/// Decimal text of a hash key (up to 39 digits), as Kinesis prints HashKeyRange.
std::string HashKeyToString(HashKey k);

/// Parses a decimal hash key in [0, 2^128 - 1]; nullopt for anything else.
std::optional<HashKey> ParseHashKey(std::string_view s);

/// The ranges CreateStream gives `shard_count` shards, in shard order. REQUIRES: shard_count >= 1.
std::vector<HashKeyRange> EvenHashKeyRanges(int shard_count);

/// Index of the range containing `k`. REQUIRES: `ranges` sorted, contiguous, covering the space.
int ShardForHashKey(const std::vector<HashKeyRange>& ranges, HashKey k);

}  // namespace sluice::log
