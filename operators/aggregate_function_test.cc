#include "operators/aggregate_function.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace sluice;
using namespace sluice::ops;

namespace {

AggregateDef Agg(AggKind kind, DataType result, double param = 0) {
  AggregateDef a;
  a.kind = kind;
  a.result_type = result;
  a.param = param;
  return a;
}

Accumulator Fold(const AggregateDef& a, const std::vector<Value>& values, int64_t t0 = 0) {
  Accumulator acc;
  std::string scratch;
  for (size_t i = 0; i < values.size(); ++i) {
    Accumulate(a, values[i], InputOrder{t0 + static_cast<int64_t>(i), static_cast<uint64_t>(t0) + i}, &acc, &scratch);
  }
  return acc;
}

}  // namespace

TEST_CASE("variance and stddev: Welford matches the two-pass formula, and merges") {
  std::mt19937 rng(3);
  std::normal_distribution<double> d(1e6, 3.0);  // large mean: the naive sum-of-squares loses digits
  std::vector<Value> xs;
  for (int i = 0; i < 1000; ++i) xs.push_back(Value::Float(d(rng)));
  double mean = 0;
  for (const Value& v : xs) mean += v.as_float();
  mean /= static_cast<double>(xs.size());
  double ss = 0;
  for (const Value& v : xs) ss += (v.as_float() - mean) * (v.as_float() - mean);
  const double var_samp = ss / static_cast<double>(xs.size() - 1);

  AggregateDef vs = Agg(AggKind::kVarSamp, DataType::kFloat64);
  CHECK(Finalize(vs, Fold(vs, xs)).as_float() == doctest::Approx(var_samp).epsilon(1e-9));
  AggregateDef sd = Agg(AggKind::kStddevSamp, DataType::kFloat64);
  CHECK(Finalize(sd, Fold(sd, xs)).as_float() == doctest::Approx(std::sqrt(var_samp)).epsilon(1e-9));
  AggregateDef vp = Agg(AggKind::kVarPop, DataType::kFloat64);
  CHECK(Finalize(vp, Fold(vp, xs)).as_float() == doctest::Approx(ss / 1000).epsilon(1e-9));

  // Split in three uneven parts and merge (Chan et al.).
  std::vector<Value> p1(xs.begin(), xs.begin() + 1), p2(xs.begin() + 1, xs.begin() + 600), p3(xs.begin() + 600, xs.end());
  Accumulator merged;
  Merge(vs, Fold(vs, p2), &merged);
  Merge(vs, Fold(vs, p1), &merged);
  Merge(vs, Fold(vs, p3), &merged);
  CHECK(Finalize(vs, merged).as_float() == doctest::Approx(var_samp).epsilon(1e-9));

  // Fewer than two values: var_samp is NULL, var_pop of one value is 0; NULLs are skipped.
  CHECK(Finalize(vs, Fold(vs, {Value::Int(5), Value::Null()})).is_null());
  CHECK(Finalize(vp, Fold(vp, {Value::Int(5)})).as_float() == 0.0);
  CHECK(Finalize(vs, Fold(vs, {Value::Int(1), Value::Int(3)})).as_float() == doctest::Approx(2.0));
}

TEST_CASE("first_value and last_value order by event time, then arrival") {
  AggregateDef first = Agg(AggKind::kFirstValue, DataType::kText);
  AggregateDef last = Agg(AggKind::kLastValue, DataType::kText);
  Accumulator f, l;
  std::string scratch;
  auto add = [&](const char* v, int64_t t, uint64_t seq) {
    Accumulate(first, Value::Text(v), {t, seq}, &f, &scratch);
    Accumulate(last, Value::Text(v), {t, seq}, &l, &scratch);
  };
  add("b", 20, 0);
  add("a", 10, 1);   // earlier event time arriving later
  add("c", 30, 2);
  add("c2", 30, 3);  // tie on time: the later arrival is last
  add("a2", 10, 4);  // tie on time: the earlier arrival stays first
  Accumulate(first, Value::Null(), {0, 5}, &f, &scratch);  // NULLs are skipped
  CHECK(Finalize(first, f).as_text() == "a");
  CHECK(Finalize(last, l).as_text() == "c2");
  // Merging keeps the same order.
  Accumulator f2, l2;
  Accumulate(first, Value::Text("z"), {5, 9}, &f2, &scratch);
  Accumulate(last, Value::Text("z"), {5, 9}, &l2, &scratch);
  Merge(first, f2, &f);
  Merge(last, l2, &l);
  CHECK(Finalize(first, f).as_text() == "z");
  CHECK(Finalize(last, l).as_text() == "c2");
}

TEST_CASE("count(DISTINCT), approx_count_distinct and approx_percentile merge") {
  AggregateDef cd = Agg(AggKind::kCountDistinct, DataType::kInt64);
  AggregateDef acd = Agg(AggKind::kApproxCountDistinct, DataType::kInt64);
  AggregateDef p50 = Agg(AggKind::kApproxPercentile, DataType::kFloat64, 0.5);
  std::vector<Value> a = {Value::Int(1), Value::Int(2), Value::Int(2), Value::Null()};
  std::vector<Value> b = {Value::Int(2), Value::Int(3)};
  Accumulator x = Fold(cd, a);
  CHECK(Finalize(cd, x).as_int() == 2);
  Merge(cd, Fold(cd, b), &x);
  CHECK(Finalize(cd, x).as_int() == 3);
  Accumulator y = Fold(acd, a);
  Merge(acd, Fold(acd, b), &y);
  CHECK(Finalize(acd, y).as_int() == 3);
  CHECK(Finalize(p50, Accumulator{}).is_null());
  Accumulator z = Fold(p50, {Value::Int(10), Value::Int(20)});
  Merge(p50, Fold(p50, {Value::Int(30)}), &z);
  CHECK(Finalize(p50, z).as_float() == doctest::Approx(20).epsilon(0.01));
  // count(DISTINCT) of an empty group is 0, not NULL (PostgreSQL).
  CHECK(Finalize(cd, Accumulator{}).as_int() == 0);
}

TEST_CASE("sum over BIGINT overflows to NULL, also through merges") {
  AggregateDef s = Agg(AggKind::kSum, DataType::kInt64);
  Accumulator big = Fold(s, {Value::Int(INT64_MAX)});
  CHECK(Finalize(s, big).as_int() == INT64_MAX);
  Merge(s, Fold(s, {Value::Int(1)}), &big);
  CHECK(Finalize(s, big).is_null());
}
