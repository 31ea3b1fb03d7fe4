// StateStore: the durable, transactional key-value store behind checkpoints.
//
// A checkpoint of one query is one StoreBatch: the operator state that changed since the previous
// checkpoint, the source positions, and everything the query's sink must make durable with them
// (KV-table rows, archive buffers and the list of archive files to publish). Commit() applies the
// whole batch atomically and durably (all or nothing, synced), so after a crash the store holds
// exactly the last committed checkpoint of every query. See docs/checkpoints.md.
//
// Keys live in named spaces (one RocksDB column family each in sinks/kv_store.h): "state.<query>"
// for a query's operator state, "table.<name>" for a KV table, "sluice.meta" for checkpoint
// records. Keys and values are raw bytes; keys sort bytewise within a space.
// Thread-safety: StoreBatch is a plain value (one thread); StateStore implementations are
// thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice {

/// A list of writes to apply atomically. Cheap to build; nothing happens until Commit().
class StoreBatch {
 public:
  enum class OpKind : uint8_t { kPut, kDelete, kDeleteRange };
  struct Op {
    OpKind kind = OpKind::kPut;
    std::string space;
    std::string key;    ///< kDeleteRange: first key deleted.
    std::string value;  ///< kPut: the value; kDeleteRange: the end key (exclusive).
  };

  /// Sets `key` in `space` to `value`.
  void Put(std::string_view space, std::string_view key, std::string_view value) {
    Add(OpKind::kPut, space, key, value);
  }
  /// Removes `key` from `space` (no error if absent).
  void Delete(std::string_view space, std::string_view key) { Add(OpKind::kDelete, space, key, {}); }
  /// Removes every key in [begin, end) of `space`.
  void DeleteRange(std::string_view space, std::string_view begin, std::string_view end) {
    Add(OpKind::kDeleteRange, space, begin, end);
  }

  const std::vector<Op>& ops() const { return ops_; }
  /// Bytes of keys and values added so far (the checkpoint size metric).
  size_t bytes() const { return bytes_; }
  bool empty() const { return ops_.empty(); }
  void Clear() {
    ops_.clear();
    bytes_ = 0;
  }

 private:
  void Add(OpKind kind, std::string_view space, std::string_view key, std::string_view value) {
    ops_.push_back(Op{kind, std::string(space), std::string(key), std::string(value)});
    bytes_ += key.size() + value.size();
  }
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

/// Durable transactional storage for checkpoints. Thread-safe.
class StateStore {
 public:
  virtual ~StateStore() = default;
  /// Applies every op of `batch` atomically and durably (synced to disk before returning); spaces
  /// that do not exist yet are created. Errors: IOError (nothing was applied).
  virtual Status Commit(const StoreBatch& batch) = 0;
  /// The value of `key` in `space`, or NotFound (also when the space does not exist). Errors: IOError.
  virtual Result<std::string> Get(std::string_view space, std::string_view key) = 0;
  /// Calls `fn(key, value)` for every key of `space` starting with `prefix`, in key order, until
  /// `fn` returns false. A missing space has no keys. Errors: IOError; any error `fn` returns.
  virtual Status Scan(std::string_view space, std::string_view prefix,
                      const std::function<Status(std::string_view key, std::string_view value, bool* more)>& fn) = 0;
};

}  // namespace sluice
