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
// session (start, end, fired, accumulators) — or deletes it when it has none left. Beside it, a
// timer index entry 'e' + PutOrderedInt64(due) + encoded key (empty value), where `due` is the
// key's earliest timer: the smallest end of its unfired sessions and end + allowed_lateness of
// its fired ones. Timers are rebuilt from the sessions on restore.
//
// Bounded state cache (EnableSpill()), as WindowAggregate's: at CheckpointDelta() — every earlier
// checkpoint has committed, so the store holds each key's latest version and index entry — keys
// not touched since the previous checkpoint are evicted whole (sessions and timers) until the
// sessions in memory are under 90% of the bound, the keys due latest first. Memory for an
// evicted key is nothing: Add() for a key not in memory reads it back with one store Get
// (bloom-filtered), and AdvanceWatermark() range-scans the timer index from the previous
// watermark to the new one and reads back the keys with a timer in that range, which then fire
// as usual. This is the idea of Flink's RocksDB timer service (timers in the state backend,
// ordered by time). Recovery with the cache loads no key at all. Store errors are sticky
// (spill_status()); the runner restarts from the last checkpoint.
// Thread-safety: not thread-safe; one instance per query worker.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/plan.h"
#include "core/state_store.h"
#include "core/value.h"
#include "operators/aggregate_function.h"
#include "operators/group_output.h"
#include "operators/key_encoder.h"
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
  /// call (a Delete when it has none left) and its timer-index entries; afterwards nothing is
  /// pending. Both are StoreBatch::Runs (ops::StateRun), encoded here and sorted when the batch
  /// is read, so they apply after every flat op of the batch. Call between AdvanceWatermark()
  /// calls. Not thread-safe (the operator's thread).
  void CheckpointDelta(std::string_view space, StoreBatch* batch);
  /// Appends the scalars (watermark, arrival sequence) that every checkpoint rewrites in full.
  void AppendScalars(StateWriter* w) const;
  /// Restores what AppendScalars() wrote. Returns false on malformed input.
  bool RestoreScalars(StateReader* r);
  /// Loads one key that CheckpointDelta() wrote (`key` without the space), in key order: timer
  /// index entries ('e' keys) come first. Each key's entry is due at its earliest timer, which
  /// is computed again from its sessions; when the store has no index entries at all (state
  /// written before the index existed), every key is indexed by the next checkpoint. Call on a
  /// fresh operator after RestoreScalars(), then FinishRestore() after the last key. Errors:
  /// Corruption when the key or value is malformed.
  Status RestoreKey(std::string_view key, std::string_view value);
  /// Makes room for about `keys` keys before a restore by RestoreKey() (a hint: any number may
  /// follow; FinishRestore() gives back room not used). Growing a hash table of a million keys
  /// step by step was a large part of a restore.
  void ReserveKeys(size_t keys) {
    keys_.reserve(keys);
    by_id_.reserve(keys);
  }
  /// Ends a restore by RestoreKey(): builds the timer sets from the restored keys' timers in
  /// one sorted pass (inserting a million timers one by one in key order costs seconds), and
  /// shrinks tables ReserveKeys() made too large.
  void FinishRestore();

  /// Attaches the bounded state cache: `store` (which must be the store CheckpointDelta()'s
  /// batches are committed to, in `space`) holds the keys beyond `max_cached_sessions` (>= 1)
  /// sessions in memory. Call on a fresh operator, before RestoreLazily() or Add(); `store`
  /// outlives this object. Every CheckpointDelta() after the first must be called only once the
  /// previous batch has committed (runtime::SourceScan guarantees it).
  void EnableSpill(StateStore* store, std::string space, size_t max_cached_sessions);
  /// Whether EnableSpill() was called.
  bool spill_enabled() const { return spill_store_ != nullptr; }
  /// Changes the bound EnableSpill() set (0: keep only what the current epoch touched; the next
  /// checkpoint evicts the rest). A pipeline with several key groups shares one bound this way.
  void set_cache_bound(size_t n) { max_cached_ = n; }
  /// True when more sessions are in memory than the cache's bound (a checkpoint would evict).
  bool over_cache_bound() const { return spill_store_ != nullptr && sessions_ > max_cached_; }
  /// OK, or the first error reading spilled state (IOError from the store, Corruption for a bad
  /// value). After an error the results are unreliable: restart from a checkpoint.
  const Status& spill_status() const { return spill_status_; }
  /// Keys evicted to the store, and keys read back from it, since construction.
  uint64_t evictions() const { return evictions_; }
  uint64_t spill_reads() const { return spill_reads_; }
  /// Sessions of evicted keys (only in the store), not counting keys left there by
  /// RestoreLazily() that were never read back.
  size_t spilled_groups() const { return spilled_sessions_; }
  /// Restores a fresh operator with a state cache without loading any key: they are read back
  /// when a row uses them or a timer of theirs falls due (the scalars must be restored first).
  /// State written before the timer index existed (keys but no index entries) is loaded
  /// eagerly instead, as RestoreKey() would. Errors: IOError from the store; Corruption for a
  /// malformed key or value.
  Status RestoreLazily();

 private:
  struct Session {
    int64_t end = 0;  // exclusive: last row time + gap
    std::vector<Accumulator> accs;
    bool fired = false;
  };
  static constexpr int64_t kNoIndex = INT64_MIN;
  struct KeyState {
    uint64_t id = 0;
    const std::string* key = nullptr;  // the encoded key, owned by keys_
    bool changed = false;              // in changed_, at changed_slot
    uint32_t changed_slot = 0;
    uint32_t touched_epoch = 0;        // epoch_ of its last change; == epoch_: not yet committed
    int64_t index_due = kNoIndex;      // `due` of its timer index entry in the store, if any
    Row keys;
    std::map<int64_t, Session> sessions;  // by start; disjoint and not touching
  };
  using Timer = std::tuple<int64_t, uint64_t, int64_t>;  // (time, key id, session start)

  void Emit(const KeyState& ks, int64_t start, const Session& s, std::vector<Row>* out);
  void RemoveTimers(const KeyState& ks, int64_t start, const Session& s);
  void DropSession(KeyState* ks, int64_t start);
  int64_t Due(const KeyState& ks) const;  // the key's earliest timer
  // Decodes a key state into keys_ and its timers (not marked changed); with `defer_timers`,
  // the timers go to restored_fire_ and restored_purge_ instead (FinishRestore()). Errors:
  // Corruption.
  Result<KeyState*> LoadKey(std::string_view encoded_key, std::string_view value, bool defer_timers = false);
  // Reads `encoded_key` back from the store if it is there. Returns null when it is not (or on
  // an error, recorded in spill_status_).
  KeyState* ReadBack(const std::string& encoded_key);
  void LoadDue(EventTime wm);  // reads back the spilled keys with a timer due by `wm`
  void LoadAllSpilled();       // reads back every spilled key (FlushAll)
  void EraseKey(KeyState* ks);
  void Evict();
  bool spilled_any() const { return spilled_keys_ > 0 || spilled_unknown_; }
  void MarkChanged(KeyState* ks) {
    ks->touched_epoch = epoch_;
    if (!ks->changed) {
      ks->changed = true;
      ks->changed_slot = static_cast<uint32_t>(changed_.size());
      changed_.push_back(ks);
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
  // Keys changed since the last checkpoint (null: erased since, see erased_keys_), and the
  // encoded keys erased since then, whose store copies the checkpoint deletes.
  std::vector<KeyState*> changed_;
  std::vector<std::string> erased_keys_;
  bool cleared_ = false;                   // FlushAll() since the last checkpoint
  // Timer index entries of keys erased since the last checkpoint: (due, encoded key).
  std::vector<std::pair<int64_t, std::string>> dropped_index_;
  // Keys erased (all sessions purged) whose store copy is not deleted yet: since the last
  // CheckpointDelta(), and in the batch of the commit that may still be in flight.
  std::unordered_set<std::string> erased_since_delta_, erased_in_flight_;
  // RestoreKey(): whether the store has timer index entries (they sort before the keys), and
  // the restored keys' timers, put into the timer sets in order by FinishRestore().
  bool restore_saw_index_ = false;
  std::vector<Timer> restored_fire_, restored_purge_;
  // Bounded state cache (EnableSpill()).
  StateStore* spill_store_ = nullptr;
  std::string spill_space_;
  size_t max_cached_ = 0;
  size_t spilled_keys_ = 0, spilled_sessions_ = 0;  // evicted and not read back (counted)
  bool spilled_unknown_ = false;  // restored lazily: the store may hold any number of keys
  EventTime index_scanned_to_ = EventTime::Min();  // LoadDue() has read back everything due by here
  uint32_t epoch_ = 1;
  uint64_t evictions_ = 0, spill_reads_ = 0;
  Status spill_status_;
  std::string spill_key_;
};

}  // namespace sluice::ops
