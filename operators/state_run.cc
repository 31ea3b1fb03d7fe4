#include "operators/state_run.h"

#include <algorithm>
#include <system_error>
#include <thread>

#include "operators/state_codec.h"

namespace sluice::ops {

void StateRun::Prepare() {
  if (!sorted_) {
    auto less = [this](const Record& a, const Record& b) {
      if (a.order != b.order) return a.order < b.order;
      if (int c = a.head.Compare(b.head); c != 0) return c < 0;
      // std::string_view compares bytes as unsigned, as RocksDB does.
      if (int c = KeyOf(a).compare(KeyOf(b)); c != 0) return c < 0;
      if (a.put() != b.put()) return !a.put();  // a delete before a put
      return a.offset() < b.offset();           // then in the order added: the later one wins
    };
    // A large run (a full checkpoint) is sorted in two halves at once, then merged: the commit
    // runs beside the worker, and the sort is a tenth of a large commit.
    std::thread other;
    const auto mid = records_.begin() + static_cast<std::ptrdiff_t>(records_.size() / 2);
    if (records_.size() >= kParallelSortRecords) {
      try {
        other = std::thread([&] { std::sort(records_.begin(), mid, less); });
      } catch (const std::system_error&) {
        // No thread to be had: sort on this one.
      }
    }
    if (other.joinable()) {
      std::sort(mid, records_.end(), less);
      other.join();
      std::inplace_merge(records_.begin(), mid, records_.end(), less);  // in place if no buffer
    } else {
      std::sort(records_.begin(), records_.end(), less);
    }
    sorted_ = true;
  }
}

void StateRun::ForEach(const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) {
  Prepare();
  Visit(0, records_.size(), fn);
}

void StateRun::ForEachInPart(size_t part, size_t parts,
                             const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) {
  if (!sorted_) Prepare();  // a lone reader may skip Prepare(); readers of several parts at once may not
  const size_t n = records_.size();
  Visit(n * part / parts, n * (part + 1) / parts, fn);
}

void StateRun::Visit(size_t begin, size_t end,
                     const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) const {
  std::string key;
  const size_t n = records_.size();
  // Records are in key order now, their ops in buf_ in the order they were added: prefetch a few
  // ahead, so the misses on buf_ overlap.
  constexpr size_t kAhead = 16;
  for (size_t i = begin; i < end; ++i) {
    if (i + kAhead < end) {
      const char* ahead = buf_.data() + records_[i + kAhead].offset();
      __builtin_prefetch(ahead);
      __builtin_prefetch(ahead + 64);
    }
    const Record& r = records_[i];
    const auto [k, value] = KeyValueOf(r);
    if (i + 1 < n) {
      const Record& next = records_[i + 1];
      if (next.order == r.order && next.head.Compare(r.head) == 0 && KeyOf(next) == k) continue;  // the later op wins
    }
    key.assign(1, prefix_);
    if (with_order_) PutOrderedInt64(r.order, &key);
    key.append(k);
    if (r.put()) {
      fn(StoreBatch::OpKind::kPut, key, value);
    } else {
      fn(StoreBatch::OpKind::kDelete, key, {});
    }
  }
}

}  // namespace sluice::ops
