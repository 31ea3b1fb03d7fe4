// Interfaces between the runtime and the modules that feed it and take its output.
//
// runtime/ depends only on core/ and operators/, so sources (ingest/), decoders (ingest/) and
// sinks (sinks/) reach it through these interfaces; app/ wires concrete ones in. Calls are per
// batch, never per record, so the virtual dispatch stays off the per-record path.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
};

/// A named stream of records split for parallel reading.
/// Thread-safety: WaitForData() is thread-safe; splits are handed to one reader each.
class Source {
 public:
  virtual ~Source() = default;
  /// Opens one reader per split, in split order.
  virtual std::vector<std::unique_ptr<SourceSplit>> OpenSplits() = 0;
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
/// Thread-safety: one thread at a time (the query's worker).
class Sink {
 public:
  virtual ~Sink() = default;
  /// Takes a batch of rows of the sink's schema. Errors: IOError (retryable) from storage.
  virtual Status Write(const std::vector<Row>& rows) = 0;
  /// Gives a time-driven sink (buffered files) a chance to flush. `now` is wall-clock time.
  virtual Status Tick(EventTime now) = 0;
  /// Flushes everything buffered. Called at shutdown.
  virtual Status Close() = 0;
  /// Rows taken by Write() that are not yet durable in the sink's destination. 0 for sinks that
  /// write through.
  virtual size_t buffered_rows() const { return 0; }
};

}  // namespace sluice

namespace sluice {

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
