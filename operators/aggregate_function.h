// Aggregate functions as mergeable accumulators: Accumulate() folds one input value in,
// Merge() folds another accumulator in (window panes, merged sessions), Finalize() gives the SQL
// result. For every kind, Merge(Accumulate(A), Accumulate(B)) gives the same result as
// accumulating A ∪ B into one accumulator (exactly for counts, min/max, first/last, distinct sets
// and the sketches; up to floating-point rounding for sums, averages and variances).
//
// Per kind (core/plan.h AggKind):
//  - count, sum, avg, min, max: counters, an int64 sum with overflow flag (NULL on overflow), a
//    double sum, the extreme value.
//  - count(DISTINCT x): the exact set of encoded values.
//  - var_samp/var_pop/stddev_samp/stddev_pop: Welford's running mean and M2 (B. P. Welford,
//    "Note on a method for calculating corrected sums of squares and products", Technometrics
//    1962), merged with the pairwise update of Chan, Golub and LeVeque ("Updating formulae and a
//    pairwise algorithm for computing sample variances", 1979).
//  - first_value/last_value: the value with the smallest/largest (event time, arrival sequence).
//  - approx_count_distinct: HyperLogLog over the encoded value (hyperloglog.h).
//  - approx_percentile(x, q): DDSketch with 1% relative accuracy (dd_sketch.h).
// NULL inputs are skipped by every kind except count(*).
// Thread-safety: accumulators are plain values owned by one operator; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/plan.h"
#include "core/value.h"
#include "operators/dd_sketch.h"
#include "operators/hyperloglog.h"

namespace sluice::ops {

/// Running state of one aggregate over one (key, window). Move-only (sketches live on the heap,
/// allocated on the first non-NULL input).
struct Accumulator {
  int64_t count = 0;    ///< Non-NULL inputs seen (all rows for count(*)).
  int64_t isum = 0;     ///< Integer sum (sum over BIGINT).
  double dsum = 0;      ///< Floating sum (sum over FLOAT8, avg); Welford mean for variances.
  double m2 = 0;        ///< Welford: sum of squared deviations from the mean.
  bool overflow = false;
  Value value;          ///< min/max so far; first/last value.
  int64_t order_time = 0;   ///< first/last: event time of `value`, microseconds.
  uint64_t order_seq = 0;   ///< first/last: arrival sequence of `value` (ties on event time).
  std::unique_ptr<std::unordered_set<std::string>> distinct;  ///< count(DISTINCT).
  std::unique_ptr<HyperLogLog> hll;                           ///< approx_count_distinct.
  std::unique_ptr<DDSketch> sketch;                           ///< approx_percentile.
};

/// Where one input row sits in time, for first_value/last_value.
struct InputOrder {
  int64_t time_micros = 0;  ///< Event time.
  uint64_t seq = 0;         ///< Arrival sequence number, increasing per operator.
};

/// Folds input `v` (the evaluated argument; ignored for count(*)) into `acc`.
/// `scratch` is a reused buffer for value encodings.
void Accumulate(const AggregateDef& agg, const Value& v, InputOrder order, Accumulator* acc, std::string* scratch);

/// Folds one input row into `accs` (one per query.aggregates, in order): evaluates each
/// aggregate's FILTER and argument over `row` and calls Accumulate. `scratch` is reused.
void AccumulateRow(const QueryDef& query, const Row& row, InputOrder order, std::vector<Accumulator>* accs,
                   std::string* scratch);

/// Folds `from` into `into` (both of aggregate `agg`).
void Merge(const AggregateDef& agg, const Accumulator& from, Accumulator* into);

/// The SQL result of `acc`: NULL for empty sum/avg/min/max/var/first/last/percentile.
Value Finalize(const AggregateDef& agg, const Accumulator& acc);

/// Rough heap + inline bytes of `acc` (for state-size estimates and explain).
size_t AccumulatorBytes(const Accumulator& acc);

/// Bytes one accumulator of `kind` is estimated to take per group at plan time (explain):
/// fixed size plus a typical sketch size; count(DISTINCT) counts 48 bytes per distinct value
/// for `distinct_values` values.
size_t EstimatedAccumulatorBytes(AggKind kind, size_t distinct_values);

}  // namespace sluice::ops
