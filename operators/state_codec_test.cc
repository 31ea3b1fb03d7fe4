#include "operators/state_codec.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>

#include "core/memory_state_store.h"
#include "operators/session_window_aggregate.h"
#include "operators/state_run.h"
#include "operators/window_aggregate.h"

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

// Input: key TEXT, ts TIMESTAMPTZ, x FLOAT8, n BIGINT. One aggregate of every kind.
QueryDef AllAggregates(WindowDef window) {
  QueryDef q;
  q.window = window;
  q.group_keys.push_back(Col(0, DataType::kText));
  auto agg = [&](AggKind k, int col, DataType in, DataType out, double param = 0) {
    AggregateDef a;
    a.kind = k;
    if (col >= 0) a.arg = Col(col, in);
    a.result_type = out;
    a.param = param;
    q.aggregates.push_back(a);
  };
  agg(AggKind::kCountStar, -1, DataType::kNull, DataType::kInt64);
  agg(AggKind::kSum, 3, DataType::kInt64, DataType::kInt64);
  agg(AggKind::kSum, 2, DataType::kFloat64, DataType::kFloat64);
  agg(AggKind::kMin, 2, DataType::kFloat64, DataType::kFloat64);
  agg(AggKind::kMax, 0, DataType::kText, DataType::kText);
  agg(AggKind::kAvg, 3, DataType::kInt64, DataType::kFloat64);
  agg(AggKind::kCountDistinct, 3, DataType::kInt64, DataType::kInt64);
  agg(AggKind::kStddevSamp, 2, DataType::kFloat64, DataType::kFloat64);
  agg(AggKind::kFirstValue, 3, DataType::kInt64, DataType::kInt64);
  agg(AggKind::kLastValue, 2, DataType::kFloat64, DataType::kFloat64);
  agg(AggKind::kApproxCountDistinct, 3, DataType::kInt64, DataType::kInt64);
  agg(AggKind::kApproxPercentile, 2, DataType::kFloat64, DataType::kFloat64, 0.9);
  using K = OutputColumn::Kind;
  q.outputs = {{"key", K::kGroupKey, 0, DataType::kText},
               {"window_start", K::kWindowStart, -1, DataType::kTimestamp},
               {"window_end", K::kWindowEnd, -1, DataType::kTimestamp}};
  for (size_t i = 0; i < q.aggregates.size(); ++i)
    q.outputs.push_back({"a" + std::to_string(i), K::kAggregate, static_cast<int>(i), q.aggregates[i].result_type});
  return q;
}

struct Event {
  Row row;
  EventTime t;
};

std::vector<Event> RandomEvents(uint64_t seed, size_t n, uint64_t keys = 7) {
  std::mt19937_64 rng(seed);
  std::vector<Event> out;
  int64_t clock = 1'000'000'000;
  for (size_t i = 0; i < n; ++i) {
    clock += static_cast<int64_t>(rng() % 400'000);
    // 10% out of order by up to 20 s, 2% far behind (late).
    int64_t t = clock;
    if (rng() % 10 == 0) t -= static_cast<int64_t>(rng() % 20'000'000);
    if (rng() % 50 == 0) t -= 120'000'000;
    Row r{Value::Text("k" + std::to_string(rng() % keys)), Value::Time(EventTime{t}),
          rng() % 9 == 0 ? Value::Null() : Value::Float(static_cast<double>(rng() % 1000) / 7.0),
          Value::Int(static_cast<int64_t>(rng() % 500))};
    out.push_back({std::move(r), EventTime{t}});
  }
  return out;
}

std::string RowText(const Row& r) {
  std::string s;
  for (const Value& v : r) s += v.ToString() + ",";
  return s;
}

// Runs `events` through operator Op in steps of 37 rows, advancing the watermark to
// max(t) - 5 s after each step; returns the output rows of each step. With crash_after >= 0 it
// checkpoints after every step into a store and, after step crash_after, replaces the operator
// with a fresh one restored from the store.
// With cache > 0 the operator keeps at most about `cache` groups (sessions) in memory and spills
// the rest to the store (it then checkpoints every step even without a crash); `stats`, when
// given, receives the spill counters of every operator of the run.
struct SpillStats {
  uint64_t evictions = 0, reads = 0;
  size_t max_groups_after_checkpoint = 0;
};
template <typename Op>
std::vector<std::vector<std::string>> Run(const QueryDef& q, const std::vector<Event>& events, int crash_after,
                                          size_t cache = 0, SpillStats* stats = nullptr, bool lazy = false) {
  WindowOptions options;
  options.allowed_lateness = std::chrono::seconds(30);
  MemoryStateStore store;
  auto make = [&] {
    auto op = std::make_unique<Op>(q, options);
    if (cache > 0) op->EnableSpill(&store, "state.q", cache);
    return op;
  };
  auto op = make();
  std::string scalars;
  std::vector<std::vector<std::string>> steps;
  EventTime max_t = EventTime::Min();
  int step = 0;
  for (size_t i = 0; i < events.size(); i += 37, ++step) {
    for (size_t j = i; j < std::min(events.size(), i + 37); ++j) {
      op->Add(events[j].row, events[j].t);
      max_t = std::max(max_t, events[j].t);
    }
    std::vector<Row> out;
    op->AdvanceWatermark(max_t - std::chrono::seconds(5), &out);
    std::vector<std::string> texts;
    for (const Row& r : out) texts.push_back(RowText(r));
    std::sort(texts.begin(), texts.end());  // order within one step is not part of the contract
    steps.push_back(std::move(texts));
    if (crash_after < 0 && cache == 0) continue;
    StoreBatch batch;
    op->CheckpointDelta("state.q", &batch);
    if (cache > 0) {
      REQUIRE(op->spill_status().ok());
      if (stats != nullptr) {
        stats->max_groups_after_checkpoint = std::max(stats->max_groups_after_checkpoint, op->open_groups());
      }
    }
    scalars.clear();
    StateWriter w(&scalars);
    op->AppendScalars(&w);
    batch.Put("meta", "scalars", scalars);
    REQUIRE(store.Commit(batch).ok());
    if (step == crash_after) {
      if (stats != nullptr) {
        stats->reads += op->spill_reads();
        stats->evictions += op->evictions();
      }
      op = make();
      auto saved = store.Get("meta", "scalars");
      REQUIRE(saved.ok());
      StateReader r(*saved);
      REQUIRE(op->RestoreScalars(&r));
      if (lazy) {
        REQUIRE(op->RestoreLazily().ok());
        CHECK(op->open_groups() == 0);  // nothing loaded
        continue;
      }
      REQUIRE(store
                  .Scan("state.q", "",
                        [&](std::string_view k, std::string_view v, bool*) {
                          if constexpr (std::is_same_v<Op, WindowAggregate>) return op->RestoreGroup(k, v);
                          else return op->RestoreKey(k, v);
                        })
                  .ok());
      op->FinishRestore();
    }
  }
  if (stats != nullptr) {
    stats->reads += op->spill_reads();
    stats->evictions += op->evictions();
  }
  REQUIRE(op->spill_status().ok());
  return steps;
}

// A store whose reads fail once `fail` is set; commits still succeed.
struct FailingStore final : StateStore {
  MemoryStateStore inner;
  bool fail = false;
  Status Commit(const StoreBatch& b) override { return inner.Commit(b); }
  Result<std::string> Get(std::string_view space, std::string_view key) override {
    if (fail) return Status::IOError("disk gone");
    return inner.Get(space, key);
  }
  Status Scan(std::string_view space, std::string_view prefix,
              const std::function<Status(std::string_view, std::string_view, bool*)>& fn) override {
    if (fail) return Status::IOError("disk gone");
    return inner.Scan(space, prefix, fn);
  }
};

}  // namespace

TEST_CASE("state codec: accumulators of every kind round-trip, and truncated input is refused") {
  QueryDef q = AllAggregates({WindowKind::kTumble, 1, std::chrono::seconds(10), std::chrono::seconds(10)});
  std::vector<Accumulator> accs(q.aggregates.size());
  std::string scratch;
  for (const Event& e : RandomEvents(7, 3000)) AccumulateRow(q, e.row, InputOrder{e.t.micros, 1}, &accs, &scratch);
  std::string bytes;
  StateWriter w(&bytes);
  w.PutVarint(accs.size());
  for (const Accumulator& a : accs) w.PutAccumulator(a);

  StateReader r(bytes);
  uint64_t n;
  REQUIRE(r.GetVarint(&n));
  REQUIRE(n == accs.size());
  for (size_t i = 0; i < n; ++i) {
    Accumulator back;
    REQUIRE(r.GetAccumulator(&back));
    CHECK(Finalize(q.aggregates[i], back).ToString() == Finalize(q.aggregates[i], accs[i]).ToString());
  }
  CHECK(r.done());

  // Every strict prefix fails somewhere; random corruption never crashes (ASan checks reads).
  for (size_t cut = 0; cut < bytes.size(); cut += 1 + cut / 64) {
    StateReader t(std::string_view(bytes).substr(0, cut));
    bool ok = t.GetVarint(&n);
    for (size_t i = 0; ok && i < n; ++i) {
      Accumulator a;
      ok = t.GetAccumulator(&a);
    }
    CHECK_FALSE((ok && t.done()));
  }
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = bytes;
    for (int k = 0; k < 4; ++k) bad[rng() % bad.size()] = static_cast<char>(rng());
    StateReader t(bad);
    bool ok = t.GetVarint(&n);
    for (size_t i = 0; ok && i < n && i < 64; ++i) {
      Accumulator a;
      ok = t.GetAccumulator(&a);
    }
  }
}

TEST_CASE("state codec: ordered int64 keys sort numerically") {
  std::vector<int64_t> xs = {INT64_MIN, -5, -1, 0, 1, 1000, INT64_MAX};
  for (size_t i = 0; i + 1 < xs.size(); ++i) {
    std::string a, b;
    PutOrderedInt64(xs[i], &a);
    PutOrderedInt64(xs[i + 1], &b);
    CHECK(a < b);
    CHECK(GetOrderedInt64(a) == xs[i]);
  }
}

TEST_CASE("hopping window: restoring any checkpoint gives the output of an uninterrupted run") {
  QueryDef q = AllAggregates({WindowKind::kHop, 1, std::chrono::seconds(10), std::chrono::seconds(4)});
  auto events = RandomEvents(11, 4000);
  auto reference = Run<WindowAggregate>(q, events, -1);
  size_t rows = 0;
  for (auto& s : reference) rows += s.size();
  REQUIRE(rows > 100);
  for (int crash : {0, 3, 17, 50, 99}) {
    CAPTURE(crash);
    CHECK(Run<WindowAggregate>(q, events, crash) == reference);
  }
}

TEST_CASE("session window: restoring any checkpoint gives the output of an uninterrupted run") {
  QueryDef q = AllAggregates({WindowKind::kSession, 1, {}, {}, std::chrono::seconds(2)});
  auto events = RandomEvents(13, 4000);
  auto reference = Run<SessionWindowAggregate>(q, events, -1);
  size_t rows = 0;
  for (auto& s : reference) rows += s.size();
  REQUIRE(rows > 100);
  for (int crash : {0, 5, 21, 60, 99}) {
    CAPTURE(crash);
    CHECK(Run<SessionWindowAggregate>(q, events, crash) == reference);
  }
}

TEST_CASE("bounded state cache: spilling window state to the store changes no result") {
  for (WindowDef window : {WindowDef{WindowKind::kHop, 1, std::chrono::seconds(10), std::chrono::seconds(4)},
                           WindowDef{WindowKind::kTumble, 1, std::chrono::seconds(6)}}) {
    QueryDef q = AllAggregates(window);
    auto events = RandomEvents(17, 4000);
    auto reference = Run<WindowAggregate>(q, events, -1);
    size_t rows = 0;
    for (auto& s : reference) rows += s.size();
    REQUIRE(rows > 100);
    for (size_t cache : {1, 4, 12}) {
      for (int crash : {-1, 9, 60, 160}) {
        for (bool lazy : {false, true}) {
          if (crash < 0 && lazy) continue;
          CAPTURE(static_cast<int>(window.kind));
          CAPTURE(cache);
          CAPTURE(crash);
          CAPTURE(lazy);
          SpillStats stats;
          CHECK(Run<WindowAggregate>(q, events, crash, cache, &stats, lazy) == reference);
          // The paths under test ran: groups were evicted, and read back by later rows.
          CHECK(stats.evictions > 0);
          CHECK(stats.reads > 0);
          // After a checkpoint, memory holds the bound plus at most the groups of one step (37 rows).
          CHECK(stats.max_groups_after_checkpoint <= cache + 37);
        }
      }
    }
  }
}

TEST_CASE("bounded state cache: a failing store read is reported, not ignored") {
  // A store whose reads fail: the operator must surface the error (the runner then restarts).
  QueryDef q = AllAggregates({WindowKind::kTumble, 1, std::chrono::seconds(60)});
  FailingStore store;
  WindowAggregate w(q);
  w.EnableSpill(&store, "state.q", 1);
  auto add = [&](const char* key, int64_t sec) {
    return w.Add({Value::Text(key), Value::Time(EventTime{sec * 1000000}), Value::Float(1), Value::Int(1)},
                 EventTime{sec * 1000000});
  };
  for (const char* k : {"a", "b", "c"}) add(k, 1);
  for (int i = 0; i < 2; ++i) {  // the second checkpoint evicts what the first wrote
    StoreBatch b;
    w.CheckpointDelta("state.q", &b);
    REQUIRE(store.Commit(b).ok());
  }
  CHECK(w.spilled_groups() >= 2);
  CHECK(w.spill_status().ok());
  store.fail = true;
  add("d", 2);  // a key not in memory in a pane with spilled groups: a store read
  CHECK(w.spill_status().code() == StatusCode::kIOError);
}

TEST_CASE("bounded state cache: a lazy restore loads no group, finds every pane, and fires the same rows") {
  QueryDef q = AllAggregates({WindowKind::kHop, 1, std::chrono::seconds(10), std::chrono::seconds(4)});
  MemoryStateStore store;
  WindowAggregate w(q);
  w.EnableSpill(&store, "state.q", 1000);
  auto row = [](int key, int64_t sec) {
    return Row{Value::Text("k" + std::to_string(key)), Value::Time(EventTime{sec * 1000000}),
               Value::Float(static_cast<double>(key)), Value::Int(sec)};
  };
  for (int64_t sec = 100; sec < 130; ++sec) {
    for (int k = 0; k < 5; ++k) REQUIRE(w.Add(row(k, sec), EventTime{sec * 1000000}) == AddResult::kAccepted);
  }
  std::vector<Row> out;
  w.AdvanceWatermark(EventTime{112 * 1000000}, &out);
  StoreBatch b;
  w.CheckpointDelta("state.q", &b);
  std::string scalars;
  StateWriter sw(&scalars);
  w.AppendScalars(&sw);
  REQUIRE(store.Commit(b).ok());

  WindowAggregate lazy(q);
  lazy.EnableSpill(&store, "state.q", 1000);
  StateReader sr(scalars);
  REQUIRE(lazy.RestoreScalars(&sr));
  REQUIRE(lazy.RestoreLazily().ok());
  CHECK(lazy.open_groups() == 0);  // nothing loaded
  CHECK(lazy.open_panes() == w.open_panes());
  CHECK(lazy.open_windows() == w.open_windows());
  // One more row for a key, then everything fires: the same rows as the operator that never stopped.
  for (WindowAggregate* op : {&w, &lazy}) REQUIRE(op->Add(row(2, 125), EventTime{125 * 1000000}) == AddResult::kAccepted);
  CHECK(lazy.spill_reads() == 1);
  std::vector<Row> a, c;
  w.FlushAll(&a);
  lazy.FlushAll(&c);
  REQUIRE(a.size() > 10);
  std::vector<std::string> ta, tc;
  for (const Row& r : a) ta.push_back(RowText(r));
  for (const Row& r : c) tc.push_back(RowText(r));
  std::sort(ta.begin(), ta.end());
  std::sort(tc.begin(), tc.end());
  CHECK(ta == tc);
  CHECK(lazy.spill_status().ok());
}

TEST_CASE("bounded state cache, SESSION: evicting keys and reading them back changes no result") {
  // Dense: 60 keys, a row per key every ~12 s, gap 2 s: most keys are touched (a row, a firing or
  // a purge) between two checkpoints, so keys go out and come back all the time.
  // Sparse: 2,000 keys, gap 60 s: most open sessions sit idle until they fire, and stay evicted.
  struct Workload {
    const char* name;
    uint64_t keys;
    int gap_seconds;
  };
  for (Workload wl : {Workload{"dense", 60, 2}, Workload{"sparse", 2000, 60}}) {
    QueryDef q = AllAggregates({WindowKind::kSession, 1, {}, {}, std::chrono::seconds(wl.gap_seconds)});
    auto events = RandomEvents(19, 4000, wl.keys);
    auto reference = Run<SessionWindowAggregate>(q, events, -1);
    size_t rows = 0;
    for (auto& s : reference) rows += s.size();
    REQUIRE(rows > 300);
    SpillStats all_in_memory;  // a cache that never fills: the memory the run needs without one
    CHECK(Run<SessionWindowAggregate>(q, events, -1, size_t{1} << 40, &all_in_memory) == reference);
    CHECK(all_in_memory.evictions == 0);
    const std::string name = wl.name;
    for (size_t cache : {1, 8, 40}) {
      for (int crash : {-1, 9, 60, 100}) {
        for (bool lazy : {false, true}) {
          if (crash < 0 && lazy) continue;
          CAPTURE(name);
          CAPTURE(cache);
          CAPTURE(crash);
          CAPTURE(lazy);
          SpillStats stats;
          CHECK(Run<SessionWindowAggregate>(q, events, crash, cache, &stats, lazy) == reference);
          // Keys were evicted and read back (by later rows, or by their timers falling due).
          CHECK(stats.evictions > 0);
          CHECK(stats.reads > 0);
          if (name == "sparse" && crash < 0) {
            // After each checkpoint memory holds the bound plus the keys touched since the
            // previous one (37 rows; about as many firings and purges). Without the cache the
            // same run holds every live session (gap + delay + lateness = 95 s of event time).
            MESSAGE("sparse, cache " << cache << ": at most " << stats.max_groups_after_checkpoint
                                     << " sessions in memory after a checkpoint; without a cache "
                                     << all_in_memory.max_groups_after_checkpoint);
            CHECK(stats.max_groups_after_checkpoint <= cache + 3 * 37);
            CHECK(stats.max_groups_after_checkpoint * 3 < all_in_memory.max_groups_after_checkpoint);
          }
        }
      }
    }
  }
}

TEST_CASE("bounded state cache, SESSION: timers of evicted keys fire; purged keys are not read back") {
  QueryDef q = AllAggregates({WindowKind::kSession, 1, {}, {}, std::chrono::seconds(10)});
  MemoryStateStore store;
  SessionWindowAggregate w(q);
  w.EnableSpill(&store, "state.q", 1);
  auto add = [&](const std::string& key, int64_t sec) {
    return w.Add({Value::Text(key), Value::Time(EventTime{sec * 1000000}), Value::Float(1), Value::Int(sec)},
                 EventTime{sec * 1000000});
  };
  auto checkpoint = [&] {
    StoreBatch b;
    w.CheckpointDelta("state.q", &b);
    REQUIRE(store.Commit(b).ok());
  };
  for (int k = 0; k < 20; ++k) add("k" + std::to_string(k), 100 + k);  // sessions end at 110..129
  checkpoint();  // writes all 20 keys and their timer index entries
  checkpoint();  // they are committed and untouched: evicted down to the bound
  CHECK(w.open_groups() <= 1);
  CHECK(w.evictions() >= 19);
  CHECK(w.spilled_groups() >= 19);
  CHECK(w.open_windows() <= 1);  // evicted keys' timers are not in memory either
  // The watermark passes half of the sessions' ends: exactly those are read back and fire.
  std::vector<Row> out;
  w.AdvanceWatermark(EventTime{119 * 1000000}, &out);
  CHECK(out.size() == 10);  // ends 110..119
  CHECK(w.spill_status().ok());
  // The rest fire later, once each.
  out.clear();
  w.AdvanceWatermark(EventTime{200 * 1000000}, &out);
  CHECK(out.size() == 10);
  // Fired and purged (lateness 0): the store still holds them until the next checkpoints commit;
  // a new row for such a key must start a fresh session, not revive the purged one.
  const uint64_t reads = w.spill_reads();
  REQUIRE(add("k3", 300) == AddResult::kAccepted);
  CHECK(w.spill_reads() == reads);
  out.clear();
  w.AdvanceWatermark(EventTime{400 * 1000000}, &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0][3].as_int() == 1);  // count(*): the new row only
  checkpoint();
  checkpoint();
  // Everything fired and purged: the store holds no key and no timer index entry.
  size_t left = 0;
  REQUIRE(store.Scan("state.q", "", [&](std::string_view, std::string_view, bool*) {
    ++left;
    return Status::OK();
  }).ok());
  CHECK(left == 0);
}

TEST_CASE("bounded state cache, SESSION: a failing store read is reported, not ignored") {
  QueryDef q = AllAggregates({WindowKind::kSession, 1, {}, {}, std::chrono::seconds(10)});
  FailingStore store;
  SessionWindowAggregate w(q);
  w.EnableSpill(&store, "state.q", 1);
  for (const char* k : {"a", "b", "c"}) {
    w.Add({Value::Text(k), Value::Time(EventTime{1000000}), Value::Float(1), Value::Int(1)}, EventTime{1000000});
  }
  for (int i = 0; i < 2; ++i) {
    StoreBatch b;
    w.CheckpointDelta("state.q", &b);
    REQUIRE(store.Commit(b).ok());
  }
  CHECK(w.spilled_groups() >= 2);
  store.fail = true;
  w.Add({Value::Text("d"), Value::Time(EventTime{2000000}), Value::Float(1), Value::Int(1)}, EventTime{2000000});
  CHECK(w.spill_status().code() == StatusCode::kIOError);
}

TEST_CASE("bounded state cache, SESSION: state written before the timer index still fires after a restore") {
  // A store as an earlier version left it: session keys, no 'e' timer index entries.
  QueryDef q = AllAggregates({WindowKind::kSession, 1, {}, {}, std::chrono::seconds(10)});
  for (bool lazy : {false, true}) {
    CAPTURE(lazy);
    MemoryStateStore store;
    std::string scalars;
    {
      SessionWindowAggregate w(q);
      for (int k = 0; k < 20; ++k) {
        w.Add({Value::Text("k" + std::to_string(k)), Value::Time(EventTime{(100 + k) * 1000000LL}), Value::Float(1),
               Value::Int(k)},
              EventTime{(100 + k) * 1000000LL});
      }
      StoreBatch b;
      w.CheckpointDelta("state.q", &b);
      StateWriter sw(&scalars);
      w.AppendScalars(&sw);
      REQUIRE(store.Commit(b).ok());
      StoreBatch drop;
      drop.DeleteRange("state.q", "e", "f");  // drop the index, as old state had none
      REQUIRE(store.Commit(drop).ok());
    }
    SessionWindowAggregate r(q);
    r.EnableSpill(&store, "state.q", 1);
    StateReader sr(scalars);
    REQUIRE(r.RestoreScalars(&sr));
    if (lazy) {
      REQUIRE(r.RestoreLazily().ok());  // no index: loads eagerly
    } else {
      REQUIRE(store.Scan("state.q", "", [&](std::string_view k, std::string_view v, bool*) { return r.RestoreKey(k, v); }).ok());
      r.FinishRestore();
    }
    CHECK(r.open_groups() == 20);
    for (int i = 0; i < 3; ++i) {  // index the keys, then evict all but one
      StoreBatch b;
      r.CheckpointDelta("state.q", &b);
      REQUIRE(store.Commit(b).ok());
    }
    CHECK(r.evictions() >= 19);
    std::vector<Row> out;
    r.AdvanceWatermark(EventTime{500 * 1000000LL}, &out);
    CHECK(out.size() == 20);  // every session fires, evicted or not
    CHECK(r.spill_status().ok());
  }
}

TEST_CASE("state run: sorted once, a put beats a delete and the later op wins, parts are disjoint key ranges") {
  // Ops on 5,000 keys in random order, with repeats, enough to take the two-thread sort.
  StateRun run('e', /*with_order=*/true);
  std::map<std::string, std::pair<bool, std::string>> want;  // full key -> (put?, value)
  std::mt19937 rng(7);
  for (int i = 0; i < 100'000; ++i) {
    const int64_t order = static_cast<int64_t>(rng() % 5) - 2;  // negative orders sort first
    const std::string key = "k" + std::to_string(rng() % 1000);
    std::string full = "e";
    PutOrderedInt64(order, &full);
    full += key;
    auto [it, fresh] = want.try_emplace(full, false, "");
    if (rng() % 4 == 0) {
      run.Delete(order, key);
    } else {
      const std::string value = "v" + std::to_string(i);
      run.Put(order, key, value);
      it->second = {true, value};  // the later put wins, and any put beats any delete
    }
  }
  std::vector<std::tuple<StoreBatch::OpKind, std::string, std::string>> all;
  run.ForEach([&](StoreBatch::OpKind kind, std::string_view k, std::string_view v) { all.emplace_back(kind, k, v); });
  REQUIRE(all.size() == want.size());
  size_t i = 0;
  for (const auto& [full, op] : want) {
    const auto& [kind, k, v] = all[i++];
    CHECK(k == full);
    CHECK(kind == (op.first ? StoreBatch::OpKind::kPut : StoreBatch::OpKind::kDelete));
    if (op.first) CHECK(v == op.second);
  }
  // Each key's ops sit together, so splitting the records by count may cut a key's ops: the
  // part that holds the last of them writes the key. The parts, in order, are ForEach().
  for (size_t parts : {size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
    std::vector<std::tuple<StoreBatch::OpKind, std::string, std::string>> joined;
    for (size_t p = 0; p < parts; ++p) {
      run.ForEachInPart(p, parts, [&](StoreBatch::OpKind kind, std::string_view k, std::string_view v) {
        joined.emplace_back(kind, k, v);
      });
    }
    CHECK(joined == all);
  }
}
