// QueryPipeline: the record and watermark processing of one INSERT INTO … SELECT, without
// threads, I/O or metrics: decoded rows from a split → WHERE → window aggregate (TUMBLE/HOP
// panes, SESSION), window-aligned stages (subqueries and window joins, window_stage.h) or
// projection → output rows. Both the engine's shared scans
// (runtime/source_scan.cc) and the in-process golden test runner (app/golden_test_runner.cc)
// drive it, so tests exercise exactly the runtime's logic.
//
// Watermarks: each split (shard) tracks the largest event time it has delivered (over every
// decoded row, before WHERE). The query's watermark is the minimum over active splits of (that
// maximum − watermark_delay), where a split is idle — not holding the watermark back — once
// `now` is idle_timeout or more past its last activity (0 = never idle). If every split is idle,
// the largest split watermark is used. A split that has delivered nothing and is not idle keeps
// the watermark at its minimum. The watermark never goes back. `now` is processing time: wall
// clock in the runtime, a simulated clock in golden tests.
//
// Emission: AdvanceTime() fires windows (and re-emits windows updated by late rows); with the
// sink's emit_interval E > 0 it also emits partial rows of changed open windows whenever `now`
// reaches the next multiple of E after the pipeline's start time.
//
// Key groups (operators/key_groups.h): a TUMBLE/HOP/SESSION query's state is split into K key
// groups by its GROUP BY key, and a pipeline holds the groups of one KeyGroupRange, one window
// operator per group. Each group's state is stored under its two-byte prefix, so a checkpoint
// taken by pipelines of one range restores into pipelines of other ranges (another worker
// count). With K = 1 (stage plans, projections, state made before key groups) there is one
// operator and no prefix.
//
// Thread-safety: not thread-safe; one instance per query and worker, used by that worker.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "core/plan.h"
#include "core/state_store.h"
#include "core/value.h"
#include "operators/key_groups.h"
#include "operators/session_window_aggregate.h"
#include "operators/window_aggregate.h"
#include "operators/window_stage.h"

namespace sluice::ops {

/// A row the window operator rejected: late (after allowed lateness), or with an event time
/// outside ±kMaxEventTimeMicros, which no window arithmetic can take.
struct LateRow {
  size_t row = 0;             ///< Position in the batch passed to ProcessBatch().
  EventTime window_end;       ///< End of the last window the row belonged to (late rows).
  bool out_of_range = false;  ///< The event time is out of range; not a late row.
};

/// Event times a windowed query accepts: |t| < 2^60 µs (about 36,000 years around 1970), so
/// that t ± window sizes and lateness (at most 3650 days, planner-checked) cannot overflow.
inline constexpr int64_t kMaxEventTimeMicros = int64_t{1} << 60;

class QueryPipeline {
 public:
  /// REQUIRES: 0 <= query_index < pipeline.queries.size(); `pipeline` outlives this object;
  /// splits >= 1; groups.count >= 1 (1 for queries without keyed window state, whatever is
  /// passed). `now` starts the idle clocks and the emit_interval schedule. `groups` are the key
  /// groups this pipeline holds (default: the only one); rows of other groups must not be given.
  /// `partition_key_groups` false places key groups by XXH3 even when the GROUP BY holds the
  /// source's partition key (for state checkpointed before that placement existed).
  QueryPipeline(const Pipeline& pipeline, int query_index, size_t splits, EventTime now,
                KeyGroupRange groups = {}, bool partition_key_groups = true);

  /// Marks split `split` active at `now` (call whenever records were read from it, decodable or
  /// not). REQUIRES: split < splits.
  void NoteActivity(size_t split, EventTime now);

  /// Processes decoded `rows` from split `split`: appends projection rows to `out` and rejected
  /// rows (late or out of range) to `late`; window results come from AdvanceTime().
  /// REQUIRES: rows follow the source schema.
  void ProcessBatch(size_t split, const std::vector<Row>& rows, std::vector<Row>* out, std::vector<LateRow>* late);

  /// As ProcessBatch(), for rows another worker read and routed here by key group (RouteRows()):
  /// `groups[i]` is row i's key group; for window aggregates, rows of groups outside this
  /// pipeline's range (and kNoGroup) are skipped, so a whole routed batch may be passed. Stage
  /// plans take every row: pass only rows that passed WHERE and have event times. Does not
  /// change the split's largest event time (ObserveSplit() does).
  void ProcessRouted(const std::vector<Row>& rows, const std::vector<uint32_t>& groups, std::vector<LateRow>* late);
  /// Raises split `split`'s largest event time to `max_event_time` (another worker read it).
  void ObserveSplit(size_t split, EventTime max_event_time) {
    if (max_event_time > splits_[split].max_event_time) splits_[split].max_event_time = max_event_time;
  }
  /// For routing: each row's key group, or kNoGroup when the query would skip the row (WHERE is
  /// false, the event time is NULL). Rows with an event time out of range get group 0, so the
  /// receiver reports them. Works for any pipeline of the query (no state used).
  static constexpr uint32_t kNoGroup = UINT32_MAX;
  void RouteRows(const std::vector<Row>& rows, std::vector<uint32_t>* groups);
  /// The largest event time among `rows` (EventTime::Min() when none), as ProcessBatch() counts it.
  EventTime MaxEventTime(const std::vector<Row>& rows) const;
  /// The key groups this pipeline holds.
  const KeyGroupRange& key_groups() const { return groups_; }

  /// Recomputes the watermark at processing time `now`, fires windows, emits late updates and
  /// (when due) partial results into `out`. Returns the watermark.
  EventTime AdvanceTime(EventTime now, std::vector<Row>* out);

  /// Fires every open window regardless of the watermark (end of a bounded input).
  void Flush(std::vector<Row>* out);

  /// The query this pipeline runs.
  const QueryDef& query() const { return query_; }
  /// True for TUMBLE/HOP/SESSION and stage-plan queries, false for projections.
  bool windowed() const { return windowed_; }
  /// The query's watermark after the last AdvanceTime() (EventTime::Min() before).
  EventTime watermark() const { return watermark_; }
  /// The split whose watermark is the minimum, or -1 (none, or every split idle).
  int holding_split() const { return holding_; }
  /// Number of splits, and per split its largest event time and whether the last AdvanceTime()
  /// found it idle. REQUIRES: split < splits().
  size_t splits() const { return splits_.size(); }
  EventTime split_max_event_time(size_t split) const { return splits_[split].max_event_time; }
  bool split_idle(size_t split) const { return splits_[split].idle; }
  /// Windows not yet fired, and groups held in state (0 for projections).
  size_t open_windows() const;
  size_t open_groups() const;
  /// Rough bytes of window state (walks the state; call from status code, not per record).
  size_t StateBytes() const;

  /// Checkpoint: appends to `batch` (in `space`) the window state changed since the previous
  /// call, and to `scalars` the small state every checkpoint rewrites (the watermark and the
  /// window operator's own scalars). Per-split figures are saved by the caller, which knows the
  /// split ids (split_max_event_time()). Call between steps, after AdvanceTime().
  void CheckpointDelta(std::string_view space, StoreBatch* batch, std::string* scalars);
  /// Restores a fresh pipeline from what CheckpointDelta() wrote: `scalars`, then every key of
  /// `space` in `store` (with a state cache, window groups and session keys are not loaded but
  /// read when used: WindowAggregate::RestoreLazily, SessionWindowAggregate::RestoreLazily). Errors: Corruption when anything is malformed; IOError from the store.
  Status Restore(std::string_view scalars, StateStore* store, std::string_view space);
  /// Bounds the window state held in memory to about `max_groups` groups — (pane, key) groups
  /// for TUMBLE/HOP, sessions for SESSION; the rest lives in `store`, in `space` — the store and
  /// space that CheckpointDelta()'s batches are committed to (WindowAggregate::EnableSpill and
  /// SessionWindowAggregate::EnableSpill have the rules). No effect on stage-plan queries
  /// (subqueries, window joins), which keep all state in memory. Call before Restore() and before
  /// any rows. `store` outlives this object.
  void EnableStateCache(StateStore* store, std::string_view space, size_t max_groups);
  /// True when the window operators hold more groups than the state cache bound (the next
  /// checkpoint evicts). Always false for stage plans, whose state does not spill.
  bool over_state_cache_bound() const;
  /// OK, or the first error reading spilled state (then restart from the last checkpoint).
  Status state_status() const;
  /// Window groups (SESSION: keys) evicted to the state store, and read from it, since construction.
  uint64_t state_evictions() const;
  uint64_t state_reads() const;
  /// Groups (SESSION: sessions) that live only in the state store (0 without a state cache).
  size_t spilled_groups() const;
  /// Sets split `split`'s largest event time seen (restoring a checkpoint).
  void RestoreSplit(size_t split, EventTime max_event_time) { splits_[split].max_event_time = max_event_time; }
  /// Adds a split (a shard created by a reshard), active from `now`; returns its index.
  size_t AddSplit(EventTime now) {
    splits_.emplace_back();
    splits_.back().last_activity = now;
    return splits_.size() - 1;
  }
  /// Whether split `split` may hold the watermark back. A split that is finished (a closed
  /// parent shard read to its end) or waiting (a child shard whose parents are not finished)
  /// does not: it is treated like an idle one. Default: true.
  void SetSplitHoldsWatermark(size_t split, bool holds) { splits_[split].holds = holds; }

 private:
  struct SplitState {
    EventTime max_event_time = EventTime::Min();
    EventTime last_activity;
    bool idle = false;
    bool holds = true;  // see SetSplitHoldsWatermark()
  };
  EventTime ComputeWatermark(EventTime now);

  const QueryDef& query_;
  const SourceDef& source_;
  const Duration emit_interval_;
  template <typename Fn>
  void ForEachOp(Fn&& fn) const;       // fn(op) for every window operator (hop_ or session_)
  StateStore* GroupStore(StateStore* store, size_t i);  // group i's view of `store` (K > 1)
  void ShareCacheBound();  // before eviction: each group's operator gets its share of the bound
  const KeyGroupRange groups_;
  const int pk_key_;  // PartitionKeyGroupKey(): the GROUP BY key that places key groups, or -1
  std::unique_ptr<PartitionKeyGroups> pk_groups_;  // set when pk_key_ >= 0 and K > 1
  bool windowed_ = false;
  // One window operator per key group of groups_ (index: group - groups_.first); one in all when
  // groups_.count == 1.
  std::vector<std::unique_ptr<WindowAggregate>> hop_;
  std::vector<std::unique_ptr<SessionWindowAggregate>> session_;
  std::vector<std::unique_ptr<PrefixedStateStore>> views_;  // per group, when K > 1
  StateStore* views_base_ = nullptr;                        // the store views_ look at
  size_t cache_bound_ = 0;  // EnableStateCache()'s bound, shared by the groups' operators (0: none)
  Row key_values_;        // RouteRows()/ProcessBatch() scratch
  std::string key_buf_;
  std::unique_ptr<WindowStage> stage_;  // query_.stages queries
  std::vector<SplitState> splits_;
  EventTime watermark_ = EventTime::Min();
  int holding_ = -1;
  EventTime start_;
  EventTime next_emit_;
};

}  // namespace sluice::ops
