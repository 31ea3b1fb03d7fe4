// checkpoint_bench: cost of Sluice's checkpoints with large window state (issue 5).
//
// For each state size (default 1,000,000 and 10,000,000 keys) it builds the state of a windowed
// GROUP BY query — one open 1-hour TUMBLE window holding N keys, three aggregates each — by
// feeding N rows through ops::QueryPipeline, then measures, against a real RocksDB store in a
// temporary folder (runtime::RocksStateStore, synced commits):
//   - first checkpoint: every key is new (the worst case: the whole state is written);
//   - incremental checkpoint after touching 1% of the keys (the steady state at the default
//     interval);
//   - recovery: open the store and restore the whole state into a fresh pipeline, i.e. what a
//     restarted process does before it processes again (process start-up not included; the
//     memtables are flushed first, as the server's periodic snapshot does);
//   - throughput of feeding rows (at least 30 million) with checkpoints every 10 s of processing
//     versus none.
// With --cache-groups C the pipelines keep at most about C groups in memory and spill the rest
// to the store (the server's --state-cache-groups; ops::WindowAggregate::EnableSpill): the build
// phase then checkpoints whenever it is over the bound (at most every 100 ms, as the runner
// does), recovery loads only C groups, and the throughput passes, which touch every key in turn,
// read evicted groups back from RocksDB.
// With --window session the query is SESSION(1 hour) instead: one session per key, and a state
// cache bounds sessions (ops::SessionWindowAggregate::EnableSpill).
// Prints one JSON line per measurement; bench/checkpoint/run.sh runs it several times and
// reports medians. Usage: checkpoint_bench [--keys N[,N...]] [--dir DIR] [--cache-groups C]
// [--passes P (throughput passes over every key; default max(3, 30M / keys))]
// [--window tumble|session (default tumble)]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "bench/proc_stats.h"
#include "core/state_store.h"
#include "operators/query_pipeline.h"
#include "runtime/rocks_state_store.h"
#include "sql/planner.h"

using namespace sluice;
using Clock = std::chrono::steady_clock;

namespace {

// The benchmark's pipeline with `window` (TUMBLE or SESSION) as its window function.
std::string PipelineText(const std::string& window) {
  return R"(
CREATE TABLE events (k BIGINT, ts TIMESTAMPTZ, v BIGINT)
  WITH (connector = 'stream', shards = 1, event_time = 'ts', watermark_delay = '1 second');
CREATE TABLE out () WITH (connector = 'kv', primary_key = 'k, window_start');
INSERT INTO out SELECT k, window_start, count(*) AS n, sum(v) AS total, max(v) AS top
FROM )" + window + R"((events, ts, INTERVAL '1 hour') GROUP BY k, window_start;
)";
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double CpuSeconds() { return sluice::bench::SelfCpuSeconds(); }
long PeakRssMb() { return static_cast<long>(sluice::bench::SelfPeakRssKib() / 1024); }

// Feeds rows for keys [0, keys) `rounds` times, in batches of 1024, into `p`. With a store,
// checkpoints every `interval` of wall time (and, over the state cache's bound, every 100 ms) the
// way runtime::SourceScan does: the worker serializes the changed state at a batch boundary (the
// pause counted in *pause_seconds), the commit runs on another thread while the worker goes on,
// and the next checkpoint starts only after the previous one committed. Returns the number of
// checkpoints taken; *commit_seconds receives their total time from start to committed.
int Feed(ops::QueryPipeline* p, int64_t keys, int rounds, int64_t base_us, StateStore* store,
         std::chrono::milliseconds interval, double* pause_seconds, double* commit_seconds = nullptr) {
  std::vector<Row> batch, out;
  std::vector<ops::LateRow> late;
  batch.reserve(1024);
  int checkpoints = 0;
  auto last = Clock::now();
  std::future<Status> in_flight;
  Clock::time_point in_flight_start;
  auto finish = [&](bool wait) {
    if (!in_flight.valid()) return;
    if (!wait && in_flight.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    if (!in_flight.get().ok()) std::abort();
    if (commit_seconds != nullptr) *commit_seconds += Seconds(Clock::now() - in_flight_start);
    last = Clock::now();
  };
  for (int r = 0; r < rounds; ++r) {
    for (int64_t k = 0; k < keys; ++k) {
      batch.push_back({Value::Int(k), Value::Time(EventTime{base_us + k % 1000}), Value::Int(k * 7 + r)});
      if (batch.size() == 1024 || k + 1 == keys) {
        p->ProcessBatch(0, batch, &out, &late);
        batch.clear();
        p->AdvanceTime(WallNow(), &out);
        out.clear();
        if (store == nullptr) continue;
        finish(false);
        const auto since = Clock::now() - last;
        if (!in_flight.valid() &&
            (since >= interval || (p->over_state_cache_bound() && since >= std::chrono::milliseconds(100)))) {
          in_flight_start = Clock::now();
          auto b = std::make_shared<StoreBatch>();
          std::string scalars;
          p->CheckpointDelta("state.bench", b.get(), &scalars);
          b->Put("sluice.meta", "checkpoint/bench", scalars);
          *pause_seconds += Seconds(Clock::now() - in_flight_start);
          in_flight = std::async(std::launch::async, [store, b] { return store->Commit(*b); });
          ++checkpoints;
        }
      }
    }
  }
  finish(true);
  return checkpoints;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {1'000'000, 10'000'000};
  std::string dir = "/tmp/sluice-checkpoint-bench";
  size_t cache_groups = 0;
  int passes_override = 0;
  std::string window = "tumble";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--keys") {
      sizes.clear();
      for (size_t s = 0; s < v.size();) {
        size_t c = v.find(',', s);
        sizes.push_back(std::stoll(v.substr(s, c - s)));
        s = c == std::string::npos ? v.size() : c + 1;
      }
    } else if (a == "--dir") {
      dir = v;
    } else if (a == "--cache-groups") {
      cache_groups = std::stoull(v);
    } else if (a == "--passes") {
      passes_override = std::stoi(v);
    } else if (a == "--window") {
      window = v;
    }
  }
  if (window != "tumble" && window != "session") {
    std::fprintf(stderr, "checkpoint_bench: --window must be tumble or session, not %s\n", window.c_str());
    return 2;
  }
  auto planned = sql::PlanPipeline(PipelineText(window == "session" ? "SESSION" : "TUMBLE"));
  if (!planned.ok()) {
    std::fprintf(stderr, "%s\n", planned.status().ToString().c_str());
    return 1;
  }
  const Pipeline& pipeline = *planned;
  const int64_t base_us = 1767225600LL * 1000000;  // one open window for the whole run
  for (int64_t keys : sizes) {
    std::filesystem::remove_all(dir);
    auto store = runtime::RocksStateStore::Open(dir);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    // State: every key once.
    auto built = std::make_unique<ops::QueryPipeline>(pipeline, 0, 1, WallNow());
    ops::QueryPipeline& p = *built;
    if (cache_groups > 0) p.EnableStateCache(store->get(), "state.bench", cache_groups);
    double unused = 0;
    auto t0 = Clock::now();
    // Without a cache: no checkpoints while building. With one: only those the bound asks for.
    Feed(&p, keys, 1, base_us, cache_groups > 0 ? store->get() : nullptr, std::chrono::hours(1), &unused);
    const double build_s = Seconds(Clock::now() - t0);
    // First (full) checkpoint.
    t0 = Clock::now();
    StoreBatch b;
    std::string scalars;
    p.CheckpointDelta("state.bench", &b, &scalars);
    b.Put("sluice.meta", "checkpoint/bench", scalars);
    const size_t full_bytes = b.bytes();
    const double full_delta_s = Seconds(Clock::now() - t0);
    if (!(*store)->Commit(b).ok()) return 1;
    const double full_s = Seconds(Clock::now() - t0);
    // Incremental: 1% of the keys change.
    std::vector<Row> rows, out;
    std::vector<ops::LateRow> late;
    for (int64_t k = 0; k < keys; k += 100) rows.push_back({Value::Int(k), Value::Time(EventTime{base_us}), Value::Int(1)});
    p.ProcessBatch(0, rows, &out, &late);
    t0 = Clock::now();
    StoreBatch inc;
    scalars.clear();
    p.CheckpointDelta("state.bench", &inc, &scalars);
    inc.Put("sluice.meta", "checkpoint/bench", scalars);
    if (!(*store)->Commit(inc).ok()) return 1;
    const double inc_s = Seconds(Clock::now() - t0);
    const size_t inc_bytes = inc.bytes();
    // The server's snapshot thread flushes the memtables every checkpoint interval, so a
    // restart replays at most one interval of WAL; do the same before "crashing".
    if (!(*store)->Flush().ok()) return 1;
    const size_t built_groups = p.open_groups() + p.spilled_groups();
    built.reset();  // the "crashed" process's memory is gone
    store->reset();
    // Recovery: open the store, restore everything.
    t0 = Clock::now();
    auto reopened = runtime::RocksStateStore::Open(dir);
    if (!reopened.ok()) return 1;
    const double open_s = Seconds(Clock::now() - t0);
    double scan_s = 0;
    if (std::getenv("SLUICE_BENCH_DETAIL") != nullptr) {  // where recovery's time goes
      auto t1 = Clock::now();
      size_t n = 0;
      (*reopened)->Scan("state.bench", "", [&](std::string_view, std::string_view, bool*) {
        ++n;
        return Status::OK();
      }).ok();
      scan_s = Seconds(Clock::now() - t1);
      std::fprintf(stderr, "recovery detail: open %.3f s, bare scan of %zu keys %.3f s\n", open_s, n, scan_s);
      t0 += Clock::now() - t1;  // not part of recovery
    }
    ops::QueryPipeline restored(pipeline, 0, 1, WallNow());
    if (cache_groups > 0) restored.EnableStateCache(reopened->get(), "state.bench", cache_groups);
    auto rec = (*reopened)->Get("sluice.meta", "checkpoint/bench");
    if (!rec.ok() || !restored.Restore(*rec, reopened->get(), "state.bench").ok()) return 1;
    const double recover_s = Seconds(Clock::now() - t0);
    const size_t groups_in_memory_after_recovery = restored.open_groups();
    // Warm-up: one pass over every key right after recovery. A lazily restored pipeline (with a
    // state cache) reads each group back from RocksDB here; afterwards every group has been seen.
    t0 = Clock::now();
    Feed(&restored, keys, 1, base_us, cache_groups > 0 ? reopened->get() : nullptr, std::chrono::hours(1), &unused);
    const double first_pass_s = Seconds(Clock::now() - t0);
    (void)built_groups;
    // Throughput: 3 more passes over every key, checkpoints every 10 s versus none.
    const int passes =
        passes_override > 0 ? passes_override : static_cast<int>(std::max<int64_t>(3, 30'000'000 / keys));
    double cp_seconds = 0;
    t0 = Clock::now();
    double cpu0 = CpuSeconds();
    // (With a cache the "off" passes must still checkpoint when over the bound, or nothing
    // could be evicted; those checkpoints are counted in neither figure.)
    Feed(&restored, keys, passes, base_us, cache_groups > 0 ? reopened->get() : nullptr, std::chrono::hours(1),
         &unused);
    const double off_s = Seconds(Clock::now() - t0), off_cpu = CpuSeconds() - cpu0;
    t0 = Clock::now();
    cpu0 = CpuSeconds();
    double commit_seconds = 0;
    const int taken = Feed(&restored, keys, passes, base_us, reopened->get(), std::chrono::milliseconds(10000),
                           &cp_seconds, &commit_seconds);
    const double on_s = Seconds(Clock::now() - t0), on_cpu = CpuSeconds() - cpu0;
    const double rows_total = static_cast<double>(keys) * passes;
    const long peak_rss_mb = PeakRssMb();
    // Correctness: fire the window and check every key's count(*): 1 (build) + 1 for every 100th
    // key (incremental checkpoint) + 1 (first pass after recovery) + 2 × passes. Every group went
    // through a checkpoint, a restore and (with a cache) eviction and read-back, so a lost or
    // double-counted group shows here.
    bool same = true;
    {
      std::vector<Row> fired;
      restored.Flush(&fired);
      std::vector<bool> seen(static_cast<size_t>(keys), false);
      size_t bad = 0;
      for (const Row& r : fired) {
        const int64_t k = r[0].as_int();
        const int64_t want = 2 + (k % 100 == 0 ? 1 : 0) + 2 * passes;
        if (k < 0 || k >= keys || seen[static_cast<size_t>(k)] || r[2].as_int() != want) {
          ++bad;
          continue;
        }
        seen[static_cast<size_t>(k)] = true;
      }
      same = bad == 0 && fired.size() == static_cast<size_t>(keys);
      if (!same) std::fprintf(stderr, "checkpoint_bench: %zu rows for %lld keys, %zu wrong\n", fired.size(), static_cast<long long>(keys), bad);
    }
    std::printf(
        "{\"window\":\"%s\",\"keys\":%lld,\"build_seconds\":%.3f,\"full_checkpoint_seconds\":%.3f,\"full_checkpoint_serialize_seconds\":%.3f,\"full_checkpoint_mb\":%.1f,"
        "\"incremental_checkpoint_seconds\":%.3f,\"incremental_checkpoint_mb\":%.2f,\"recovery_seconds\":%.3f,"
        "\"first_pass_after_recovery_seconds\":%.3f,\"results_exact\":%s,\"rows_per_s_checkpoints_off\":%.0f,\"rows_per_s_checkpoints_on\":%.0f,"
        "\"cpu_s_off\":%.2f,\"cpu_s_on\":%.2f,\"checkpoints_taken\":%d,\"checkpoint_pause_seconds_total\":%.3f,"
        "\"checkpoint_commit_seconds_total\":%.3f,"
        "\"cache_groups\":%zu,\"groups_in_memory_after_recovery\":%zu,\"peak_rss_mb\":%ld}\n",
        window.c_str(), static_cast<long long>(keys), build_s, full_s, full_delta_s, static_cast<double>(full_bytes) / 1e6, inc_s,
        static_cast<double>(inc_bytes) / 1e6, recover_s, first_pass_s, same ? "true" : "false", rows_total / off_s, rows_total / on_s,
        off_cpu, on_cpu, taken, cp_seconds, commit_seconds, cache_groups, groups_in_memory_after_recovery, peak_rss_mb);
    std::fflush(stdout);
    reopened->reset();
    std::filesystem::remove_all(dir);
  }
  return 0;
}
