// checkpoint_bench: cost of Sluice's checkpoints with large window state (issue 5).
//
// For each state size (default 1,000,000 and 10,000,000 keys) it builds the state of a windowed
// GROUP BY query — one open 1-hour TUMBLE window holding N keys, three aggregates each — by
// feeding N rows through ops::QueryPipeline, then measures, against a real RocksDB store in a
// temporary folder (sinks::KvStore, synced commits):
//   - first checkpoint: every key is new (the worst case: the whole state is written);
//   - incremental checkpoint after touching 1% of the keys (the steady state at the default
//     interval);
//   - recovery: open the store and restore the whole state into a fresh pipeline, i.e. what a
//     restarted process does before it processes again (process start-up not included; the
//     memtables are flushed first, as the server's periodic snapshot does);
//   - throughput of feeding rows (at least 30 million) with checkpoints every 10 s of processing
//     versus none.
// Prints one JSON line per measurement; bench/checkpoint/run.sh runs it several times and
// reports medians. Usage: checkpoint_bench [--keys N[,N...]] [--dir DIR] [--rows-per-key R]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/state_store.h"
#include "operators/query_pipeline.h"
#include "sinks/kv_store.h"
#include "sql/planner.h"

using namespace sluice;
using Clock = std::chrono::steady_clock;

namespace {

const char* kPipeline = R"(
CREATE TABLE events (k BIGINT, ts TIMESTAMPTZ, v BIGINT)
  WITH (connector = 'stream', shards = 1, event_time = 'ts', watermark_delay = '1 second');
CREATE TABLE out () WITH (connector = 'kv', primary_key = 'k, window_start');
INSERT INTO out SELECT k, window_start, count(*) AS n, sum(v) AS total, max(v) AS top
FROM TUMBLE(events, ts, INTERVAL '1 hour') GROUP BY k, window_start;
)";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

long PeakRssMb() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

// Feeds rows for keys [0, keys) `rounds` times, in batches of 1024, into `p`. With a store,
// checkpoints every `interval` of wall time. Returns the number of checkpoints taken.
int Feed(ops::QueryPipeline* p, int64_t keys, int rounds, int64_t base_us, StateStore* store,
         std::chrono::milliseconds interval, double* ckpt_seconds) {
  std::vector<Row> batch, out;
  std::vector<ops::LateRow> late;
  batch.reserve(1024);
  int checkpoints = 0;
  auto last = Clock::now();
  for (int r = 0; r < rounds; ++r) {
    for (int64_t k = 0; k < keys; ++k) {
      batch.push_back({Value::Int(k), Value::Time(EventTime{base_us + k % 1000}), Value::Int(k * 7 + r)});
      if (batch.size() == 1024 || k + 1 == keys) {
        p->ProcessBatch(0, batch, &out, &late);
        batch.clear();
        p->AdvanceTime(WallNow(), &out);
        out.clear();
        if (store != nullptr && Clock::now() - last >= interval) {
          auto t0 = Clock::now();
          StoreBatch b;
          std::string scalars;
          p->CheckpointDelta("state.bench", &b, &scalars);
          b.Put("sluice.meta", "checkpoint/bench", scalars);
          if (!store->Commit(b).ok()) std::abort();
          *ckpt_seconds += Seconds(Clock::now() - t0);
          ++checkpoints;
          last = Clock::now();
        }
      }
    }
  }
  return checkpoints;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {1'000'000, 10'000'000};
  std::string dir = "/tmp/sluice-checkpoint-bench";
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
    }
  }
  auto planned = sql::PlanPipeline(kPipeline);
  if (!planned.ok()) {
    std::fprintf(stderr, "%s\n", planned.status().ToString().c_str());
    return 1;
  }
  const Pipeline& pipeline = *planned;
  const int64_t base_us = 1767225600LL * 1000000;  // one open window for the whole run
  for (int64_t keys : sizes) {
    std::filesystem::remove_all(dir);
    auto store = sinks::KvStore::Open(dir);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    // State: every key once.
    ops::QueryPipeline p(pipeline, 0, 1, WallNow());
    double unused = 0;
    auto t0 = Clock::now();
    Feed(&p, keys, 1, base_us, nullptr, std::chrono::milliseconds(0), &unused);
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
    store->reset();
    // Recovery: open the store, restore everything.
    t0 = Clock::now();
    auto reopened = sinks::KvStore::Open(dir);
    if (!reopened.ok()) return 1;
    ops::QueryPipeline restored(pipeline, 0, 1, WallNow());
    auto rec = (*reopened)->Get("sluice.meta", "checkpoint/bench");
    if (!rec.ok() || !restored.Restore(*rec, reopened->get(), "state.bench").ok()) return 1;
    const double recover_s = Seconds(Clock::now() - t0);
    const bool same = restored.open_groups() == p.open_groups();
    // Throughput: 3 more passes over every key, checkpoints every 10 s versus none.
    const int passes = static_cast<int>(std::max<int64_t>(3, 30'000'000 / keys));
    double cp_seconds = 0;
    t0 = Clock::now();
    double cpu0 = CpuSeconds();
    Feed(&restored, keys, passes, base_us, nullptr, std::chrono::milliseconds(0), &unused);
    const double off_s = Seconds(Clock::now() - t0), off_cpu = CpuSeconds() - cpu0;
    t0 = Clock::now();
    cpu0 = CpuSeconds();
    const int taken = Feed(&restored, keys, passes, base_us, reopened->get(), std::chrono::milliseconds(10000), &cp_seconds);
    const double on_s = Seconds(Clock::now() - t0), on_cpu = CpuSeconds() - cpu0;
    const double rows_total = static_cast<double>(keys) * passes;
    std::printf(
        "{\"keys\":%lld,\"build_seconds\":%.3f,\"full_checkpoint_seconds\":%.3f,\"full_checkpoint_serialize_seconds\":%.3f,\"full_checkpoint_mb\":%.1f,"
        "\"incremental_checkpoint_seconds\":%.3f,\"incremental_checkpoint_mb\":%.2f,\"recovery_seconds\":%.3f,"
        "\"restored_groups_match\":%s,\"rows_per_s_checkpoints_off\":%.0f,\"rows_per_s_checkpoints_on\":%.0f,"
        "\"cpu_s_off\":%.2f,\"cpu_s_on\":%.2f,\"checkpoints_taken\":%d,\"checkpoint_seconds_total\":%.3f,"
        "\"peak_rss_mb\":%ld}\n",
        static_cast<long long>(keys), build_s, full_s, full_delta_s, static_cast<double>(full_bytes) / 1e6, inc_s,
        static_cast<double>(inc_bytes) / 1e6, recover_s, same ? "true" : "false", rows_total / off_s, rows_total / on_s,
        off_cpu, on_cpu, taken, cp_seconds, PeakRssMb());
    std::fflush(stdout);
    reopened->reset();
    std::filesystem::remove_all(dir);
  }
  return 0;
}
