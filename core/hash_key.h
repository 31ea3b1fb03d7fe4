// Kinesis hash keys: a partition key maps to a 128-bit hash key, the MD5 digest of its UTF-8
// bytes read as an unsigned big-endian integer, and each shard of a stream holds the records
// whose hash key lies in its inclusive range.
// Source: AWS Kinesis Data Streams API Reference, PutRecord ("PartitionKey ... MD5 hash function
// is used to map partition keys to 128-bit integer values") and HashKeyRange.
//
// In core because two folders need the same function: the log routes records to shards by it
// (ingest/log/hash_key.h adds the range arithmetic), and a query grouped by the source's
// partition key places its key groups by it, so that a shard's keys stay on the worker that
// reads the shard (operators/key_groups.h).
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <string_view>

namespace sluice {

/// A Kinesis hash key, 0 … 2^128 − 1.
using HashKey = unsigned __int128;

/// One shard's inclusive hash-key range (Kinesis HashKeyRange).
struct HashKeyRange {
  HashKey start = 0;
  HashKey end = 0;
  bool Contains(HashKey k) const { return k >= start && k <= end; }
};

/// MD5 of `partition_key` as a big-endian 128-bit integer. About 0.1 µs for a short key (one
/// OpenSSL digest context kept per thread).
HashKey HashPartitionKey(std::string_view partition_key);

}  // namespace sluice
