// StateStore: the durable, transactional key-value store behind checkpoints.
//
// A checkpoint of one query is one StoreBatch: the operator state that changed since the previous
// checkpoint, the source positions, and everything the query's sink must make durable with them
// (KV-table rows, archive buffers and the list of archive files to publish). Commit() applies the
// whole batch atomically and durably (all or nothing, synced), so after a crash the store holds
// exactly the last committed checkpoint of every query. See docs/checkpoints.md.
//
// Keys live in named spaces (one RocksDB column family each in runtime/rocks_state_store.h): "state.<query>"
// for a query's operator state, "table.<name>" for a KV table, "sluice.meta" for checkpoint
// records. Keys and values are raw bytes; keys sort bytewise within a space.
// Thread-safety: StoreBatch is a plain value, built and read by one thread, except that
// different runs, or after PrepareRun() different parts of one run, may be read on different
// threads at once (ForEachRunPart()). Copies share their runs, which sort
// themselves when first read, so two copies must not be read at once. StateStore
// implementations are thread-safe. Keys and values are under 4 GiB each.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice {

/// A list of writes to apply atomically. Cheap to build; nothing happens until Commit().
/// Ops are appended to one flat buffer (no allocation per op: checkpoints write millions of keys),
/// and space names are stored once each. A producer can also hand over a Run: ops it has only
/// encoded, which are put in key order when the batch is read (by the committing thread), so a
/// checkpoint's sort does not lengthen the worker's pause.
class StoreBatch {
 public:
  enum class OpKind : uint8_t { kPut, kDelete, kDeleteRange };
  /// Ops of one space, produced in bulk and ordered lazily (see AddRun()).
  class Run {
   public:
    virtual ~Run() = default;
    /// Calls fn(kind, key, value) for every op, in key order, each key once (no kDeleteRange).
    /// The views are valid during the call only. Called by the batch's reader; a Run is not
    /// thread-safe, and may sort itself on the first call.
    virtual void ForEach(const std::function<void(OpKind, std::string_view, std::string_view)>& fn) = 0;
    /// Gets ready for ForEachInPart() (e.g. sorts). Not thread-safe.
    virtual void Prepare() {}
    /// As ForEach(), for part `part` of `parts` (0 <= part < parts): the parts' ops are disjoint
    /// key ranges in increasing order, and together they are ForEach()'s. After Prepare(),
    /// different parts may be read on different threads at once. The default puts every op in
    /// part 0.
    virtual void ForEachInPart(size_t part, size_t parts,
                               const std::function<void(OpKind, std::string_view, std::string_view)>& fn) {
      (void)parts;
      if (part == 0) ForEach(fn);
    }
  };
  /// One op, as ForEach() presents it. Views are valid while the batch is unchanged.
  struct OpView {
    OpKind kind;
    uint32_t space;           ///< Index into spaces().
    std::string_view key;     ///< kDeleteRange: first key deleted.
    std::string_view value;   ///< kPut: the value; kDeleteRange: the end key (exclusive).
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

  /// Adds `run`'s ops to `space`. They apply after every op added by Put(), Delete() and
  /// DeleteRange(), whenever those were added; `count` and `bytes` are the run's ops and key
  /// and value bytes, for count() and bytes(). Copies of the batch share the run.
  void AddRun(std::string_view space, std::shared_ptr<Run> run, size_t count, size_t bytes) {
    runs_.push_back(RunEntry{SpaceIndex(space), std::move(run), count, bytes});
    count_ += count;
    bytes_ += bytes;
  }

  /// Calls `fn(const OpView&)` for every op: those added by Put(), Delete() and DeleteRange() in
  /// the order added, then each run's in key order. Not thread-safe (a run may sort itself).
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    ForEachFlat(fn);
    for (size_t i = 0; i < runs_.size(); ++i) ForEachRunPart(i, 0, 1, fn);
  }
  /// Calls `fn(const OpView&)` for the ops added by Put(), Delete() and DeleteRange(), in the
  /// order added (ForEach()'s first part).
  template <typename Fn>
  void ForEachFlat(Fn&& fn) const {
    size_t pos = 0;
    while (pos < buf_.size()) {
      OpView op;
      op.kind = static_cast<OpKind>(buf_[pos]);
      uint32_t klen, vlen;
      std::memcpy(&op.space, buf_.data() + pos + 1, 4);
      std::memcpy(&klen, buf_.data() + pos + 5, 4);
      std::memcpy(&vlen, buf_.data() + pos + 9, 4);
      pos += 13;
      op.key = std::string_view(buf_.data() + pos, klen);
      op.value = std::string_view(buf_.data() + pos + klen, vlen);
      pos += size_t{klen} + vlen;
      fn(op);
    }
  }
  /// Runs added by AddRun(), in the order added.
  size_t run_count() const { return runs_.size(); }
  /// Run `i`'s space (an index into spaces()) and the op count AddRun() was given.
  uint32_t run_space(size_t i) const { return runs_[i].space; }
  size_t run_ops(size_t i) const { return runs_[i].count; }
  /// Run `i` itself and the key and value bytes AddRun() was given (to hand it to another batch).
  const std::shared_ptr<Run>& run(size_t i) const { return runs_[i].run; }
  size_t run_bytes(size_t i) const { return runs_[i].bytes; }
  /// Run::Prepare() of run `i`: before ForEachRunPart() on several threads. Not thread-safe for
  /// the same run.
  void PrepareRun(size_t i) const { runs_[i].run->Prepare(); }
  /// Calls `fn(const OpView&)` for part `part` of `parts` of run `i`, in key order
  /// (Run::ForEachInPart(); part 0 of 1 is the whole run, as in ForEach()). Different runs may
  /// be read on different threads at once; after PrepareRun(i), so may different parts of run
  /// `i`.
  template <typename Fn>
  void ForEachRunPart(size_t i, size_t part, size_t parts, Fn&& fn) const {
    const uint32_t space = runs_[i].space;
    runs_[i].run->ForEachInPart(part, parts, [&](OpKind kind, std::string_view key, std::string_view value) {
      fn(OpView{kind, space, key, value});
    });
  }
  /// Space names referenced by OpView::space.
  const std::vector<std::string>& spaces() const { return spaces_; }
  /// Ops added so far.
  size_t count() const { return count_; }
  /// Bytes of keys and values added so far (the checkpoint size metric).
  size_t bytes() const { return bytes_; }
  bool empty() const { return count_ == 0; }
  void Clear() {
    buf_.clear();
    spaces_.clear();
    runs_.clear();
    count_ = bytes_ = 0;
  }

 private:
  struct RunEntry {
    uint32_t space;
    std::shared_ptr<Run> run;
    size_t count;  // ops, as AddRun() was told
    size_t bytes;  // key and value bytes, as AddRun() was told
  };
  uint32_t SpaceIndex(std::string_view space) {
    if (spaces_.empty() || spaces_[last_] != space) {
      last_ = static_cast<uint32_t>(spaces_.size());
      for (uint32_t i = 0; i < spaces_.size(); ++i)
        if (spaces_[i] == space) last_ = i;
      if (last_ == spaces_.size()) spaces_.emplace_back(space);
    }
    return last_;
  }
  void Add(OpKind kind, std::string_view space, std::string_view key, std::string_view value) {
    SpaceIndex(space);
    const uint32_t klen = static_cast<uint32_t>(key.size()), vlen = static_cast<uint32_t>(value.size());
    char head[kOpOverhead];
    head[0] = static_cast<char>(kind);
    std::memcpy(head + 1, &last_, 4);
    std::memcpy(head + 5, &klen, 4);
    std::memcpy(head + 9, &vlen, 4);
    buf_.append(head, kOpOverhead);
    buf_.append(key);
    buf_.append(value);
    ++count_;
    bytes_ += key.size() + value.size();
  }
  static constexpr size_t kOpOverhead = 13;  // kind, space, key size, value size
  std::string buf_;
  std::vector<std::string> spaces_;
  std::vector<RunEntry> runs_;
  uint32_t last_ = 0;
  size_t count_ = 0;
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
  /// About how many keys `space` holds (for sizing tables before a restore), or 0 when unknown.
  /// Not exact: it may count overwritten and deleted keys. Errors: none (unknown is 0).
  virtual size_t EstimateKeys(std::string_view space) {
    (void)space;
    return 0;
  }
  /// About how many bytes `space` takes in the store (files plus memory), or 0 when unknown.
  /// Not exact. Errors: none (unknown is 0).
  virtual uint64_t EstimateBytes(std::string_view space) {
    (void)space;
    return 0;
  }
  /// As Scan(), but starting at the first key >= `start` (keys that start with `prefix` only).
  /// The default scans the prefix from its beginning and skips; stores with a seek override it.
  virtual Status ScanFrom(std::string_view space, std::string_view start, std::string_view prefix,
                          const std::function<Status(std::string_view key, std::string_view value, bool* more)>& fn) {
    return Scan(space, prefix, [&](std::string_view key, std::string_view value, bool* more) {
      if (key < start) return Status::OK();
      return fn(key, value, more);
    });
  }
};

}  // namespace sluice
