// WindowTagger: the non-aggregating windowed subquery of a window-aligned stage plan
// (core/plan.h StagePlan): `SELECT cols…, window_start, window_end FROM TUMBLE(s, ts, size)`
// (or HOP). Each row is projected once and kept under every not-yet-fired window that contains
// it; when the watermark reaches a window's end, all of that window's rows are emitted together,
// each tagged with the window's start and end. This is Flink SQL's "window TVF" followed by a
// window-aligned consumer (Flink docs, "Windowing table-valued functions"); unlike Flink's TVF it
// buffers rows until the window fires, so that consumers (window joins) see whole windows.
//
// Windows: TUMBLE(size) is [k·size, (k+1)·size); HOP(slide, size) is [k·slide, k·slide + size),
// so a row is kept up to ⌈size/slide⌉ times. Lateness: none (the planner rejects
// allowed_lateness > 0 for stage plans): a row whose every window has end <= watermark is late
// and Add() returns kLate; a HOP row is added only to its windows that have not fired.
//
// Output rows follow query.outputs: kWindowStart, kWindowEnd and kProjection columns.
// State: rows × windows per row. Memory ≈ buffered rows × (projected row bytes).
// Checkpoints: rows are append-only per window, so CheckpointDelta() writes only the rows added
// since the previous call, as one chunk per window: key 'w' + ordered window start + ordered
// chunk number, value varint n + n × Row (state_codec.h); a fired window is one DeleteRange.
// Thread-safety: not thread-safe; one instance per query worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "core/plan.h"
#include "core/state_store.h"
#include "core/value.h"
#include "operators/state_codec.h"
#include "operators/window_aggregate.h"

namespace sluice::ops {

class WindowTagger {
 public:
  /// REQUIRES: query.window.kind is kTumble or kHop with 0 < slide <= size; !query.aggregating();
  /// outputs are kWindowStart/kWindowEnd/kProjection; `query` outlives this object.
  explicit WindowTagger(const QueryDef& query);

  /// Projects `row` (event time `t`; WHERE already applied by the caller) into every window
  /// containing `t` whose end is after the watermark. Returns kLate, changing nothing, when there
  /// is none.
  AddResult Add(const Row& row, EventTime t);

  /// Raises the watermark to `wm` (lower values are ignored) and appends the rows of every
  /// window whose end <= wm, windows in start order, rows in arrival order; drops those windows.
  void AdvanceWatermark(EventTime wm, std::vector<Row>* out);

  /// Emits every buffered window regardless of the watermark and clears all state.
  void FlushAll(std::vector<Row>* out);

  /// The end of the last window containing `t`.
  EventTime LastWindowEnd(EventTime t) const;

  /// Windows holding rows.
  size_t open_windows() const { return windows_.size(); }
  /// Rows buffered, counted once per window.
  size_t buffered_rows() const { return rows_; }
  /// Rough bytes of state (walks every row; for status pages, not per record).
  size_t StateBytes() const;

  /// Appends to `batch` (in `space`) the rows added since the previous call and deletes of the
  /// windows fired since then.
  void CheckpointDelta(std::string_view space, StoreBatch* batch);
  /// Appends / restores the watermark. RestoreScalars returns false on malformed input.
  void AppendScalars(StateWriter* w) const { w->PutSigned(watermark_.micros); }
  bool RestoreScalars(StateReader* r);
  /// Loads one chunk CheckpointDelta() wrote. Errors: Corruption.
  Status RestoreChunk(std::string_view key, std::string_view value);

 private:
  void EmitWindow(int64_t start, std::vector<Row>* rows, std::vector<Row>* out) const;

  const QueryDef& query_;
  const Duration size_, slide_;
  EventTime watermark_ = EventTime::Min();
  std::map<int64_t, std::vector<Row>> windows_;  // window start (µs) → projected rows
  size_t rows_ = 0;
  struct Logged {
    size_t rows = 0;         // rows of the window already in a checkpoint
    int64_t next_chunk = 0;
  };
  std::map<int64_t, Logged> logged_;  // by window start
  std::vector<int64_t> fired_since_checkpoint_;
  bool cleared_ = false;
};

}  // namespace sluice::ops
