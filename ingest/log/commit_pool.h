// CommitPool: a few persistent threads that run one group-commit round's shard commits in
// parallel, so a round costs about one fdatasync instead of one per dirty shard.
//
// ParallelFor(n, fn) runs fn(0..n-1) across the pool's threads and the calling thread and returns
// when all calls are done. Threads are created once, in the constructor, and joined by the
// destructor; no allocation happens per round.
// Thread-safety: ParallelFor() must be called by one thread at a time (the log's sync thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sluice::log {

class CommitPool {
 public:
  /// Starts `threads` workers (0 runs everything on the calling thread).
  explicit CommitPool(int threads);
  ~CommitPool();
  CommitPool(const CommitPool&) = delete;
  CommitPool& operator=(const CommitPool&) = delete;

  /// Calls fn(i) once for every i in [0, n), concurrently; returns when all have returned.
  /// REQUIRES: fn is safe to call concurrently for different i.
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);

 private:
  void Work();
  void RunTasks(const std::function<void(size_t)>& fn, size_t n);

  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(size_t)>* fn_ = nullptr;  // GUARDED_BY(mu_) while a round runs
  size_t n_ = 0;
  uint64_t generation_ = 0;   // GUARDED_BY(mu_)
  size_t finished_ = 0;       // Workers done with the current generation. GUARDED_BY(mu_)
  bool stop_ = false;         // GUARDED_BY(mu_)
  std::atomic<size_t> next_{0};
  std::vector<std::thread> threads_;
};

}  // namespace sluice::log
