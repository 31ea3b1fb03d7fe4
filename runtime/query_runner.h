// QueryRunner: runs one INSERT INTO … SELECT as a dataflow on its own worker thread:
//   source splits → decode (RowDecoder) → ops::QueryPipeline (WHERE → TUMBLE/HOP/SESSION window
//   aggregate | projection) → sink.
// The runner owns threads, I/O, checkpoints and metrics; every per-record and per-watermark
// decision is made by ops::QueryPipeline (operators/query_pipeline.h), which the golden test
// runner drives too.
//
// Watermarks (see QueryPipeline): per split max event time − watermark_delay, minimum over
// splits that are not idle; a split is idle after idle_timeout of wall clock without records.
// Each step reads one batch per split, then advances the watermark once, so rows of one step are
// judged late against the watermark of the previous step.
// Resharding: new shards are picked up each step (Source::splits_version()); a child shard is
// read only once all its parents are read to their end, so per-key order holds across a reshard
// (as the Kinesis Client Library does); finished parents and waiting children do not hold the
// watermark back.
// Bad records go to the dead-letter queue with stage "decode"; late records (every window they
// belong to ended allowed_lateness or more before the watermark) are counted in
// sluice_late_records_total and written there with stage "late" — or, when the source names a
// late_output stream, appended to that stream as JSON with the reason and the watermark.
//
// Checkpoints (docs/checkpoints.md): a query's operators all run on this one thread, so the end
// of a step is an aligned barrier — every split has delivered exactly the records before its
// position and nothing after. At such a point the runner builds one StateStore batch holding the
// window state changed since the last checkpoint, the sink's part (staged KV rows; archive
// buffers and prepared files) and the commit record (source positions, watermark state; see
// checkpoint_record.h). The commit itself runs asynchronously while the worker goes on (one
// commit in flight at a time, as Flink's asynchronous snapshots); when it has finished, the
// worker lets the sink publish what that checkpoint covers. It checkpoints every checkpoint_interval, and
// sooner (after min_checkpoint_pause) when the sink has output waiting to become visible.
// On start it restores the last committed checkpoint: operator state, split positions and
// watermarks, and the sink (Recover()), then replays from the saved positions. A failed commit
// restarts the query the same way, in-process.
//
// Thread-safety: Start/Stop/RequestCheckpoint from controlling threads; status() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/connector.h"
#include "core/metrics.h"
#include "core/plan.h"
#include "core/state_store.h"
#include "operators/query_pipeline.h"
#include "runtime/dead_letter.h"

namespace sluice::runtime {

/// Tuning for one runner. Not changeable after Start().
struct QueryRunnerOptions {
  /// Records read from one split per step. Unit: records. Default: 1024.
  size_t batch_records = 1024;
  /// Longest wait for new data when caught up; also the period of idle checks and sink ticks.
  std::chrono::milliseconds poll_interval{100};
  /// Time between periodic checkpoints. Shorter means less replay after a crash and more commits.
  /// Default: 10 s (as Flink's usual setting).
  std::chrono::milliseconds checkpoint_interval{10000};
  /// Least time between checkpoints that a sink asks for (rows waiting to become visible). The
  /// trade-off: result latency in KV tables versus commits per second. Default: 100 ms.
  std::chrono::milliseconds min_checkpoint_pause{100};
  /// Bound of the window state cache, in (pane, key) groups for TUMBLE/HOP and sessions for
  /// SESSION; beyond it state is evicted to the state store at checkpoints, and a query over the
  /// bound checkpoints as soon as min_checkpoint_pause allows (ops::WindowAggregate::EnableSpill,
  /// ops::SessionWindowAggregate::EnableSpill). Stage plans are not bounded. 0 = unbounded (all
  /// state in memory). Default: 1,000,000.
  size_t state_cache_groups = 1000000;
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
  size_t state_groups = 0;    ///< Window state groups in memory.
  size_t spilled_groups = 0;  ///< Window state groups only in the state store (bounded cache).
  uint64_t state_evictions = 0;  ///< Groups evicted from the state cache since the server started.
  uint64_t state_reads = 0;      ///< Groups read back from the state store since the server started.
  uint64_t records_in = 0, bad_records = 0, late_records = 0, rows_emitted = 0;
  std::vector<SplitStatus> splits;
  uint64_t checkpoint_id = 0;                 ///< The last committed checkpoint (0: none yet).
  EventTime checkpoint_time = EventTime::Min();  ///< When it was taken (wall clock).
  std::string last_error;
};

class QueryRunner {
 public:
  /// Every pointer must outlive the runner. `sink` and `decoder` are used only by its thread.
  /// `store` holds the checkpoints (state space "state.<query name>", records in "sluice.meta").
  QueryRunner(const Pipeline* pipeline, int query_index, Source* source, std::unique_ptr<RowDecoder> decoder,
              Sink* sink, StateStore* store, DeadLetterQueue* dlq, MetricsRegistry* metrics,
              QueryRunnerOptions options = {});
  ~QueryRunner();

  /// Restores the last committed checkpoint (state, positions, sink) and starts the worker.
  /// Errors: Corruption when the checkpoint record or state is damaged; InvalidArgument when
  /// the saved state was made by a query whose window, GROUP BY or aggregates differ (the message
  /// shows both); IOError from the store or the sink.
  Status Start();
  /// Stops the worker after its current step, seals the sink and takes a final checkpoint.
  /// Idempotent.
  void Stop();
  /// Asks the worker for a checkpoint at its next step boundary and waits until it has committed
  /// or `timeout` passes. Returns the checkpoint id. Errors: Unavailable on timeout, or
  /// when the runner is not running; the commit's error.
  Result<uint64_t> RequestCheckpoint(std::chrono::milliseconds timeout);
  QueryStatus status() const;
  /// Sends late records to `appender` (the source's late_output stream) instead of the
  /// dead-letter queue. Call before Start(); `appender` must outlive the runner. Delivery is
  /// at least once: records of a step replayed after a crash are appended again.
  void SetLateOutput(RecordAppender* appender) { late_output_ = appender; }
  /// The state-store key of this query's checkpoint record in space "sluice.meta".
  static std::string RecordKey(const std::string& query_name) { return "checkpoint/" + query_name; }

 private:
  struct Split;
  void Run();
  void Step(bool* any);
  Status Restore();
  Status RefreshSplits();              // picks up shards a reshard created
  bool Readable(const Split& s) const;  // every parent shard finished
  Status BeginCheckpoint();             // barrier: serialize, prepare the sink, start the commit
  Status FinishCheckpoint(bool wait);   // if the commit finished (or `wait`): publish, metrics
  void MaybeCheckpoint(EventTime now, bool force);
  void AttachSplitMetrics(Split* s);    // the per-shard watermark gauges

  const Pipeline* pipeline_;
  const int query_index_;
  const QueryDef& query_;
  const SourceDef& source_def_;
  Source* source_;
  std::unique_ptr<RowDecoder> decoder_;
  Sink* sink_;
  StateStore* store_;
  const std::string state_space_;
  DeadLetterQueue* dlq_;
  const QueryRunnerOptions options_;
  const bool windowed_;
  std::unique_ptr<ops::QueryPipeline> dataflow_;  // created by Start() once the splits are known
  std::vector<std::unique_ptr<Split>> splits_;
  // Step()'s buffers, kept between steps.
  std::vector<Row> scratch_rows_, scratch_out_;
  std::vector<size_t> scratch_index_;
  std::vector<DecodeError> scratch_errors_;
  std::vector<ops::LateRow> scratch_late_;
  RecordAppender* late_output_ = nullptr;
  std::vector<std::pair<std::string, std::string>> late_batch_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
  bool broken_ = false;                 // a restart failed: stop without checkpointing
  int state_read_failures_ = 0;         // spilled-state read errors since the last commit
  uint64_t splits_version_ = 0;         // Source::splits_version() when splits_ was last updated
  uint64_t checkpoint_id_ = 0;          // last committed
  struct InFlight {
    uint64_t id = 0;
    std::chrono::steady_clock::time_point started;
    double serialize_seconds = 0;
    size_t bytes = 0;
    std::vector<uint64_t> positions;    // each split's saved next_position, by index
    std::future<Status> result;         // valid while a commit runs or awaits FinishCheckpoint()
  } in_flight_;
  EventTime last_checkpoint_;           // wall clock of the last commit (or of start)
  std::mutex request_mu_;
  std::condition_variable request_cv_;
  uint64_t requested_ = 0;              // GUARDED_BY(request_mu_): requests made
  uint64_t served_ = 0;                 // GUARDED_BY(request_mu_): requests answered
  Status request_status_;               // GUARDED_BY(request_mu_)
  std::atomic<bool> request_pending_{false};

  Counter* records_in_;
  Counter* bad_records_;
  Counter* late_records_;
  Counter* rows_emitted_;
  Gauge* watermark_lag_;
  Gauge* watermark_gauge_;
  Gauge* open_windows_gauge_;
  Gauge* state_groups_gauge_;
  Gauge* spilled_groups_gauge_;
  MetricsRegistry* metrics_;
  Counter* state_evictions_;
  Counter* state_reads_;
  uint64_t seen_evictions_ = 0, seen_reads_ = 0;  // the current pipeline's counts already added
  Counter* checkpoints_;
  Counter* checkpoint_failures_;
  Histogram* checkpoint_seconds_;
  Gauge* checkpoint_bytes_;
  Gauge* checkpoint_age_;

  mutable std::mutex status_mu_;
  QueryStatus status_;  // GUARDED_BY(status_mu_)
};

}  // namespace sluice::runtime
