// KvStore and KvTable: queryable key-value tables fed by queries (the "DynamoDB" of Wild Rydes).
//
// One RocksDB database (under the data dir's kv/) holds every table, one column family each
// ("table.<name>"), plus a "sluice.meta" column family for bookkeeping (core MetaStore).
// A row's key is its primary-key values as text joined by '|' ("Shadowfax|2026-11-21T10:01:00.000Z");
// its value is the row as a JSON object. Writes are upserts, so re-emitted windows replace older
// versions of the same row. Keys sort bytewise, which orders RFC 3339 timestamps by time.
// Thread-safety: all methods are thread-safe (RocksDB is).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/value.h"

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

class KvStore final : public MetaStore {
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

 private:
  friend class KvTable;
  struct Impl;
  KvStore();
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<KvTable>> tables_;  // GUARDED_BY(mu_)
};

}  // namespace sluice::sinks
