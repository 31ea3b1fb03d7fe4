// HyperLogLog: a mergeable sketch that estimates how many distinct values a stream holds, in at
// most 16 KiB per sketch (approx_count_distinct).
//
// Algorithm: Flajolet, Fusy, Gandouet and Meunier, "HyperLogLog: the analysis of a near-optimal
// cardinality estimation algorithm" (AofA 2007): m = 2^p registers each keep the largest
// "position of the leftmost 1-bit" of the hashes routed to them; the estimate is the bias-
// corrected harmonic mean α_m·m²/Σ2^-M[j] with α_m = 0.7213/(1 + 1.079/m). Corrections used:
//  - small range (Flajolet et al. 2007): when the estimate is at most 5m/2 and some register is
//    zero, linear counting m·ln(m/V) (V = zero registers) is returned instead;
//  - large range: none. Hashes are 64-bit, so the 32-bit correction of the 2007 paper is not
//    needed (Heule, Nunkesser and Hall, "HyperLogLog in Practice", EDBT 2013, section 5.1).
//  - sparse representation (after Heule et al. 2013, section 5.3, simplified): until 1,024
//    registers are non-zero only those are stored, as sorted (index, rank) pairs; beyond that the
//    sketch switches to one byte per register. Estimates are identical in both representations.
// With p = 14 the standard error is 1.04/√m ≈ 0.81%. Merging takes the register-wise maximum, so
// merge(A, B) estimates |A ∪ B| exactly as if every value had been added to one sketch.
// Thread-safety: a value type; not thread-safe for concurrent mutation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::ops {

class HyperLogLog {
 public:
  /// Register index bits. m = 2^kPrecision = 16,384 registers.
  static constexpr int kPrecision = 14;
  static constexpr size_t kRegisters = size_t{1} << kPrecision;
  /// Non-zero registers kept in the sparse form before switching to dense.
  static constexpr size_t kSparseLimit = 1024;

  /// Adds one value by its 64-bit hash (use HashBytes()).
  void AddHash(uint64_t hash);
  /// Folds `other` in: afterwards this sketch describes the union of both inputs.
  void Merge(const HyperLogLog& other);
  /// The estimated number of distinct values added. 0 for an empty sketch.
  double Estimate() const;
  /// Heap bytes held (for state estimates).
  size_t MemoryBytes() const { return sparse_.capacity() * sizeof(uint32_t) + dense_.capacity(); }
  /// True while only non-zero registers are stored (fewer than kSparseLimit).
  bool is_sparse() const { return dense_.empty(); }

  /// Appends the sketch's registers to `out` (checkpoints): u8 form (0 sparse, 1 dense), then for
  /// sparse a u32 LE count and that many u32 LE entries, for dense kRegisters bytes.
  void AppendTo(std::string* out) const;
  /// Replaces this sketch with one read from the front of `in` (advancing it). Returns false, with
  /// the sketch unspecified, on truncated or malformed input (bad form, unsorted or out-of-range
  /// entries).
  bool ParseFrom(std::string_view* in);

 private:
  void Densify();
  void SetRegister(uint32_t index, uint8_t rank);

  std::vector<uint32_t> sparse_;  // (index << 8) | rank, sorted by index, one entry per index.
  std::vector<uint8_t> dense_;    // kRegisters ranks once dense; empty while sparse.
};

/// MurmurHash64A (Austin Appleby, public domain) of `bytes` with `seed`: a fast 64-bit hash with
/// good avalanche, stable across platforms and runs (sketch results must be reproducible).
uint64_t HashBytes(std::string_view bytes, uint64_t seed = 0x5EED5EED5EED5EEDull);

}  // namespace sluice::ops
