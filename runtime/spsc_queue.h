// SpscQueue: a bounded single-producer, single-consumer ring, the exchange channel between two
// engine workers (runtime/source_scan.h). Lock-free: the producer writes tail_, the consumer
// head_, each with release stores that the other side reads with acquire loads (as in
// Lamport's ring, with C++11 atomics).
//
// Thread-safety: TryPush() from one producer thread, Front()/Pop() from one consumer thread, at
// the same time. Clear() only while neither side runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <utility>
#include <vector>

namespace sluice::runtime {

template <typename T>
class SpscQueue {
 public:
  /// A queue holding at most `capacity` items (>= 1).
  explicit SpscQueue(size_t capacity) : slots_(capacity + 1) {}

  /// Moves `item` in and returns true, or returns false (leaving `item` untouched) when full.
  bool TryPush(T& item) {
    const size_t t = tail_.load(std::memory_order_relaxed);
    const size_t next = t + 1 == slots_.size() ? 0 : t + 1;
    if (next == head_.load(std::memory_order_acquire)) return false;
    slots_[t] = std::move(item);
    tail_.store(next, std::memory_order_release);
    return true;
  }
  /// The oldest item, or nullptr when empty. Valid until Pop().
  T* Front() {
    const size_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_.load(std::memory_order_acquire)) return nullptr;
    return &slots_[h];
  }
  /// Drops the oldest item (REQUIRES: Front() != nullptr). Its memory is freed here, on the
  /// consumer's thread.
  void Pop() {
    const size_t h = head_.load(std::memory_order_relaxed);
    slots_[h] = T();
    head_.store(h + 1 == slots_.size() ? 0 : h + 1, std::memory_order_release);
  }
  /// Items queued: a hint from any thread (for metrics), exact from the consumer.
  size_t size() const {
    const size_t h = head_.load(std::memory_order_acquire), t = tail_.load(std::memory_order_acquire);
    return t >= h ? t - h : t + slots_.size() - h;
  }
  /// True when empty (a hint from any thread; exact from the consumer).
  bool empty() const { return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire); }
  /// Drops every item. REQUIRES: neither side running.
  void Clear() {
    while (Front() != nullptr) Pop();
  }

 private:
  std::vector<T> slots_;
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
};

}  // namespace sluice::runtime
