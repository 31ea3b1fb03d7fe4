// WindowAggregate: keyed tumbling and hopping window aggregation on event time, by panes.
//
// Windows: TUMBLE(size) is [k·size, (k+1)·size); HOP(slide, size) is [k·slide, k·slide + size)
// for every k, so each event lies in ⌈size/slide⌉ windows (fewer when size is not a multiple of
// slide). Events are not copied into each window: the time axis is cut into panes of
// g = gcd(slide, size) — every window is a whole number of panes — and each event is folded into
// its one pane's accumulators for its GROUP BY key. A window is evaluated when it fires by
// merging the size/g panes it covers (mergeable accumulators, aggregate_function.h). This is the
// "panes" technique of Li, Maier, Tufte, Papadimos and Tucker, "No pane, no gain: efficient
// evaluation of sliding-window aggregates over data streams" (SIGMOD Record 2005). For TUMBLE a
// window is one pane and is emitted without merging.
//
// Firing and lateness (Akidau et al., "The Dataflow Model", VLDB 2015): a window fires when the
// watermark reaches its end — one output row per (key, window) that has rows, windows in end
// order. With allowed_lateness L, a pane is kept until the watermark passes the end of the last
// window containing it + L. A row whose windows have all fired is still folded in while one of
// them has end + L > watermark, and each such fired window is re-emitted for that row's key at
// the next AdvanceWatermark() (an upsert for a KV sink). A row whose every window has
// end + L <= watermark is late: Add() returns kLate and changes nothing.
// Partial results (emit_interval): EmitPartial() emits every key of each not-yet-fired window
// that received rows since the previous EmitPartial().
//
// State: panes × keys × aggregates. Memory ≈ open panes × keys per pane × bytes per group.
// Checkpoints (docs/checkpoints.md): the operator remembers which groups changed and which panes
// it dropped since the last CheckpointDelta(), which writes only those — one state-store key per
// (pane, key): 'p' + PutOrderedInt64(pane start) + encoded GROUP BY key, so keys sort by (pane,
// key) and a dropped pane is one DeleteRange. The value is the GROUP BY values and the
// accumulators (state_codec.h). Windows not yet fired are recomputed from the panes on restore.
// Thread-safety: not thread-safe; one instance per query worker.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/plan.h"
#include "core/state_store.h"
#include "core/value.h"
#include "operators/aggregate_function.h"
#include "operators/group_output.h"
#include "operators/key_encoder.h"
#include "operators/state_codec.h"

namespace sluice::ops {

/// What Add() did with a row.
enum class AddResult : uint8_t { kAccepted, kLate };

/// Options shared by the window operators.
struct WindowOptions {
  /// How long fired windows keep state and accept updates. Unit: microseconds. Default: 0.
  Duration allowed_lateness{0};
  /// Track which open windows changed, for EmitPartial(). Default: false (no tracking cost).
  bool emit_partial = false;
};

class WindowAggregate {
 public:
  /// REQUIRES: query.window.kind is kTumble or kHop, size > 0, and for kHop 0 < slide <= size;
  /// `query` outlives this object.
  explicit WindowAggregate(const QueryDef& query, WindowOptions options = {});

  /// Folds `row` (event time `t`) into its pane. Returns kLate, leaving state unchanged, when
  /// every window containing `t` ended at least allowed_lateness before the current watermark.
  AddResult Add(const Row& row, EventTime t);

  /// Emits pending late updates, then raises the watermark to `wm` (lower values are ignored)
  /// and appends one row per (key, window) for windows whose end <= wm, then drops panes no
  /// window can use any more.
  void AdvanceWatermark(EventTime wm, std::vector<Row>* out);

  /// Appends the current rows of every open (not fired) window that changed since the last call.
  /// REQUIRES: options.emit_partial.
  void EmitPartial(std::vector<Row>* out);

  /// Fires every open window regardless of the watermark and clears all state (end of a bounded
  /// input).
  void FlushAll(std::vector<Row>* out);

  /// The end of the last window containing `t` (a row is late when this + allowed_lateness <=
  /// the watermark).
  EventTime LastWindowEnd(EventTime t) const;

  /// The highest watermark seen (EventTime::Min() before the first).
  EventTime watermark() const { return watermark_; }
  /// Windows not yet fired.
  size_t open_windows() const { return pending_.size(); }
  /// Panes held in state (fired windows within allowed lateness included).
  size_t open_panes() const { return panes_.size(); }
  /// (key, pane) groups held in state.
  size_t open_groups() const { return groups_; }
  /// Bytes of state, roughly (walks every group; for status pages, not per record).
  size_t StateBytes() const;

  /// Appends to `batch`, in `space`, a Put for every group changed since the previous call and a
  /// DeleteRange for every pane dropped since then; afterwards nothing is pending. Call between
  /// AdvanceWatermark() calls, never in the middle of a batch.
  void CheckpointDelta(std::string_view space, StoreBatch* batch);
  /// Appends the scalars (watermark, arrival sequence) that every checkpoint rewrites in full.
  void AppendScalars(StateWriter* w) const;
  /// Restores what AppendScalars() wrote. Returns false on malformed input.
  bool RestoreScalars(StateReader* r);
  /// Loads one group that CheckpointDelta() wrote (`key` without the space). Call on a fresh
  /// operator, then FinishRestore(). Errors: Corruption when the key or value is malformed.
  Status RestoreGroup(std::string_view key, std::string_view value);
  /// Rebuilds the derived state (windows not yet fired) after the last RestoreGroup().
  void FinishRestore();

 private:
  struct Group {
    const std::string* key = nullptr;  // the encoded key, owned by Pane::index
    Row keys;
    std::vector<Accumulator> accs;
    bool changed = false;  // in changed_ (not yet in a checkpoint)
  };
  struct Pane {
    std::unordered_map<std::string, size_t> index;  // encoded key -> position in groups
    std::vector<Group> groups;
    bool dirty = false;  // rows since the last EmitPartial()
  };
  Pane& PaneAt(int64_t pane_start);
  void EmitWindow(int64_t window_start, std::vector<Row>* out);
  void EmitWindowKey(int64_t window_start, const std::string& key, std::vector<Row>* out);
  int64_t FirstWindowStart(int64_t t) const;  // smallest window start whose window contains t
  int64_t LastWindowStartOf(int64_t t) const { return FloorTo(EventTime{t}, slide_).micros; }

  const QueryDef& query_;
  const WindowOptions options_;
  const Duration size_, slide_, pane_;
  GroupOutput output_;
  EventTime watermark_ = EventTime::Min();
  std::map<int64_t, Pane> panes_;          // by pane start, microseconds
  std::set<int64_t> pending_;              // starts of windows not yet fired
  std::set<std::pair<int64_t, std::string>> late_updates_;  // (window start, key) to re-emit
  size_t groups_ = 0;
  uint64_t seq_ = 0;
  // Checkpoint bookkeeping: (pane start, group index) changed since the last CheckpointDelta(),
  // panes dropped since then, and whether FlushAll() cleared everything.
  std::vector<std::pair<int64_t, size_t>> changed_;
  std::vector<int64_t> dropped_panes_;
  bool cleared_ = false;
  // Per-Add() cache and reused buffers.
  int64_t last_pane_start_ = 0;
  Pane* last_pane_ = nullptr;
  Row key_values_;
  std::string key_buf_, scratch_;
  // Reused by EmitWindow.
  std::unordered_map<std::string_view, size_t> merge_index_;
  std::vector<Group> merged_;
};

}  // namespace sluice::ops
