// WindowAggregate: keyed tumbling-window aggregation on event time.
//
// Input: rows of the source schema with their event time. Each row is assigned to the window
// [floor(t / size) * size, + size) and folded into that window's accumulators for its GROUP BY
// key. Output: when the watermark reaches a window's end, one row per (key, window) in the
// query's output order, windows in end order, keys in first-seen order within a window.
// A row whose window has already fired (window_end <= watermark) is late: it is not folded in
// and is counted; the caller decides where it goes.
//
// State: one hash map per open window, keyed by the encoded GROUP BY values. Memory grows with
// open windows x distinct keys; windows are freed as they fire.
// Thread-safety: not thread-safe; one instance per worker, used by one thread.
// Sources: Akidau et al., "The Dataflow Model" (VLDB 2015) for event-time windows and watermarks.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/plan.h"
#include "core/value.h"

namespace sluice::ops {

/// Running state of one aggregate over one (key, window).
struct Accumulator {
  int64_t count = 0;   ///< Non-NULL inputs seen (all rows for count(*)).
  int64_t isum = 0;    ///< Integer sum (sum over BIGINT).
  double dsum = 0;     ///< Floating sum (sum over FLOAT8, avg).
  bool overflow = false;
  Value extreme;       ///< min or max so far.
};

/// What Add() did with a row.
enum class AddResult : uint8_t { kAccepted, kLate };

class WindowAggregate {
 public:
  /// REQUIRES: query.window.kind == kTumble and query.window.size > 0; `query` outlives this.
  explicit WindowAggregate(const QueryDef& query);

  /// Folds `row` (event time `t`) into its window. Returns kLate, leaving state unchanged, when
  /// that window already ended at or before the current watermark.
  AddResult Add(const Row& row, EventTime t);

  /// Raises the watermark to `wm` (lower values are ignored) and appends to `out` one output row
  /// per (key, window) whose window_end <= wm. Fired windows are dropped from state.
  void AdvanceWatermark(EventTime wm, std::vector<Row>* out);

  /// Fires every open window regardless of the watermark (end of a bounded input).
  void FlushAll(std::vector<Row>* out);

  EventTime watermark() const { return watermark_; }
  /// Open windows and (key, window) groups held in state.
  size_t open_windows() const { return windows_.size(); }
  size_t open_groups() const { return groups_; }

 private:
  struct Group {
    Row keys;
    std::vector<Accumulator> accs;
  };
  struct Window {
    std::unordered_map<std::string, size_t> index;  // encoded key -> position in `groups`
    std::vector<Group> groups;
  };
  void Emit(int64_t start_us, Window& w, std::vector<Row>* out) const;

  const QueryDef& query_;
  const Duration size_;
  EventTime watermark_ = EventTime::Min();
  std::map<int64_t, Window> windows_;  // by window start, microseconds
  size_t groups_ = 0;
  // Reused per Add() to avoid allocation.
  Row key_values_;
  std::string key_buf_;
};

/// Appends an unambiguous binary encoding of `values` to `out` (used as a hash-map key).
void EncodeKey(const Row& values, std::string* out);

}  // namespace sluice::ops
