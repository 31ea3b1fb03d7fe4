#include "operators/window_aggregate.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>

#include "operators/expr_eval.h"

using namespace sluice;
using namespace sluice::ops;

namespace {

Expr Col(int i, DataType t) {
  Expr e;
  e.op = ExprOp::kColumn;
  e.column = i;
  e.type = t;
  return e;
}

// Input schema: name TEXT, ts TIMESTAMPTZ, distance FLOAT8, magic BIGINT.
// SELECT name, window_start, window_end, count(*), sum(distance), min(magic), max(magic), avg(magic)
// FROM TUMBLE(t, ts, 1 minute) GROUP BY name, window_start, window_end
QueryDef MinuteQuery() {
  QueryDef q;
  q.window = {WindowKind::kTumble, 1, std::chrono::minutes(1)};
  q.group_keys.push_back(Col(0, DataType::kText));
  auto agg = [&](AggKind k, int col, DataType in, DataType out) {
    AggregateDef a;
    a.kind = k;
    if (col >= 0) a.arg = Col(col, in);
    a.result_type = out;
    q.aggregates.push_back(a);
  };
  agg(AggKind::kCountStar, -1, DataType::kNull, DataType::kInt64);
  agg(AggKind::kSum, 2, DataType::kFloat64, DataType::kFloat64);
  agg(AggKind::kMin, 3, DataType::kInt64, DataType::kInt64);
  agg(AggKind::kMax, 3, DataType::kInt64, DataType::kInt64);
  agg(AggKind::kAvg, 3, DataType::kInt64, DataType::kFloat64);
  agg(AggKind::kSum, 3, DataType::kInt64, DataType::kInt64);
  using K = OutputColumn::Kind;
  q.outputs = {{"name", K::kGroupKey, 0, DataType::kText},       {"window_start", K::kWindowStart, -1, DataType::kTimestamp},
               {"window_end", K::kWindowEnd, -1, DataType::kTimestamp}, {"n", K::kAggregate, 0, DataType::kInt64},
               {"dist", K::kAggregate, 1, DataType::kFloat64},   {"min", K::kAggregate, 2, DataType::kInt64},
               {"max", K::kAggregate, 3, DataType::kInt64},      {"avg", K::kAggregate, 4, DataType::kFloat64},
               {"isum", K::kAggregate, 5, DataType::kInt64}};
  return q;
}

Row R(const char* name, int64_t sec, double dist, Value magic) {
  return {Value::Text(name), Value::Time(EventTime{sec * 1000000}), Value::Float(dist), std::move(magic)};
}

}  // namespace

TEST_CASE("tumbling window: fires at the watermark with exact aggregates") {
  QueryDef q = MinuteQuery();
  WindowAggregate w(q);
  CHECK(w.Add(R("a", 10, 1.5, Value::Int(5)), EventTime{10000000}) == AddResult::kAccepted);
  CHECK(w.Add(R("a", 59, 2.5, Value::Int(9)), EventTime{59000000}) == AddResult::kAccepted);
  CHECK(w.Add(R("b", 30, 4.0, Value::Null()), EventTime{30000000}) == AddResult::kAccepted);
  CHECK(w.Add(R("a", 61, 1.0, Value::Int(1)), EventTime{61000000}) == AddResult::kAccepted);
  CHECK(w.open_windows() == 2);
  CHECK(w.open_groups() == 3);
  std::vector<Row> out;
  w.AdvanceWatermark(EventTime{59999999}, &out);
  CHECK(out.empty());
  w.AdvanceWatermark(EventTime{60000000}, &out);
  REQUIRE(out.size() == 2);
  // Key "a", window [0, 60s).
  CHECK(out[0][0].as_text() == "a");
  CHECK(out[0][1].as_time().micros == 0);
  CHECK(out[0][2].as_time().micros == 60000000);
  CHECK(out[0][3].as_int() == 2);
  CHECK(out[0][4].as_float() == doctest::Approx(4.0));
  CHECK(out[0][5].as_int() == 5);
  CHECK(out[0][6].as_int() == 9);
  CHECK(out[0][7].as_float() == doctest::Approx(7.0));
  CHECK(out[0][8].as_int() == 14);
  // Key "b": count(*) counts the row, aggregates over the NULL magic are NULL.
  CHECK(out[1][0].as_text() == "b");
  CHECK(out[1][3].as_int() == 1);
  CHECK(out[1][5].is_null());
  CHECK(out[1][7].is_null());
  CHECK(out[1][8].is_null());
  CHECK(w.open_windows() == 1);
  // A row for the fired window is late and changes nothing.
  CHECK(w.Add(R("a", 5, 100, Value::Int(100)), EventTime{5000000}) == AddResult::kLate);
  out.clear();
  w.FlushAll(&out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][3].as_int() == 1);
  CHECK(out[0][1].as_time().micros == 60000000);
}

TEST_CASE("tumbling window: out-of-order input gives the same rows as sorted input") {
  QueryDef q = MinuteQuery();
  std::mt19937 rng(42);
  std::vector<std::pair<Row, EventTime>> events;
  const char* names[] = {"Shadowfax", "Rocinante", "Bucephalus"};
  for (int i = 0; i < 3000; ++i) {
    int64_t sec = i / 10;
    events.push_back({R(names[rng() % 3], sec, (rng() % 100) / 10.0, Value::Int(rng() % 50)), EventTime{sec * 1000000}});
  }
  // Independent computation: per (name, minute) count and sum.
  std::map<std::pair<std::string, int64_t>, std::pair<int64_t, double>> expect;
  for (auto& [r, t] : events) {
    auto& e = expect[{r[0].as_text(), t.micros / 60000000}];
    e.first++;
    e.second += r[2].as_float();
  }
  // Deliver in order of event time plus a random delay of at most 4 s; with a 5 s watermark delay
  // nothing is late.
  std::vector<int64_t> arrival;
  for (auto& e : events) arrival.push_back(e.second.micros + static_cast<int64_t>(rng() % 4000000));
  std::vector<size_t> order(events.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return arrival[x] < arrival[y]; });
  std::vector<std::pair<Row, EventTime>> shuffled;
  for (size_t i : order) shuffled.push_back(events[i]);
  size_t inversions = 0;
  for (size_t i = 1; i < shuffled.size(); ++i) inversions += shuffled[i].second < shuffled[i - 1].second;
  CHECK(inversions > 100);  // The input really is out of order.
  events.swap(shuffled);
  WindowAggregate w(q);
  std::vector<Row> out;
  EventTime max_t = EventTime::Min();
  for (auto& [r, t] : events) {
    CHECK(w.Add(r, t) == AddResult::kAccepted);
    max_t = std::max(max_t, t);
    w.AdvanceWatermark(max_t - std::chrono::seconds(5), &out);
  }
  w.FlushAll(&out);
  REQUIRE(out.size() == expect.size());
  for (auto& r : out) {
    auto& e = expect.at({r[0].as_text(), r[1].as_time().micros / 60000000});
    CHECK(r[3].as_int() == e.first);
    CHECK(r[4].as_float() == doctest::Approx(e.second));
  }
}

TEST_CASE("expressions follow SQL NULL semantics") {
  Expr a = Col(0, DataType::kInt64), b = Col(1, DataType::kInt64);
  Expr add;
  add.op = ExprOp::kAdd;
  add.args = {a, b};
  CHECK(Eval(add, {Value::Int(2), Value::Int(3)}).as_int() == 5);
  CHECK(Eval(add, {Value::Int(2), Value::Null()}).is_null());
  Expr div = add;
  div.op = ExprOp::kDiv;
  CHECK(Eval(div, {Value::Int(7), Value::Int(2)}).as_int() == 3);
  CHECK(Eval(div, {Value::Int(7), Value::Int(0)}).is_null());
  Expr lt = add;
  lt.op = ExprOp::kLt;
  Expr bool_or;
  bool_or.op = ExprOp::kOr;
  bool_or.args = {lt, lt};
  bool_or.args[1].op = ExprOp::kEq;
  CHECK(EvalPredicate(bool_or, {Value::Int(1), Value::Int(2)}));
  CHECK_FALSE(EvalPredicate(bool_or, {Value::Null(), Value::Int(2)}));
  CHECK(CastValue(Value::Text("12"), DataType::kInt64).as_int() == 12);
  CHECK(CastValue(Value::Text("x"), DataType::kInt64).is_null());
}
