#include "operators/dd_sketch.h"

#include <cstring>

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace sluice::ops {

DDSketch::DDSketch(double relative_accuracy, size_t max_bins)
    : alpha_(relative_accuracy),
      gamma_((1 + relative_accuracy) / (1 - relative_accuracy)),
      inv_log_gamma_(1.0 / std::log(gamma_)),
      max_bins_(max_bins) {}

void DDSketch::Store::Add(int32_t index, uint64_t n, size_t max_bins) {
  total += n;
  if (counts.empty()) {
    offset = index;
    counts.assign(1, n);
    return;
  }
  const int64_t lo = offset;
  const int64_t hi = offset + static_cast<int64_t>(counts.size()) - 1;
  if (index >= lo && index <= hi) {
    counts[static_cast<size_t>(index - lo)] += n;
    return;
  }
  int64_t new_lo = std::min<int64_t>(lo, index);
  const int64_t new_hi = std::max<int64_t>(hi, index);
  // Collapsing lowest: buckets below new_hi - max_bins + 1 fold into that bucket.
  if (new_hi - new_lo + 1 > static_cast<int64_t>(max_bins)) new_lo = new_hi - static_cast<int64_t>(max_bins) + 1;
  if (new_lo == lo && index < lo) {
    counts[0] += n;  // index collapsed into the existing lowest bucket
    return;
  }
  std::vector<uint64_t> grown(static_cast<size_t>(new_hi - new_lo + 1), 0);
  for (int64_t k = lo; k <= hi; ++k) grown[static_cast<size_t>(std::max(k, new_lo) - new_lo)] += counts[k - lo];
  grown[static_cast<size_t>(std::max<int64_t>(index, new_lo) - new_lo)] += n;
  offset = static_cast<int32_t>(new_lo);
  counts.swap(grown);
}

int32_t DDSketch::IndexOf(double magnitude) const {
  return static_cast<int32_t>(std::ceil(std::log(magnitude) * inv_log_gamma_));
}

double DDSketch::ValueOf(int32_t index) const {
  return 2.0 * std::pow(gamma_, static_cast<double>(index)) / (gamma_ + 1.0);
}

void DDSketch::Add(double x) {
  if (std::isnan(x)) return;
  x = std::clamp(x, -DBL_MAX, DBL_MAX);
  if (x > 0) {
    positive_.Add(IndexOf(x), 1, max_bins_);
  } else if (x < 0) {
    negative_.Add(IndexOf(-x), 1, max_bins_);
  } else {
    ++zeros_;
  }
}

void DDSketch::Merge(const DDSketch& other) {
  for (size_t i = 0; i < other.positive_.counts.size(); ++i) {
    if (other.positive_.counts[i] == 0) continue;
    positive_.Add(other.positive_.offset + static_cast<int32_t>(i), other.positive_.counts[i], max_bins_);
  }
  for (size_t i = 0; i < other.negative_.counts.size(); ++i) {
    if (other.negative_.counts[i] == 0) continue;
    negative_.Add(other.negative_.offset + static_cast<int32_t>(i), other.negative_.counts[i], max_bins_);
  }
  zeros_ += other.zeros_;
}

double DDSketch::Quantile(double q) const {
  const uint64_t n = count();
  if (n == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = std::floor(q * static_cast<double>(n - 1));
  double seen = 0;
  // Most negative values first: the negative store from its largest magnitude down.
  for (size_t i = negative_.counts.size(); i-- > 0;) {
    seen += static_cast<double>(negative_.counts[i]);
    if (seen > rank) return -ValueOf(negative_.offset + static_cast<int32_t>(i));
  }
  seen += static_cast<double>(zeros_);
  if (seen > rank) return 0;
  for (size_t i = 0; i < positive_.counts.size(); ++i) {
    seen += static_cast<double>(positive_.counts[i]);
    if (seen > rank) return ValueOf(positive_.offset + static_cast<int32_t>(i));
  }
  return ValueOf(positive_.offset + static_cast<int32_t>(positive_.counts.size()) - 1);
}

namespace {

template <typename T>
void AppendRaw(T v, std::string* out) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);  // little-endian machines only
}

template <typename T>
bool ReadRaw(std::string_view* in, T* v) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

}  // namespace

void DDSketch::AppendTo(std::string* out) const {
  AppendRaw<uint64_t>(zeros_, out);
  for (const Store* s : {&positive_, &negative_}) {
    AppendRaw<int32_t>(s->offset, out);
    AppendRaw<uint64_t>(s->total, out);
    AppendRaw<uint32_t>(static_cast<uint32_t>(s->counts.size()), out);
    if (!s->counts.empty())
      out->append(reinterpret_cast<const char*>(s->counts.data()), s->counts.size() * sizeof(uint64_t));
  }
}

bool DDSketch::ParseFrom(std::string_view* in) {
  if (!ReadRaw(in, &zeros_)) return false;
  for (Store* s : {&positive_, &negative_}) {
    uint32_t n;
    if (!ReadRaw(in, &s->offset) || !ReadRaw(in, &s->total) || !ReadRaw(in, &n)) return false;
    if (n > max_bins_ || in->size() < size_t{n} * sizeof(uint64_t)) return false;
    s->counts.resize(n);
    if (n > 0) std::memcpy(s->counts.data(), in->data(), size_t{n} * sizeof(uint64_t));
    in->remove_prefix(size_t{n} * sizeof(uint64_t));
    uint64_t sum = 0;
    for (uint64_t c : s->counts) sum += c;
    if (sum != s->total) return false;
  }
  return true;
}

}  // namespace sluice::ops
