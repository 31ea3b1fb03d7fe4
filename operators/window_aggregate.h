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
//
// Bounded state cache (EnableSpill()): with a state store attached, at most about
// `max_cached_groups` groups stay in memory and the rest live only in the store. At each
// CheckpointDelta() — when every earlier checkpoint has committed, so the store holds each
// group's latest version — groups not touched since the previous checkpoint are evicted, oldest
// panes first (a clock hand per pane, second-chance style), until the cache is under 90% of its
// bound. Groups written by the checkpoint being built stay until the next one (they are not
// committed yet), so between checkpoints memory is bounded by the cache plus the
// groups changed in one interval (QueryPipeline::WantsCheckpoint() asks for an early checkpoint
// when over the bound). A pane with evicted groups is marked; an Add() for a key not in memory in
// such a pane reads the group back with one store Get (bloom-filtered), and firing the pane
// range-scans its prefix for the groups not in memory. Recovery loads at most the bound and
// leaves the rest in the store. Store errors are sticky: spill_status() reports them and the
// runner restarts from the last checkpoint.
// Thread-safety: not thread-safe; one instance per query worker.
#pragma once

#include <cstdint>
#include <deque>
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
  /// (key, pane) groups held in memory (spilled_groups() counts those only in the store).
  size_t open_groups() const { return groups_; }
  /// Groups that live only in the state store (evicted, or left there by recovery), not
  /// counting panes restored by RestoreLazily() that have not fired yet.
  size_t spilled_groups() const { return spilled_groups_; }
  /// Bytes of state held in memory, roughly (walks every group; for status pages, not per record).
  size_t StateBytes() const;

  /// Attaches the bounded state cache: `store` (which must be the store that CheckpointDelta()'s
  /// batches are committed to, in `space`) holds the groups beyond `max_cached_groups` (>= 1).
  /// Call on a fresh operator, before any RestoreGroup() or Add(); `store` outlives this object.
  /// Every CheckpointDelta() after the first must be called only once the previous batch has
  /// committed (runtime::SourceScan guarantees it: one commit in flight, finished before the next).
  void EnableSpill(StateStore* store, std::string space, size_t max_cached_groups);
  /// Changes the bound EnableSpill() set (0: keep only what the current epoch touched; the next
  /// checkpoint evicts the rest). A pipeline with several key groups shares one bound this way.
  void set_cache_bound(size_t n) { max_cached_groups_ = n; }
  /// True when more groups are in memory than the cache's bound (a checkpoint would evict some).
  bool over_cache_bound() const { return spill_store_ != nullptr && groups_ > max_cached_groups_; }
  /// OK, or the first error reading spilled state (IOError from the store, Corruption for a bad
  /// value). After an error the operator's results are unreliable: restart from a checkpoint.
  const Status& spill_status() const { return spill_status_; }
  /// Groups evicted to the store, and groups read from it (read back by Add(), or merged into a
  /// fired or re-emitted window), since construction.
  uint64_t evictions() const { return evictions_; }
  uint64_t spill_reads() const { return spill_reads_; }

  /// Appends to `batch`, in `space`, a DeleteRange for every pane dropped since the previous call
  /// and a Put for every group changed since then; afterwards nothing is pending. The Puts are
  /// one StoreBatch::Run (ops::StateRun), encoded here and sorted when the batch is read, so
  /// they apply after every flat op of the batch. Call between AdvanceWatermark() calls, never
  /// in the middle of a batch. Not thread-safe (the operator's thread).
  void CheckpointDelta(std::string_view space, StoreBatch* batch);
  /// Appends the scalars (watermark, arrival sequence) that every checkpoint rewrites in full.
  void AppendScalars(StateWriter* w) const;
  /// Restores what AppendScalars() wrote. Returns false on malformed input.
  bool RestoreScalars(StateReader* r);
  /// Makes room for about `n` groups in the first pane RestoreGroup() meets (a hint: any number
  /// may follow; FinishRestore() gives back what a pane did not use). Growing a pane of a
  /// million groups step by step was a third of a restore.
  void ReserveGroups(size_t n) { restore_reserve_ = n; }
  /// Loads one group that CheckpointDelta() wrote (`key` without the space). Call on a fresh
  /// operator, then FinishRestore(). Errors: Corruption when the key or value is malformed.
  Status RestoreGroup(std::string_view key, std::string_view value);
  /// Rebuilds the derived state (windows not yet fired) after the last RestoreGroup().
  void FinishRestore();
  /// Restores a fresh operator with a state cache (EnableSpill()) without loading any group:
  /// finds the panes in the store with one seek each and marks them as spilled, so groups are
  /// read back when a row uses them or their window fires (the scalars must be restored first).
  /// This is what makes recovery time independent of the number of keys. spilled_groups() does
  /// not count the groups of such panes. Errors: IOError from the store; Corruption for a
  /// malformed key (a malformed value is reported later, through spill_status()).
  Status RestoreLazily();
  /// Whether EnableSpill() was called.
  bool spill_enabled() const { return spill_store_ != nullptr; }

 private:
  struct Group {
    const std::string* key = nullptr;  // the encoded key, owned by Pane::index
    Row keys;
    std::vector<Accumulator> accs;
    bool changed = false;  // in changed_ (not yet in a checkpoint)
    uint32_t touched_epoch = 0;  // epoch_ of its last Add(); == epoch_: not yet committed
  };
  struct Pane {
    std::unordered_map<std::string, size_t> index;  // encoded key -> position in groups
    std::vector<Group> groups;
    bool dirty = false;  // rows since the last EmitPartial()
    size_t spilled = 0;  // groups of this pane that are only in the store (counted)
    bool spilled_unknown = false;  // restored lazily: the store may hold any number of groups
    size_t clock_hand = 0;         // Evict()'s position in `groups`
    bool has_spilled() const { return spilled > 0 || spilled_unknown; }
  };
  Pane& PaneAt(int64_t pane_start);
  void EmitWindow(int64_t window_start, std::vector<Row>* out);
  void EmitWindowKey(int64_t window_start, const std::string& key, std::vector<Row>* out);
  int64_t FirstWindowStart(int64_t t) const;  // smallest window start whose window contains t
  int64_t LastWindowStartOf(int64_t t) const { return FloorTo(EventTime{t}, slide_).micros; }
  Status DecodeGroup(std::string_view value, Group* g) const;
  std::string StoreKey(int64_t pane_start, std::string_view key) const;
  // Calls fn(const Group&) for every group of `pane` that is only in the store (decoded into a
  // scratch Group; its `key` points at storage valid until the next call).
  template <typename Fn>
  void ForEachSpilled(int64_t pane_start, const Pane& pane, Fn&& fn);
  void Evict();

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
  size_t restore_reserve_ = 0;  // ReserveGroups(): room to make in the first restored pane
  Row key_values_;
  std::string key_buf_, scratch_;
  // Reused by EmitWindow.
  std::unordered_map<std::string_view, size_t> merge_index_;
  std::vector<Group> merged_;
  std::deque<std::string> merged_keys_;  // keys of merged groups read from the store
  // Bounded state cache (EnableSpill()).
  StateStore* spill_store_ = nullptr;
  std::string spill_space_;
  size_t max_cached_groups_ = 0;
  size_t spilled_groups_ = 0;
  uint32_t epoch_ = 1;  // checkpoint epoch: incremented by every CheckpointDelta() with a cache
  uint64_t evictions_ = 0, spill_reads_ = 0;
  Status spill_status_;
  std::string spill_key_;
  Group spill_group_;
};

}  // namespace sluice::ops
