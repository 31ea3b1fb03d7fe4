#include "operators/session_window_aggregate.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>

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

// SELECT user, window_start, window_end, count(*), sum(v) FROM SESSION(t, ts, gap) GROUP BY user
QueryDef SessionQuery(Duration gap) {
  QueryDef q;
  q.window.kind = WindowKind::kSession;
  q.window.time_column = 1;
  q.window.gap = gap;
  q.group_keys.push_back(Col(0, DataType::kText));
  AggregateDef count;
  count.kind = AggKind::kCountStar;
  AggregateDef sum;
  sum.kind = AggKind::kSum;
  sum.arg = Col(2, DataType::kInt64);
  q.aggregates = {count, sum};
  using K = OutputColumn::Kind;
  q.outputs = {{"user", K::kGroupKey, 0, DataType::kText},
               {"window_start", K::kWindowStart, -1, DataType::kTimestamp},
               {"window_end", K::kWindowEnd, -1, DataType::kTimestamp},
               {"n", K::kAggregate, 0, DataType::kInt64},
               {"total", K::kAggregate, 1, DataType::kInt64}};
  return q;
}

EventTime S(int64_t s) { return EventTime{s * 1000000}; }
Row R(const char* user, int64_t s, int64_t v) { return {Value::Text(user), Value::Time(S(s)), Value::Int(v)}; }

}  // namespace

TEST_CASE("session: an out-of-order row that bridges two sessions merges them") {
  QueryDef q = SessionQuery(std::chrono::seconds(10));
  SessionWindowAggregate w(q);
  std::vector<Row> out;
  CHECK(w.Add(R("u", 0, 1), S(0)) == AddResult::kAccepted);
  CHECK(w.Add(R("u", 20, 2), S(20)) == AddResult::kAccepted);  // 20 > 0 + 10: a second session
  CHECK(w.Add(R("v", 12, 100), S(12)) == AddResult::kAccepted);  // other key, its own session
  CHECK(w.open_windows() == 3);
  CHECK(w.Add(R("u", 12, 4), S(12)) == AddResult::kAccepted);   // 12 - 0 > 10 but 20 - 12 <= 10: joins the second
  CHECK(w.open_windows() == 3);
  CHECK(w.Add(R("u", 8, 8), S(8)) == AddResult::kAccepted);     // 8 touches [0,10) and [12,30): bridges both
  CHECK(w.open_windows() == 2);
  w.AdvanceWatermark(S(25), &out);
  REQUIRE(out.size() == 1);  // v's session [12, 22) only
  CHECK(out[0][0].as_text() == "v");
  out.clear();
  w.AdvanceWatermark(S(30), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][0].as_text() == "u");
  CHECK(out[0][1].as_time() == S(0));
  CHECK(out[0][2].as_time() == S(30));
  CHECK(out[0][3].as_int() == 4);
  CHECK(out[0][4].as_int() == 15);
  CHECK(w.open_groups() == 0);
}

TEST_CASE("session: rows exactly gap apart join; a late row behind the watermark is late") {
  QueryDef q = SessionQuery(std::chrono::seconds(10));
  SessionWindowAggregate w(q);
  std::vector<Row> out;
  w.Add(R("u", 0, 1), S(0));
  w.Add(R("u", 10, 1), S(10));  // touches [0, 10]: same session
  w.AdvanceWatermark(S(20), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][3].as_int() == 2);
  CHECK(out[0][2].as_time() == S(20));
  CHECK(w.Add(R("u", 5, 1), S(5)) == AddResult::kLate);  // 5 + 10 <= 20, no session left to join
}

TEST_CASE("session: with allowed lateness a bridging row merges fired sessions and re-emits") {
  QueryDef q = SessionQuery(std::chrono::seconds(10));
  WindowOptions options;
  options.allowed_lateness = std::chrono::seconds(60);
  SessionWindowAggregate w(q, options);
  std::vector<Row> out;
  w.Add(R("u", 0, 1), S(0));
  w.Add(R("u", 30, 2), S(30));
  w.AdvanceWatermark(S(45), &out);
  REQUIRE(out.size() == 2);  // [0,10) and [30,40)
  out.clear();
  CHECK(w.Add(R("u", 15, 4), S(15)) == AddResult::kAccepted);  // joins neither: [15, 25) behind the watermark
  CHECK(w.Add(R("u", 22, 8), S(22)) == AddResult::kAccepted);  // bridges [15,25) and [30,40)
  CHECK(w.Add(R("u", 9, 16), S(9)) == AddResult::kAccepted);   // bridges [0,10) and [15,40)
  w.AdvanceWatermark(S(45), &out);
  REQUIRE(out.size() == 1);  // the one merged session, re-emitted
  CHECK(out[0][1].as_time() == S(0));
  CHECK(out[0][2].as_time() == S(40));
  CHECK(out[0][3].as_int() == 5);
  CHECK(out[0][4].as_int() == 31);
  out.clear();
  w.AdvanceWatermark(S(100), &out);  // 40 + 60: dropped
  CHECK(out.empty());
  CHECK(w.open_groups() == 0);
}

TEST_CASE("session: random order gives the same sessions as sorted order") {
  std::mt19937 rng(99);
  QueryDef q = SessionQuery(std::chrono::seconds(5));
  std::vector<std::pair<Row, EventTime>> events;
  for (int i = 0; i < 500; ++i) {
    int64_t s = static_cast<int64_t>(rng() % 2000);
    const char* user = (rng() % 2) ? "a" : "b";
    events.push_back({R(user, s, 1), S(s)});
  }
  auto run = [&](std::vector<std::pair<Row, EventTime>> input) {
    SessionWindowAggregate w(q);
    for (auto& [r, t] : input) REQUIRE(w.Add(r, t) == AddResult::kAccepted);
    std::vector<Row> out;
    w.FlushAll(&out);
    std::map<std::pair<std::string, int64_t>, std::pair<int64_t, int64_t>> sessions;
    for (const Row& r : out) sessions[{r[0].as_text(), r[1].as_time().micros}] = {r[2].as_time().micros, r[3].as_int()};
    return sessions;
  };
  auto shuffled = run(events);
  std::sort(events.begin(), events.end(), [](const auto& x, const auto& y) { return x.second < y.second; });
  auto sorted = run(events);
  CHECK(shuffled == sorted);
  int64_t total = 0;
  for (auto& [k, v] : sorted) total += v.second;
  CHECK(total == 500);
}
