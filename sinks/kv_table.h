// KvTable, KvTableWriter and KvTables: queryable key-value tables fed by queries (the "DynamoDB"
// of Wild Rydes), stored in the engine's core::StateStore (RocksDB in the server,
// runtime/rocks_state_store.h), one space "table.<name>" per table, so that table rows commit
// atomically with the checkpoint of the query that emitted them.
// A row's key is its primary-key values as text joined by '|' ("Shadowfax|2026-11-21T10:01:00.000Z");
// its value is the row as a JSON object. Writes are upserts, so re-emitted windows replace older
// versions of the same row. Keys sort bytewise, which orders RFC 3339 timestamps by time.
// Thread-safety: KvTable and KvTables are thread-safe (the StateStore is); KvTableWriter is used
// by one thread (the query's worker).
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/connector.h"
#include "core/state_store.h"
#include "core/value.h"

namespace sluice::sinks {

/// One table: reads, and upserts outside checkpoints. Owned by its KvTables.
class KvTable final : public Sink {
 public:
  /// A table named `name` in `store` (space "table.<name>"), which must outlive it.
  /// REQUIRES: every primary_key index is within `schema`, and primary_key is not empty.
  KvTable(StateStore* store, std::string name, Schema schema, std::vector<int> primary_key);

  /// Upserts `rows` in one atomic, durable commit. Errors: IOError from the store.
  Status Write(const std::vector<Row>& rows) override;
  Status Tick(EventTime) override { return Status::OK(); }
  Status Close() override { return Status::OK(); }

  const std::string& name() const { return name_; }
  const Schema& schema() const { return schema_; }
  /// The store space of the table: "table.<name>".
  const std::string& space() const { return space_; }
  /// The key text of `row`. REQUIRES: row matches schema().
  std::string KeyOf(const Row& row) const;

  /// The JSON object stored under `key`, or nullopt. Errors: IOError.
  Result<std::optional<std::string>> Get(const std::string& key) const;
  /// Up to `limit` (key, JSON) pairs with keys in [start, end) (empty end: no upper bound), or,
  /// when `prefix` is non-empty, keys starting with it and >= `start` (`end` unused), in key
  /// order. Errors: IOError.
  Result<std::vector<std::pair<std::string, std::string>>> Scan(const std::string& prefix, const std::string& start,
                                                                const std::string& end, size_t limit) const;

  /// The names of the primary-key columns, in key order.
  std::vector<std::string> primary_key_names() const;
  /// Notes `n` rows committed to the table, the last few of which are `latest` (JSON objects,
  /// oldest first), for rows_written() and LatestRows(). A writer counts each key once per
  /// checkpoint (the last row per key wins). Thread-safe.
  void NoteCommitted(uint64_t n, const std::vector<std::string>& latest);
  /// Rows upserted through writers (committed) since the table was opened in this process: one
  /// per key and checkpoint. Write() outside checkpoints is not counted. Thread-safe.
  uint64_t rows_written() const { return rows_written_.load(std::memory_order_relaxed); }
  /// The last rows committed, newest first: at most kLatestRows JSON objects. Thread-safe.
  std::vector<std::string> LatestRows() const;
  static constexpr size_t kLatestRows = 10;

 private:
  StateStore* store_;
  const std::string name_;
  const std::string space_;
  const Schema schema_;
  const std::vector<int> primary_key_;
  std::atomic<uint64_t> rows_written_{0};
  mutable std::mutex latest_mu_;
  std::deque<std::string> latest_;  // GUARDED_BY(latest_mu_), oldest first
};

/// The open tables of one store, by name.
class KvTables {
 public:
  /// `store` must outlive the tables.
  explicit KvTables(StateStore* store) : store_(store) {}
  /// Opens table `name` (its rows stay in the store between runs) and returns it; the same
  /// table when already open. REQUIRES: every primary_key index is within `schema`.
  /// Errors: InvalidArgument with an empty primary key.
  Result<KvTable*> Open(const std::string& name, const Schema& schema, const std::vector<int>& primary_key);
  /// The open table called `name`, or nullptr.
  KvTable* table(const std::string& name) const;
  /// Every open table, by name.
  std::vector<KvTable*> tables() const;

 private:
  StateStore* store_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<KvTable>> tables_;  // GUARDED_BY(mu_)
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
  /// The prepared rows are committed: counts them in the table (KvTable::NoteCommitted).
  Status CommitCheckpoint(uint64_t checkpoint_id) override;
  /// Drops staged rows: they belong to an attempt that never committed and will be replayed.
  Status Recover(StateStore*) override {
    staged_.clear();
    prepared_rows_ = 0;
    prepared_latest_.clear();
    return Status::OK();
  }

 private:
  KvTable* table_;
  std::map<std::string, std::pair<uint64_t, std::string>> staged_;  // key → (write order, JSON row)
  uint64_t next_seq_ = 0;
  uint64_t prepared_rows_ = 0;                 // rows of the checkpoint being committed
  std::vector<std::string> prepared_latest_;   // and its last KvTable::kLatestRows rows
};

}  // namespace sluice::sinks
