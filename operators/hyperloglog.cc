#include "operators/hyperloglog.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sluice::ops {

uint64_t HashBytes(std::string_view bytes, uint64_t seed) {
  constexpr uint64_t m = 0xc6a4a7935bd1e995ull;
  constexpr int r = 47;
  const size_t len = bytes.size();
  uint64_t h = seed ^ (len * m);
  const char* data = bytes.data();
  const size_t blocks = len / 8;
  for (size_t i = 0; i < blocks; ++i) {
    uint64_t k;
    std::memcpy(&k, data + i * 8, 8);
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const unsigned char* tail = reinterpret_cast<const unsigned char*>(data + blocks * 8);
  switch (len & 7) {
    case 7: h ^= uint64_t(tail[6]) << 48; [[fallthrough]];
    case 6: h ^= uint64_t(tail[5]) << 40; [[fallthrough]];
    case 5: h ^= uint64_t(tail[4]) << 32; [[fallthrough]];
    case 4: h ^= uint64_t(tail[3]) << 24; [[fallthrough]];
    case 3: h ^= uint64_t(tail[2]) << 16; [[fallthrough]];
    case 2: h ^= uint64_t(tail[1]) << 8; [[fallthrough]];
    case 1:
      h ^= uint64_t(tail[0]);
      h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

void HyperLogLog::SetRegister(uint32_t index, uint8_t rank) {
  if (!dense_.empty()) {
    if (dense_[index] < rank) dense_[index] = rank;
    return;
  }
  const uint32_t entry = (index << 8) | rank;
  auto it = std::lower_bound(sparse_.begin(), sparse_.end(), index << 8);
  if (it != sparse_.end() && (*it >> 8) == index) {
    if ((*it & 0xFF) < rank) *it = entry;
    return;
  }
  sparse_.insert(it, entry);
  if (sparse_.size() > kSparseLimit) Densify();
}

void HyperLogLog::Densify() {
  dense_.assign(kRegisters, 0);
  for (uint32_t e : sparse_) dense_[e >> 8] = static_cast<uint8_t>(e & 0xFF);
  sparse_.clear();
  sparse_.shrink_to_fit();
}

void HyperLogLog::AddHash(uint64_t hash) {
  const uint32_t index = static_cast<uint32_t>(hash >> (64 - kPrecision));
  // The remaining 64 - p bits, with a sentinel so the rank is at most 64 - p + 1.
  const uint64_t w = (hash << kPrecision) | (uint64_t{1} << (kPrecision - 1));
  const uint8_t rank = static_cast<uint8_t>(__builtin_clzll(w) + 1);
  SetRegister(index, rank);
}

void HyperLogLog::Merge(const HyperLogLog& other) {
  if (!other.dense_.empty()) {
    if (dense_.empty()) Densify();
    for (size_t i = 0; i < kRegisters; ++i) dense_[i] = std::max(dense_[i], other.dense_[i]);
    return;
  }
  if (!dense_.empty()) {
    for (uint32_t e : other.sparse_) SetRegister(e >> 8, static_cast<uint8_t>(e & 0xFF));
    return;
  }
  // Both sparse: merge the sorted lists, keeping the larger rank per index.
  std::vector<uint32_t> merged;
  merged.reserve(sparse_.size() + other.sparse_.size());
  size_t i = 0, j = 0;
  while (i < sparse_.size() || j < other.sparse_.size()) {
    if (j == other.sparse_.size() || (i < sparse_.size() && (sparse_[i] >> 8) < (other.sparse_[j] >> 8))) {
      merged.push_back(sparse_[i++]);
    } else if (i == sparse_.size() || (other.sparse_[j] >> 8) < (sparse_[i] >> 8)) {
      merged.push_back(other.sparse_[j++]);
    } else {
      merged.push_back(std::max(sparse_[i++], other.sparse_[j++]));
    }
  }
  sparse_.swap(merged);
  if (sparse_.size() > kSparseLimit) Densify();
}

double HyperLogLog::Estimate() const {
  const double m = static_cast<double>(kRegisters);
  double sum = 0;
  size_t zeros = 0;
  if (dense_.empty()) {
    zeros = kRegisters - sparse_.size();
    sum = static_cast<double>(zeros);
    for (uint32_t e : sparse_) sum += std::ldexp(1.0, -static_cast<int>(e & 0xFF));
  } else {
    for (uint8_t r : dense_) {
      if (r == 0) ++zeros;
      sum += std::ldexp(1.0, -static_cast<int>(r));
    }
  }
  if (zeros == kRegisters) return 0;
  const double alpha = 0.7213 / (1.0 + 1.079 / m);
  const double raw = alpha * m * m / sum;
  if (raw <= 2.5 * m && zeros > 0) return m * std::log(m / static_cast<double>(zeros));
  return raw;
}

void HyperLogLog::AppendTo(std::string* out) const {
  if (dense_.empty()) {
    out->push_back('\0');
    const uint32_t n = static_cast<uint32_t>(sparse_.size());
    out->append(reinterpret_cast<const char*>(&n), 4);  // the machine is little-endian (x86_64, arm64)
    if (!sparse_.empty()) out->append(reinterpret_cast<const char*>(sparse_.data()), sparse_.size() * 4);
  } else {
    out->push_back('\1');
    out->append(reinterpret_cast<const char*>(dense_.data()), dense_.size());
  }
}

bool HyperLogLog::ParseFrom(std::string_view* in) {
  sparse_.clear();
  dense_.clear();
  if (in->empty()) return false;
  const char form = (*in)[0];
  in->remove_prefix(1);
  if (form == '\1') {
    if (in->size() < kRegisters) return false;
    dense_.assign(in->begin(), in->begin() + kRegisters);
    in->remove_prefix(kRegisters);
    for (uint8_t r : dense_) if (r > 64 - kPrecision + 1) return false;
    return true;
  }
  if (form != '\0' || in->size() < 4) return false;
  uint32_t n;
  std::memcpy(&n, in->data(), 4);
  in->remove_prefix(4);
  if (n > kSparseLimit || in->size() < size_t{n} * 4) return false;
  sparse_.resize(n);
  if (n > 0) std::memcpy(sparse_.data(), in->data(), size_t{n} * 4);
  in->remove_prefix(size_t{n} * 4);
  for (size_t i = 0; i < n; ++i) {
    if ((sparse_[i] >> 8) >= kRegisters) return false;
    if (i > 0 && (sparse_[i] >> 8) <= (sparse_[i - 1] >> 8)) return false;
  }
  return true;
}

}  // namespace sluice::ops
