// QueryRunner: runs one INSERT INTO … SELECT as a dataflow on its own worker thread:
//   source splits → decode (RowDecoder) → ops::QueryPipeline (WHERE → TUMBLE/HOP/SESSION window
//   aggregate | projection) → sink.
// The runner owns threads, I/O and metrics; every per-record and per-watermark decision is made
// by ops::QueryPipeline (operators/query_pipeline.h), which the golden test runner drives too.
//
// Watermarks (see QueryPipeline): per split max event time − watermark_delay, minimum over
// splits that are not idle; a split is idle after idle_timeout of wall clock without records.
// Each step reads one batch per split, then advances the watermark once, so rows of one step are
// judged late against the watermark of the previous step.
// Bad records go to the dead-letter queue with stage "decode"; late records (every window they
// belong to ended allowed_lateness or more before the watermark) are counted in
// sluice_late_records_total and written there with stage "late" — the late-data side output.
//
// Restart behaviour (until checkpoints land): a windowed query replays its source from the oldest
// retained record, rebuilding window state (KV upserts make the re-emitted rows idempotent).
// A projection query saves its source positions each time its sink has published everything it
// read, and resumes from them.
//
// Thread-safety: Start/Stop from one controlling thread; status() from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/connector.h"
#include "core/metrics.h"
#include "core/plan.h"
#include "operators/query_pipeline.h"
#include "runtime/dead_letter.h"

namespace sluice::runtime {

/// Tuning for one runner. Not changeable after Start().
struct QueryRunnerOptions {
  /// Records read from one split per step. Unit: records. Default: 1024.
  size_t batch_records = 1024;
  /// Longest wait for new data when caught up; also the period of idle checks and sink ticks.
  std::chrono::milliseconds poll_interval{100};
};

/// A split's view for status pages.
struct SplitStatus {
  std::string id;
  EventTime max_event_time = EventTime::Min();
  bool idle = false;
  uint64_t next_position = 1;
};

/// A snapshot of a running query, for GET /queries and metrics.
struct QueryStatus {
  std::string name, source, sink;
  EventTime watermark = EventTime::Min();
  std::string holding_split;  ///< The split whose watermark is the minimum, or empty.
  size_t open_windows = 0;
  uint64_t records_in = 0, bad_records = 0, late_records = 0, rows_emitted = 0;
  std::vector<SplitStatus> splits;
  std::string last_error;
};

class QueryRunner {
 public:
  /// Every pointer must outlive the runner. `sink` and `decoder` are used only by its thread.
  QueryRunner(const Pipeline* pipeline, int query_index, Source* source, std::unique_ptr<RowDecoder> decoder,
              Sink* sink, MetaStore* meta, DeadLetterQueue* dlq, MetricsRegistry* metrics,
              QueryRunnerOptions options = {});
  ~QueryRunner();

  /// Opens the splits, seeks them to their saved positions and starts the worker thread.
  /// Errors: IOError/Corruption from reading saved positions.
  Status Start();
  /// Stops the worker after its current step, flushes and closes the sink. Idempotent.
  void Stop();
  QueryStatus status() const;

 private:
  struct Split;
  void Run();
  void Step(bool* any);
  void SavePositions();

  const Pipeline* pipeline_;
  const int query_index_;
  const QueryDef& query_;
  const SourceDef& source_def_;
  Source* source_;
  std::unique_ptr<RowDecoder> decoder_;
  Sink* sink_;
  MetaStore* meta_;
  DeadLetterQueue* dlq_;
  const QueryRunnerOptions options_;
  const bool windowed_;
  std::unique_ptr<ops::QueryPipeline> dataflow_;  // created by Start() once the splits are known
  std::vector<std::unique_ptr<Split>> splits_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  bool positions_dirty_ = false;

  Counter* records_in_;
  Counter* bad_records_;
  Counter* late_records_;
  Counter* rows_emitted_;
  Gauge* watermark_lag_;
  Gauge* watermark_gauge_;
  Gauge* open_windows_gauge_;

  mutable std::mutex status_mu_;
  QueryStatus status_;  // GUARDED_BY(status_mu_)
};

}  // namespace sluice::runtime
