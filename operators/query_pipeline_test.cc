#include "operators/query_pipeline.h"

#include <doctest/doctest.h>

using namespace sluice;
using namespace sluice::ops;

namespace {

// t(k TEXT, ts TIMESTAMPTZ) with `shards` shards, watermark_delay 5 s, idle_timeout 10 s;
// INSERT INTO out SELECT k, window_start, count(*) FROM TUMBLE(t, ts, 1 minute) GROUP BY k.
Pipeline MakePipeline(int shards, Duration emit_interval = Duration(0)) {
  Pipeline p;
  SourceDef s;
  s.name = "t";
  s.schema = Schema({{"k", DataType::kText}, {"ts", DataType::kTimestamp}});
  s.shards = shards;
  s.event_time_column = 1;
  s.watermark_delay = std::chrono::seconds(5);
  s.idle_timeout = std::chrono::seconds(10);
  p.sources.push_back(s);
  SinkDef sink;
  sink.name = "out";
  sink.connector = "files";
  sink.emit_interval = emit_interval;
  p.sinks.push_back(sink);
  QueryDef q;
  q.source = 0;
  q.sink = 0;
  q.window.kind = WindowKind::kTumble;
  q.window.time_column = 1;
  q.window.size = std::chrono::minutes(1);
  Expr key;
  key.op = ExprOp::kColumn;
  key.column = 0;
  key.type = DataType::kText;
  q.group_keys.push_back(key);
  AggregateDef count;
  q.aggregates.push_back(count);
  using K = OutputColumn::Kind;
  q.outputs = {{"k", K::kGroupKey, 0, DataType::kText},
               {"window_start", K::kWindowStart, -1, DataType::kTimestamp},
               {"n", K::kAggregate, 0, DataType::kInt64}};
  p.queries.push_back(q);
  return p;
}

EventTime S(int64_t s) { return EventTime{s * 1000000}; }
std::vector<Row> Rows(const char* k, int64_t s) { return {{Value::Text(k), Value::Time(S(s))}}; }

}  // namespace

TEST_CASE("pipeline watermark: minimum over shards; an idle shard stops holding it back") {
  Pipeline p = MakePipeline(2);
  QueryPipeline qp(p, 0, 2, S(0));
  std::vector<Row> out;
  std::vector<LateRow> late;
  qp.NoteActivity(0, S(0));
  qp.ProcessBatch(0, Rows("a", 70), &out, &late);
  CHECK(qp.AdvanceTime(S(1), &out) == EventTime::Min());  // shard 1 has delivered nothing
  CHECK(qp.holding_split() == 1);
  CHECK(out.empty());
  // Shard 1 idle after 10 s of processing time without records.
  qp.NoteActivity(0, S(9));
  CHECK(qp.AdvanceTime(S(10), &out) == S(65));
  CHECK(qp.split_idle(1));
  CHECK(qp.holding_split() == 0);
  CHECK(out.empty());  // [0, 60) had no rows
  qp.NoteActivity(1, S(11));
  qp.ProcessBatch(1, Rows("b", 30), &out, &late);  // shard 1 wakes up behind the watermark
  CHECK(late.size() == 1);
  CHECK(late[0].window_end == S(60));
  CHECK(qp.AdvanceTime(S(11), &out) == S(65));  // never goes back
  CHECK_FALSE(qp.split_idle(1));
}

TEST_CASE("pipeline emit_interval: partial rows of changed open windows on the processing clock") {
  Pipeline p = MakePipeline(1, std::chrono::seconds(10));
  QueryPipeline qp(p, 0, 1, S(0));
  std::vector<Row> out;
  std::vector<LateRow> late;
  qp.ProcessBatch(0, Rows("a", 1), &out, &late);
  qp.AdvanceTime(S(5), &out);
  CHECK(out.empty());
  qp.AdvanceTime(S(10), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][2].as_int() == 1);
  out.clear();
  qp.AdvanceTime(S(20), &out);  // nothing changed since
  CHECK(out.empty());
  qp.ProcessBatch(0, Rows("a", 2), &out, &late);
  qp.AdvanceTime(S(29), &out);
  CHECK(out.empty());
  qp.AdvanceTime(S(30), &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][2].as_int() == 2);
}
