#include "runtime/engine.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "core/memory_state_store.h"
#include "runtime/checkpoint_record.h"
#include "sql/planner.h"

using namespace sluice;
using namespace sluice::runtime;

namespace {

// An in-memory source: each split is a vector of "key,event_ms,value" records.
struct MemorySplit final : SourceSplit {
  std::string id_;
  std::optional<HashKeyRange> range;  // set: the split says it is this hash-key range
  const std::vector<std::string>* data;
  size_t* visible;  // records readable so far (shared by all splits)
  uint64_t next = 1;
  const std::string& id() const override { return id_; }
  std::optional<HashKeyRange> hash_key_range() const override { return range; }
  Status Seek(uint64_t position) override {
    next = std::max<uint64_t>(position, 1);
    return Status::OK();
  }
  Status Read(size_t max_records, std::vector<SourceRecord>* out) override {
    out->clear();
    while (out->size() < max_records && next <= std::min(data->size(), *visible)) {
      out->push_back({next, 0, {}, (*data)[next - 1]});
      ++next;
    }
    return Status::OK();
  }
};

struct MemorySource final : Source {
  std::vector<std::vector<std::string>> splits;
  std::vector<HashKeyRange> ranges;  // when set, one per split (hash_key_range())
  size_t visible = 0;
  std::vector<std::unique_ptr<SourceSplit>> OpenSplits() override {
    std::vector<std::unique_ptr<SourceSplit>> out;
    for (size_t i = 0; i < splits.size(); ++i) {
      auto s = std::make_unique<MemorySplit>();
      s->id_ = "split-" + std::to_string(i);
      s->data = &splits[i];
      s->visible = &visible;
      if (i < ranges.size()) s->range = ranges[i];
      out.push_back(std::move(s));
    }
    return out;
  }
  uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return seen + 1;
  }
};

// The engine owns its sources; this one forwards to a test's MemorySource.
struct BorrowedSource final : Source {
  Source* inner;
  explicit BorrowedSource(Source* s) : inner(s) {}
  std::vector<std::unique_ptr<SourceSplit>> OpenSplits() override { return inner->OpenSplits(); }
  uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds t) override { return inner->WaitForData(seen, t); }
};

// Decodes "key,event_ms,value" into (k TEXT, ts TIMESTAMPTZ, v BIGINT); counts what it decoded.
struct CsvDecoder final : RowDecoder {
  std::atomic<size_t>* decoded = nullptr;  // shared by the workers' decoders
  void DecodeBatch(const std::vector<SourceRecord>& in, std::vector<Row>* rows, std::vector<size_t>* index,
                   std::vector<DecodeError>* errors) override {
    rows->clear();
    index->clear();
    errors->clear();
    if (decoded != nullptr) *decoded += in.size();
    for (size_t i = 0; i < in.size(); ++i) {
      std::string s(in[i].data);
      size_t a = s.find(','), b = s.rfind(',');
      rows->push_back({Value::Text(s.substr(0, a)), Value::Time(EventTime{std::stoll(s.substr(a + 1, b - a - 1)) * 1000}),
                       Value::Int(std::stoll(s.substr(b + 1)))});
      index->push_back(i);
    }
  }
};

// A KV-like sink: stages rows by (k, window_start) and commits them in the checkpoint to space
// "table.t" — what sinks/KvTableWriter does, without RocksDB.
struct TableSink final : Sink {
  std::string space = "table.t";
  bool key_all_columns = false;  // rows without a key (join output): the whole row is the key
  std::map<std::string, std::string> staged;
  Status Write(const std::vector<Row>& rows) override {
    for (const Row& r : rows) {
      std::string v;
      for (const Value& x : r) v += x.ToString() + ",";
      staged[key_all_columns ? v : r[0].ToString() + "|" + r[1].ToString()] = v;
    }
    return Status::OK();
  }
  Status Tick(EventTime) override { return Status::OK(); }
  Status Close() override { return Status::OK(); }
  bool WantsCheckpoint() const override { return !staged.empty(); }
  Status PrepareCheckpoint(uint64_t, StoreBatch* batch) override {
    for (auto& [k, v] : staged) batch->Put(space, k, v);
    staged.clear();
    return Status::OK();
  }
  Status Recover(StateStore*) override {
    staged.clear();
    return Status::OK();
  }
};

const char* kPipeline = R"(
CREATE TABLE s (k TEXT, ts TIMESTAMPTZ, v BIGINT)
  WITH (connector = 'stream', shards = 2, event_time = 'ts', watermark_delay = '1 second');
CREATE TABLE t () WITH (connector = 'kv', primary_key = 'k, window_start');
INSERT INTO t SELECT k, window_start, window_end, count(*) AS n, sum(v) AS total
FROM TUMBLE(s, ts, INTERVAL '10 seconds') GROUP BY k, window_start, window_end;
)";

std::map<std::string, std::string> Table(MemoryStateStore* store, const std::string& space = "table.t") {
  std::map<std::string, std::string> out;
  REQUIRE(store->Scan(space, "", [&](std::string_view k, std::string_view v, bool*) {
                 out.emplace(std::string(k), std::string(v));
                 return Status::OK();
               }).ok());
  return out;
}

// Runs the pipeline over source records [0, upto) of each split, then stops (final checkpoint).
// With `cache` set, the runner uses that state-cache bound, reads 16 records per split per
// step and checkpoints whenever it may (so a run has many checkpoints, and evictions), and
// `*cache_status` receives its final status (eviction and read-back counts).
struct CacheRun {
  size_t groups = 0;
  QueryStatus status;
};
// Each query's sink stages into space "table.<sink name>"; `decoded` (when set) adds the records
// the engine decoded; `workers` sets EngineOptions::workers.
struct RunExtras {
  std::atomic<size_t>* decoded = nullptr;
  int workers = 1;
  std::vector<QueryStatus>* statuses = nullptr;  // set: the statuses once caught up
};
void RunUntil(const Pipeline& p, MemorySource* src, size_t upto, MemoryStateStore* store, Status* start_status = nullptr,
              bool key_all_columns = false, CacheRun* cache = nullptr, RunExtras extras = {}) {
  src->visible = upto;
  char tmpl[] = "/tmp/sluice-runner-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  MetricsRegistry metrics;
  DeadLetterQueue dlq(dir, &metrics);
  std::vector<std::unique_ptr<TableSink>> sinks;
  EngineOptions o;
  o.workers = extras.workers;
  o.scan.poll_interval = std::chrono::milliseconds(5);
  if (cache != nullptr) {
    o.scan.state_cache_groups = cache->groups;
    o.scan.batch_records = 16;
    o.scan.min_checkpoint_pause = std::chrono::milliseconds(0);
  }
  EngineFactories f;
  f.source = [src](const SourceDef&) -> Result<std::unique_ptr<Source>> {
    return std::unique_ptr<Source>(std::make_unique<BorrowedSource>(src));
  };
  f.decoder = [&](const SourceDef&, const std::vector<bool>&) -> std::unique_ptr<RowDecoder> {
    auto d = std::make_unique<CsvDecoder>();
    d->decoded = extras.decoded;
    return d;
  };
  f.sink = [&](int qi) -> Result<Sink*> {
    auto s = std::make_unique<TableSink>();
    s->space = "table." + p.sinks[static_cast<size_t>(p.queries[static_cast<size_t>(qi)].sink)].name;
    s->key_all_columns = key_all_columns;
    sinks.push_back(std::move(s));
    return sinks.back().get();
  };
  {
    Engine engine(&p, store, &dlq, &metrics, f, o);
    Status st = engine.Start();
    if (start_status != nullptr) *start_status = st;
    if (!st.ok()) {
      std::filesystem::remove_all(dir);
      return;
    }
    auto caught_up = [&] {
      for (const QueryStatus& qs : engine.QueryStatuses()) {
        if (qs.splits.size() != src->splits.size()) return false;
        for (size_t i = 0; i < qs.splits.size(); ++i)
          if (qs.splits[i].next_position <= std::min(upto, src->splits[i].size())) return false;
      }
      return true;
    };
    for (int i = 0; i < 2000 && !caught_up(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(caught_up());
    CHECK(engine.Checkpoint(std::chrono::seconds(10)).ok());
    if (extras.statuses != nullptr) *extras.statuses = engine.QueryStatuses();
    if (cache != nullptr) {
      // The checkpoint above wrote every group touched since the one before; this one may evict
      // them all, since none has been touched since (the status shows it a step later).
      CHECK(engine.Checkpoint(std::chrono::seconds(10)).ok());
      for (int i = 0; i < 200; ++i) {
        cache->status = engine.QueryStatuses()[0];
        if (cache->status.state_groups <= cache->groups) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    engine.Stop();
    for (const QueryStatus& qs : engine.QueryStatuses()) CHECK(qs.state == "stopped");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace

TEST_CASE("engine: stopping and restarting from checkpoints gives an uninterrupted run's table") {
  auto p = sql::PlanPipeline(kPipeline);
  REQUIRE(p.ok());
  MemorySource src;
  src.splits.resize(2);
  for (int i = 0; i < 3000; ++i) {
    // In order but for 1 in 13 that is 500 ms behind (within the 1 s watermark delay), and past
    // the first 1024 records of each split (one step of the uninterrupted run) 1 in 37 that is five
    // minutes behind: late however the steps fall. (Lateness depends on the watermark at the step
    // a record is read in, so data near the boundary would make any two runs differ.)
    int64_t ms = 1'000'000 + i * 97 - (i % 13 == 0 ? 500 : 0);
    if (i > 2100 && i % 37 == 0) ms -= 300'000;
    src.splits[static_cast<size_t>(i % 2)].push_back("k" + std::to_string(i % 5) + "," + std::to_string(ms) + "," +
                                                     std::to_string(i));
  }
  MemoryStateStore reference;
  RunUntil(*p, &src, 1500, &reference);
  auto expected = Table(&reference);
  REQUIRE(expected.size() > 100);

  MemoryStateStore store;
  for (size_t upto : {100, 101, 377, 900, 1499, 1500}) RunUntil(*p, &src, upto, &store);
  CHECK(Table(&store) == expected);

  // Two workers (key groups exchanged between them), and restarts that change the worker count
  // (key groups move between workers), give the same table.
  MemoryStateStore two;
  RunUntil(*p, &src, 1500, &two, nullptr, false, nullptr, {.workers = 2});
  CHECK(Table(&two) == expected);
  MemoryStateStore mixed;
  int workers = 1;
  for (size_t upto : {100, 377, 900, 1499, 1500}) {
    RunUntil(*p, &src, upto, &mixed, nullptr, false, nullptr, {.workers = workers});
    workers = 3 - workers;
  }
  CHECK(Table(&mixed) == expected);

  // The record carries positions and a CRC; the state space holds the open windows.
  auto rec = store.Get("sluice.meta", SourceScan::RecordKey(p->queries[0].name));
  REQUIRE(rec.ok());
  auto decoded = DecodeCheckpointRecord(*rec);
  REQUIRE(decoded.ok());
  REQUIRE(decoded->splits.size() == 2);
  CHECK(decoded->splits[0].next_position == 1501);
  CHECK(store.size("state." + p->queries[0].name) > 0);

  // A changed window cannot use this state: refused with both descriptions.
  std::string changed = kPipeline;
  changed.replace(changed.find("'10 seconds'"), 12, "'20 seconds'");
  auto p2 = sql::PlanPipeline(changed);
  REQUIRE(p2.ok());
  Status st;
  RunUntil(*p2, &src, 1500, &store, &st);
  CHECK(st.code() == StatusCode::kInvalidArgument);
  CHECK(st.message().find("TUMBLE(10s)") != std::string::npos);
  CHECK(st.message().find("TUMBLE(20s)") != std::string::npos);

  // A corrupt record is reported, never used.
  StoreBatch b;
  std::string bad = *rec;
  bad[bad.size() / 2] ^= 1;
  b.Put("sluice.meta", SourceScan::RecordKey(p->queries[0].name), bad);
  REQUIRE(store.Commit(b).ok());
  RunUntil(*p, &src, 1500, &store, &st);
  CHECK(st.code() == StatusCode::kCorruption);
}

TEST_CASE("engine: a query grouped by the partition key keeps rows on the worker that read their shard") {
  // Four shards with CreateStream's even ranges; each key's records in the shard its MD5 picks,
  // as the log routes them when the producer uses k as the partition key.
  auto p = sql::PlanPipeline(std::string(kPipeline).replace(std::string(kPipeline).find("shards = 2"), 10,
                                                            "shards = 4, partition_key = 'k'"));
  REQUIRE(p.ok());
  MemorySource routed, misrouted;
  for (MemorySource* m : {&routed, &misrouted}) {
    m->splits.resize(4);
    for (int i = 0; i < 4; ++i) {
      const HashKey start = static_cast<HashKey>(i) << 126;
      m->ranges.push_back({start, start + ((static_cast<HashKey>(1) << 126) - 1)});
    }
  }
  for (int i = 0; i < 4000; ++i) {
    const std::string key = "k" + std::to_string(i % 23);
    const std::string rec = key + "," + std::to_string(1'000'000 + i * 29) + "," + std::to_string(i);
    routed.splits[static_cast<size_t>(HashPartitionKey(key) >> 126)].push_back(rec);
    misrouted.splits[static_cast<size_t>(i % 4)].push_back(rec);  // keys on every shard
  }
  MemoryStateStore reference;
  RunUntil(*p, &routed, 4000, &reference);
  auto expected = Table(&reference);
  REQUIRE(expected.size() > 100);

  std::vector<QueryStatus> st;
  MemoryStateStore two;
  RunUntil(*p, &routed, 4000, &two, nullptr, false, nullptr, {.workers = 2, .statuses = &st});
  CHECK(Table(&two) == expected);
  REQUIRE(st.size() == 1);
  CHECK(st[0].exchange == "partition key");
  CHECK(st[0].key_groups == 128);
  CHECK(st[0].rows_exchanged == 0);

  // With 3 workers the 4 shards' groups do not fall on the workers' ranges: some are shared, and
  // their rows are exchanged; the table is the same.
  MemoryStateStore three;
  RunUntil(*p, &routed, 4000, &three, nullptr, false, nullptr, {.workers = 3, .statuses = &st});
  CHECK(Table(&three) == expected);
  REQUIRE(st.size() == 1);
  CHECK(st[0].exchange == "key group");
  CHECK(st[0].rows_exchanged > 0);

  // Restarts that change the worker count move the key groups with their shards.
  MemoryStateStore mixed;
  int workers = 2;
  for (size_t upto : {120, 333, 700, 1200, 4000}) {
    RunUntil(*p, &routed, upto, &mixed, nullptr, false, nullptr, {.workers = workers});
    workers = 3 - workers;
  }
  CHECK(Table(&mixed) == expected);

  // State made before the source declared partition_key (groups by XXH3) keeps that placement
  // after it is added: the query resumes, and its rows are exchanged by key group.
  auto before = sql::PlanPipeline(std::string(kPipeline).replace(std::string(kPipeline).find("shards = 2"), 10, "shards = 4"));
  REQUIRE(before.ok());
  MemoryStateStore upgraded;
  RunUntil(*before, &routed, 450, &upgraded, nullptr, false, nullptr, {.workers = 2});
  RunUntil(*p, &routed, 4000, &upgraded, nullptr, false, nullptr, {.workers = 2, .statuses = &st});
  CHECK(Table(&upgraded) == expected);
  REQUIRE(st.size() == 1);
  CHECK(st[0].exchange == "key group");
  CHECK(st[0].rows_exchanged > 0);

  // Records whose partition key is not the column's value (a producer that keys otherwise): the
  // rows of other workers' groups still reach them, through the exchange.
  MemoryStateStore ref_mis, two_mis;
  RunUntil(*p, &misrouted, 4000, &ref_mis);
  RunUntil(*p, &misrouted, 4000, &two_mis, nullptr, false, nullptr, {.workers = 2, .statuses = &st});
  CHECK(Table(&two_mis) == Table(&ref_mis));
  REQUIRE(st.size() == 1);
  CHECK(st[0].rows_exchanged > 0);

  // Without the hash-key ranges (a Kafka topic), the rows are exchanged by key group.
  routed.ranges.clear();
  MemoryStateStore plain;
  RunUntil(*p, &routed, 4000, &plain, nullptr, false, nullptr, {.workers = 2, .statuses = &st});
  CHECK(Table(&plain) == expected);
  REQUIRE(st.size() == 1);
  CHECK(st[0].exchange == "key group");
}

TEST_CASE("a stage plan's state fingerprint does not depend on the source's partition_key") {
  // Stage plans keep one key group whatever their leaves group by, so declaring partition_key
  // must not make their checkpointed state unusable.
  std::string sql = R"(
CREATE TABLE s (k TEXT, ts TIMESTAMPTZ, v BIGINT)
  WITH (connector = 'stream', shards = 2, event_time = 'ts'OPTION);
CREATE TABLE t () WITH (connector = 'kv', primary_key = 'k');
INSERT INTO t
SELECT C.k, C.n, C.window_start
FROM (SELECT k, count(*) AS n, window_start, window_end FROM TUMBLE(s, ts, INTERVAL '10 seconds')
      GROUP BY k, window_start, window_end) AS C
JOIN (SELECT max(v) AS top, window_start, window_end FROM TUMBLE(s, ts, INTERVAL '10 seconds')
      GROUP BY window_start, window_end) AS M
ON C.window_start = M.window_start AND C.window_end = M.window_end;
)";
  std::string with = sql, without = sql;
  with.replace(with.find("OPTION"), 6, ", partition_key = 'k'");
  without.replace(without.find("OPTION"), 6, "");
  auto a = sql::PlanPipeline(with), b = sql::PlanPipeline(without);
  INFO(a.status().ToString());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(a->queries[0].stages != nullptr);
  CHECK(StateFingerprint(*a, a->queries[0]) == StateFingerprint(*b, b->queries[0]));
  CHECK(StateFingerprint(*a, a->queries[0]).find("partition key") == std::string::npos);
}

TEST_CASE("engine: a window join (Nexmark q7 shape) restarts from checkpoints like an uninterrupted run") {
  const char* pipeline = R"(
CREATE TABLE s (k TEXT, ts TIMESTAMPTZ, v BIGINT)
  WITH (connector = 'stream', shards = 2, event_time = 'ts', watermark_delay = '1 second');
CREATE TABLE t () WITH (connector = 'kv', primary_key = 'k');
INSERT INTO t
SELECT B.k, B.v, B.window_start
FROM (SELECT k, v, window_start, window_end FROM TUMBLE(s, ts, INTERVAL '10 seconds')) AS B
JOIN (SELECT max(v) AS top, window_start, window_end FROM TUMBLE(s, ts, INTERVAL '10 seconds')
      GROUP BY window_start, window_end) AS M
ON B.window_start = M.window_start AND B.window_end = M.window_end AND B.v = M.top;
)";
  auto p = sql::PlanPipeline(pipeline);
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  REQUIRE(p->queries[0].stages != nullptr);
  MemorySource src;
  src.splits.resize(2);
  for (int i = 0; i < 3000; ++i) {
    const int64_t ms = 1'000'000 + i * 97 - (i % 13 == 0 ? 500 : 0);
    src.splits[static_cast<size_t>(i % 2)].push_back("k" + std::to_string(i % 5) + "," + std::to_string(ms) + "," +
                                                     std::to_string((i * 7919) % 1000));
  }
  MemoryStateStore reference;
  RunUntil(*p, &src, 1500, &reference, nullptr, true);
  auto expected = Table(&reference);
  REQUIRE(expected.size() > 20);
  MemoryStateStore store;
  for (size_t upto : {100, 377, 378, 901, 1499, 1500}) RunUntil(*p, &src, upto, &store, nullptr, true);
  CHECK(Table(&store) == expected);
  // A stage plan keeps one key group, on worker 0: with two workers its scan runs on worker 0
  // alone (Engine), and restarts that change the worker count give the same table.
  MemoryStateStore two;
  int workers = 2;
  for (size_t upto : {377, 901, 1500}) {
    RunUntil(*p, &src, upto, &two, nullptr, true, nullptr, {.workers = workers});
    workers = 3 - workers;
  }
  CHECK(Table(&two) == expected);
  CHECK(store.size("state." + p->queries[0].name + ".0") + store.size("state." + p->queries[0].name + ".1") > 0);

  // A stage plan's state does not spill, so holding more rows than the state cache bound must
  // not ask for the early checkpoints that evict window state (each would write all of it, for
  // nothing). Here the bound is 8 and the join buffers hundreds of rows: the run takes about as
  // many checkpoints as the same run without a bound (with the bug, one at every step: ~250).
  MemoryStateStore bounded, unbounded_store;
  CacheRun run{8, {}}, unbounded{0, {}};
  RunUntil(*p, &src, 1500, &unbounded_store, nullptr, true, &unbounded);
  RunUntil(*p, &src, 1500, &bounded, nullptr, true, &run);
  CHECK(Table(&bounded) == expected);
  CHECK(run.status.state_groups > 8);
  CHECK(run.status.state_evictions == 0);
  CHECK(run.status.checkpoint_id <= unbounded.status.checkpoint_id + 3);
}

TEST_CASE("engine: a bounded state cache spills, restores lazily, and gives the unbounded run's table") {
  auto p = sql::PlanPipeline(kPipeline);
  REQUIRE(p.ok());
  MemorySource src;
  src.splits.resize(2);
  for (int i = 0; i < 4000; ++i) {  // 40 keys, about 60 rows per 10 s window
    const int64_t ms = 1'000'000 + i * 97 - (i % 13 == 0 ? 500 : 0);
    src.splits[static_cast<size_t>(i % 2)].push_back("k" + std::to_string(i % 40) + "," + std::to_string(ms) + "," +
                                                     std::to_string(i));
  }
  CacheRun unbounded{0, {}};
  MemoryStateStore reference;
  RunUntil(*p, &src, 2000, &reference, nullptr, false, &unbounded);
  auto expected = Table(&reference);
  REQUIRE(expected.size() > 100);
  CHECK(unbounded.status.state_evictions == 0);

  MemoryStateStore store;
  uint64_t evictions = 0, reads = 0;
  for (size_t upto : {300, 301, 900, 1400, 2000}) {
    CacheRun run{8, {}};
    RunUntil(*p, &src, upto, &store, nullptr, false, &run);
    evictions += run.status.state_evictions;
    CHECK(run.status.state_groups <= 8);  // the bound holds once nothing is in flight
    reads += run.status.state_reads;
  }
  CHECK(Table(&store) == expected);
  MESSAGE("cache of 8 groups: " << evictions << " evicted, " << reads << " read back");
  CHECK(evictions > 0);
  CHECK(reads > 0);

  // With two workers the bound is per worker's pipeline, spread over its key groups.
  MemoryStateStore two;
  evictions = 0;
  int workers = 2;
  for (size_t upto : {300, 900, 2000}) {
    CacheRun run{8, {}};
    RunUntil(*p, &src, upto, &two, nullptr, false, &run, {.workers = workers});
    evictions += run.status.state_evictions;
    workers = 3 - workers;
  }
  CHECK(Table(&two) == expected);
  CHECK(evictions > 0);
}

namespace {

// Two queries on one source: per-key 10 s counts into t, per-key 30 s sums hopping by 10 s into u.
const char* kTwoQueries = R"(
CREATE TABLE s (k TEXT, ts TIMESTAMPTZ, v BIGINT)
  WITH (connector = 'stream', shards = 2, event_time = 'ts', watermark_delay = '1 second');
CREATE TABLE t () WITH (connector = 'kv', primary_key = 'k, window_start');
CREATE TABLE u () WITH (connector = 'kv', primary_key = 'k, window_start');
INSERT INTO t SELECT k, window_start, window_end, count(*) AS n, sum(v) AS total
FROM TUMBLE(s, ts, INTERVAL '10 seconds') GROUP BY k, window_start, window_end;
INSERT INTO u SELECT k, window_start, window_end, max(v) AS top
FROM HOP(s, ts, INTERVAL '10 seconds', INTERVAL '30 seconds') GROUP BY k, window_start, window_end;
)";

// kTwoQueries without its second INSERT: the pipeline as it was before query u was added.
std::string FirstQueryOnly() {
  std::string text = kTwoQueries;
  text = text.substr(0, text.find("INSERT INTO u"));
  const size_t u = text.find("CREATE TABLE u");
  return text.erase(u, text.find('\n', u) + 1 - u);
}

void FillInOrder(MemorySource* src, int n) {
  src->splits.assign(2, {});
  for (int i = 0; i < n; ++i) {
    const int64_t ms = 1'000'000 + i * 97 - (i % 13 == 0 ? 500 : 0);
    src->splits[static_cast<size_t>(i % 2)].push_back("k" + std::to_string(i % 7) + "," + std::to_string(ms) + "," +
                                                      std::to_string((i * 7919) % 1000));
  }
}

}  // namespace

TEST_CASE("engine: queries of one source share one scan and decode each record once") {
  auto p = sql::PlanPipeline(kTwoQueries);
  REQUIRE(p.ok());
  MemorySource src;
  FillInOrder(&src, 3000);
  MemoryStateStore reference;
  std::atomic<size_t> decoded{0};
  RunUntil(*p, &src, 1500, &reference, nullptr, false, nullptr, {&decoded, 2});
  // 1500 records per split, each decoded once although two queries read them.
  CHECK(decoded == 3000);
  auto t = Table(&reference, "table.t"), u = Table(&reference, "table.u");
  REQUIRE(t.size() > 50);
  REQUIRE(u.size() > 50);

  // Each query alone gives the same table as in the shared scan.
  auto alone = sql::PlanPipeline(FirstQueryOnly());
  REQUIRE(alone.ok());
  MemoryStateStore single;
  RunUntil(*alone, &src, 1500, &single);
  CHECK(Table(&single, "table.t") == t);

  // Restarts at any point give the uninterrupted tables, for both queries.
  MemoryStateStore store;
  decoded = 0;
  for (size_t upto : {200, 201, 733, 1499, 1500}) RunUntil(*p, &src, upto, &store, nullptr, false, nullptr, {&decoded, 2});
  CHECK(Table(&store, "table.t") == t);
  CHECK(Table(&store, "table.u") == u);
  CHECK(decoded == 3000);  // no record is decoded twice across the restarts either
}

TEST_CASE("engine: a query added to a running pipeline reads from the start while the others resume") {
  MemorySource src;
  FillInOrder(&src, 3000);
  auto both = sql::PlanPipeline(kTwoQueries);
  REQUIRE(both.ok());
  MemoryStateStore reference;
  RunUntil(*both, &src, 1500, &reference);

  auto first = sql::PlanPipeline(FirstQueryOnly());
  REQUIRE(first.ok());
  MemoryStateStore store;
  RunUntil(*first, &src, 700, &store);
  std::atomic<size_t> decoded{0};
  RunUntil(*both, &src, 1500, &store, nullptr, false, nullptr, {&decoded, 1});
  // u's scan starts at position 1 of each split; t skips the 700 records per split it saw.
  CHECK(decoded == 3000);
  CHECK(Table(&store, "table.t") == Table(&reference, "table.t"));
  CHECK(Table(&store, "table.u") == Table(&reference, "table.u"));
  // Both records now hold the same positions.
  for (const char* name : {"t", "u"}) {
    const std::string query = both->queries[name[0] == 't' ? 0 : 1].name;
    auto rec = store.Get("sluice.meta", SourceScan::RecordKey(query));
    REQUIRE(rec.ok());
    auto decoded_rec = DecodeCheckpointRecord(*rec);
    REQUIRE(decoded_rec.ok());
    REQUIRE(decoded_rec->splits.size() == 2);
    CHECK(decoded_rec->splits[0].next_position == 1501);
    CHECK(decoded_rec->splits[1].next_position == 1501);
  }
}

TEST_CASE("engine: every source's scan runs on every worker") {
  const char* two_sources = R"(
CREATE TABLE s (k TEXT, ts TIMESTAMPTZ, v BIGINT)
  WITH (connector = 'stream', shards = 2, event_time = 'ts', watermark_delay = '1 second');
CREATE TABLE s2 (k TEXT, ts TIMESTAMPTZ, v BIGINT)
  WITH (connector = 'stream', shards = 2, event_time = 'ts', watermark_delay = '1 second');
CREATE TABLE t () WITH (connector = 'kv', primary_key = 'k, window_start');
CREATE TABLE t2 () WITH (connector = 'kv', primary_key = 'k, window_start');
INSERT INTO t SELECT k, window_start, window_end, count(*) AS n, sum(v) AS total
FROM TUMBLE(s, ts, INTERVAL '10 seconds') GROUP BY k, window_start, window_end;
INSERT INTO t2 SELECT k, window_start, window_end, count(*) AS n, sum(v) AS total
FROM TUMBLE(s2, ts, INTERVAL '10 seconds') GROUP BY k, window_start, window_end;
)";
  auto p = sql::PlanPipeline(two_sources);
  REQUIRE(p.ok());
  MemorySource src;
  FillInOrder(&src, 2000);
  src.visible = 1000;
  char tmpl[] = "/tmp/sluice-engine-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  MetricsRegistry metrics;
  DeadLetterQueue dlq(dir, &metrics);
  MemoryStateStore store;
  std::vector<std::unique_ptr<TableSink>> sinks;
  EngineFactories f;
  f.source = [&](const SourceDef&) -> Result<std::unique_ptr<Source>> {
    return std::unique_ptr<Source>(std::make_unique<BorrowedSource>(&src));
  };
  f.decoder = [](const SourceDef&, const std::vector<bool>&) -> std::unique_ptr<RowDecoder> {
    return std::make_unique<CsvDecoder>();
  };
  f.sink = [&](int qi) -> Result<Sink*> {
    sinks.push_back(std::make_unique<TableSink>());
    sinks.back()->space = "table." + p->sinks[static_cast<size_t>(p->queries[static_cast<size_t>(qi)].sink)].name;
    return sinks.back().get();
  };
  EngineOptions o;
  o.workers = 2;
  o.scan.poll_interval = std::chrono::milliseconds(5);
  Engine engine(&*p, &store, &dlq, &metrics, f, o);
  REQUIRE(engine.Start().ok());
  CHECK(engine.workers() == 2);
  auto st = engine.QueryStatuses();
  REQUIRE(st.size() == 2);
  CHECK(st[0].workers == 2);
  CHECK(st[1].workers == 2);
  CHECK(st[0].exchange == "key group");
  CHECK(st[0].key_groups == 128);
  CHECK(st[0].source == "s");
  CHECK(st[1].source == "s2");
  for (int i = 0; i < 2000; ++i) {
    st = engine.QueryStatuses();
    if (st[0].records_in == 2000 && st[1].records_in == 2000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(st[0].records_in == 2000);
  CHECK(st[1].records_in == 2000);
  CHECK(engine.Checkpoint(std::chrono::seconds(10)).ok());
  engine.Stop();
  CHECK(Table(&store, "table.t") == Table(&store, "table.t2"));
  CHECK(Table(&store, "table.t").size() > 10);
  // After Stop() a checkpoint request is refused, not left waiting.
  CHECK(engine.Checkpoint(std::chrono::milliseconds(100)).code() == StatusCode::kUnavailable);
  std::filesystem::remove_all(dir);
}
