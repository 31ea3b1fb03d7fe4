// StateRun: a checkpoint's bulk of window state, handed to the StoreBatch unsorted.
//
// A checkpoint that changed a million groups must write them in key order (an SST file takes
// keys only in order, and RocksDB's memtable takes a sorted run several times faster). Sorting
// them on the worker would add to its checkpoint pause; a StateRun instead copies each key and
// its encoded value into one buffer during the worker's single pass over the changed state, in
// whatever order that pass visits them, and sorts small inline records when the batch is read,
// on the committing thread (StoreBatch::Run). It holds no pointer into operator state, so the
// worker goes on changing that state while the commit runs.
//
// Keys are `prefix` + (with an order: PutOrderedInt64(order)) + the encoded key, e.g. TUMBLE's
// 'p' + pane start + key and SESSION's 'e' + due + key (docs/formats/checkpoint.md).
// Thread-safety: built by one thread, then read: by one thread, or after Prepare() by several
// threads at once, each reading its own parts (ForEachInPart()); never built and read at once.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "core/state_store.h"
#include "operators/key_encoder.h"

namespace sluice::ops {

class StateRun final : public StoreBatch::Run {
 public:
  /// Keys start with `prefix`, then, when `with_order`, the 8-byte order of each op.
  StateRun(char prefix, bool with_order) : prefix_(prefix), with_order_(with_order) {}

  /// Makes room for `ops` ops with `bytes` bytes of encoded keys and values in all.
  void Reserve(size_t ops, size_t bytes) {
    records_.reserve(ops);
    buf_.reserve(bytes + ops * kHeader);
  }
  /// Starts a put of (order, key) and returns the buffer to append its value to; EndPut() ends
  /// it, and must come before any other call. The pointer is valid until then. The order is
  /// ignored without `with_order`. Keys and values are under 4 GiB each.
  std::string* BeginPut(int64_t order, std::string_view key) {
    Begin(order, key, true);
    return &buf_;
  }
  /// Ends the put BeginPut() started: its value is what was appended since.
  void EndPut() {
    const size_t at = records_.back().offset();
    uint32_t key_size;
    std::memcpy(&key_size, buf_.data() + at, 4);
    const uint32_t value_size = static_cast<uint32_t>(buf_.size() - at - kHeader - key_size);
    std::memcpy(buf_.data() + at + 4, &value_size, 4);
    bytes_ += value_size;
  }
  /// A put of `value` under (order, key).
  void Put(int64_t order, std::string_view key, std::string_view value) {
    BeginPut(order, key)->append(value);
    EndPut();
  }
  /// A delete of (order, key). When the same (order, key) is also put, the put wins, whichever
  /// was added first (a key erased and created again in one checkpoint interval); of two puts
  /// (or two deletes), the one added later.
  void Delete(int64_t order, std::string_view key) { Begin(order, key, false); }

  /// Ops added (before duplicates are dropped).
  size_t count() const { return records_.size(); }
  /// Bytes of their keys (with prefix and order) and values.
  size_t bytes() const { return bytes_; }

  /// StoreBatch::Run: sorts on the first call (by order, key; a delete before a put of the same
  /// key; a large run on two threads), then calls fn for every distinct (order, key), its put if it has one.
  void ForEach(const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) override;
  /// StoreBatch::Run: sorts, as ForEach() does on its first call.
  void Prepare() override;
  /// StoreBatch::Run: part `part` of `parts` of the sorted ops, split by record count. A key
  /// whose ops straddle a split is written (its winning op) by the part that holds the last of
  /// them. Call Prepare() first; then parts may be read on different threads at once.
  void ForEachInPart(size_t part, size_t parts,
                     const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) override;

 private:
  // In buf_, each op is a header (key size, value size: 4 bytes each, host order), its key and
  // its value. The sort moves 32-byte records and compares them inline, except on a tie of
  // order and head.
  static constexpr size_t kHeader = 8;
  static constexpr size_t kParallelSortRecords = 1 << 16;  // from here ForEach sorts on two threads
  struct Record {
    int64_t order;
    KeyHead head;         // the key's first 16 bytes: most comparisons end here
    uint64_t offset_put;  // the op's offset in buf_ << 1 | (1 for a put)
    size_t offset() const { return offset_put >> 1; }
    bool put() const { return offset_put & 1; }
  };
  void Begin(int64_t order, std::string_view key, bool put) {
    records_.push_back(Record{with_order_ ? order : 0, KeyHead::Of(key), uint64_t{buf_.size()} << 1 | (put ? 1 : 0)});
    const uint32_t sizes[2] = {static_cast<uint32_t>(key.size()), 0};
    buf_.append(reinterpret_cast<const char*>(sizes), kHeader);
    buf_.append(key);
    bytes_ += 1 + (with_order_ ? 8 : 0) + key.size();
  }
  // The op's key and value.
  std::pair<std::string_view, std::string_view> KeyValueOf(const Record& r) const {
    uint32_t sizes[2];
    std::memcpy(sizes, buf_.data() + r.offset(), kHeader);
    const std::string_view kv(buf_.data() + r.offset() + kHeader, size_t{sizes[0]} + sizes[1]);
    return {kv.substr(0, sizes[0]), kv.substr(sizes[0])};
  }
  std::string_view KeyOf(const Record& r) const { return KeyValueOf(r).first; }
  // Calls fn for the sorted records [begin, end), skipping a record when the next one (which may
  // be past end) has the same key.
  void Visit(size_t begin, size_t end,
             const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) const;

  const char prefix_;
  const bool with_order_;
  std::vector<Record> records_;
  std::string buf_;
  size_t bytes_ = 0;
  bool sorted_ = false;
};

}  // namespace sluice::ops
