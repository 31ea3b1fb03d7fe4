#include "core/metrics.h"

#include <algorithm>

namespace sluice {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(const std::string& name, const std::string& help, Type type) {
  for (auto& f : families_)
    if (f.name == name) return f;
  families_.push_back(Family{name, help, type, {}});
  return families_.back();
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kCounter);
  for (auto& s : f.series)
    if (s.labels == labels && s.counter) return const_cast<Counter&>(*s.counter);
  counters_.emplace_back();
  f.series.push_back({labels, &counters_.back(), nullptr, nullptr});
  return counters_.back();
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kGauge);
  for (auto& s : f.series)
    if (s.labels == labels && s.gauge) return const_cast<Gauge&>(*s.gauge);
  gauges_.emplace_back();
  f.series.push_back({labels, nullptr, &gauges_.back(), nullptr});
  return gauges_.back();
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const MetricLabels& labels, const std::vector<double>& bounds) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Type::kHistogram);
  for (auto& s : f.series)
    if (s.labels == labels && s.histogram) return const_cast<Histogram&>(*s.histogram);
  histograms_.push_back(std::make_unique<Histogram>(bounds));
  f.series.push_back({labels, nullptr, nullptr, histograms_.back().get()});
  return *histograms_.back();
}

uint64_t MetricsRegistry::CounterValue(const std::string& name, const MetricLabels& labels) const {
  std::lock_guard lock(mu_);
  for (const auto& f : families_) {
    if (f.name != name) continue;
    for (const auto& s : f.series)
      if (s.counter && s.labels == labels) return s.counter->value();
  }
  return 0;
}

void MetricsRegistry::ForEach(const std::function<void(const std::string&, const std::string&, Type,
                                                       const std::vector<Series>&)>& fn) const {
  std::lock_guard lock(mu_);
  for (const auto& f : families_) fn(f.name, f.help, f.type, f.series);
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace sluice
