#include "operators/state_run.h"

#include <algorithm>

#include "operators/state_codec.h"

namespace sluice::ops {

void StateRun::ForEach(const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) {
  if (!sorted_) {
    std::sort(records_.begin(), records_.end(), [this](const Record& a, const Record& b) {
      if (a.order != b.order) return a.order < b.order;
      if (int c = a.head.Compare(b.head); c != 0) return c < 0;
      // std::string_view compares bytes as unsigned, as RocksDB does.
      if (int c = KeyOf(a).compare(KeyOf(b)); c != 0) return c < 0;
      return a.put < b.put;
    });
    sorted_ = true;
  }
  std::string key;
  const size_t n = records_.size();
  for (size_t i = 0; i < n; ++i) {
    const Record& r = records_[i];
    if (i + 1 < n) {
      const Record& next = records_[i + 1];
      if (next.order == r.order && next.head.Compare(r.head) == 0 && KeyOf(next) == KeyOf(r)) continue;  // the later op wins
    }
    key.assign(1, prefix_);
    if (with_order_) PutOrderedInt64(r.order, &key);
    key.append(KeyOf(r));
    if (r.put) {
      const Span& sp = spans_[r.span];
      fn(StoreBatch::OpKind::kPut, key, std::string_view(buf_).substr(sp.offset + sp.key_size, sp.value_size));
    } else {
      fn(StoreBatch::OpKind::kDelete, key, {});
    }
  }
}

}  // namespace sluice::ops
