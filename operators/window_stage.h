// WindowStage: runs a window-aligned multi-stage query (core/plan.h StagePlan) — subqueries in
// FROM, window joins and aggregations over windowed subqueries — for one source.
//
// Every source row goes to each leaf (a TUMBLE/HOP aggregate, WindowAggregate, or a row-tagging
// TUMBLE/HOP subquery, WindowTagger) whose WHERE accepts it. When the watermark advances, each
// leaf fires the windows whose end it reached; the stage nodes above them (hash joins, hash
// aggregates, filters and projections) are then evaluated over the finite batch of rows fired in
// that one advance. Because every join's equi-keys include both sides' window_start and
// window_end, and every aggregate groups by them, and all leaves share one source and watermark
// (so a window fires in the same advance on every leaf), this equals evaluating each window
// separately. It is the window join / window aggregation of Flink SQL ("Window Join", "Window
// Aggregation" in the Flink 1.14+ docs), evaluated in batches as in Li et al.'s window-id
// semantics ("Semantics and evaluation techniques for window aggregates in data streams",
// SIGMOD 2005). The nodes keep no state between advances: all state is in the leaves.
//
// Lateness: none (the planner rejects allowed_lateness > 0 and emit_interval for stage plans).
// Add() reports a row late when it passed some leaf's WHERE and every such leaf found it late.
// Output rows: the root node's columns (QueryDef::outputs), in no particular order.
// Thread-safety: not thread-safe; one instance per query worker.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/plan.h"
#include "core/value.h"
#include "operators/group_output.h"
#include "operators/window_aggregate.h"
#include "operators/window_tagger.h"

namespace sluice::ops {

class WindowStage {
 public:
  /// REQUIRES: query.stages is set and valid (as the planner builds it: leaves TUMBLE/HOP,
  /// nodes in child-before-parent order, the last node the root); `query` outlives this object.
  explicit WindowStage(const QueryDef& query);
  ~WindowStage();

  /// Folds one source row with event time `t` into every leaf whose WHERE is TRUE for it.
  /// Returns kLate when at least one leaf took the row into account and every such leaf rejected
  /// it as late; kAccepted otherwise (also when no leaf's WHERE matched).
  AddResult Add(const Row& row, EventTime t);

  /// Raises the watermark to `wm`, fires the leaves' windows whose end <= wm and appends the
  /// root's rows computed over everything fired to `out`.
  void AdvanceWatermark(EventTime wm, std::vector<Row>* out);

  /// Fires every open window of every leaf (end of a bounded input) and appends the root's rows.
  void FlushAll(std::vector<Row>* out);

  /// The latest window end, over all leaves, of a row at `t` (for late-row reports).
  EventTime LastWindowEnd(EventTime t) const;

  /// Open windows of the leaf with the most; groups (aggregating leaves) plus buffered rows
  /// (tagging leaves) over all leaves; rough state bytes (walks the state).
  size_t open_windows() const;
  size_t open_groups() const;
  size_t StateBytes() const;

  /// Checkpoint support: each leaf writes its changes to its own space, `space` + ".<leaf>"
  /// (nodes keep no state between advances). See WindowAggregate and WindowTagger.
  void CheckpointDelta(std::string_view space, StoreBatch* batch);
  void AppendScalars(StateWriter* w) const;
  /// Restores a fresh stage: the scalars, then every leaf's space. Errors: Corruption, IOError.
  Status Restore(StateReader* scalars, StateStore* store, std::string_view space);

 private:
  struct Leaf;
  void Evaluate(std::vector<Row>* out);

  const StagePlan& plan_;
  std::vector<std::unique_ptr<Leaf>> leaves_;
  std::vector<std::unique_ptr<GroupOutput>> group_outputs_;  // per node; set for kAggregate
  std::vector<std::vector<Row>> fired_;                      // per leaf, reused
  std::vector<std::vector<Row>> results_;                    // per node, reused
  std::string scratch_;
};

}  // namespace sluice::ops
