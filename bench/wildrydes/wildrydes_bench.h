// `sluice-bench wildrydes`: the Wild Rydes demo pipeline (examples/wildrydes/pipeline.sql) end to
// end through HTTP, the log, the queries and the KV table. The server runs inside the
// sluice-bench process (it links sluice_app as a library; unlike nexmark t3 it does not start
// `sluice` by path), because the latency phase listens to the KV sink's writes (RowListener).
//
//   sluice-bench wildrydes [--duration S (default 20)] [--rate R] [--connections C] [--unicorns U]
//                          [--warmup S] [--full-windows] [--workers N (default: one per core)]
//   sluice-bench wildrydes --in-process [--events N (default 4M)] [--workers N] [--unicorns U]
//
// --in-process: no HTTP and no log. The shipped pipeline runs on runtime::Engine
// (bench/engine_run.h) with its 4 shards as generated splits: shard k makes the statuses of
// unicorns j with j mod 4 == k, one per unicorn per simulated second, as workshop JSON, decoded by
// ingest::JsonDecoder as in the server; both queries' output is counted (no KV table or archive
// files). Reports records/s (wall) and records per CPU-second of the whole process (generating
// and formatting the JSON included), for worker-scaling measurements.
//
// Two phases, each on a fresh server (127.0.0.1, port chosen by the kernel, temp data dir):
//  1. Peak: C keep-alive connections send PutRecords of 500 workshop-format statuses
//     (PartitionKey = Name, StatusTime = now) as fast as they are answered for S seconds. Peak
//     throughput = records acknowledged ÷ the wall time until every query has consumed them.
//  2. Latency at R records/s (default: 70% of the measured peak): an open-loop schedule, record
//     i scheduled at t0 + i/R with StatusTime = its scheduled time; a call of 500 records is sent
//     at its last record's scheduled time, whether or not earlier calls have been answered (no
//     coordinated omission). A row is readable when the KV sink's write has returned (the
//     RowListener fires). Reported two ways:
//       per event (the headline): readable time of the event's (unicorn, window) row − the event's
//         scheduled send time − watermark_delay; it includes the wait for the window to end
//         (uniform over the window length);
//       per window row: readable time − window_end − watermark_delay, the time past the earliest
//         moment the window could close (when the first record that closes it is scheduled): the
//         engine's share.
//     Events and rows of windows that end in the warm-up or near the end of the schedule are not
//     counted.
// By default the pipeline's window is shortened to 200 ms and its watermark delay to 500 ms
// (text substitution on the shipped pipeline; --full-windows keeps 1 minute / 5 s), so that a
// 20 s run closes ~90 windows, each giving one row per unicorn. Rows of one window are written
// together, so percentiles over rows are in effect over windows (both counts are reported). The
// archive query (gzip JSON lines) runs as shipped.
// Output: human-readable lines and one JSON line per phase ({"bench":"wildrydes",...}).
// Exit codes: 0 ok, 1 failure, 2 bad usage.
// Thread-safety: called once from main().
#pragma once

#include <string>
#include <vector>

namespace sluice::bench {

/// `sluice-bench wildrydes ARGS...`; returns the exit code.
int RunWildRydesBenchMain(const std::vector<std::string>& args);

}  // namespace sluice::bench
