// MemoryStateStore: a StateStore held in memory (std::map per space), for tests and for runs
// without a data directory. Commit() is atomic (one lock) but nothing survives the process.
// Thread-safety: thread-safe (one mutex).
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "core/state_store.h"

namespace sluice {

class MemoryStateStore final : public StateStore {
 public:
  Status Commit(const StoreBatch& batch) override {
    std::lock_guard lock(mu_);
    batch.ForEach([&](const StoreBatch::OpView& op) {
      auto& space = spaces_[batch.spaces()[op.space]];
      switch (op.kind) {
        case StoreBatch::OpKind::kPut: space[std::string(op.key)] = std::string(op.value); break;
        case StoreBatch::OpKind::kDelete: space.erase(std::string(op.key)); break;
        case StoreBatch::OpKind::kDeleteRange:
          space.erase(space.lower_bound(std::string(op.key)), space.lower_bound(std::string(op.value)));
          break;
      }
    });
    ++commits_;
    return Status::OK();
  }

  Result<std::string> Get(std::string_view space, std::string_view key) override {
    std::lock_guard lock(mu_);
    auto s = spaces_.find(std::string(space));
    if (s == spaces_.end()) return Status::NotFound(std::string(key));
    auto it = s->second.find(std::string(key));
    if (it == s->second.end()) return Status::NotFound(std::string(key));
    return it->second;
  }

  Status Scan(std::string_view space, std::string_view prefix,
              const std::function<Status(std::string_view, std::string_view, bool*)>& fn) override {
    std::map<std::string, std::string> copy;
    {
      std::lock_guard lock(mu_);
      auto s = spaces_.find(std::string(space));
      if (s == spaces_.end()) return Status::OK();
      copy = s->second;
    }
    for (auto it = copy.lower_bound(std::string(prefix)); it != copy.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;
      bool more = true;
      Status st = fn(it->first, it->second, &more);
      if (!st.ok()) return st;
      if (!more) break;
    }
    return Status::OK();
  }

  /// StateStore::EstimateKeys: exact here.
  size_t EstimateKeys(std::string_view space) override {
    std::lock_guard lock(mu_);
    auto s = spaces_.find(std::string(space));
    return s == spaces_.end() ? 0 : s->second.size();
  }

  /// Keys held in `space` (tests).
  size_t size(const std::string& space) {
    std::lock_guard lock(mu_);
    auto s = spaces_.find(space);
    return s == spaces_.end() ? 0 : s->second.size();
  }
  /// Commits so far (tests).
  size_t commits() {
    std::lock_guard lock(mu_);
    return commits_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::map<std::string, std::string>> spaces_;  // GUARDED_BY(mu_)
  size_t commits_ = 0;                                               // GUARDED_BY(mu_)
};

}  // namespace sluice
