#include "operators/window_aggregate.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

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

namespace {

// Input: key TEXT, ts TIMESTAMPTZ, v BIGINT. count(*), sum(v), min(v), max(v), count(DISTINCT v),
// stddev_samp(v), approx_percentile(v, 0.9), first_value(v), last_value(v) per key and window.
QueryDef HopQuery(Duration slide, Duration size) {
  QueryDef q;
  q.window.kind = WindowKind::kHop;
  q.window.time_column = 1;
  q.window.slide = slide;
  q.window.size = size;
  q.group_keys.push_back(Col(0, DataType::kText));
  auto agg = [&](AggKind k, DataType out, double param = 0) {
    AggregateDef a;
    a.kind = k;
    if (k != AggKind::kCountStar) a.arg = Col(2, DataType::kInt64);
    a.result_type = out;
    a.param = param;
    q.aggregates.push_back(a);
  };
  agg(AggKind::kCountStar, DataType::kInt64);
  agg(AggKind::kSum, DataType::kInt64);
  agg(AggKind::kMin, DataType::kInt64);
  agg(AggKind::kMax, DataType::kInt64);
  agg(AggKind::kCountDistinct, DataType::kInt64);
  agg(AggKind::kStddevSamp, DataType::kFloat64);
  agg(AggKind::kApproxPercentile, DataType::kFloat64, 0.9);
  agg(AggKind::kFirstValue, DataType::kInt64);
  agg(AggKind::kLastValue, DataType::kInt64);
  using K = OutputColumn::Kind;
  q.outputs = {{"key", K::kGroupKey, 0, DataType::kText}, {"window_start", K::kWindowStart, -1, DataType::kTimestamp}};
  for (int i = 0; i < 9; ++i) {
    std::string name = "a";  // not "a" + to_string(i): GCC 12 -O3 warns falsely (-Wrestrict)
    name += std::to_string(i);
    q.outputs.push_back({name, K::kAggregate, i, q.aggregates[i].result_type});
  }
  return q;
}

struct Event {
  Row row;
  EventTime t;
};

// The reference: every event copied into every window that contains it, accumulated in arrival
// order — what the pane-based operator must reproduce.
std::map<std::pair<std::string, int64_t>, Row> NaiveHop(const QueryDef& q, const std::vector<Event>& events) {
  const int64_t slide = q.window.slide.count(), size = q.window.size.count();
  std::map<std::pair<std::string, int64_t>, std::vector<Accumulator>> accs;
  std::string scratch;
  uint64_t seq = 0;
  for (const Event& e : events) {
    int64_t last = FloorTo(e.t, q.window.slide).micros;
    for (int64_t ws = last; ws + size > e.t.micros; ws -= slide) {
      auto& a = accs[{e.row[0].as_text(), ws}];
      a.resize(q.aggregates.size());
      AccumulateRow(q, e.row, InputOrder{e.t.micros, seq}, &a, &scratch);
    }
    ++seq;
  }
  std::map<std::pair<std::string, int64_t>, Row> out;
  for (auto& [k, a] : accs) {
    Row r = {Value::Text(k.first), Value::Time(EventTime{k.second})};
    for (size_t i = 0; i < a.size(); ++i) r.push_back(Finalize(q.aggregates[i], a[i]));
    out[k] = r;
  }
  return out;
}

std::vector<Event> RandomEvents(std::mt19937* rng, int n) {
  std::vector<Event> events;
  const char* keys[] = {"a", "b", "c", "d"};
  for (int i = 0; i < n; ++i) {
    // Roughly in time order with up to 3 s of disorder; values with repeats.
    int64_t t = static_cast<int64_t>(i) * 137'000 + static_cast<int64_t>((*rng)() % 3'000'000);
    events.push_back({{Value::Text(keys[(*rng)() % 4]), Value::Time(EventTime{t}), Value::Int((*rng)() % 40)},
                      EventTime{t}});
  }
  return events;
}

}  // namespace

TEST_CASE("hopping window: pane merge equals copying each event into every window") {
  std::mt19937 rng(1234);
  for (auto [slide_s, size_s] : {std::pair{2, 10}, {4, 10}, {3, 3}, {5, 7}}) {
    CAPTURE(slide_s);
    CAPTURE(size_s);
    QueryDef q = HopQuery(std::chrono::seconds(slide_s), std::chrono::seconds(size_s));
    std::vector<Event> events = RandomEvents(&rng, 2000);
    auto expected = NaiveHop(q, events);
    WindowAggregate w(q);
    std::vector<Row> out;
    EventTime max_t = EventTime::Min();
    for (const Event& e : events) {
      REQUIRE(w.Add(e.row, e.t) == AddResult::kAccepted);
      max_t = std::max(max_t, e.t);
      w.AdvanceWatermark(max_t - std::chrono::seconds(4), &out);  // delay > disorder: nothing late
    }
    w.FlushAll(&out);
    REQUIRE(out.size() == expected.size());
    std::set<std::pair<std::string, int64_t>> seen;
    for (const Row& r : out) {
      std::pair<std::string, int64_t> k{r[0].as_text(), r[1].as_time().micros};
      CHECK(seen.insert(k).second);  // each (key, window) exactly once
      const Row& e = expected.at(k);
      for (size_t i = 2; i < r.size(); ++i) {
        CAPTURE(i);
        if (r[i].type() == DataType::kFloat64 && !e[i].is_null()) {
          CHECK(r[i].as_float() == doctest::Approx(e[i].as_float()).epsilon(1e-9));
        } else {
          CHECK(r[i] == e[i]);
          CHECK(r[i].type() == e[i].type());
        }
      }
    }
    CHECK(w.open_windows() == 0);
    CHECK(w.open_groups() == 0);
  }
}

TEST_CASE("hopping window: windows fire in end order; panes are dropped after their last window") {
  QueryDef q = HopQuery(std::chrono::seconds(2), std::chrono::seconds(6));
  WindowAggregate w(q);
  auto at = [](int64_t s) { return EventTime{s * 1000000}; };
  auto row = [&](int64_t s, int64_t v) { return Row{Value::Text("k"), Value::Time(at(s)), Value::Int(v)}; };
  REQUIRE(w.Add(row(5, 1), at(5)) == AddResult::kAccepted);  // windows [0,6) [2,8) [4,10)
  CHECK(w.open_windows() == 3);
  std::vector<Row> out;
  w.AdvanceWatermark(at(8), &out);
  REQUIRE(out.size() == 2);
  CHECK(out[0][1].as_time() == at(0));
  CHECK(out[1][1].as_time() == at(2));
  CHECK(w.open_panes() == 1);  // still needed by [4, 10)
  CHECK(w.Add(row(1, 7), at(1)) == AddResult::kLate);  // every window of t=1 has fired
  CHECK(w.Add(row(5, 2), at(5)) == AddResult::kAccepted);  // [4,10) is still open
  out.clear();
  w.AdvanceWatermark(at(10), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][2].as_int() == 2);  // count(*) in [4, 10)
  CHECK(w.open_panes() == 0);
}

TEST_CASE("allowed lateness: a late row updates its fired window, which is re-emitted") {
  QueryDef q = MinuteQuery();
  WindowOptions options;
  options.allowed_lateness = std::chrono::seconds(30);
  WindowAggregate w(q, options);
  std::vector<Row> out;
  CHECK(w.Add(R("a", 10, 1.0, Value::Int(1)), EventTime{10000000}) == AddResult::kAccepted);
  w.AdvanceWatermark(EventTime{60000000}, &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][3].as_int() == 1);
  // Watermark 1:20: the window [0, 1:00) fired but is kept until 1:30.
  w.AdvanceWatermark(EventTime{80000000}, &out);
  out.clear();
  CHECK(w.Add(R("a", 20, 2.0, Value::Int(5)), EventTime{20000000}) == AddResult::kAccepted);
  CHECK(w.Add(R("b", 21, 2.0, Value::Int(5)), EventTime{21000000}) == AddResult::kAccepted);
  w.AdvanceWatermark(EventTime{80000000}, &out);
  REQUIRE(out.size() == 2);  // one update per touched key
  CHECK(out[0][0].as_text() == "a");
  CHECK(out[0][3].as_int() == 2);
  CHECK(out[1][0].as_text() == "b");
  CHECK(out[1][3].as_int() == 1);
  out.clear();
  w.AdvanceWatermark(EventTime{90000000}, &out);  // 1:30: state dropped
  CHECK(w.open_panes() == 0);
  CHECK(w.Add(R("a", 30, 2.0, Value::Int(5)), EventTime{30000000}) == AddResult::kLate);
  CHECK(out.empty());
}
