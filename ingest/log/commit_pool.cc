#include "ingest/log/commit_pool.h"

namespace sluice::log {

CommitPool::CommitPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

CommitPool::~CommitPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void CommitPool::RunTasks(const std::function<void(size_t)>& fn, size_t n) {
  for (size_t i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) fn(i);
}

void CommitPool::Work() {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(size_t)>* fn;
    size_t n;
    {
      std::unique_lock lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
      n = n_;
    }
    RunTasks(*fn, n);
    {
      std::lock_guard lock(mu_);
      ++finished_;
    }
    done_cv_.notify_one();
  }
}

void CommitPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (n == 1 || threads_.empty()) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  {
    std::lock_guard lock(mu_);
    fn_ = &fn;
    n_ = n;
    next_.store(0);
    finished_ = 0;
    ++generation_;
  }
  start_cv_.notify_all();
  RunTasks(fn, n);
  // Every worker takes part in every generation, so when all have finished this one, none can
  // still hold `fn` when the next round starts.
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return finished_ == threads_.size(); });
  fn_ = nullptr;
}

}  // namespace sluice::log
