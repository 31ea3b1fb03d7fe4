// CheckpointRecord: the per-query commit record of a checkpoint, stored under
// "checkpoint/<query>" in the "sluice.meta" space in the same atomic batch as the query's state
// changes, sink output and nothing else. Its presence is the commit decision of the two-phase
// protocol (docs/checkpoints.md). Byte layout in docs/formats/checkpoint.md:
//
//   "SLCP"                         4-byte magic
//   u8      version (2; version 1 records have no key-group count and mean K = 1)
//   varint  checkpoint id          increasing per query, from 1
//   zigzag  wall time, Unix ms     when it was taken
//   bytes   state fingerprint      StateFingerprint(): what the state means (readable text)
//   bytes   pipeline scalars       ops::QueryPipeline::CheckpointDelta()'s scalars
//   varint  split count, then per split: bytes id, varint next position, zigzag max event time µs
//   varint  key groups K           how the query's state is split (operators/key_groups.h)
//   u32 LE  CRC32C (Castagnoli) of every byte before it
//
// (varint, zigzag and bytes as in operators/state_codec.h.)
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/plan.h"
#include "core/status.h"
#include "core/time.h"

namespace sluice::runtime {

/// One source split's position in a checkpoint.
struct SplitPosition {
  std::string id;               ///< SourceSplit::id(), e.g. "shardId-000000000000".
  uint64_t next_position = 1;   ///< The first record not yet processed.
  EventTime max_event_time = EventTime::Min();  ///< For the split's watermark.
};

struct CheckpointRecord {
  uint64_t id = 0;
  int64_t wall_ms = 0;
  std::string fingerprint;
  std::string scalars;
  std::vector<SplitPosition> splits;
  /// Key groups of the query's state (operators/key_groups.h); 1 for version-1 records.
  uint32_t key_groups = 1;
};

/// Encodes `r` as laid out above.
std::string EncodeCheckpointRecord(const CheckpointRecord& r);
/// Decodes and verifies a record. Errors: Corruption (bad magic, version, CRC, or truncated).
Result<CheckpointRecord> DecodeCheckpointRecord(std::string_view bytes);

/// A readable description of what query `q`'s state means: its source, window, GROUP BY keys and
/// aggregates (not WHERE or projections, which can change without invalidating state). Two
/// pipelines whose query has the same fingerprint can share the query's checkpointed state.
/// Non-aggregating queries have no state and their fingerprint only names the source.
/// A query whose key groups are placed by the source's partition key (ops::PartitionKeyGroupKey)
/// says so at the end; `partition_key_groups` false gives the fingerprint of the same query with
/// XXH3 placement (as state made before partition_key existed was placed).
std::string StateFingerprint(const Pipeline& pipeline, const QueryDef& q, bool partition_key_groups = true);

}  // namespace sluice::runtime
