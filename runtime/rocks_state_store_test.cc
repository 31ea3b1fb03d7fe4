#include "runtime/rocks_state_store.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/memory_state_store.h"

using namespace sluice;
using namespace sluice::runtime;
namespace fs = std::filesystem;

namespace {
std::string TempDir() {
  char tmpl[] = "/tmp/sluice-state-XXXXXX";
  return ::mkdtemp(tmpl);
}
}  // namespace

TEST_CASE("state store: spaces are column families created on first use; meta and state survive a reopen") {
  std::string dir = TempDir();
  {
    auto store = RocksStateStore::Open(dir + "/kv");
    REQUIRE(store.ok());
    StoreBatch b;
    b.Put("state.q", "k1", "v1");
    b.Put("state.q", "k2", "v2");
    b.DeleteRange("state.q", "k2", "k3");
    b.Put("table.t", "a|1", "{}");
    REQUIRE((*store)->Commit(b).ok());
    CHECK(*(*store)->Get("state.q", "k1") == "v1");
    CHECK((*store)->Get("state.q", "k2").status().code() == StatusCode::kNotFound);
    CHECK((*store)->Get("nope", "k").status().code() == StatusCode::kNotFound);
    REQUIRE((*store)->PutMeta("positions/q1", "{\"a\":1}").ok());
    CHECK((*store)->GetMeta("nope").status().code() == StatusCode::kNotFound);
  }
  auto store = RocksStateStore::Open(dir + "/kv");
  REQUIRE(store.ok());
  CHECK(*(*store)->GetMeta("positions/q1") == "{\"a\":1}");
  CHECK(*(*store)->Get("state.q", "k1") == "v1");
  CHECK(*(*store)->Get("table.t", "a|1") == "{}");
  // A second process (or store) on the same folder is refused, not corrupted.
  auto second = RocksStateStore::Open(dir + "/kv");
  CHECK_FALSE(second.ok());
  fs::remove_all(dir);
}

TEST_CASE("state store: ScanFrom seeks to a start key inside a prefix") {
  std::string dir = TempDir();
  auto store = RocksStateStore::Open(dir + "/kv");
  REQUIRE(store.ok());
  StoreBatch b;
  for (const char* k : {"a1", "a2", "a3", "b1"}) b.Put("state.q", k, std::string("v") + k);
  REQUIRE((*store)->Commit(b).ok());
  auto keys = [&](std::string_view start, std::string_view prefix) {
    std::string got;
    REQUIRE((*store)
                ->ScanFrom("state.q", start, prefix,
                           [&](std::string_view k, std::string_view v, bool*) {
                             got += std::string(k) + "=" + std::string(v) + ";";
                             return Status::OK();
                           })
                .ok());
    return got;
  };
  CHECK(keys("a2", "a") == "a2=va2;a3=va3;");
  CHECK(keys("", "a") == "a1=va1;a2=va2;a3=va3;");  // a start before the prefix: the prefix's first key
  CHECK(keys("a9", "a").empty());
  CHECK(keys("a", "b") == "b1=vb1;");
  // The generic implementation (MemoryStateStore) agrees.
  MemoryStateStore mem;
  REQUIRE(mem.Commit(b).ok());
  std::string got;
  REQUIRE(mem.ScanFrom("state.q", "a2", "a", [&](std::string_view k, std::string_view, bool*) {
               got += std::string(k) + ";";
               return Status::OK();
             }).ok());
  CHECK(got == "a2;a3;");
  std::filesystem::remove_all(dir);
}

namespace {
// Every key and value of `space`, as "k=v;" in key order.
std::string Dump(StateStore* store, std::string_view space) {
  std::string got;
  REQUIRE(store->Scan(space, "", [&](std::string_view k, std::string_view v, bool*) {
                 got += std::string(k) + "=" + std::string(v) + ";";
                 return Status::OK();
               }).ok());
  return got;
}
}  // namespace

TEST_CASE("state store: large checkpoints in key order are ingested as SST files, with WriteBatch semantics") {
  std::string dir = TempDir();
  auto store = RocksStateStore::Open(dir + "/kv");
  REQUIRE(store.ok());
  RocksStateStore& kv = **store;
  MemoryStateStore mem;  // the reference: applies ops in batch order
  auto commit = [&](const StoreBatch& b) {
    REQUIRE(kv.Commit(b).ok());
    REQUIRE(mem.Commit(b).ok());
    for (const char* space : {"state.q", "table.t"}) CHECK(Dump(&kv, space) == Dump(&mem, space));
  };

  // A small batch goes through the WAL; it stays in the memtable, which the later ingestions of
  // overlapping keys must flush first.
  StoreBatch small;
  small.Put("state.q", "k5", "wal");
  commit(small);
  CHECK(kv.ingested_commits() == 0);

  kv.set_ingest_threshold_bytes(0);  // every batch in key order is ingested
  // Range deletes first, then points in key order, over two spaces: ingested atomically. A
  // point inside a range deleted by the same batch survives (it comes after the range).
  StoreBatch b1;
  b1.DeleteRange("state.q", "k0", "k9");
  for (int i = 0; i < 8; ++i) b1.Put("state.q", "k" + std::to_string(i), "v1-" + std::to_string(i));
  b1.Delete("state.q", "k8");
  b1.Put("table.t", "row", "{}");
  commit(b1);
  CHECK(kv.ingested_commits() == 1);
  StoreBatch b2;
  b2.DeleteRange("state.q", "k2", "k4");
  b2.Put("state.q", "k3", "v2");
  b2.Delete("state.q", "k6");
  commit(b2);
  CHECK(kv.ingested_commits() == 2);
  CHECK(Dump(&kv, "state.q") == "k0=v1-0;k1=v1-1;k3=v2;k4=v1-4;k5=v1-5;k7=v1-7;");

  // Not in key order, or a range after a point of its space: one WriteBatch, same meaning.
  StoreBatch unsorted;
  unsorted.Put("state.q", "k9", "a");
  unsorted.Put("state.q", "k1", "b");
  commit(unsorted);
  StoreBatch range_last;
  range_last.Put("state.q", "k4", "gone");
  range_last.DeleteRange("state.q", "k4", "k6");
  commit(range_last);
  StoreBatch duplicate;
  duplicate.Put("state.q", "k0", "first");
  duplicate.Put("state.q", "k0", "second");
  commit(duplicate);
  CHECK(kv.ingested_commits() == 2);

  // Random batches: half of them sorted (ingested), half in random order (WriteBatch).
  std::mt19937 rng(42);
  for (int round = 0; round < 40; ++round) {
    StoreBatch b;
    const bool sorted = round % 2 == 0;
    std::vector<std::pair<std::string, int>> ops;  // key, op (0 put, 1 delete)
    for (int i = 0; i < 50; ++i) ops.emplace_back("k" + std::to_string(rng() % 100), static_cast<int>(rng() % 4 == 0));
    if (sorted) {
      std::sort(ops.begin(), ops.end());
      ops.erase(std::unique(ops.begin(), ops.end(), [](const auto& x, const auto& y) { return x.first == y.first; }), ops.end());
      if (rng() % 3 == 0) {
        std::string lo = "k" + std::to_string(rng() % 100), hi = "k" + std::to_string(rng() % 100);
        b.DeleteRange("state.q", std::min(lo, hi), std::max(lo, hi));
      }
    }
    for (const auto& [k, op] : ops) {
      if (op == 0) {
        b.Put("state.q", k, "r" + std::to_string(round));
      } else {
        b.Delete("state.q", k);
      }
    }
    b.Put("table.t", "round", std::to_string(round));
    commit(b);
  }
  CHECK(kv.ingested_commits() == 22);

  // A StoreBatch::Run (operators hand over their bulk this way), whose key views live only for
  // one call: ingested after the batch's flat ops.
  struct CountingRun final : StoreBatch::Run {
    void ForEach(const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) override {
      std::string key;  // reused: a view of it is valid only during the call
      for (int i = 0; i < 300; ++i) {
        key = "r" + std::to_string(1000 + i);
        fn(i % 7 == 6 ? StoreBatch::OpKind::kDelete : StoreBatch::OpKind::kPut, key, "run");
      }
    }
  };
  StoreBatch with_run;
  with_run.DeleteRange("state.q", "k", "l");
  with_run.AddRun("state.q", std::make_shared<CountingRun>(), 300, 300 * 8);
  with_run.Put("table.t", "run", "1");
  commit(with_run);
  CHECK(kv.ingested_commits() == 23);
  CHECK(Dump(&kv, "state.q").find("k") == std::string::npos);
  // A flat put after the run's keys in the same space still applies before them: not in order.
  StoreBatch run_then_flat;
  run_then_flat.AddRun("state.q", std::make_shared<CountingRun>(), 300, 300 * 8);
  run_then_flat.Put("state.q", "r1299", "flat");
  commit(run_then_flat);
  CHECK(kv.ingested_commits() == 23);

  // Reopened: the same contents, and no SST file left behind in the ingestion folder.
  const std::string before = Dump(&kv, "state.q");
  store->reset();
  std::ofstream(dir + "/kv/ingest.tmp/99.sst") << "a crashed commit's file";
  auto again = RocksStateStore::Open(dir + "/kv");
  REQUIRE(again.ok());
  CHECK(Dump(again->get(), "state.q") == before);
  CHECK(fs::is_empty(dir + "/kv/ingest.tmp"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("state store: large runs are ingested as several disjoint SST files, written at once") {
  std::string dir = TempDir();
  auto store = RocksStateStore::Open(dir + "/kv");
  REQUIRE(store.ok());
  RocksStateStore& kv = **store;
  MetricsRegistry metrics;
  kv.set_metrics(&metrics);
  Counter& state_files = metrics.GetCounter("sluice_state_ingested_files_total", "", {{"kind", "state"}});
  kv.set_ingest_threshold_bytes(0);
  MemoryStateStore mem;
  auto commit = [&](const StoreBatch& b) {
    REQUIRE(kv.Commit(b).ok());
    REQUIRE(mem.Commit(b).ok());
    CHECK(Dump(&kv, "state.q") == Dump(&mem, "state.q"));
  };
  // A run of `n` ops on keys prefix + 6 digits (every 7th a delete), in key order or (with
  // `shuffled`, which breaks the Run contract) not; with `parts`, it splits itself into parts
  // by op count as ops::StateRun does, else it uses the default (everything in part 0).
  struct TestRun final : StoreBatch::Run {
    char prefix;
    int n;
    std::string value;
    bool shuffled = false, parts = true, range_delete = false;
    void Emit(int i, const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) const {
      char key[16];
      std::snprintf(key, sizeof key, "%c%06d", prefix, i);
      if (range_delete && i == 0) return fn(StoreBatch::OpKind::kDeleteRange, key, std::string(1, prefix) + "~");
      fn(i % 7 == 6 ? StoreBatch::OpKind::kDelete : StoreBatch::OpKind::kPut, key, value);
    }
    void ForEach(const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) override {
      for (int i = 0; i < n; ++i) Emit(shuffled ? (i * 7919) % n : i, fn);
    }
    void ForEachInPart(size_t part, size_t count,
                       const std::function<void(StoreBatch::OpKind, std::string_view, std::string_view)>& fn) override {
      if (!parts) return StoreBatch::Run::ForEachInPart(part, count, fn);
      const size_t begin = static_cast<size_t>(n) * part / count, end = static_cast<size_t>(n) * (part + 1) / count;
      for (size_t i = begin; i < end; ++i) Emit(shuffled ? static_cast<int>((i * 7919) % static_cast<size_t>(n)) : static_cast<int>(i), fn);
    }
  };
  auto run = [](char prefix, int n, std::string value) {
    auto r = std::make_shared<TestRun>();
    r->prefix = prefix;
    r->n = n;
    r->value = std::move(value);
    return r;
  };
  const int kLarge = 70'000;  // over the 65,536 ops from which a run gets files of its own

  // Two large runs (SESSION's index and keys), a small run, and a flat range delete of the same
  // space that overlaps none of them: a file per part of each large run, one for the small run
  // and one for the flat ops.
  StoreBatch first;
  first.Put("state.q", "a-old", "x");
  commit(first);
  StoreBatch two_runs;
  two_runs.DeleteRange("state.q", "a", "b");
  two_runs.AddRun("state.q", run('e', kLarge, ""), kLarge, kLarge * 8);
  two_runs.AddRun("state.q", run('s', kLarge, "v1"), kLarge, kLarge * 10);
  two_runs.AddRun("state.q", run('t', 10, "small"), 10, 10 * 12);
  two_runs.Put("table.t", "row", "1");
  const uint64_t ingested = kv.ingested_commits(), files = state_files.value();
  commit(two_runs);
  CHECK(kv.ingested_commits() == ingested + 1);
  CHECK(state_files.value() == files + 2 + 2 + 1 + 1);
  CHECK(Dump(&kv, "state.q").find("a-old") == std::string::npos);
  CHECK(*kv.Get("state.q", "s000005") == "v1");
  CHECK(kv.Get("state.q", "s000006").status().code() == StatusCode::kNotFound);  // a delete

  // A batch of one large run of 's' keys, changed by `alter` first; with `delete_range`, after
  // a flat DeleteRange of all 's' keys.
  auto commit_run = [&](std::string value, const std::function<void(TestRun*)>& alter, bool delete_range = false) {
    auto r = run('s', kLarge, std::move(value));
    alter(r.get());
    StoreBatch b;
    if (delete_range) b.DeleteRange("state.q", "s", "t");
    b.AddRun("state.q", r, kLarge, kLarge * 10);
    commit(b);
  };
  // The default Run::ForEachInPart (every op in part 0): one file for the run.
  commit_run("v2", [](TestRun* r) { r->parts = false; });
  CHECK(kv.ingested_commits() == ingested + 2);
  CHECK(state_files.value() == files + 6 + 1);

  // A flat range delete over the run's keys: the flat ops' file would overlap the run's files,
  // whose puts must win. Not ingested; the WriteBatch gives the same result.
  commit_run("v3", [](TestRun*) {}, /*delete_range=*/true);
  CHECK(kv.ingested_commits() == ingested + 2);
  CHECK(*kv.Get("state.q", "s000005") == "v3");

  // A run that breaks its contract (not in key order): not ingested either, and no error.
  commit_run("v4", [](TestRun* r) { r->shuffled = true; });
  CHECK(kv.ingested_commits() == ingested + 2);
  CHECK(fs::is_empty(dir + "/kv/ingest.tmp"));  // the abandoned files are gone
  // A run with a range delete (outside the contract: in a file it would not delete the file's
  // own later points, as the WriteBatch does): not ingested.
  commit_run("v5", [](TestRun* r) { r->range_delete = true; });
  CHECK(kv.ingested_commits() == ingested + 2);
  CHECK(*kv.Get("state.q", "s000005") == "v5");
  std::filesystem::remove_all(dir);
}
