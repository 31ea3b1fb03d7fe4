// DDSketch: a mergeable quantile sketch with a relative-error guarantee on values
// (approx_percentile).
//
// Algorithm: Masson, Rim and Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
// Relative-Error Guarantees" (VLDB 2019). With γ = (1 + α)/(1 − α), a positive value x goes to
// bucket k = ⌈log_γ x⌉, which covers (γ^(k−1), γ^k]; negative values go to a mirrored store by
// |x|, zeros to a counter. The q-quantile is the bucket holding the item of rank ⌊q·(n − 1)⌋
// (0-based, in sorted order) and is reported as 2γ^k/(γ + 1), which is within a relative error α
// of that item's value. Buckets are dense arrays per store; when a store spans more than
// `max_bins` buckets, its lowest buckets are collapsed into one (the paper's "collapsing lowest"
// policy), which keeps memory bounded and only loosens the guarantee for the smallest
// magnitudes (with α = 1% and 2,048 buckets this needs values spanning over 17 orders of
// magnitude).
// Merging adds bucket counts, so it is exact: merging sketches of parts equals sketching the
// whole, in any order (which is why window panes and sessions can merge them).
// Thread-safety: a value type; not thread-safe for concurrent mutation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::ops {

class DDSketch {
 public:
  /// Default relative accuracy α and bucket cap per store.
  static constexpr double kDefaultRelativeAccuracy = 0.01;
  static constexpr size_t kDefaultMaxBins = 2048;

  /// REQUIRES: 0 < relative_accuracy < 1; max_bins >= 2.
  explicit DDSketch(double relative_accuracy = kDefaultRelativeAccuracy, size_t max_bins = kDefaultMaxBins);

  /// Adds `x`. NaN is ignored; ±infinity are clamped to ±DBL_MAX.
  void Add(double x);
  /// Adds `other`'s counts. REQUIRES: same relative accuracy.
  void Merge(const DDSketch& other);
  /// The estimated q-quantile, q in [0, 1] (clamped). REQUIRES: count() > 0.
  double Quantile(double q) const;
  /// Values added (NaN excluded).
  uint64_t count() const { return positive_.total + negative_.total + zeros_; }
  /// Heap bytes held (for state estimates).
  size_t MemoryBytes() const {
    return (positive_.counts.capacity() + negative_.counts.capacity()) * sizeof(uint64_t);
  }
  double relative_accuracy() const { return alpha_; }

  /// Appends the bucket counts to `out` (checkpoints): zeros (u64), then per store (positive,
  /// negative) offset (i32), total (u64), bin count (u32) and the counts (u64 each), all LE.
  /// The accuracy and bin cap are not stored: they are fixed per aggregate by the plan.
  void AppendTo(std::string* out) const;
  /// Replaces the counts with ones read from the front of `in` (advancing it). Returns false on
  /// truncated or malformed input (more than max_bins bins, totals that do not add up).
  bool ParseFrom(std::string_view* in);

 private:
  // Bucket counts for indexes [offset, offset + counts.size()).
  struct Store {
    int32_t offset = 0;
    std::vector<uint64_t> counts;
    uint64_t total = 0;
    void Add(int32_t index, uint64_t n, size_t max_bins);
  };
  int32_t IndexOf(double magnitude) const;
  double ValueOf(int32_t index) const;

  double alpha_;
  double gamma_;
  double inv_log_gamma_;
  size_t max_bins_;
  Store positive_, negative_;  // negative_ holds |x| of x < 0.
  uint64_t zeros_ = 0;
};

}  // namespace sluice::ops
