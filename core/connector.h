// Interfaces between the runtime and the modules that feed it and take its output.
//
// runtime/ depends only on core/ and operators/, so sources (ingest/), decoders (ingest/) and
// sinks (sinks/) reach it through these interfaces; app/ wires concrete ones in. Calls are per
// batch, never per record, so the virtual dispatch stays off the per-record path.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/hash_key.h"
#include "core/state_store.h"
#include "core/status.h"
#include "core/time.h"
#include "core/value.h"

namespace sluice {

/// One record read from a split. Views are valid until the next Read() on the same split.
struct SourceRecord {
  uint64_t position = 0;  ///< Sequence number (log) or offset (Kafka); strictly increasing per split.
  int64_t arrival_ms = 0; ///< When the record was accepted, Unix ms.
  std::string_view key;   ///< Partition key.
  std::string_view data;  ///< Payload bytes.
};

/// How far a split's reader is behind the newest record of its split, for monitoring. A field is
/// -1 when the source does not know it.
struct SplitLag {
  /// Kinesis MillisBehindLatest: the newest durable record's arrival time minus the arrival time
  /// of the last record read; 0 when caught up. Unit: milliseconds.
  /// Source: AWS Kinesis Data Streams API Reference, GetRecords (MillisBehindLatest).
  int64_t behind_ms = -1;
  /// Records not read yet (Kafka consumer lag: the partition's high watermark minus the next
  /// offset to read). Unit: records.
  int64_t records = -1;
};

/// A unit of parallel, ordered input: a shard of a stream or a Kafka partition.
/// Thread-safety: one thread at a time.
class SourceSplit {
 public:
  virtual ~SourceSplit() = default;
  /// Stable id, e.g. "shardId-000000000000".
  virtual const std::string& id() const = 0;
  /// Makes the next Read() start at `position` (positions before the oldest retained record start
  /// at the oldest). Errors: none for the log; Kafka may return IOError.
  virtual Status Seek(uint64_t position) = 0;
  /// Reads up to `max_records` records in position order into `out` (cleared first). Empty when
  /// caught up. Errors: Corruption or IOError from storage.
  virtual Status Read(size_t max_records, std::vector<SourceRecord>* out) = 0;
  /// Ids of the splits this one continues (Kinesis ParentShardId, then AdjacentParentShardId):
  /// every record of a key that reached a parent came before every record of that key here, so a
  /// reader that wants per-key order reads a split only after all its parents are finished().
  /// Empty for a split with no parents (and for sources that never reshard).
  virtual std::vector<std::string> parent_ids() const { return {}; }
  /// The hash-key range of a Kinesis-style shard: the split holds exactly the records whose
  /// partition key's HashPartitionKey() lies in it. The engine uses it to keep a query grouped
  /// by the partition key on the worker that reads the shard (no exchange). nullopt (the
  /// default) for splits that are not hash-key ranges, such as Kafka partitions.
  virtual std::optional<HashKeyRange> hash_key_range() const { return std::nullopt; }
  /// True once the split is closed (it takes no new records) and this reader has read every
  /// record of it: Read() will only ever return empty. Cheap; may be called after every Read().
  /// Always false for splits that never close.
  virtual bool finished() const { return false; }
  /// Called once a checkpoint that saved `next_position` for this split has committed: every
  /// record before it is reflected in committed state and output. A source may tell its broker
  /// (Kafka: the consumer group's committed offset, for monitoring lag); it must never rely on
  /// it for recovery, which seeks to the checkpoint's positions. Default: nothing.
  virtual void OnCheckpointCommitted(uint64_t next_position) { (void)next_position; }
  /// How far this reader is behind its split's newest record (SplitLag). Called by the reader's
  /// thread; must not block (cached broker figures are fine). Default: unknown.
  virtual SplitLag lag() const { return {}; }
};

/// A named stream of records split for parallel reading.
/// Thread-safety: WaitForData() is thread-safe; splits are handed to one reader each.
class Source {
 public:
  virtual ~Source() = default;
  /// Opens one reader per split, in split (id) order: all splits that still hold records or may
  /// get some, open and closed, each positioned at its oldest retained record.
  virtual std::vector<std::unique_ptr<SourceSplit>> OpenSplits() = 0;
  /// Changes whenever OpenSplits() would return a different set of splits (a reshard created or
  /// closed some). Compare with the value seen at the last OpenSplits() to learn that new splits
  /// appeared. Thread-safe, cheap (no lock). Always 0 for sources whose splits never change.
  virtual uint64_t splits_version() const { return 0; }
  /// Blocks until new data may be available after `seen` or `timeout` passes; returns a token to
  /// pass next time. Spurious wake-ups are allowed.
  virtual uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds timeout) = 0;
};

/// Why one record could not be decoded.
struct DecodeError {
  size_t index = 0;     ///< Position of the record in the batch.
  std::string reason;   ///< For the dead-letter entry and the logs.
};

/// Turns payload bytes into rows of a fixed schema.
/// Thread-safety: one thread at a time (decoders keep scratch buffers).
class RowDecoder {
 public:
  virtual ~RowDecoder() = default;
  /// Decodes each record of `in` into `rows` (one row per good record, in order) and reports the
  /// records that failed in `errors`; `row_index[i]` gives the batch position of rows[i].
  /// Both outputs are cleared first. Never fails as a whole.
  virtual void DecodeBatch(const std::vector<SourceRecord>& in, std::vector<Row>* rows,
                           std::vector<size_t>* row_index, std::vector<DecodeError>* errors) = 0;
};

/// A destination for query output rows.
///
/// Exactly-once sinks take part in the query's checkpoints as in two-phase commit (the
/// checkpoint's StateStore commit is the decision record; docs/checkpoints.md):
///   1. PrepareCheckpoint() adds what the sink must make durable with the checkpoint to the batch
///      and prepares anything outside the store (files written and fsynced, not yet visible);
///   2. the runtime commits the batch (state, source positions and the sink's part at once);
///   3. CommitCheckpoint() makes prepared output visible.
/// On start, Recover() rolls the sink forward to its last committed checkpoint (publishing what it
/// prepared and committed) and removes what an uncommitted attempt left behind.
/// Thread-safety: one thread at a time (the query's worker).
class Sink {
 public:
  virtual ~Sink() = default;
  /// Takes a batch of rows of the sink's schema. Errors: IOError (retryable) from storage.
  virtual Status Write(const std::vector<Row>& rows) = 0;
  /// Gives a time-driven sink (buffered files) a chance to flush. `now` is wall-clock time.
  virtual Status Tick(EventTime now) = 0;
  /// Called at shutdown: prepares everything buffered for the final checkpoint (or, for sinks
  /// outside checkpoints, flushes it).
  virtual Status Close() = 0;
  /// Rows taken by Write() that are not yet durable in the sink's destination. 0 for sinks that
  /// write through.
  virtual size_t buffered_rows() const { return 0; }

  /// True when output is waiting for a checkpoint to become visible (staged KV rows, prepared
  /// files), so the runtime checkpoints soon instead of waiting for the interval. Default: false.
  virtual bool WantsCheckpoint() const { return false; }
  /// Phase 1 of checkpoint `checkpoint_id` (increasing per query): adds the sink's part to `batch`.
  /// Errors: IOError preparing files; the runtime then abandons the checkpoint and recovers.
  virtual Status PrepareCheckpoint(uint64_t checkpoint_id, StoreBatch* batch) {
    (void)checkpoint_id;
    (void)batch;
    return Status::OK();
  }
  /// Phase 3: the checkpoint committed; make its prepared output visible. Errors: IOError (the
  /// output stays prepared and is published by the next checkpoint or by Recover()).
  virtual Status CommitCheckpoint(uint64_t checkpoint_id) {
    (void)checkpoint_id;
    return Status::OK();
  }
  /// Restores the sink to the last committed checkpoint in `store` before the first Write(), and
  /// again whenever the runtime restarts the query from its last checkpoint. Errors: IOError,
  /// Corruption.
  virtual Status Recover(StateStore* store) {
    (void)store;
    return Status::OK();
  }
};

}  // namespace sluice

namespace sluice {

/// Appends records to a stream: the late-data side output (SourceDef::late_output).
/// Thread-safety: implementations are thread-safe.
class RecordAppender {
 public:
  virtual ~RecordAppender() = default;
  /// Appends (partition key, data) records and returns once they are durable.
  /// Errors: NotFound for a missing stream; IOError; Unavailable while shutting down.
  virtual Status Append(const std::vector<std::pair<std::string, std::string>>& records) = 0;
};

/// Durable storage for small named blobs (source positions, per-query bookkeeping).
/// Thread-safety: implementations are thread-safe.
class MetaStore {
 public:
  virtual ~MetaStore() = default;
  /// Stores `value` under `key` durably (synced) before returning. Errors: IOError.
  virtual Status PutMeta(const std::string& key, const std::string& value) = 0;
  /// The value, or NotFound. Errors: IOError.
  virtual Result<std::string> GetMeta(const std::string& key) = 0;
};

}  // namespace sluice
