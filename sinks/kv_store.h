// KvStore and KvTable: queryable key-value tables fed by queries (the "DynamoDB" of Wild Rydes).
//
// One RocksDB database (under the data dir's kv/) holds every table, one column family each
// ("table.<name>"), a "sluice.meta" column family for checkpoint records (core MetaStore), and
// one "state.<query>" / "sink.<query>" column family per stateful query and archive sink. It is
// the checkpoints' StateStore (core/state_store.h): a checkpoint is one synced RocksDB WriteBatch
// across those column families (or, when large, one atomic ingestion of SST files), so state,
// positions and table rows commit together.
// A row's key is its primary-key values as text joined by '|' ("Shadowfax|2026-11-21T10:01:00.000Z");
// its value is the row as a JSON object. Writes are upserts, so re-emitted windows replace older
// versions of the same row. Keys sort bytewise, which orders RFC 3339 timestamps by time.
// Thread-safety: all methods are thread-safe (RocksDB is).
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
#include "core/value.h"

namespace rocksdb {
class ColumnFamilyHandle;
}

namespace sluice::sinks {

class KvStore;

/// One table. Owned by its KvStore.
class KvTable final : public Sink {
 public:
  /// Upserts `rows` in one atomic write batch. Errors: IOError from RocksDB.
  Status Write(const std::vector<Row>& rows) override;
  Status Tick(EventTime) override { return Status::OK(); }
  Status Close() override { return Status::OK(); }

  const std::string& name() const { return name_; }
  const Schema& schema() const { return schema_; }
  /// The key text of `row`. REQUIRES: row matches schema().
  std::string KeyOf(const Row& row) const;

  /// The JSON object stored under `key`, or nullopt. Errors: IOError.
  Result<std::optional<std::string>> Get(const std::string& key) const;
  /// Up to `limit` (key, JSON) pairs with keys in [start, end) (empty end: no upper bound), or
  /// starting with `prefix` when it is non-empty, in key order. Errors: IOError.
  Result<std::vector<std::pair<std::string, std::string>>> Scan(const std::string& prefix, const std::string& start,
                                                                const std::string& end, size_t limit) const;

 private:
  friend class KvStore;
  KvTable(KvStore* store, void* cf, std::string name, Schema schema, std::vector<int> primary_key);
  KvStore* store_;
  void* cf_;  // rocksdb::ColumnFamilyHandle*, kept opaque so RocksDB headers stay in kv_store.cc.
  std::string name_;
  Schema schema_;
  std::vector<int> primary_key_;
};

/// One query's writer into a KV table: stages upserts (the last row per key wins) until the
/// query's next checkpoint, which commits them with its state and source positions; readers of
/// the table see only committed rows (read-committed). Thread-safety: one thread (the query's).
class KvTableWriter final : public Sink {
 public:
  /// `table` must outlive the writer.
  explicit KvTableWriter(KvTable* table) : table_(table) {}
  /// Stages `rows`. Never fails.
  Status Write(const std::vector<Row>& rows) override;
  Status Tick(EventTime) override { return Status::OK(); }
  Status Close() override { return Status::OK(); }
  size_t buffered_rows() const override { return staged_.size(); }
  bool WantsCheckpoint() const override { return !staged_.empty(); }
  /// Moves the staged rows into `batch` (space "table.<name>").
  Status PrepareCheckpoint(uint64_t checkpoint_id, StoreBatch* batch) override;
  /// Drops staged rows: they belong to an attempt that never committed and will be replayed.
  Status Recover(StateStore*) override {
    staged_.clear();
    return Status::OK();
  }

 private:
  KvTable* table_;
  std::map<std::string, std::string> staged_;  // key → JSON row
};

class KvStore final : public MetaStore, public StateStore {
 public:
  /// Opens (creating if needed) the database at `path`.
  /// Errors: IOError when RocksDB can't open it (another process holds the lock, say).
  static Result<std::unique_ptr<KvStore>> Open(const std::string& path);
  ~KvStore() override;

  /// Creates or reopens table `name`. REQUIRES: every primary_key index is within `schema`.
  /// Errors: InvalidArgument with an empty primary key; IOError from RocksDB.
  Result<KvTable*> OpenTable(const std::string& name, const Schema& schema, const std::vector<int>& primary_key);
  /// The open table called `name`, or nullptr.
  KvTable* table(const std::string& name) const;

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
  friend class KvTable;
  struct Impl;
  /// The column family of `space`, created if needed; nullptr with `create` false and no such
  /// family. Errors: IOError creating it.
  Result<void*> Family(std::string_view space, bool create);
  /// Commit() by SST ingestion, `families` indexed as batch.spaces(). Sets *in_order to false,
  /// applies nothing and returns OK when the batch's ops are not in the order ingestion needs
  /// (Commit() then writes a WriteBatch). Errors: IOError (nothing was applied).
  Status Ingest(const StoreBatch& batch, const std::vector<rocksdb::ColumnFamilyHandle*>& families, bool* in_order);
  KvStore();
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<KvTable>> tables_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::sinks
