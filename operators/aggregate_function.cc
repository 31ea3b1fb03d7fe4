#include "operators/aggregate_function.h"

#include <cmath>

#include "operators/expr_eval.h"
#include "operators/key_encoder.h"

namespace sluice::ops {
namespace {

bool Before(int64_t t1, uint64_t s1, int64_t t2, uint64_t s2) { return t1 < t2 || (t1 == t2 && s1 < s2); }

// Chan et al. pairwise update of (n, mean, M2).
void MergeWelford(int64_t nb, double mean_b, double m2_b, Accumulator* a) {
  if (nb == 0) return;
  if (a->count == 0) {
    a->count = nb;
    a->dsum = mean_b;
    a->m2 = m2_b;
    return;
  }
  const double na = static_cast<double>(a->count), nbd = static_cast<double>(nb);
  const double n = na + nbd;
  const double delta = mean_b - a->dsum;
  a->dsum += delta * nbd / n;
  a->m2 += m2_b + delta * delta * na * nbd / n;
  a->count += nb;
}

}  // namespace

void Accumulate(const AggregateDef& agg, const Value& v, InputOrder order, Accumulator* acc, std::string* scratch) {
  if (agg.kind == AggKind::kCountStar) {
    ++acc->count;
    return;
  }
  if (v.is_null()) return;
  switch (agg.kind) {
    case AggKind::kCountStar: break;
    case AggKind::kCount: ++acc->count; break;
    case AggKind::kSum:
    case AggKind::kAvg:
      ++acc->count;
      if (v.type() == DataType::kInt64 && agg.kind == AggKind::kSum && agg.result_type == DataType::kInt64) {
        if (__builtin_add_overflow(acc->isum, v.as_int(), &acc->isum)) acc->overflow = true;
      } else {
        acc->dsum += v.ToDouble();
      }
      break;
    case AggKind::kMin:
      ++acc->count;
      if (acc->count == 1 || v.Compare(acc->value) < 0) acc->value = v;
      break;
    case AggKind::kMax:
      ++acc->count;
      if (acc->count == 1 || v.Compare(acc->value) > 0) acc->value = v;
      break;
    case AggKind::kCountDistinct:
      scratch->clear();
      EncodeValue(v, scratch);
      if (!acc->distinct) acc->distinct = std::make_unique<std::unordered_set<std::string>>();
      if (acc->distinct->find(*scratch) == acc->distinct->end()) acc->distinct->insert(*scratch);
      break;
    case AggKind::kVarSamp:
    case AggKind::kVarPop:
    case AggKind::kStddevSamp:
    case AggKind::kStddevPop: {
      const double x = v.ToDouble();
      ++acc->count;
      const double delta = x - acc->dsum;
      acc->dsum += delta / static_cast<double>(acc->count);
      acc->m2 += delta * (x - acc->dsum);
      break;
    }
    case AggKind::kFirstValue:
      ++acc->count;
      if (acc->count == 1 || Before(order.time_micros, order.seq, acc->order_time, acc->order_seq)) {
        acc->value = v;
        acc->order_time = order.time_micros;
        acc->order_seq = order.seq;
      }
      break;
    case AggKind::kLastValue:
      ++acc->count;
      if (acc->count == 1 || Before(acc->order_time, acc->order_seq, order.time_micros, order.seq)) {
        acc->value = v;
        acc->order_time = order.time_micros;
        acc->order_seq = order.seq;
      }
      break;
    case AggKind::kApproxCountDistinct:
      scratch->clear();
      EncodeValue(v, scratch);
      if (!acc->hll) acc->hll = std::make_unique<HyperLogLog>();
      acc->hll->AddHash(HashBytes(*scratch));
      ++acc->count;
      break;
    case AggKind::kApproxPercentile:
      if (!acc->sketch) acc->sketch = std::make_unique<DDSketch>();
      acc->sketch->Add(v.ToDouble());
      ++acc->count;
      break;
  }
}

void AccumulateRow(const QueryDef& query, const Row& row, InputOrder order, std::vector<Accumulator>* accs,
                   std::string* scratch) {
  for (size_t i = 0; i < query.aggregates.size(); ++i) {
    const AggregateDef& a = query.aggregates[i];
    if (a.filter && !EvalPredicate(*a.filter, row)) continue;
    if (a.kind == AggKind::kCountStar) {
      ++(*accs)[i].count;
      continue;
    }
    Value v = Eval(a.arg, row);
    Accumulate(a, v, order, &(*accs)[i], scratch);
  }
}

void Merge(const AggregateDef& agg, const Accumulator& from, Accumulator* into) {
  switch (agg.kind) {
    case AggKind::kCountStar:
    case AggKind::kCount: into->count += from.count; break;
    case AggKind::kSum:
    case AggKind::kAvg:
      into->count += from.count;
      if (__builtin_add_overflow(into->isum, from.isum, &into->isum)) into->overflow = true;
      into->overflow = into->overflow || from.overflow;
      into->dsum += from.dsum;
      break;
    case AggKind::kMin:
    case AggKind::kMax:
      if (from.count == 0) break;
      if (into->count == 0 || (agg.kind == AggKind::kMin ? from.value.Compare(into->value) < 0
                                                         : from.value.Compare(into->value) > 0)) {
        into->value = from.value;
      }
      into->count += from.count;
      break;
    case AggKind::kCountDistinct:
      if (!from.distinct) break;
      if (!into->distinct) into->distinct = std::make_unique<std::unordered_set<std::string>>();
      into->distinct->insert(from.distinct->begin(), from.distinct->end());
      break;
    case AggKind::kVarSamp:
    case AggKind::kVarPop:
    case AggKind::kStddevSamp:
    case AggKind::kStddevPop: MergeWelford(from.count, from.dsum, from.m2, into); break;
    case AggKind::kFirstValue:
    case AggKind::kLastValue: {
      if (from.count == 0) break;
      bool take = into->count == 0;
      if (!take && agg.kind == AggKind::kFirstValue) {
        take = Before(from.order_time, from.order_seq, into->order_time, into->order_seq);
      }
      if (!take && agg.kind == AggKind::kLastValue) {
        take = Before(into->order_time, into->order_seq, from.order_time, from.order_seq);
      }
      if (take) {
        into->value = from.value;
        into->order_time = from.order_time;
        into->order_seq = from.order_seq;
      }
      into->count += from.count;
      break;
    }
    case AggKind::kApproxCountDistinct:
      if (!from.hll) break;
      if (!into->hll) into->hll = std::make_unique<HyperLogLog>();
      into->hll->Merge(*from.hll);
      into->count += from.count;
      break;
    case AggKind::kApproxPercentile:
      if (!from.sketch) break;
      if (!into->sketch) into->sketch = std::make_unique<DDSketch>();
      into->sketch->Merge(*from.sketch);
      into->count += from.count;
      break;
  }
}

Value Finalize(const AggregateDef& agg, const Accumulator& acc) {
  switch (agg.kind) {
    case AggKind::kCountStar:
    case AggKind::kCount: return Value::Int(acc.count);
    case AggKind::kSum:
      if (acc.count == 0 || acc.overflow) return Value::Null();
      if (agg.result_type == DataType::kInt64) return Value::Int(acc.isum);
      return Value::Float(acc.dsum);
    case AggKind::kAvg: return acc.count == 0 ? Value::Null() : Value::Float(acc.dsum / static_cast<double>(acc.count));
    case AggKind::kMin:
    case AggKind::kMax:
    case AggKind::kFirstValue:
    case AggKind::kLastValue: return acc.count == 0 ? Value::Null() : acc.value;
    case AggKind::kCountDistinct: return Value::Int(acc.distinct ? static_cast<int64_t>(acc.distinct->size()) : 0);
    case AggKind::kVarSamp:
    case AggKind::kStddevSamp: {
      if (acc.count < 2) return Value::Null();
      double var = std::max(0.0, acc.m2 / static_cast<double>(acc.count - 1));
      return Value::Float(agg.kind == AggKind::kVarSamp ? var : std::sqrt(var));
    }
    case AggKind::kVarPop:
    case AggKind::kStddevPop: {
      if (acc.count < 1) return Value::Null();
      double var = std::max(0.0, acc.m2 / static_cast<double>(acc.count));
      return Value::Float(agg.kind == AggKind::kVarPop ? var : std::sqrt(var));
    }
    case AggKind::kApproxCountDistinct:
      return Value::Int(acc.hll ? static_cast<int64_t>(std::llround(acc.hll->Estimate())) : 0);
    case AggKind::kApproxPercentile:
      if (!acc.sketch || acc.sketch->count() == 0) return Value::Null();
      return Value::Float(acc.sketch->Quantile(agg.param));
  }
  return Value::Null();
}

size_t AccumulatorBytes(const Accumulator& acc) {
  size_t n = sizeof(Accumulator);
  if (acc.value.type() == DataType::kText) n += acc.value.as_text().capacity();
  if (acc.distinct) {
    for (const std::string& s : *acc.distinct) n += 32 + s.capacity() + 16;
  }
  if (acc.hll) n += sizeof(HyperLogLog) + acc.hll->MemoryBytes();
  if (acc.sketch) n += sizeof(DDSketch) + acc.sketch->MemoryBytes();
  return n;
}

size_t EstimatedAccumulatorBytes(AggKind kind, size_t distinct_values) {
  size_t n = sizeof(Accumulator);
  switch (kind) {
    case AggKind::kCountDistinct: n += 48 * distinct_values; break;
    case AggKind::kApproxCountDistinct: n += 4 * HyperLogLog::kSparseLimit; break;  // sparse; dense is 16 KiB
    case AggKind::kApproxPercentile: n += 8 * 256; break;  // a few hundred buckets typically
    default: break;
  }
  return n;
}

}  // namespace sluice::ops
