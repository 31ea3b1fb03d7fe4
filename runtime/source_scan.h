// SourceScan: a shared scan of one source by every query that reads it. The scan owns the
// source's splits (shards or partitions), reads each split once per step, decodes each batch
// once (with the union of the columns its queries read) and hands the decoded rows to every
// query's ops::QueryPipeline, whose output goes to that query's sink:
//
//   splits → read → decode (once) ─┬→ query 1: WHERE → window / stages / projection → sink 1
//                                   └→ query 2: …                                  → sink 2
//
// The scan holds no thread: runtime::Engine's workers call Step() (runtime/engine.h). Every
// per-record and per-watermark decision is made by ops::QueryPipeline, which the golden test
// runner drives too.
//
// Watermarks (see QueryPipeline): per query and split, max event time − watermark_delay, the
// minimum over splits that are not idle; a split is idle after idle_timeout of wall clock without
// records. Each step reads one batch per split, then advances each query's watermark once, so
// rows of one step are judged late against the watermark of the previous step.
// Resharding: new shards are picked up each step (Source::splits_version()); a child shard is
// read only once all its parents are read to their end, so per-key order holds across a reshard
// (as the Kinesis Client Library does); finished parents and waiting children do not hold the
// watermark back.
// Bad records go to the dead-letter queue once per record (stage "decode"), however many
// queries read the source; late records (every window they belong to ended allowed_lateness or
// more before the watermark) are counted in sluice_late_records_total{query} and written there
// with stage "late" — or, when the source names a late_output stream, appended to that stream.
//
// Checkpoints (docs/checkpoints.md): the end of a step is an aligned barrier for every query of
// the scan — every split has delivered exactly the records before its position and nothing after.
// At such a point the scan builds ONE StateStore batch holding, for each query, the window state
// changed since the last checkpoint, the sink's part (staged KV rows; archive buffers and
// prepared files) and the query's commit record (source positions, watermark state; see
// checkpoint_record.h). The commit runs asynchronously while the worker goes on (one commit in
// flight at a time, as Flink's asynchronous snapshots); when it has finished, the sinks publish
// what that checkpoint covers. Each query keeps its own record, so a query added to a pipeline
// later starts from its splits' first records while the others resume: the scan seeks each split
// to the smallest saved position and skips, per query, the records that query has already seen.
// On start the scan restores the last committed checkpoint; a failed commit restarts the scan
// the same way, in-process. A scan that cannot restart is stopped, with the reason in
// QueryStatus::last_error and state "failed".
//
// Thread-safety: Restore/Step/Finish from one worker thread at a time; RequestCheckpoint and
// statuses() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/metrics.h"
#include "core/plan.h"
#include "core/state_store.h"
#include "operators/query_pipeline.h"
#include "runtime/dead_letter.h"

namespace sluice::runtime {

/// Tuning for the scans of one engine. Not changeable after Start().
struct ScanOptions {
  /// Records read from one split per step. Unit: records. Default: 1024.
  size_t batch_records = 1024;
  /// Longest wait for new data when caught up; also the period of idle checks and sink ticks.
  /// Unit: milliseconds. Default: 100 ms.
  std::chrono::milliseconds poll_interval{100};
  /// Time between periodic checkpoints. Shorter means less replay after a crash and more commits.
  /// Default: 10 s (as Flink's usual setting).
  std::chrono::milliseconds checkpoint_interval{10000};
  /// Least time between checkpoints that a sink asks for (rows waiting to become visible). The
  /// trade-off: result latency in KV tables versus commits per second. Default: 100 ms.
  std::chrono::milliseconds min_checkpoint_pause{100};
  /// Bound of each windowed query's state cache, in (pane, key) groups for TUMBLE/HOP and
  /// sessions for SESSION; beyond it state is evicted to the state store at checkpoints, and a
  /// query over the bound checkpoints as soon as min_checkpoint_pause allows
  /// (ops::WindowAggregate::EnableSpill, ops::SessionWindowAggregate::EnableSpill). Stage plans
  /// are not bounded. 0 = unbounded (all state in memory). Default: 1,000,000.
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
  /// "running"; "stopped" after Stop(); "failed" when the query could not recover (last_error
  /// says why) and no longer reads its source.
  std::string state = "running";
  int worker = -1;            ///< The engine worker that runs the query's scan.
  EventTime watermark = EventTime::Min();
  std::string holding_split;  ///< The split whose watermark is the minimum, or empty.
  Duration idle_timeout{};    ///< The source's idle_timeout (0: splits never go idle).
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

/// What a scan needs from its surroundings. Every pointer must outlive the scan.
struct ScanEnv {
  const Pipeline* pipeline = nullptr;
  /// Holds the checkpoints: state space "state.<query name>", records in "sluice.meta".
  StateStore* store = nullptr;
  DeadLetterQueue* dlq = nullptr;
  MetricsRegistry* metrics = nullptr;
};

/// One query of a scan: its index in Pipeline::queries and its sink (used only by the worker
/// thread; outlives the scan).
struct ScanQuery {
  int query_index = 0;
  Sink* sink = nullptr;
};

class SourceScan {
 public:
  /// A scan of source `source_index` of env.pipeline for `queries` (each must read that source;
  /// at least one). `source` and `late_output` (nullptr: late records go to the dead-letter
  /// queue) must outlive the scan; `decoder` decodes at least the columns every query reads.
  SourceScan(const ScanEnv& env, int source_index, Source* source, std::unique_ptr<RowDecoder> decoder,
             std::vector<ScanQuery> queries, RecordAppender* late_output, ScanOptions options);
  ~SourceScan();

  /// Restores the last committed checkpoint of every query (state, positions, sinks).
  /// Errors: Corruption when a checkpoint record or state is damaged; InvalidArgument when the
  /// saved state was made by a query whose window, GROUP BY or aggregates differ (the message
  /// shows both); IOError from the store or a sink.
  Status Restore();
  /// Reads one batch from each readable split, runs it through every query, advances time and
  /// checkpoints when due. Sets `*any` when some split returned records. Never throws: an
  /// exception (bad_alloc) fails the scan like an unrecoverable error (failed() turns true).
  void Step(bool* any);
  /// Seals every sink and takes a final checkpoint (unless the scan failed). Call once, last.
  void Finish();
  /// True once the scan could not recover and has stopped processing (statuses() say why).
  bool failed() const { return failed_.load(); }
  /// Blocks until new data may be available on the source (Source::WaitForData).
  uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds timeout) { return source_->WaitForData(seen, timeout); }

  /// Asks for a checkpoint at the next step boundary and waits until it has committed or
  /// `timeout` passes. Returns the checkpoint id. Errors: Unavailable on timeout or when the scan
  /// is not running; the commit's error. Thread-safe.
  Result<uint64_t> RequestCheckpoint(std::chrono::milliseconds timeout);
  /// Marks the scan as running (after Restore()) or not, for RequestCheckpoint(); when it stops,
  /// pending requests are answered Unavailable. Thread-safe.
  void SetRunning(bool running);
  /// The worker running this scan, for statuses.
  void set_worker(int worker);
  /// A snapshot of each query, in the order given to the constructor. Thread-safe.
  std::vector<QueryStatus> statuses() const;
  /// The queries' indexes in Pipeline::queries, in constructor order.
  const std::vector<ScanQuery>& queries() const { return queries_spec_; }
  /// The state-store key of query `query_name`'s checkpoint record in space "sluice.meta".
  static std::string RecordKey(const std::string& query_name) { return "checkpoint/" + query_name; }

 private:
  struct Split;
  struct Query;
  struct SplitGauges;
  static void AttachQueryMetrics(MetricsRegistry* metrics, const std::string& sink_name, Query* q);
  static SplitGauges SplitMetrics(MetricsRegistry* metrics, const std::string& query, const std::string& shard);
  Status RefreshSplits();                // picks up shards a reshard created
  bool Readable(const Split& s) const;   // every parent shard finished
  void ProcessSplit(size_t si, bool* any, std::string* last_error);
  void HandleLate(Query& q, Split& s, const std::vector<size_t>& index, std::string* last_error);
  Status BeginCheckpoint();              // barrier: serialize, prepare the sinks, start the commit
  Status FinishCheckpoint(bool wait);    // if the commit finished (or `wait`): publish, metrics
  void MaybeCheckpoint(EventTime now, bool force);
  void Fail(const std::string& reason);  // stop for good, with the reason in the statuses
  void UpdateStatus(EventTime now, const std::string& last_error);
  void AnswerRequests(const Status& st);

  const ScanEnv env_;
  const SourceDef& source_def_;
  Source* source_;
  std::unique_ptr<RowDecoder> decoder_;
  const std::vector<ScanQuery> queries_spec_;
  std::vector<std::unique_ptr<Query>> queries_;
  RecordAppender* late_output_;
  const ScanOptions options_;
  std::vector<std::unique_ptr<Split>> splits_;
  // Step()'s buffers, kept between steps (the decoder's rows keep their buffers).
  std::vector<Row> rows_, sub_rows_, out_;
  std::vector<size_t> index_, sub_index_;
  std::vector<DecodeError> errors_;
  std::vector<ops::LateRow> late_;
  std::vector<std::pair<std::string, std::string>> late_batch_;
  bool broken_ = false;                 // a restart failed: stop without checkpointing
  std::atomic<bool> failed_{false};
  int state_read_failures_ = 0;         // spilled-state read errors since the last commit
  uint64_t splits_version_ = 0;         // Source::splits_version() when splits_ was last updated
  uint64_t checkpoint_id_ = 0;          // last committed (the largest of the queries' records)
  struct InFlight {
    uint64_t id = 0;
    std::chrono::steady_clock::time_point started;
    size_t bytes = 0;
    std::vector<uint64_t> positions;    // each split's saved next_position, by index
    std::future<Status> result;         // valid while a commit runs or awaits FinishCheckpoint()
  } in_flight_;
  EventTime last_checkpoint_;           // wall clock of the last commit (or of start)

  std::mutex request_mu_;
  std::condition_variable request_cv_;
  bool running_ = false;                // GUARDED_BY(request_mu_)
  uint64_t requested_ = 0;              // GUARDED_BY(request_mu_): requests made
  uint64_t served_ = 0;                 // GUARDED_BY(request_mu_): requests answered
  Status request_status_;               // GUARDED_BY(request_mu_)
  std::atomic<bool> request_pending_{false};

  Counter* records_read_;     // per source: records read from the splits
  Counter* records_decoded_;  // per source: records decoded (once per record, for all queries)
  Counter* source_bad_records_;  // per source: records that failed to decode

  mutable std::mutex status_mu_;
  std::vector<QueryStatus> status_;  // GUARDED_BY(status_mu_), one per query
};

}  // namespace sluice::runtime
