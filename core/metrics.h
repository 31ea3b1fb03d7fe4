// MetricsRegistry: Sluice's counters, gauges and histograms, with no third-party dependency.
//
// Modules register metrics by name and labels once and keep the returned reference; updates are
// relaxed atomics, safe on the hot path. app/ exports the registry through prometheus-cpp at
// scrape time. Names follow Prometheus conventions (`sluice_<thing>_<unit>[_total]`).
// Thread-safety: every method is thread-safe; returned references live as long as the registry.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sluice {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

/// A monotonically increasing count.
class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

/// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

/// A histogram with fixed upper bounds (Prometheus "le" buckets, plus +Inf).
class Histogram {
 public:
  /// REQUIRES: `upper_bounds` ascending.
  explicit Histogram(std::vector<double> upper_bounds);
  /// Counts `v` in the first bucket whose upper bound is >= v (else +Inf). Lock-free.
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  /// Per-bucket (non-cumulative) counts; the last one is the +Inf bucket.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// All metrics of one process.
class MetricsRegistry {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  /// Returns the counter with this name and labels, creating it (and its family) on first use.
  /// REQUIRES: a name is always used with the same type and the same label names, in the same
  /// order (one label set per name, as the Prometheus naming guide asks; tests/e2e_test.cc
  /// checks the whole /metrics page for it).
  Counter& GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  /// As GetCounter, for a gauge.
  Gauge& GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels = {});
  /// `bounds` are used only when the histogram is created.
  Histogram& GetHistogram(const std::string& name, const std::string& help, const MetricLabels& labels,
                          const std::vector<double>& bounds);

  /// The value of the counter with this name and labels, or 0 when it was never registered.
  /// Does not register it.
  uint64_t CounterValue(const std::string& name, const MetricLabels& labels) const;

  /// One registered series, for exporters.
  struct Series {
    MetricLabels labels;
    const Counter* counter = nullptr;
    const Gauge* gauge = nullptr;
    const Histogram* histogram = nullptr;
  };
  /// Calls `fn(name, help, type, series)` for each family, in registration order.
  void ForEach(const std::function<void(const std::string&, const std::string&, Type,
                                        const std::vector<Series>&)>& fn) const;

 private:
  struct Family {
    std::string name, help;
    Type type;
    std::vector<Series> series;
  };
  Family& FamilyFor(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mu_;
  std::deque<Family> families_;                 // GUARDED_BY(mu_)
  std::deque<Counter> counters_;                // Stable addresses. GUARDED_BY(mu_)
  std::deque<Gauge> gauges_;                    // GUARDED_BY(mu_)
  std::deque<std::unique_ptr<Histogram>> histograms_;  // GUARDED_BY(mu_)
};

/// Default latency buckets. Unit: seconds. 0.25 ms .. 10 s.
std::vector<double> LatencyBucketsSeconds();

}  // namespace sluice
