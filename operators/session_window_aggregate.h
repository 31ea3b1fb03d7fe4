// SessionWindowAggregate: SESSION(t, ts, gap) windows per GROUP BY key on event time.
//
// A row at event time t opens the session [t, t + gap) for its key. Sessions of one key that
// overlap or touch (a row at most `gap` after the previous one, in either direction) are merged
// into one session [first row time, last row time + gap), their accumulators merged
// (aggregate_function.h Merge). So a row that arrives out of order and bridges two sessions
// merges them into one. This follows the merging-window model of Akidau et al., "The Dataflow
// Model" (VLDB 2015, section 2.2.2) and Flink's session windows (touching windows merge).
//
// Firing: a session fires when the watermark reaches its end; one row per session. With
// allowed_lateness L it stays in state until the watermark passes end + L; a row that merges into
// a fired session in that time updates it, and the merged session is re-emitted at the next
// AdvanceWatermark() (once its end is at or before the watermark; if the merge moved its end
// past the watermark it fires again when the watermark gets there). A row that touches no session
// in state and whose own session [t, t + gap) would end L or more before the watermark is late:
// Add() returns kLate. Rows are never merged into sessions that were already dropped.
// Limits: re-emitted sessions keep no memory of the rows they replace: when a merge moves a
// session's window_start, the row emitted under the old window_start is not retracted (a KV sink
// keyed by window_start keeps it). docs/sql.md says so.
// Partial results (emit_interval): EmitPartial() emits each unfired session that changed since
// the previous call.
//
// State: per key, its sessions; plus a timer set ordered by (time, key id, start). Memory ≈
// live sessions × bytes per group.
// Checkpoints (docs/checkpoints.md): CheckpointDelta() writes each key whose sessions changed
// since the previous call — key 's' + encoded GROUP BY key, value the GROUP BY values and every
// session (start, end, fired, accumulators) — or deletes it when it has none left. Timers are
// rebuilt from the sessions on restore.
// Thread-safety: not thread-safe; one instance per query worker.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/plan.h"
#include "core/state_store.h"
#include "core/value.h"
#include "operators/aggregate_function.h"
#include "operators/group_output.h"
#include "operators/state_codec.h"
#include "operators/window_aggregate.h"

namespace sluice::ops {

class SessionWindowAggregate {
 public:
  /// REQUIRES: query.window.kind == kSession, gap > 0; `query` outlives this object.
  explicit SessionWindowAggregate(const QueryDef& query, WindowOptions options = {});

  /// Folds `row` (event time `t`) into its key's session, merging sessions it bridges.
  /// Returns kLate (state unchanged) as described above.
  AddResult Add(const Row& row, EventTime t);

  /// Re-emits updated fired sessions, raises the watermark to `wm` (lower values are ignored),
  /// fires sessions whose end <= watermark (in end order) and drops those past end + lateness.
  void AdvanceWatermark(EventTime wm, std::vector<Row>* out);

  /// Appends the current row of every unfired session that changed since the last call.
  /// REQUIRES: options.emit_partial.
  void EmitPartial(std::vector<Row>* out);

  /// Fires every unfired session regardless of the watermark and clears all state.
  void FlushAll(std::vector<Row>* out);

  /// The end of the session a lone row at `t` would open: t + gap.
  EventTime LastWindowEnd(EventTime t) const { return t + gap_; }

  /// The highest watermark seen (EventTime::Min() before the first).
  EventTime watermark() const { return watermark_; }
  /// Sessions not yet fired.
  size_t open_windows() const { return fire_timers_.size(); }
  /// Sessions held in state (fired ones within allowed lateness included).
  size_t open_groups() const { return sessions_; }
  /// Bytes of state, roughly (walks every session; for status pages, not per record).
  size_t StateBytes() const;

  /// Appends to `batch`, in `space`, a Put for every key whose sessions changed since the previous
  /// call (a Delete when it has none left); afterwards nothing is pending. Call between
  /// AdvanceWatermark() calls.
  void CheckpointDelta(std::string_view space, StoreBatch* batch);
  /// Appends the scalars (watermark, arrival sequence) that every checkpoint rewrites in full.
  void AppendScalars(StateWriter* w) const;
  /// Restores what AppendScalars() wrote. Returns false on malformed input.
  bool RestoreScalars(StateReader* r);
  /// Loads one key that CheckpointDelta() wrote (`key` without the space). Call on a fresh
  /// operator after RestoreScalars(). Errors: Corruption when the key or value is malformed.
  Status RestoreKey(std::string_view key, std::string_view value);

 private:
  struct Session {
    int64_t end = 0;  // exclusive: last row time + gap
    std::vector<Accumulator> accs;
    bool fired = false;
  };
  struct KeyState {
    uint64_t id = 0;
    const std::string* key = nullptr;  // the encoded key, owned by keys_
    bool changed = false;              // in changed_keys_
    Row keys;
    std::map<int64_t, Session> sessions;  // by start; disjoint and not touching
  };
  using Timer = std::tuple<int64_t, uint64_t, int64_t>;  // (time, key id, session start)

  void Emit(const KeyState& ks, int64_t start, const Session& s, std::vector<Row>* out);
  void RemoveTimers(const KeyState& ks, int64_t start, const Session& s);
  void DropSession(KeyState* ks, int64_t start);
  void MarkChanged(KeyState* ks) {
    if (!ks->changed) {
      ks->changed = true;
      changed_keys_.push_back(*ks->key);
    }
  }

  const QueryDef& query_;
  const WindowOptions options_;
  const Duration gap_;
  GroupOutput output_;
  EventTime watermark_ = EventTime::Min();
  std::unordered_map<std::string, KeyState> keys_;
  std::unordered_map<uint64_t, KeyState*> by_id_;  // pointers into keys_ (node-stable)
  std::set<Timer> fire_timers_;    // (end, key, start) of unfired sessions
  std::set<Timer> purge_timers_;   // (end + lateness, key, start) of fired sessions
  std::set<std::pair<uint64_t, int64_t>> updates_;  // fired sessions changed by late rows
  std::set<std::pair<uint64_t, int64_t>> dirty_;    // unfired sessions changed (emit_partial)
  uint64_t next_key_id_ = 0;
  uint64_t seq_ = 0;
  size_t sessions_ = 0;
  Row key_values_;
  std::string key_buf_, scratch_;
  std::vector<int64_t> merge_starts_;
  std::vector<std::string> changed_keys_;  // encoded keys changed since the last checkpoint
  bool cleared_ = false;                   // FlushAll() since the last checkpoint
};

}  // namespace sluice::ops
