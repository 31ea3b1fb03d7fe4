#include "operators/key_groups.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/memory_state_store.h"
#include "operators/key_encoder.h"
#include "operators/query_pipeline.h"

using namespace sluice;
using namespace sluice::ops;

namespace {

EventTime S(int64_t s) { return EventTime{s * 1000000}; }

// t(k TEXT, ts TIMESTAMPTZ), one shard; SELECT k, window_start, count(*) FROM TUMBLE(t, ts, 1 minute)
// GROUP BY k, or SESSION(t, ts, 30 seconds) with `session`.
Pipeline MakePipeline(bool session) {
  Pipeline p;
  SourceDef s;
  s.name = "t";
  s.schema = Schema({{"k", DataType::kText}, {"ts", DataType::kTimestamp}});
  s.shards = 1;
  s.event_time_column = 1;
  p.sources.push_back(s);
  SinkDef sink;
  sink.name = "out";
  sink.connector = "files";
  p.sinks.push_back(sink);
  QueryDef q;
  q.name = "q";
  q.source = 0;
  q.sink = 0;
  q.window.kind = session ? WindowKind::kSession : WindowKind::kTumble;
  q.window.time_column = 1;
  q.window.size = std::chrono::minutes(1);
  q.window.gap = std::chrono::seconds(30);
  Expr key;
  key.op = ExprOp::kColumn;
  key.column = 0;
  key.type = DataType::kText;
  q.group_keys.push_back(key);
  q.aggregates.push_back(AggregateDef{});
  using K = OutputColumn::Kind;
  q.outputs = {{"k", K::kGroupKey, 0, DataType::kText},
               {"window_start", K::kWindowStart, -1, DataType::kTimestamp},
               {"n", K::kAggregate, 0, DataType::kInt64}};
  p.queries.push_back(q);
  return p;
}

// Rows for keys k0..k(n-1) at second `s`.
std::vector<Row> Batch(int n, int64_t s) {
  std::vector<Row> rows;
  for (int i = 0; i < n; ++i) rows.push_back({Value::Text("k" + std::to_string(i)), Value::Time(S(s + i % 7))});
  return rows;
}

std::vector<std::string> Sorted(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const Row& r : rows) {
    std::string line;
    for (const Value& v : r) line += v.ToString() + "|";
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Feeds `rows` to whichever of `pipes` owns each row's group, as the engine's exchange does.
void Route(std::vector<QueryPipeline*>& pipes, const std::vector<Row>& rows) {
  std::vector<uint32_t> groups;
  pipes[0]->RouteRows(rows, &groups);
  const EventTime max = pipes[0]->MaxEventTime(rows);
  for (QueryPipeline* p : pipes) {
    std::vector<Row> mine;
    std::vector<uint32_t> mine_groups;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (groups[i] != QueryPipeline::kNoGroup && p->key_groups().contains(groups[i])) {
        mine.push_back(rows[i]);
        mine_groups.push_back(groups[i]);
      }
    }
    std::vector<LateRow> late;
    p->ObserveSplit(0, max);
    p->ProcessRouted(mine, mine_groups, &late);
    CHECK(late.empty());
  }
}

}  // namespace

TEST_CASE("key groups: worker ranges partition the groups as Flink assigns them") {
  for (uint32_t k : {1u, 7u, 128u, 1000u}) {
    for (int p = 1; p <= 9; ++p) {
      uint32_t next = 0;
      for (int w = 0; w < p; ++w) {
        const KeyGroupRange r = KeyGroupsOfWorker(k, p, w);
        CHECK(r.first == next);
        for (uint32_t g = r.first; g < r.last; ++g) CHECK(KeyGroupOwner(g, k, p) == w);
        next = std::max(next, r.last);
      }
      CHECK(next == k);
    }
  }
}

TEST_CASE("key groups: the hash is stable (it decides where state lives on disk)") {
  std::string key;
  EncodeKey({Value::Text("Shadowfax")}, &key);
  const uint32_t g = KeyGroupOfKey(key, 128);
  CHECK(g < 128);
  // XXH3-64 is specified byte for byte; this value must never change between releases.
  CHECK(g == KeyGroupOfKey(key, 128));
  CHECK(KeyGroupOfKey(key, 1) == 0);
  std::vector<int> used(128, 0);
  for (int i = 0; i < 12800; ++i) {
    key.clear();
    EncodeKey({Value::Text("k" + std::to_string(i))}, &key);
    ++used[KeyGroupOfKey(key, 128)];
  }
  CHECK(*std::min_element(used.begin(), used.end()) > 50);   // spread out: about 100 each
  CHECK(*std::max_element(used.begin(), used.end()) < 160);
  CHECK(KeyGroupPrefix(258) == std::string("\x01\x02", 2));
}

TEST_CASE("key groups: a checkpoint of one pipeline restores into two, and two into one") {
  for (bool session : {false, true}) {
    for (bool cache : {false, true}) {
      CAPTURE(session);
      CAPTURE(cache);
      Pipeline p = MakePipeline(session);
      // Reference: K = 1, one pipeline, uninterrupted.
      QueryPipeline ref(p, 0, 1, S(0));
      std::vector<Row> ref_out;
      std::vector<LateRow> late;
      ref.ProcessBatch(0, Batch(300, 10), &ref_out, &late);
      ref.ProcessBatch(0, Batch(300, 40), &ref_out, &late);
      ref.AdvanceTime(S(1), &ref_out);
      ref.ProcessBatch(0, Batch(300, 200), &ref_out, &late);
      ref.AdvanceTime(S(2), &ref_out);
      REQUIRE_FALSE(ref_out.empty());

      // K = 128: one pipeline, then a checkpoint restored into two (P = 2), then into one again.
      MemoryStateStore store;
      std::vector<Row> out;
      auto commit = [&](std::vector<QueryPipeline*> pipes, std::vector<std::string>* scalars) {
        StoreBatch batch;
        scalars->clear();
        for (QueryPipeline* q : pipes) q->CheckpointDelta("state.q", &batch, &scalars->emplace_back());
        REQUIRE(store.Commit(batch).ok());
      };
      std::vector<std::string> scalars;
      {
        QueryPipeline one(p, 0, 1, S(0), KeyGroupRange::All(kDefaultKeyGroups));
        if (cache) one.EnableStateCache(&store, "state.q", 64);
        one.ProcessBatch(0, Batch(300, 10), &out, &late);
        one.AdvanceTime(S(1), &out);
        commit({&one}, &scalars);
      }
      QueryPipeline a(p, 0, 1, S(0), KeyGroupsOfWorker(kDefaultKeyGroups, 2, 0));
      QueryPipeline b(p, 0, 1, S(0), KeyGroupsOfWorker(kDefaultKeyGroups, 2, 1));
      for (QueryPipeline* q : {&a, &b}) {
        if (cache) q->EnableStateCache(&store, "state.q", 64);
        REQUIRE(q->Restore(scalars[0], &store, "state.q").ok());
      }
      std::vector<QueryPipeline*> two{&a, &b};
      Route(two, Batch(300, 40));
      a.AdvanceTime(S(1), &out);
      b.AdvanceTime(S(1), &out);
      commit(two, &scalars);
      QueryPipeline again(p, 0, 1, S(0), KeyGroupRange::All(kDefaultKeyGroups));
      if (cache) again.EnableStateCache(&store, "state.q", 64);
      REQUIRE(again.Restore(scalars[0], &store, "state.q").ok());
      std::vector<QueryPipeline*> last{&again};
      Route(last, Batch(300, 200));
      again.AdvanceTime(S(2), &out);
      CHECK(Sorted(out) == Sorted(ref_out));
    }
  }
}

TEST_CASE("key groups of a partition-key GROUP BY follow the Kinesis hash key") {
  // Group g of K covers hash keys [g × 2^128 / K, (g + 1) × 2^128 / K).
  CHECK(KeyGroupOfHashKey(0, 128) == 0);
  CHECK(KeyGroupOfHashKey(~static_cast<HashKey>(0), 128) == 127);
  CHECK(KeyGroupOfHashKey(static_cast<HashKey>(1) << 127, 128) == 64);
  CHECK(KeyGroupOfHashKey((static_cast<HashKey>(1) << 127) - 1, 128) == 63);
  CHECK(KeyGroupOfHashKey(static_cast<HashKey>(5) << 125, 128) == 80);
  CHECK(KeyGroupOfHashKey(static_cast<HashKey>(12345) << 64, 1) == 0);
  // So CreateStream's 4 even shards hold groups 0–31, 32–63, 64–95 and 96–127: with 2 workers,
  // shards 0 and 1 are worker 0's groups.
  for (uint32_t g = 0; g < 128; ++g) CHECK(KeyGroupOwner(g, 128, 2) == (g < 64 ? 0 : 1));
  // A TEXT key by its MD5 (known vector: MD5("") = d41d8cd98f00b204e9800998ecf8427e, so 0xd4 >> 1 = 106);
  // BIGINT by its decimal text.
  CHECK(KeyGroupOfPartitionKey(Value::Text(""), 128) == 0xd4 >> 1);
  CHECK(KeyGroupOfPartitionKey(Value::Null(), 128) == 0xd4 >> 1);
  CHECK(KeyGroupOfPartitionKey(Value::Int(42), 128) == KeyGroupOfPartitionKey(Value::Text("42"), 128));
  CHECK(KeyGroupOfPartitionKey(Value::Text("Shadowfax"), 128) == KeyGroupOfHashKey(HashPartitionKey("Shadowfax"), 128));
  CHECK(KeyGroupOfPartitionKey(Value::Text("Shadowfax"), 1) == 0);
}

TEST_CASE("PartitionKeyGroupKey finds a plain GROUP BY reference to the source's partition key") {
  SourceDef src;
  src.partition_key_column = 1;
  QueryDef q;
  q.window.kind = WindowKind::kTumble;
  Expr a, b;
  a.op = b.op = ExprOp::kColumn;
  a.column = 0;
  b.column = 1;
  q.group_keys = {a, b};
  CHECK(PartitionKeyGroupKey(src, q) == 1);
  q.group_keys = {a};
  CHECK(PartitionKeyGroupKey(src, q) == -1);  // not grouped by it
  q.group_keys = {b};
  q.window.kind = WindowKind::kNone;
  CHECK(PartitionKeyGroupKey(src, q) == -1);  // no keyed window state
  q.window.kind = WindowKind::kSession;
  CHECK(PartitionKeyGroupKey(src, q) == 0);
  src.partition_key_column = -1;
  CHECK(PartitionKeyGroupKey(src, q) == -1);  // none declared
}

TEST_CASE("PartitionKeyGroups gives KeyGroupOfPartitionKey's groups, cached or not") {
  PartitionKeyGroups cache(128);
  // 5,000 distinct keys, twice over: every slot is replaced many times, and repeats hit.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 5000; ++i) {
      const Value text = Value::Text("unicorn-" + std::to_string(i * 7919 % 5000) + std::string(i % 3 ? 0 : 20, 'x'));
      CHECK(cache.Of(text) == KeyGroupOfPartitionKey(text, 128));
      CHECK(cache.Of(Value::Int(i)) == KeyGroupOfPartitionKey(Value::Int(i), 128));
    }
  }
  CHECK(cache.Of(Value::Null()) == KeyGroupOfPartitionKey(Value::Null(), 128));
  PartitionKeyGroups one(1);
  CHECK(one.Of(Value::Text("a")) == 0);
}
