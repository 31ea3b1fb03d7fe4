// Key groups: the unit in which a query's keyed state is split among workers, stored, moved and
// restored, as Flink's key groups (its "max parallelism") and RisingWave's virtual nodes.
//
// A windowed query's state is split into K key groups by its GROUP BY key: the group of a row is
// XXH3-64 of the row's encoded GROUP BY values (operators/key_encoder.h) mod K. When the GROUP BY
// holds the source's partition key (SourceDef::partition_key_column), the group comes from that
// value's Kinesis hash key instead (KeyGroupOfHashKey), so a shard's keys fall in the groups its
// hash-key range covers and the worker that reads the shard can own them: no exchange. K is fixed when
// the query's state is first created (kDefaultKeyGroups; 1 for stage plans and for state made
// before key groups existed) and saved in every checkpoint record. With P workers, worker w owns
// the contiguous range of groups Flink's KeyGroupRangeAssignment gives it, so a different worker
// count moves whole groups and never splits one.
//
// On disk (docs/formats/checkpoint.md) each key of a group's state starts with the group number,
// two bytes big-endian, then the operator's own key ('p' + pane + key, 'e' + due + key, 's' +
// key) or "z" for the group's operator scalars: one group is one key range, read, written,
// moved and deleted as a range. With K = 1 there is no prefix (the layout before key groups).
//
// Thread-safety: functions are pure; a PrefixedStateStore is as thread-safe as its base store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash_key.h"
#include "core/plan.h"
#include "core/state_store.h"
#include "core/value.h"

namespace sluice::ops {

/// Key groups of a new windowed query's state: 128, Flink's default max parallelism. The most
/// workers that can share one query's state.
inline constexpr uint32_t kDefaultKeyGroups = 128;
/// The largest key-group count a checkpoint may name (the on-disk prefix is two bytes).
inline constexpr uint32_t kMaxKeyGroups = 32768;

/// The key groups one worker owns: [first, last) of `count`.
struct KeyGroupRange {
  uint32_t count = 1;  ///< K, the query's key-group count.
  uint32_t first = 0;
  uint32_t last = 1;
  bool empty() const { return first >= last; }
  bool contains(uint32_t g) const { return g >= first && g < last; }
  /// Every group of `k` (one worker).
  static KeyGroupRange All(uint32_t k) { return {k, 0, k}; }
};

/// Key groups of a query whose state is created now: 1 for queries without keyed window state
/// (projections) and for stage plans (subqueries, window joins: one group, one worker);
/// kDefaultKeyGroups for TUMBLE, HOP and SESSION aggregates.
uint32_t DefaultKeyGroups(const QueryDef& q);

/// The key group of an encoded GROUP BY key: XXH3_64bits(key) mod `key_groups`. Stable across
/// releases and machines, since it decides where state lives on disk. REQUIRES: key_groups >= 1.
uint32_t KeyGroupOfKey(std::string_view encoded_key, uint32_t key_groups);

/// The key group of hash key `h` (core/hash_key.h): floor(h × K / 2^128), computed from its high
/// 64 bits. Group g covers the hash keys from g × 2^128 / K up to the next group's, so a shard
/// whose range starts and ends on group boundaries (CreateStream's even ranges when the shard
/// count divides K) holds whole groups. REQUIRES: key_groups >= 1.
inline uint32_t KeyGroupOfHashKey(HashKey h, uint32_t key_groups) {
  const unsigned __int128 hi = static_cast<uint64_t>(h >> 64);
  return static_cast<uint32_t>((hi * key_groups) >> 64);
}

/// For a TUMBLE, HOP or SESSION aggregate (not a stage plan) whose GROUP BY holds a plain
/// reference to its source's partition-key column: the index of that key in q.group_keys, so
/// its key groups are placed by KeyGroupOfPartitionKey(). -1 for every other query.
int PartitionKeyGroupKey(const SourceDef& source, const QueryDef& q);

/// The key group of a row of such a query from its partition-key value, as the log routed the
/// record when the producer used that value as the partition key: KeyGroupOfHashKey of
/// HashPartitionKey(text) for TEXT, of the decimal text for BIGINT (as the NDJSON endpoint's
/// `partition_key` turns an integer field into a key), of "" for anything else (NULL).
uint32_t KeyGroupOfPartitionKey(const Value& v, uint32_t key_groups);

/// KeyGroupOfPartitionKey() with a small cache in front, for the per-row path: a direct-mapped
/// table of 4,096 recent keys (by XXH3 of their text), so a key seen before costs a hash and a
/// compare instead of an MD5 (about 0.1 µs). With many more active keys than slots most rows
/// miss and pay the MD5 (and a copy of the key, allocated when longer than 15 bytes). Results
/// are exactly KeyGroupOfPartitionKey()'s; the cache only saves time. Memory: 4,096 entries of
/// about 40 bytes, plus long keys. Thread-safety: one thread at a time (each pipeline has its own).
class PartitionKeyGroups {
 public:
  /// For a query with `key_groups` groups (>= 1).
  explicit PartitionKeyGroups(uint32_t key_groups)
      : key_groups_(key_groups), null_group_(KeyGroupOfPartitionKey(Value::Null(), key_groups)), slots_(kSlots) {}
  /// The key group of partition-key value `v`.
  uint32_t Of(const Value& v);

 private:
  static constexpr size_t kSlots = 4096;
  struct Slot {
    std::string key;
    uint32_t group = 0;
    bool used = false;
  };
  uint32_t OfText(std::string_view key);
  const uint32_t key_groups_;
  const uint32_t null_group_;  // of NULL (and any type but TEXT and BIGINT)
  std::vector<Slot> slots_;
};

/// The worker of `workers` that owns group `group` of `key_groups`: group * workers / key_groups
/// (Flink's KeyGroupRangeAssignment.computeOperatorIndexForKeyGroup).
inline int KeyGroupOwner(uint32_t group, uint32_t key_groups, int workers) {
  return static_cast<int>(uint64_t{group} * static_cast<uint64_t>(workers) / key_groups);
}

/// The groups worker `worker` of `workers` owns (the inverse of KeyGroupOwner(); empty when
/// there are more workers than groups and this one gets none). REQUIRES: 0 <= worker < workers.
KeyGroupRange KeyGroupsOfWorker(uint32_t key_groups, int workers, int worker);

/// The on-disk key prefix of group `group`: two bytes, big-endian.
std::string KeyGroupPrefix(uint32_t group);

/// A view of `base` in which every key carries `prefix`: Get/Scan/ScanFrom add it to the keys
/// asked for and strip it from the keys returned; EstimateKeys is the base's estimate divided by
/// `share`. Commit is not offered (InvalidArgument): writes go through AppendPrefixed(). Lets an
/// operator written for a whole space keep one key group's state in part of it.
class PrefixedStateStore final : public StateStore {
 public:
  /// `base` must outlive the view. `share` >= 1.
  PrefixedStateStore(StateStore* base, std::string prefix, size_t share)
      : base_(base), prefix_(std::move(prefix)), share_(share) {}
  Status Commit(const StoreBatch& batch) override;
  Result<std::string> Get(std::string_view space, std::string_view key) override;
  Status Scan(std::string_view space, std::string_view prefix,
              const std::function<Status(std::string_view key, std::string_view value, bool* more)>& fn) override;
  Status ScanFrom(std::string_view space, std::string_view start, std::string_view prefix,
                  const std::function<Status(std::string_view key, std::string_view value, bool* more)>& fn) override;
  size_t EstimateKeys(std::string_view space) override { return base_->EstimateKeys(space) / share_; }

 private:
  StateStore* const base_;
  const std::string prefix_;
  const size_t share_;
};

/// Appends every op of `from` to `to` with `prefix` put before each key (and before a range
/// delete's end). Flat ops are copied; runs are shared and wrapped, so their keys get the prefix
/// when the committing thread reads them. `from` is left unchanged.
void AppendPrefixed(const StoreBatch& from, std::string_view prefix, StoreBatch* to);

}  // namespace sluice::ops
