// SourceScan: a shared scan of one source by every query that reads it, run by P workers (the
// scan's subtasks). Subtask w owns the source's splits i with i mod P == w (but see "partition
// key" below): it reads each of them
// once per step, decodes each batch once (with the union of the columns its queries read), and
// hands the rows to every query:
//
//   subtask w: its splits → read → decode (once) ─┬→ projection query: WHERE → projection → sink
//                                                  └→ windowed query: route by key group ─┐
//   subtask v (each):  exchange queues (SPSC) ← rows of v's key groups ←─────────────────┘
//                      → WHERE → window / session / stages → sink
//
// Key groups (operators/key_groups.h): a windowed query's state is split into K groups by its
// GROUP BY key; subtask v holds the contiguous groups Flink's KeyGroupRangeAssignment gives it
// (stage plans have one group, on subtask 0). Rows of other subtasks' groups go to them over a
// bounded single-producer, single-consumer queue per ordered pair of subtasks (spsc_queue.h), so
// the per-record path takes no lock. With one subtask nothing is exchanged. When a query's GROUP
// BY holds the source's partition key (SourceDef::partition_key_column) and the splits are shards
// with hash-key ranges, its key groups are placed by the key's hash key and each shard goes to the
// subtask that owns its groups instead of i mod P. When P divides the shard count (even ranges),
// every shard's groups belong to its reader and rows stay where they were read (exchange
// "partition key"); otherwise the groups a shard shares with another subtask's range are
// exchanged ("key group"). A sink is shared by
// the query's subtasks, behind a mutex taken once per batch of output rows.
//
// Watermarks: every subtask's pipeline of a windowed query tracks every split: a batch's message
// carries the batch's largest event time and counts as the split's activity, in order with its
// rows, so a subtask's watermark is the minimum over non-idle splits of the whole source, as with
// one subtask (see ops::QueryPipeline). Changes of a split's "holds the watermark" state (a
// finished parent shard, a child waiting for its parents) travel the same way.
// Resharding: new shards are picked up at the next barrier; a child shard is read only once all
// its parents are read to their end, so per-key order holds across a reshard (as the Kinesis
// Client Library does).
// Bad records go to the dead-letter queue once per record (stage "decode"), however many
// queries read the source; late records go there with stage "late" (a routed row carries its
// record's bytes for this), or to the source's late_output stream.
//
// Checkpoints (docs/checkpoints.md), as asynchronous barrier snapshots (Carbone et al. 2015)
// with aligned barriers: subtask 0 coordinates. When a checkpoint is due it raises the barrier;
// each subtask, at the end of its step, sends the barrier into every outgoing queue after the
// rows before it, then processes its incoming queues until the barrier has arrived from every
// other subtask (not reading past it), and pauses. When all are aligned, subtask 0 builds ONE
// StateStore batch with every subtask's part — each query's window state changed since the last
// checkpoint (each key group under its prefix), the sink's part and the query's commit record
// (source positions, the key-group count K, watermark state; checkpoint_record.h) — starts the
// commit asynchronously (one commit in flight at a time), and releases the subtasks. When the
// commit has finished, the sinks publish what it covers. A restore gives each subtask the key
// groups it owns under the current P, so a checkpoint taken with one worker count restores with
// another. Each query keeps its own record, so a query added to a pipeline later starts from its
// splits' first records while the others resume: the scan seeks each split to the smallest
// saved position and skips, per query, the records that query has already seen. A failed commit
// restarts the scan the same way, in-process; a scan that cannot restart is stopped, with the
// reason in QueryStatus::last_error and state "failed".
//
// Thread-safety: Restore() and Finish() while no subtask runs; Step(w) from one thread per w at a
// time; RequestCheckpoint(), HasWork() and statuses() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/metrics.h"
#include "core/progress.h"
#include "core/plan.h"
#include "core/state_store.h"
#include "operators/query_pipeline.h"
#include "runtime/dead_letter.h"
#include "runtime/spsc_queue.h"

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
  /// Messages (one per batch read) an exchange queue between two subtasks holds before its
  /// producer stops reading and waits. Default: 64.
  size_t exchange_queue_messages = 64;
  /// Watermark alignment, as Flink's WatermarkStrategy::withWatermarkAlignment: a split whose
  /// newest event time is more than this ahead of the slowest split that still has records to
  /// read is not read until that one catches up. It bounds how far splits read by different
  /// workers drift apart in event time, so whether a record is late does not depend on how the
  /// workers were scheduled (and open windows of the fast splits do not pile up). A split that
  /// is caught up (its last read returned nothing), finished, or waiting for its parents never
  /// holds others back. The slowest split's event time is taken as the least any worker has
  /// received of it. Applies to scans with a windowed query. 0 = no alignment. Default: 60 s.
  std::chrono::seconds max_watermark_drift{60};
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
  int worker = -1;            ///< The engine worker that coordinates the query's scan (subtask 0).
  int workers = 1;            ///< Subtasks (workers) the scan runs on.
  uint32_t key_groups = 1;    ///< K: key groups of the query's state (1: not split).
  /// "none", "key group", "partition key" (key groups placed by the partition key's hash key:
  /// rows stay on the worker that read their shard) or "single worker" (see SourceScan).
  std::string exchange;
  EventTime watermark = EventTime::Min();
  std::string holding_split;  ///< The split whose watermark is the minimum, or empty.
  Duration idle_timeout{};    ///< The source's idle_timeout (0: splits never go idle).
  size_t open_windows = 0;
  size_t state_groups = 0;    ///< Window state groups in memory.
  size_t spilled_groups = 0;  ///< Window state groups only in the state store (bounded cache).
  uint64_t state_evictions = 0;  ///< Groups evicted from the state cache since the server started.
  uint64_t state_reads = 0;      ///< Groups read back from the state store since the server started.
  uint64_t records_in = 0, bad_records = 0, late_records = 0, rows_emitted = 0;
  /// late_records by disposition: sent to the dead-letter queue, or to the source's late_output.
  uint64_t late_dead_letter = 0, late_side_output = 0;
  /// Why no window has fired yet, in words, or empty once one has (or for a projection).
  std::string pending_reason;
  /// Rows sent to another worker because it owns their key group (0 with one worker, and
  /// nearly 0 with exchange "partition key").
  uint64_t rows_exchanged = 0;
  std::vector<SplitStatus> splits;
  uint64_t checkpoint_id = 0;                 ///< The last committed checkpoint (0: none yet).
  EventTime checkpoint_time = EventTime::Min();  ///< When it was taken (wall clock).
  std::string last_error;
};

/// One checkpoint of a scan, committed or failed, for GET /checkpoints. Plain value.
struct CheckpointEvent {
  uint64_t id = 0;          ///< The checkpoint id (the failed one's, for a failure).
  std::string source;       ///< The scan's source.
  std::vector<std::string> queries;  ///< The queries it covers (all of the scan's).
  EventTime at;             ///< When it committed or failed (wall clock).
  double seconds = 0;       ///< From the barrier to the commit. Unit: seconds. 0 for a failure.
  uint64_t bytes = 0;       ///< Bytes the checkpoint wrote. 0 for a failure.
  std::string error;        ///< Empty when committed; else why it failed.
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
  /// Makes a decoder of the source's records (one per subtask) that fills at least the columns
  /// every query of the scan reads.
  using DecoderFactory = std::function<std::unique_ptr<RowDecoder>()>;
  /// A scan of source `source_index` of env.pipeline for `queries` (each must read that source;
  /// at least one), run by `parallelism` subtasks (>= 1). `source` and `late_output` (nullptr:
  /// late records go to the dead-letter queue) must outlive the scan.
  SourceScan(const ScanEnv& env, int source_index, Source* source, DecoderFactory decoders,
             std::vector<ScanQuery> queries, RecordAppender* late_output, ScanOptions options,
             int parallelism = 1);
  ~SourceScan();

  /// Restores the last committed checkpoint of every query (state, positions, sinks).
  /// Errors: Corruption when a checkpoint record or state is damaged; InvalidArgument when the
  /// saved state was made by a query whose window, GROUP BY or aggregates differ (the message
  /// shows both); IOError from the store or a sink.
  Status Restore();
  /// One step of subtask `subtask` (0 <= subtask < parallelism()): processes the rows other
  /// subtasks sent it, reads one batch from each readable split it owns and runs it through
  /// every query (routing rows of other subtasks' key groups to them), advances time, and takes
  /// part in a checkpoint when one is under way. Sets `*any` when it did any work. Never throws:
  /// an exception (bad_alloc) fails the scan like an unrecoverable error (failed() turns true).
  void Step(int subtask, bool* any);
  /// Convenience for one subtask: Step(0, any).
  void Step(bool* any) { Step(0, any); }
  /// After every subtask has stopped: processes what is still queued between subtasks, seals
  /// every sink and takes a final checkpoint (unless the scan failed). Call once, last.
  void Finish();
  /// True once the scan could not recover and has stopped processing (statuses() say why).
  bool failed() const { return failed_.load(); }
  /// Subtasks the scan runs on.
  int parallelism() const { return parallelism_; }
  /// True when subtask `subtask` has work that does not wait for the source: rows queued for
  /// it, a checkpoint under way. Thread-safe (a hint).
  bool HasWork(int subtask) const;
  /// True when subtask `subtask` reads some of the source's splits (then it should wait on the
  /// source when idle). Thread-safe (a hint).
  bool ReadsSplits(int subtask) const;
  /// Blocks until new data may be available on the source (Source::WaitForData).
  uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds timeout) { return source_->WaitForData(seen, timeout); }

  /// Asks for a checkpoint at the next step boundary and waits until it has committed or
  /// `timeout` passes. Returns the checkpoint id. Errors: Unavailable on timeout or when the scan
  /// is not running; the commit's error. Thread-safe.
  Result<uint64_t> RequestCheckpoint(std::chrono::milliseconds timeout);
  /// Marks the scan as running (after Restore()) or not, for RequestCheckpoint(); when it stops,
  /// pending requests are answered Unavailable. Thread-safe.
  void SetRunning(bool running);
  /// The worker running subtask 0, for statuses.
  void set_worker(int worker);
  /// A snapshot of each query, in the order given to the constructor. Thread-safe.
  std::vector<QueryStatus> statuses() const;
  /// The scan's last checkpoints (at most 50), newest first. Thread-safe.
  std::vector<CheckpointEvent> checkpoint_history() const;
  /// The queries' indexes in Pipeline::queries, in constructor order.
  const std::vector<ScanQuery>& queries() const { return queries_spec_; }
  /// The state-store key of query `query_name`'s checkpoint record in space "sluice.meta".
  static std::string RecordKey(const std::string& query_name) { return "checkpoint/" + query_name; }

 private:
  struct Split;
  struct Query;
  struct SplitGauges;
  struct Message;
  struct Subtask;
  using Channel = SpscQueue<Message>;
  static void AttachQueryMetrics(MetricsRegistry* metrics, const std::string& sink_name, Query* q);
  static SplitGauges SplitMetrics(MetricsRegistry* metrics, const std::string& query, const std::string& shard);
  Channel& channel(int from, int to) { return *channels_[static_cast<size_t>(from * parallelism_ + to)]; }
  // Handled row messages going back from consumer `from` to their producer `to`, for reuse.
  Channel& returns(int from, int to) { return *returns_[static_cast<size_t>(from * parallelism_ + to)]; }
  bool Exchanged(const Query& q) const;  // rows routed by key group between subtasks
  // The subtask that reads split `index`: index mod P, or, when a query is grouped by the
  // partition key (pk_groups_ > 0) and the split is a hash-key range, the owner of its groups.
  int SplitOwner(const SourceSplit& reader, size_t index) const;
  void UpdateOwnedMask();                  // splits_owned_mask_ and splits_by_hash_ from the splits' owners
  std::string ExchangeKind(const Query& q) const;  // QueryStatus::exchange
  Status RefreshSplits();                // picks up shards a reshard created (all subtasks paused)
  bool Readable(const Split& s) const;   // every parent shard finished
  bool AheadOfOthers(size_t split) const;  // max_watermark_drift: wait for slower splits
  void StepSubtask(Subtask& t, bool* any);
  void JoinBarrier(Subtask& t, uint64_t barrier);  // sends the barrier to every other subtask
  bool Barrier(Subtask& t, bool* any);  // the barrier protocol; true when t may read and process
  void ProcessSplit(Subtask& t, size_t si, bool* any);
  void DrainInbound(Subtask& t, bool* any, bool ignore_barriers);
  void Handle(Subtask& t, Message& m);
  bool Send(Subtask& t, int to, Message&& m);  // false: queued in t's pending messages
  bool FlushPending(Subtask& t);               // true when nothing is pending any more
  void WriteOutput(Subtask& t, Query& q, std::vector<Row>* rows);
  void HandleLate(Subtask& t, size_t qi, const std::string& split_id, const std::vector<uint64_t>& positions,
                  const std::vector<std::string_view>* data);
  void Coordinate(EventTime now);          // subtask 0: publish commits, raise barriers when due
  void OnAligned();                        // subtask 0, every subtask paused at the barrier
  Status BeginCheckpoint();              // every subtask paused: serialize, prepare the sinks, start the commit
  Status FinishCheckpoint(bool wait);    // if the commit finished (or `wait`): publish, metrics
  void Restart(const Status& cause, bool state_error);
  void Fail(const std::string& reason);  // stop for good, with the reason in the statuses
  void UpdateStatus(Subtask& t, EventTime now);
  void AnswerRequests(const Status& st);
  void ResetExchange();                  // every subtask paused: drop queued messages and barriers

  const ScanEnv env_;
  const SourceDef& source_def_;
  Source* source_;
  DecoderFactory decoders_;
  const std::vector<ScanQuery> queries_spec_;
  std::vector<std::unique_ptr<Query>> queries_;
  RecordAppender* late_output_;
  const ScanOptions options_;
  const int parallelism_;
  std::vector<std::unique_ptr<Split>> splits_;
  std::vector<std::unique_ptr<Subtask>> subtasks_;
  std::vector<std::unique_ptr<Channel>> channels_;  // [from * P + to]; from == to unused
  std::vector<std::unique_ptr<Channel>> returns_;   // [consumer * P + producer]: messages to reuse
  bool align_ = false;                  // some query is windowed: max_watermark_drift applies
  bool broken_ = false;                 // a restart failed: stop without checkpointing
  std::atomic<bool> failed_{false};
  int state_read_failures_ = 0;         // spilled-state read errors since the last commit
  uint64_t splits_version_ = 0;         // Source::splits_version() when splits_ was last updated
  std::atomic<int> splits_owned_mask_{0};  // bit w: subtask w owns a split (ReadsSplits())
  uint32_t pk_groups_ = 0;       // K of the first query grouped by the partition key (0: none); places splits
  bool splits_by_hash_ = false;  // every split is a hash-key range (a stream of the log)
  bool splits_aligned_ = false;  // and each open split's key groups all belong to its reader
  uint64_t checkpoint_id_ = 0;          // last committed (the largest of the queries' records)
  // The barrier protocol (subtask 0 raises, every subtask aligns, subtask 0 completes).
  std::atomic<uint64_t> barrier_raised_{0};
  std::atomic<uint64_t> barrier_released_{0};
  std::atomic<int> aligned_{0};
  bool barrier_forced_ = false;         // subtask 0: the raised barrier waits for its commit (a request)
  Status restart_cause_;                // subtask 0: restart from the last checkpoint at the next barrier
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

  void RecordCheckpoint(CheckpointEvent e);  // fills `queries`; keeps the last kCheckpointHistory
  void ReportReplay();  // subtask 0: the replay's progress (core/progress.h), while a backlog is read
  static constexpr uint64_t kReplayRecords = 100000;
  std::unique_ptr<Progress> replay_;  // subtask 0 only
  uint64_t replay_base_ = 0;          // records_read_ when the replay report began
  uint64_t replay_total_ = 0;         // the backlog then, in records
  bool replay_done_ = false;          // checked once; no report is due
  std::string PendingReason(const Query& q, const QueryStatus& st) const;  // QueryStatus::pending_reason
  static constexpr size_t kCheckpointHistory = 50;
  std::chrono::steady_clock::time_point last_estimate_{};  // subtask 0: state_keys/state_bytes last set
  mutable std::mutex status_mu_;
  std::deque<CheckpointEvent> history_;  // GUARDED_BY(status_mu_), oldest first
  std::vector<QueryStatus> status_;  // GUARDED_BY(status_mu_), one per query: the shared fields
  // GUARDED_BY(status_mu_): per subtask and query, what that subtask knows (its state, its splits).
  std::vector<std::vector<QueryStatus>> parts_;
};

}  // namespace sluice::runtime
