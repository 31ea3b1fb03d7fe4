// WriteThrottle: a shard's write limits, as Kinesis Data Streams meters them (by default a shard
// takes up to 1,000 records and 1 MiB per second). Two token buckets, records and bytes, each
// holding at most one second of its rate and refilled continuously.
// Source: AWS Kinesis Data Streams Developer Guide, "Quotas and Limits" (per-shard write
// throughput); the token bucket as in RFC 2697 (single rate, one bucket per limit).
// Thread-safety: TryTake() is thread-safe.
#pragma once

#include <cstdint>
#include <mutex>

namespace sluice::log {

class WriteThrottle {
 public:
  /// Limits in records and bytes per second; 0 means unlimited for that dimension.
  WriteThrottle(uint64_t records_per_second, uint64_t bytes_per_second);

  /// Takes one record of `bytes` bytes if both buckets hold enough at `now_us` (monotonic
  /// microseconds); otherwise takes nothing and returns false.
  bool TryTake(uint64_t bytes, int64_t now_us);

  bool unlimited() const { return records_rate_ == 0 && bytes_rate_ == 0; }

 private:
  void Refill(int64_t now_us);  // REQUIRES: mu_ held.

  const double records_rate_, bytes_rate_;
  std::mutex mu_;
  double records_ = 0, bytes_ = 0;  // GUARDED_BY(mu_)
  int64_t last_us_ = -1;            // GUARDED_BY(mu_)
};

}  // namespace sluice::log
