// `sluice-bench nexmark`: Nexmark throughput of the engine (docs/benchmarks.md reports it).
//
//   sluice-bench nexmark --query qN [--events N] [--tier t1|t2|t3|all] [--runs R]
//                        [--batch-rows B] [--connections C] [--rate EVENTS_PER_S]
//                        [--checkpoint-interval SECONDS] [--queries-dir DIR] [--all-columns]
//                        [--sluice PATH] [--workers N [--splits S]]
//
// The Nexmark query file is looked up as, in order: DIR/qN.sql (--queries-dir), then under
// $SLUICE_SOURCE_DIR (when set) examples/nexmark/queries/qN.sql and bench/nexmark/queries/qN.sql,
// then the copies of those two folders the build puts next to the binary
// (<exe dir>/nexmark/queries/{examples,bench}). A query whose file is missing
// or does not plan yet (q5/q7/q8 need joins) is reported as "not available yet" (exit code 3).
//
// Events come from examples/nexmark/generator.h with the suite's settings (10M events/s of event
// time, 10% of events delayed by up to 3 s). A source table named bid(s), person(s)/people or
// auction(s) receives the events of that type; a source with any other name receives every event.
// `events` counts every generated event, as the Nexmark metric does, including the ones the query
// does not read (those are dropped at the source, untimed in T2 and T3).
//
// Two figures per run (events ÷ CPU seconds, user+system):
//   whole process: every CPU second of the run, the generator included. This is the Nexmark
//     metric in the anchors' terms (in nexmark/nexmark the generator is the job's source), and
//     what `/usr/bin/time` sees from outside (plus process start-up and query planning).
//   query only: the CPU of the query part alone (generation excluded), as the earlier reports.
// Tiers:
//   t1: the query on runtime::Engine, the product's step loop (bench/engine_run.h): a source of S
//       splits (--splits, default 1), split k running generator instance k of S (event numbers
//       k, k + S, …) as the events are read, so memory stays bounded whatever --events is; the
//       records are generated structs, turned into Rows of the source schema (no JSON) by the
//       decoder, and processed by N workers (--workers, default 1) with the engine's shared
//       scan, key-group exchange and checkpoints (RocksDB in a temporary folder, a final one at
//       the stop). Windowed sources get one more record per split at the end, its last event an
//       hour later, so every window closes (as t3's sentinels; not counted as events). Timed
//       from Engine::Start() until every record was read; the output rows are then counted once
//       they settle. The generator's CPU is the splits' thread CPU while generating; query only
//       = the rest.
//   t2: as t1, but each split renders its events as JSON lines (counted with the generator) and
//       ingest::JsonDecoder (simdjson) decodes them.
//   t3: `sluice run` (the binary given by --sluice, default DefaultSluiceBinary()) as a child
//       process on 127.0.0.1 with a temp data dir; C keep-alive HTTP/1.1
//       connections send PutRecords of 500 records (bodies built before timing) into the log; the
//       server's query reads the log. Timed from the first call until /queries reports that every
//       event was consumed. Query-only CPU and peak RSS are the server process's (/proc/PID); the
//       whole-process figure adds this process's CPU (generating, encoding and sending). t3
//       builds every request body before timing, so this process holds them all in memory.
//       Windowed queries then get one far-future event per shard (untimed) so that every window
//       closes, and the output row count is read once they are processed; t1/t2 do the same
//       inside their splits, so all three tiers give the same output row count.
// Projection pushdown (t1, t2): only the source columns some query reads (ops::ColumnsUsed) are
// filled (t1) or decoded (t2, JsonDecoder::SetNeededColumns); --all-columns turns it off. t3 runs
// the server as it is wired (app/server.cc).
// CPU time in t1/t2 is getrusage(RUSAGE_SELF) user+system (bench/proc_stats.h).
// Peak RSS is ru_maxrss (t1/t2: of this process so far) or VmHWM (t3: of the server).
//
// Checkpoints: on by default every 10 s of wall time (--checkpoint-interval S; 0 turns them off),
// as the Nexmark method asks. t1/t2 take the engine's own checkpoints (aligned barriers, one
// atomic RocksDB commit, docs/checkpoints.md) inside the timed span; t3 passes the interval to the
// server.
//
// Output: per run, one human-readable line and one JSON line ({"bench":"nexmark",...}) on stdout.
// Exit codes: 0 ok, 1 a run failed, 2 bad usage, 3 query not available yet.
// Thread-safety: the entry points are called once from main().
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace sluice::bench {

/// Options of one `sluice-bench nexmark` invocation.
struct NexmarkBenchOptions {
  /// Query name, "q0" … "q22"; selects the query file.
  std::string query = "q0";
  /// Generated events per run (all types). Default: 1,000,000.
  int64_t events = 1'000'000;
  /// "t1", "t2" or "t3".
  std::string tier = "t1";
  /// Rows per ProcessBatch call in t1/t2. Unit: rows. Default: 1024.
  size_t batch_rows = 1024;
  /// t3: concurrent HTTP connections. Default: 4.
  int connections = 4;
  /// Events per second of event time (the generator's rate). Default: 10M (the suite's cap).
  double rate = 10'000'000;
  /// Checkpoint interval, seconds; 0 = off. Default: 10 (the Nexmark method's setting).
  double checkpoint_interval_s = 10;
  /// Extra directory searched first for qN.sql; empty = none.
  std::string queries_dir;
  /// t1/t2: fill/decode every source column, not only those the query reads. Default: false.
  bool all_columns = false;
  /// t3: the `sluice` binary to start. Default (empty): DefaultSluiceBinary().
  std::string sluice_binary;
  /// t1, t2: the runtime::Engine worker count (>= 1). t3 runs the server with its own default.
  /// Default: 1.
  int workers = 1;
  /// t1, t2: generated splits per source (Nexmark generator instances, >= 1). Default: 1, so
  /// the events are exactly the single generator's first N, as t3 sends them (S instances of
  /// stride S make the same number of events but not quite the same ones).
  int splits = 1;
};

/// The figures of one run.
struct NexmarkRunResult {
  int64_t events = 0;            ///< Generated events (all types).
  int64_t events_read = 0;       ///< Events delivered to the query's source(s).
  double wall_s = 0;             ///< Wall-clock seconds of the query part. Unit: seconds.
  /// Query only: user+system CPU seconds of the query part (t1/t2: this process, generation
  /// excluded; t3: the server process). Unit: seconds.
  double cpu_s = 0;
  /// Whole process, the anchors' terms: user+system CPU seconds of the whole run with the
  /// generator included (t1/t2: this process from before the engine starts to after it stopped;
  /// t3: the server's CPU plus this process's generating, encoding and sending).
  /// Unit: seconds.
  double whole_cpu_s = 0;
  double whole_wall_s = 0;       ///< Wall-clock seconds of the whole run. Unit: seconds.
  double generator_cpu_s = 0;    ///< CPU spent generating/rendering events (part of whole_cpu_s). Unit: seconds.
  int64_t output_rows = 0;       ///< Rows the query emitted (counted, discarded in t1/t2).
  int64_t late_rows = 0;         ///< Rows the window operator rejected as late.
  int64_t bad_records = 0;       ///< Records the decoder rejected (t2/t3).
  int64_t peak_rss_kib = 0;      ///< Peak resident set size. Unit: KiB.
  int64_t checkpoints = 0;       ///< The last checkpoint id a query committed (t1/t2; -1 = not counted, t3).
  std::string query_file;        ///< The query file used.
};

/// Finds the query file for `query` (see the search order above). Returns its path, or
/// NotFound listing the places searched.
Result<std::string> FindNexmarkQueryFile(const std::string& query, const std::string& extra_dir);

/// Runs one Nexmark run. Errors: NotFound / InvalidArgument when the query is not available
/// (missing or does not plan), Unavailable / IOError / Internal when t3's server or HTTP fails.
Result<NexmarkRunResult> RunNexmarkOnce(const NexmarkBenchOptions& options);

/// The `sluice` binary of the build tree this binary belongs to: <dir of /proc/self/exe>/../app/sluice
/// (sluice-bench is built as <build>/bench/sluice-bench). The file may not exist.
std::string DefaultSluiceBinary();

/// `sluice-bench nexmark ARGS...` with ARGS after "nexmark"; returns the exit code (see above).
int NexmarkBenchMain(const std::vector<std::string>& args);

}  // namespace sluice::bench
