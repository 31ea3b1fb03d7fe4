// RocksStateStore: the engine's durable state store, one RocksDB database (under the data dir's
// kv/). Each StateStore space is a column family: "state.<query>" for window state,
// "sink.<query>" for archive sinks, "table.<name>" for KV tables (sinks/kv_table.h), and
// "sluice.meta" for checkpoint records (also core MetaStore). A checkpoint is one synced RocksDB
// WriteBatch across those column families (or, when large, one atomic ingestion of SST files), so
// state, positions and table rows commit together (docs/checkpoints.md).
// Thread-safety: all methods are thread-safe (RocksDB is) unless a method says otherwise.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <functional>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/metrics.h"
#include "core/state_store.h"

namespace rocksdb {
class ColumnFamilyHandle;
}

namespace sluice::runtime {

class RocksStateStore final : public MetaStore, public StateStore {
 public:
  /// Opens (creating if needed) the database at `path`.
  /// Errors: IOError when RocksDB can't open it (another process holds the lock, say).
  static Result<std::unique_ptr<RocksStateStore>> Open(const std::string& path);
  ~RocksStateStore() override;

  Status PutMeta(const std::string& key, const std::string& value) override;
  Result<std::string> GetMeta(const std::string& key) override;

  /// StateStore: applies `batch` atomically and durably; spaces are column families, created on
  /// first use. A batch under ingest_threshold_bytes (default 8 MiB) is one synced WriteBatch.
  /// A larger one (window state written by a full checkpoint) is written as SST files, each run
  /// in files of its own (a large run in two key ranges, built on two threads), and ingested
  /// atomically (RocksDB IngestExternalFiles): no WAL copy, no memtable insert and no later
  /// flush. If its flat ops are not in key order within a space, or files of one space would
  /// overlap, it is the WriteBatch after all. Errors: IOError (nothing was applied); an
  /// exception (bad_alloc) from building the files is rethrown after they are removed.
  Status Commit(const StoreBatch& batch) override;
  Result<std::string> Get(std::string_view space, std::string_view key) override;
  Status Scan(std::string_view space, std::string_view prefix,
              const std::function<Status(std::string_view, std::string_view, bool*)>& fn) override;
  /// StateStore::EstimateKeys: RocksDB's "rocksdb.estimate-num-keys" of the column family (0
  /// for a missing one).
  size_t EstimateKeys(std::string_view space) override;
  /// StateStore::EstimateBytes: the column family's "rocksdb.total-sst-files-size" plus
  /// "rocksdb.cur-size-all-mem-tables". Thread-safe.
  uint64_t EstimateBytes(std::string_view space) override;
  /// StateStore::ScanFrom with one RocksDB Seek to max(start, prefix).
  Status ScanFrom(std::string_view space, std::string_view start, std::string_view prefix,
                  const std::function<Status(std::string_view, std::string_view, bool*)>& fn) override;

  /// Writes a consistent copy of the whole database to `dir` (which must not exist) with RocksDB's
  /// Checkpoint: SST files are hard-linked, so the copy costs little space or time. Every query's
  /// last committed checkpoint is in it. Errors: IOError.
  Status CreateSnapshot(const std::string& dir);
  /// Flushes every column family's memtable to SST files, so a restart replays no WAL (the
  /// snapshots do this every checkpoint interval). Errors: IOError.
  Status Flush();

  /// Sets the batch size (StoreBatch::bytes()) from which Commit() ingests SST files instead of
  /// writing a WriteBatch (0: every non-empty batch in key order). Not thread-safe with Commit().
  void set_ingest_threshold_bytes(size_t bytes);
  /// How many Commit() calls so far were ingested as SST files. Thread-safe.
  uint64_t ingested_commits() const;
  /// Counts ingested commits in `metrics` (which must outlive the store): the counters
  /// sluice_state_ingested_checkpoints_total and sluice_state_ingested_files_total{kind} (kind:
  /// "state", "table", "sink" or "sluice", the column family name up to its first '.'). Call
  /// before the first Commit(); not thread-safe with it.
  void set_metrics(MetricsRegistry* metrics);

 private:
  struct Impl;
  /// The column family of `space`, created if needed; nullptr with `create` false and no such
  /// family. Errors: IOError creating it.
  Result<void*> Family(std::string_view space, bool create);
  /// Commit() by SST ingestion, `families` indexed as batch.spaces(). Sets *in_order to false,
  /// applies nothing and returns OK when the batch's ops are not in the order ingestion needs
  /// (Commit() then writes a WriteBatch). Errors: IOError (nothing was applied).
  Status Ingest(const StoreBatch& batch, const std::vector<rocksdb::ColumnFamilyHandle*>& families, bool* in_order);
  RocksStateStore();
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mu_;  // guards the column family handles in impl_
};

}  // namespace sluice::runtime
