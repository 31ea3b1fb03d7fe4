#include "operators/window_stage.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>

#include "operators/expr_eval.h"
#include "operators/window_tagger.h"

namespace sluice::ops {
namespace {

using std::chrono::seconds;

// Source rows: (k BIGINT, price BIGINT, ts TIMESTAMPTZ).
Row R(int64_t k, int64_t price, int64_t ts_s) { return {Value::Int(k), Value::Int(price), Value::Time(EventTime{ts_s * 1000000})}; }

Expr Col(int c, DataType t) {
  Expr e;
  e.op = ExprOp::kColumn;
  e.column = c;
  e.type = t;
  e.text = "c" + std::to_string(c);
  return e;
}

WindowDef Tumble10() {
  WindowDef w;
  w.kind = WindowKind::kTumble;
  w.time_column = 2;
  w.size = seconds(10);
  w.slide = seconds(10);
  return w;
}

// Leaf 0: SELECT k, price, window_start, window_end FROM TUMBLE(s, ts, 10 s).
QueryDef TagLeaf() {
  QueryDef q;
  q.source = 0;
  q.window = Tumble10();
  q.projections = {Col(0, DataType::kInt64), Col(1, DataType::kInt64)};
  q.outputs = {{"k", OutputColumn::Kind::kProjection, 0, DataType::kInt64},
               {"price", OutputColumn::Kind::kProjection, 1, DataType::kInt64},
               {"window_start", OutputColumn::Kind::kWindowStart, -1, DataType::kTimestamp},
               {"window_end", OutputColumn::Kind::kWindowEnd, -1, DataType::kTimestamp}};
  return q;
}

// Leaf 1: SELECT max(price), window_start, window_end FROM TUMBLE(...) GROUP BY window_start, window_end.
QueryDef MaxLeaf() {
  QueryDef q;
  q.source = 0;
  q.window = Tumble10();
  AggregateDef a;
  a.kind = AggKind::kMax;
  a.arg = Col(1, DataType::kInt64);
  a.result_type = DataType::kInt64;
  a.text = "max(price)";
  q.aggregates = {a};
  q.outputs = {{"maxprice", OutputColumn::Kind::kAggregate, 0, DataType::kInt64},
               {"window_start", OutputColumn::Kind::kWindowStart, -1, DataType::kTimestamp},
               {"window_end", OutputColumn::Kind::kWindowEnd, -1, DataType::kTimestamp}};
  return q;
}

// q7's shape: bids joined with their window's max price, projected to (k, price, window_start).
QueryDef Q7Shape() {
  auto plan = std::make_shared<StagePlan>();
  plan->leaves = {TagLeaf(), MaxLeaf()};
  StageNode l0, l1, join, project;
  l0.kind = StageNode::Kind::kLeaf;
  l0.leaf = 0;
  l0.width = 4;
  l1.kind = StageNode::Kind::kLeaf;
  l1.leaf = 1;
  l1.width = 3;
  join.kind = StageNode::Kind::kJoin;
  join.left = 0;
  join.right = 1;
  join.left_keys = {Col(2, DataType::kTimestamp), Col(3, DataType::kTimestamp), Col(1, DataType::kInt64)};
  join.right_keys = {Col(1, DataType::kTimestamp), Col(2, DataType::kTimestamp), Col(0, DataType::kInt64)};
  join.width = 7;
  project.kind = StageNode::Kind::kProject;
  project.left = 2;
  project.projections = {Col(0, DataType::kInt64), Col(1, DataType::kInt64), Col(2, DataType::kTimestamp)};
  project.width = 3;
  plan->nodes = {l0, l1, join, project};
  QueryDef q;
  q.source = 0;
  q.stages = plan;
  return q;
}

TEST_CASE("WindowTagger buffers rows per window and fires them at the watermark") {
  QueryDef q = TagLeaf();
  WindowTagger t(q);
  CHECK(t.Add(R(1, 5, 1), EventTime{1000000}) == AddResult::kAccepted);
  CHECK(t.Add(R(2, 6, 12), EventTime{12000000}) == AddResult::kAccepted);
  CHECK(t.open_windows() == 2);
  std::vector<Row> out;
  t.AdvanceWatermark(EventTime{10000000}, &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][0].as_int() == 1);
  CHECK(out[0][2].as_time() == EventTime{0});
  CHECK(out[0][3].as_time() == EventTime{10000000});
  CHECK(t.Add(R(3, 7, 9), EventTime{9000000}) == AddResult::kLate);
  out.clear();
  t.FlushAll(&out);
  CHECK(out.size() == 1);
  CHECK(t.open_windows() == 0);
}

TEST_CASE("WindowTagger over HOP keeps a row in every window that contains it") {
  QueryDef q = TagLeaf();
  q.window.kind = WindowKind::kHop;
  q.window.slide = seconds(5);
  WindowTagger t(q);
  t.Add(R(1, 5, 7), EventTime{7000000});  // windows [0,10) and [5,15)
  CHECK(t.buffered_rows() == 2);
  std::vector<Row> out;
  t.AdvanceWatermark(EventTime{12000000}, &out);  // fires [0,10) only
  CHECK(out.size() == 1);
  // A row at 13 s: [5,15) and [10,20) are open.
  CHECK(t.Add(R(2, 5, 13), EventTime{13000000}) == AddResult::kAccepted);
  out.clear();
  t.FlushAll(&out);
  CHECK(out.size() == 3);
}

TEST_CASE("WindowStage joins a window's rows with that window's aggregate") {
  QueryDef q = Q7Shape();
  WindowStage stage(q);
  for (const Row& r : {R(1, 5, 1), R(2, 9, 2), R(3, 9, 3), R(4, 1, 11), R(5, 4, 12)}) {
    CHECK(stage.Add(r, r[2].as_time()) == AddResult::kAccepted);
  }
  std::vector<Row> out;
  stage.AdvanceWatermark(EventTime{10000000}, &out);
  REQUIRE(out.size() == 2);
  CHECK(out[0][1].as_int() == 9);
  CHECK(out[1][1].as_int() == 9);
  CHECK(stage.Add(R(6, 100, 5), EventTime{5000000}) == AddResult::kLate);
  out.clear();
  stage.FlushAll(&out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][0].as_int() == 5);
  CHECK(out[0][2].as_time() == EventTime{10000000});
}

TEST_CASE("WindowStage aggregates over a windowed relation per window") {
  // SELECT max(n), ws, we FROM (SELECT k, count(*) AS n, ws, we FROM TUMBLE GROUP BY k, ws, we) GROUP BY ws, we.
  auto plan = std::make_shared<StagePlan>();
  QueryDef leaf;
  leaf.source = 0;
  leaf.window = Tumble10();
  leaf.group_keys = {Col(0, DataType::kInt64)};
  AggregateDef count;
  count.kind = AggKind::kCountStar;
  count.text = "count(*)";
  leaf.aggregates = {count};
  leaf.outputs = {{"k", OutputColumn::Kind::kGroupKey, 0, DataType::kInt64},
                  {"n", OutputColumn::Kind::kAggregate, 0, DataType::kInt64},
                  {"ws", OutputColumn::Kind::kWindowStart, -1, DataType::kTimestamp},
                  {"we", OutputColumn::Kind::kWindowEnd, -1, DataType::kTimestamp}};
  plan->leaves = {leaf};
  StageNode l0, agg;
  l0.kind = StageNode::Kind::kLeaf;
  l0.leaf = 0;
  agg.kind = StageNode::Kind::kAggregate;
  agg.left = 0;
  agg.aggregate.group_keys = {Col(2, DataType::kTimestamp), Col(3, DataType::kTimestamp)};
  AggregateDef max;
  max.kind = AggKind::kMax;
  max.arg = Col(1, DataType::kInt64);
  max.result_type = DataType::kInt64;
  agg.aggregate.aggregates = {max};
  agg.aggregate.outputs = {{"maxn", OutputColumn::Kind::kAggregate, 0, DataType::kInt64},
                           {"ws", OutputColumn::Kind::kWindowStart, -1, DataType::kTimestamp}};
  agg.window_start_column = 2;
  agg.window_end_column = 3;
  plan->nodes = {l0, agg};
  QueryDef q;
  q.stages = plan;
  WindowStage stage(q);
  for (const Row& r : {R(1, 0, 1), R(1, 0, 2), R(2, 0, 3), R(2, 0, 11), R(3, 0, 12), R(3, 0, 13), R(3, 0, 14)}) {
    stage.Add(r, r[2].as_time());
  }
  std::vector<Row> out;
  stage.FlushAll(&out);
  REQUIRE(out.size() == 2);
  std::sort(out.begin(), out.end(), [](const Row& a, const Row& b) { return a[1].Compare(b[1]) < 0; });
  CHECK(out[0][0].as_int() == 2);
  CHECK(out[0][1].as_time() == EventTime{0});
  CHECK(out[1][0].as_int() == 3);
  CHECK(out[1][1].as_time() == EventTime{10000000});
  CHECK(stage.open_windows() == 0);
}

TEST_CASE("ColumnsUsed of a stage plan is the union of its leaves' columns") {
  // Source (k, price, ts, unused): leaf 0 reads k and price, leaf 1 price, both windows ts; the
  // join and projection above read only the leaves' outputs.
  const std::vector<bool> used = ColumnsUsed(Q7Shape(), 4, 2);
  CHECK(used == std::vector<bool>{true, true, true, false});
  QueryDef only_max;
  only_max.stages = std::make_shared<StagePlan>(StagePlan{{MaxLeaf()}, {}});
  CHECK(ColumnsUsed(only_max, 4, 2) == std::vector<bool>{false, true, true, false});
}

}  // namespace
}  // namespace sluice::ops
