#include "operators/session_window_aggregate.h"

#include <algorithm>

#include "operators/expr_eval.h"
#include "operators/state_run.h"

namespace sluice::ops {

SessionWindowAggregate::SessionWindowAggregate(const QueryDef& query, WindowOptions options)
    : query_(query), options_(options), gap_(query.window.gap), output_(query) {}

void SessionWindowAggregate::Emit(const KeyState& ks, int64_t start, const Session& s, std::vector<Row>* out) {
  output_.Emit(ks.keys, s.accs, EventTime{start}, EventTime{s.end}, out);
}

void SessionWindowAggregate::RemoveTimers(const KeyState& ks, int64_t start, const Session& s) {
  if (s.fired) {
    purge_timers_.erase(Timer{s.end + options_.allowed_lateness.count(), ks.id, start});
    updates_.erase({ks.id, start});
  } else {
    fire_timers_.erase(Timer{s.end, ks.id, start});
  }
  dirty_.erase({ks.id, start});
}

void SessionWindowAggregate::DropSession(KeyState* ks, int64_t start) {
  MarkChanged(ks);
  ks->sessions.erase(start);
  --sessions_;
}

AddResult SessionWindowAggregate::Add(const Row& row, EventTime t) {
  key_values_.clear();
  for (const Expr& k : query_.group_keys) key_values_.push_back(Eval(k, row));
  key_buf_.clear();
  EncodeKey(key_values_, &key_buf_);
  auto found = keys_.find(key_buf_);
  if (found == keys_.end() && spilled_any()) {
    if (KeyState* back = ReadBack(key_buf_)) found = keys_.find(*back->key);
  }
  const int64_t lo = t.micros, hi = t.micros + gap_.count();
  // Sessions of this key that overlap or touch [t, t + gap]: start <= t + gap and end >= t.
  int64_t new_start = lo, new_end = hi;
  merge_starts_.clear();  // descending start order
  if (found != keys_.end()) {
    auto& sessions = found->second.sessions;
    auto it = sessions.upper_bound(hi);
    while (it != sessions.begin()) {
      --it;
      if (it->second.end < lo) break;
      merge_starts_.push_back(it->first);
      new_start = std::min(new_start, it->first);
      new_end = std::max(new_end, it->second.end);
    }
  }
  const int64_t lateness = options_.allowed_lateness.count();
  if (merge_starts_.empty()) {
    if (EventTime{hi} + options_.allowed_lateness <= watermark_) return AddResult::kLate;
    if (found == keys_.end()) {
      found = keys_.try_emplace(key_buf_).first;
      found->second.id = next_key_id_++;
      found->second.key = &found->first;
      found->second.keys = key_values_;
      by_id_[found->second.id] = &found->second;
    }
    KeyState& ks = found->second;
    MarkChanged(&ks);
    Session s;
    s.end = hi;
    s.accs.resize(query_.aggregates.size());
    AccumulateRow(query_, row, InputOrder{t.micros, seq_++}, &s.accs, &scratch_);
    ks.sessions.emplace(lo, std::move(s));
    ++sessions_;
    // A session that a late row opens behind the watermark fires at the next AdvanceWatermark().
    fire_timers_.insert(Timer{hi, ks.id, lo});
    if (options_.emit_partial) dirty_.insert({ks.id, lo});
    return AddResult::kAccepted;
  }
  // Merge into the oldest overlapping session, in place (no allocation in the common case of a
  // row extending one session).
  KeyState& ks = found->second;
  MarkChanged(&ks);
  const int64_t target_start = merge_starts_.back();
  auto node = ks.sessions.extract(target_start);
  Session& target = node.mapped();
  std::set<Timer>& old_set = target.fired ? purge_timers_ : fire_timers_;
  auto timer = old_set.extract(target.fired ? Timer{target.end + lateness, ks.id, target_start}
                                            : Timer{target.end, ks.id, target_start});
  bool was_fired = target.fired;
  if (target.fired) updates_.erase({ks.id, target_start});
  if (options_.emit_partial) dirty_.erase({ks.id, target_start});
  for (size_t i = 0; i + 1 < merge_starts_.size(); ++i) {
    const int64_t start = merge_starts_[i];
    Session& other = ks.sessions.at(start);
    RemoveTimers(ks, start, other);
    was_fired = was_fired || other.fired;
    for (size_t a = 0; a < target.accs.size(); ++a) Merge(query_.aggregates[a], other.accs[a], &target.accs[a]);
    DropSession(&ks, start);
  }
  AccumulateRow(query_, row, InputOrder{t.micros, seq_++}, &target.accs, &scratch_);
  target.end = new_end;
  // Still fired only if it was and its (possibly extended) end is behind the watermark: then it
  // is an update, re-emitted at the next AdvanceWatermark(). Otherwise it fires (again) at its end.
  target.fired = was_fired && EventTime{new_end} <= watermark_;
  const Timer next = target.fired ? Timer{new_end + lateness, ks.id, new_start} : Timer{new_end, ks.id, new_start};
  std::set<Timer>& new_set = target.fired ? purge_timers_ : fire_timers_;
  if (timer) {
    timer.value() = next;
    new_set.insert(std::move(timer));
  } else {
    new_set.insert(next);
  }
  if (target.fired) {
    updates_.insert({ks.id, new_start});
  } else if (options_.emit_partial) {
    dirty_.insert({ks.id, new_start});
  }
  node.key() = new_start;
  ks.sessions.insert(std::move(node));
  return AddResult::kAccepted;
}

void SessionWindowAggregate::AdvanceWatermark(EventTime wm, std::vector<Row>* out) {
  if (spilled_any()) LoadDue(std::max(wm, watermark_));
  for (const auto& [id, start] : updates_) {
    KeyState* ks = by_id_.at(id);
    Emit(*ks, start, ks->sessions.at(start), out);
  }
  updates_.clear();
  if (wm > watermark_) watermark_ = wm;
  // Fire every unfired session whose end is at or before the watermark (including sessions a
  // late row created behind the watermark).
  while (!fire_timers_.empty() && EventTime{std::get<0>(*fire_timers_.begin())} <= watermark_) {
    auto [end, id, start] = *fire_timers_.begin();
    fire_timers_.erase(fire_timers_.begin());
    KeyState* ks = by_id_.at(id);
    Session& s = ks->sessions.at(start);
    Emit(*ks, start, s, out);
    dirty_.erase({id, start});
    s.fired = true;
    MarkChanged(ks);
    purge_timers_.insert(Timer{end + options_.allowed_lateness.count(), id, start});
  }
  while (!purge_timers_.empty() && EventTime{std::get<0>(*purge_timers_.begin())} <= watermark_) {
    auto [when, id, start] = *purge_timers_.begin();
    purge_timers_.erase(purge_timers_.begin());
    KeyState* ks = by_id_.at(id);
    DropSession(ks, start);
    if (ks->sessions.empty()) EraseKey(ks);
  }
}

void SessionWindowAggregate::EraseKey(KeyState* ks) {
  // Its store copy (if any) is deleted by the next checkpoint.
  if (ks->changed) changed_[ks->changed_slot] = nullptr;
  erased_keys_.push_back(*ks->key);
  if (ks->index_due != kNoIndex) dropped_index_.emplace_back(ks->index_due, *ks->key);
  // Until that delete commits, the store still has the key: it must not be read back.
  if (spill_store_ != nullptr) erased_since_delta_.insert(*ks->key);
  by_id_.erase(ks->id);
  keys_.erase(keys_.find(*ks->key));  // by iterator: ks->key points into the node
}

void SessionWindowAggregate::EmitPartial(std::vector<Row>* out) {
  for (const auto& [id, start] : dirty_) {
    KeyState* ks = by_id_.at(id);
    Emit(*ks, start, ks->sessions.at(start), out);
  }
  dirty_.clear();
}

void SessionWindowAggregate::FlushAll(std::vector<Row>* out) {
  if (spilled_any()) LoadAllSpilled();
  for (const auto& [id, start] : updates_) {
    KeyState* ks = by_id_.at(id);
    Emit(*ks, start, ks->sessions.at(start), out);
  }
  for (const auto& [end, id, start] : fire_timers_) {
    KeyState* ks = by_id_.at(id);
    Emit(*ks, start, ks->sessions.at(start), out);
  }
  updates_.clear();
  fire_timers_.clear();
  purge_timers_.clear();
  dirty_.clear();
  keys_.clear();
  by_id_.clear();
  sessions_ = 0;
  changed_.clear();
  erased_keys_.clear();
  dropped_index_.clear();
  cleared_ = true;
}

void SessionWindowAggregate::CheckpointDelta(std::string_view space, StoreBatch* batch) {
  if (cleared_) {
    batch->DeleteRange(space, "e", "f");
    batch->DeleteRange(space, "s", "t");
    cleared_ = false;
  }
  // Two StateRuns, put in key order on the committing thread: the timer index ('e' + due +
  // key: deletes of stale entries, puts of new ones) and the keys' sessions ('s' + key, or a
  // delete for a key with none left). A key erased and created again in this interval is both
  // deleted and put; the runs write only the put. Each key's sessions are encoded in
  // memory order: rows touch keys in any order, so changed_ is sorted by address first (its
  // slots are not used again: it is cleared below).
  auto index = std::make_shared<StateRun>('e', /*with_order=*/true);
  auto keys = std::make_shared<StateRun>('s', /*with_order=*/false);
  index->Reserve(dropped_index_.size() + changed_.size(), (dropped_index_.size() + changed_.size()) * 16);
  keys->Reserve(erased_keys_.size() + changed_.size(), changed_.size() * 64);  // a typical key's sessions
  for (const auto& [due, k] : dropped_index_) index->Delete(due, k);
  for (const std::string& k : erased_keys_) keys->Delete(0, k);
  std::sort(changed_.begin(), changed_.end(), std::less<KeyState*>());
  for (KeyState* ks : changed_) {
    if (ks == nullptr) continue;  // erased since: in erased_keys_
    ks->changed = false;
    const std::string& k = *ks->key;
    if (ks->sessions.empty()) {  // not kept in keys_ (EraseKey), but never write an empty state
      keys->Delete(0, k);
      continue;
    }
    StateWriter w(keys->BeginPut(0, k));
    w.PutRow(ks->keys);
    w.PutVarint(ks->sessions.size());
    for (const auto& [start, sess] : ks->sessions) {
      w.PutSigned(start);
      w.PutSigned(sess.end);
      w.PutU8(sess.fired ? 1 : 0);
      w.PutVarint(sess.accs.size());
      for (const Accumulator& a : sess.accs) w.PutAccumulator(a);
    }
    keys->EndPut();
    if (const int64_t due = Due(*ks); due != ks->index_due) {
      if (ks->index_due != kNoIndex) index->Delete(ks->index_due, k);
      index->Put(due, k, "");
      ks->index_due = due;
    }
  }
  if (index->count() > 0) batch->AddRun(space, index, index->count(), index->bytes());
  if (keys->count() > 0) batch->AddRun(space, keys, keys->count(), keys->bytes());
  dropped_index_.clear();
  changed_.clear();
  erased_keys_.clear();
  if (spill_store_ != nullptr) {
    // The previous batch has committed (EnableSpill()'s contract): its deletes are in the store.
    erased_in_flight_ = std::move(erased_since_delta_);
    erased_since_delta_.clear();
    if (sessions_ > max_cached_) Evict();
    ++epoch_;  // every key is now untouched in the new epoch
  }
}

int64_t SessionWindowAggregate::Due(const KeyState& ks) const {
  int64_t due = INT64_MAX;
  for (const auto& [start, sess] : ks.sessions) {
    due = std::min(due, sess.fired ? sess.end + options_.allowed_lateness.count() : sess.end);
  }
  return due;
}

void SessionWindowAggregate::Evict() {
  // Runs at the end of CheckpointDelta(): a key not touched in the current epoch was last written
  // by a checkpoint that has committed (with its index entry); one touched in it is in the batch
  // being built, which has not. Keys with a timer due by the watermark stay (LoadDue() has
  // scanned past them). Down to 90% of the bound, the keys due latest first.
  const size_t target = max_cached_ - max_cached_ / 10;
  std::vector<std::pair<int64_t, KeyState*>> candidates;
  for (auto& [k, ks] : keys_) {
    if (ks.touched_epoch == epoch_ || ks.changed || ks.index_due == kNoIndex) continue;
    if (EventTime{ks.index_due} <= watermark_) continue;
    // A session waiting to be emitted by EmitPartial() or re-emitted by AdvanceWatermark() stays
    // (evicting it would lose that emit).
    if (auto d = dirty_.lower_bound({ks.id, INT64_MIN}); d != dirty_.end() && d->first == ks.id) continue;
    if (auto u = updates_.lower_bound({ks.id, INT64_MIN}); u != updates_.end() && u->first == ks.id) continue;
    candidates.emplace_back(ks.index_due, &ks);
  }
  // Every key holds at least one session, so the first sessions_ - target candidates in that
  // order are enough: select them (linear) and sort only those, not every candidate.
  auto later_first = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second->id < b.second->id);
  };
  const size_t needed = std::min(candidates.size(), sessions_ > target ? sessions_ - target : size_t{0});
  if (needed < candidates.size()) {
    std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(needed), candidates.end(), later_first);
    candidates.resize(needed);
  }
  std::sort(candidates.begin(), candidates.end(), later_first);
  for (const auto& [due, ks] : candidates) {
    if (sessions_ <= target) break;
    for (const auto& [start, sess] : ks->sessions) RemoveTimers(*ks, start, sess);
    const size_t n = ks->sessions.size();
    sessions_ -= n;
    if (!spilled_unknown_) {  // after a lazy restore the spilled keys are not counted
      ++spilled_keys_;
      spilled_sessions_ += n;
    }
    ++evictions_;
    by_id_.erase(ks->id);
    keys_.erase(keys_.find(*ks->key));  // by iterator: ks->key points into the node
  }
}

SessionWindowAggregate::KeyState* SessionWindowAggregate::ReadBack(const std::string& encoded_key) {
  if (erased_since_delta_.count(encoded_key) != 0 || erased_in_flight_.count(encoded_key) != 0) return nullptr;
  spill_key_.assign("s");
  spill_key_ += encoded_key;
  auto value = spill_store_->Get(spill_space_, spill_key_);
  if (!value.ok()) {
    if (value.status().code() != StatusCode::kNotFound && spill_status_.ok()) spill_status_ = value.status();
    return nullptr;
  }
  auto loaded = LoadKey(encoded_key, *value);
  if (!loaded.ok()) {
    if (spill_status_.ok()) spill_status_ = loaded.status();
    return nullptr;
  }
  KeyState* ks = *loaded;
  ks->index_due = Due(*ks);  // what the checkpoint that wrote it indexed
  ++spill_reads_;
  if (!spilled_unknown_ && spilled_keys_ > 0) {
    --spilled_keys_;
    spilled_sessions_ -= std::min(spilled_sessions_, ks->sessions.size());
  }
  return ks;
}

void SessionWindowAggregate::LoadDue(EventTime wm) {
  if (wm <= index_scanned_to_) return;
  // Index entries due in (index_scanned_to_, wm]. Entries of keys in memory are skipped: memory
  // holds their newer version and timers.
  std::string from = "e";
  PutOrderedInt64(index_scanned_to_ == EventTime::Min() ? INT64_MIN : index_scanned_to_.micros + 1, &from);
  std::vector<std::string> due_keys;
  Status st = spill_store_->ScanFrom(spill_space_, from, "e", [&](std::string_view key, std::string_view, bool* more) {
    if (key.size() < 9) return Status::Corruption("session state: bad timer index key");
    if (GetOrderedInt64(key.substr(1, 8)) > wm.micros) {
      *more = false;
      return Status::OK();
    }
    std::string k(key.substr(9));
    if (keys_.find(k) == keys_.end()) due_keys.push_back(std::move(k));
    return Status::OK();
  });
  if (!st.ok()) {
    if (spill_status_.ok()) spill_status_ = st;
    return;
  }
  for (const std::string& k : due_keys) {
    if (keys_.find(k) == keys_.end()) ReadBack(k);
  }
  index_scanned_to_ = wm;
}

void SessionWindowAggregate::LoadAllSpilled() {
  std::vector<std::string> missing;
  Status st = spill_store_->Scan(spill_space_, "s", [&](std::string_view key, std::string_view, bool*) {
    std::string k(key.substr(1));
    if (keys_.find(k) == keys_.end()) missing.push_back(std::move(k));
    return Status::OK();
  });
  if (!st.ok() && spill_status_.ok()) spill_status_ = st;
  for (const std::string& k : missing) ReadBack(k);
  spilled_keys_ = spilled_sessions_ = 0;
  spilled_unknown_ = false;
}

void SessionWindowAggregate::EnableSpill(StateStore* store, std::string space, size_t max_cached_sessions) {
  spill_store_ = store;
  spill_space_ = std::move(space);
  max_cached_ = std::max<size_t>(max_cached_sessions, 1);
}

Status SessionWindowAggregate::RestoreLazily() {
  bool any_key = false, any_index = false;
  SLUICE_RETURN_IF_ERROR(spill_store_->Scan(spill_space_, "s", [&](std::string_view, std::string_view, bool* more) {
    any_key = true;
    *more = false;
    return Status::OK();
  }));
  SLUICE_RETURN_IF_ERROR(spill_store_->Scan(spill_space_, "e", [&](std::string_view, std::string_view, bool* more) {
    any_index = true;
    *more = false;
    return Status::OK();
  }));
  if (any_key && !any_index) {  // written before the timer index: load it all
    SLUICE_RETURN_IF_ERROR(spill_store_->Scan(spill_space_, "s", [&](std::string_view key, std::string_view value, bool*) {
      return RestoreKey(key, value);
    }));
    FinishRestore();
    return Status::OK();
  }
  spilled_unknown_ = any_key;
  // The first AdvanceWatermark() scans the index from its start: entries are normally all after
  // the checkpoint's watermark, but one due by then (a checkpoint taken between a row and the
  // watermark's advance) must still be read back.
  index_scanned_to_ = EventTime::Min();
  return Status::OK();
}

void SessionWindowAggregate::AppendScalars(StateWriter* w) const { PutOperatorScalars(w, watermark_, seq_); }

bool SessionWindowAggregate::RestoreScalars(StateReader* r) { return GetOperatorScalars(r, &watermark_, &seq_); }

Status SessionWindowAggregate::RestoreKey(std::string_view key, std::string_view value) {
  if (!key.empty() && key[0] == 'e') {
    // The timer index sorts before the keys ('e' < 's'). An entry is due at its key's earliest
    // timer as the checkpoint that wrote the key computed it (CheckpointDelta() rewrites the
    // entry whenever that changes), so Due() gives it back without keeping the entries.
    if (key.size() < 9) return Status::Corruption("session state: bad timer index key");
    restore_saw_index_ = true;
    return Status::OK();
  }
  if (key.empty() || key[0] != 's') return Status::Corruption("session state: bad key");
  SLUICE_ASSIGN_OR_RETURN(KeyState * ks, LoadKey(key.substr(1), value, /*defer_timers=*/true));
  if (restore_saw_index_) {
    ks->index_due = Due(*ks);  // deleted by the next checkpoint if the key's due changes
  } else {
    // State written before the timer index existed: index the key at the next checkpoint (until
    // then it is touched, so it is not evicted).
    MarkChanged(ks);
  }
  return Status::OK();
}

void SessionWindowAggregate::FinishRestore() {
  if (keys_.bucket_count() > 2 * keys_.size() + 1024) {  // ReserveKeys() was too much
    keys_.rehash(0);
    by_id_.rehash(0);
  }
  for (auto [timers, set] : {std::pair{&restored_fire_, &fire_timers_}, std::pair{&restored_purge_, &purge_timers_}}) {
    std::sort(timers->begin(), timers->end());
    for (const Timer& t : *timers) set->insert(set->end(), t);  // at the end: amortized O(1)
    timers->clear();
    timers->shrink_to_fit();
  }
}

Result<SessionWindowAggregate::KeyState*> SessionWindowAggregate::LoadKey(std::string_view encoded_key,
                                                                          std::string_view value, bool defer_timers) {
  // Decode everything first, so that a malformed value changes nothing.
  Row keys;
  std::vector<std::pair<int64_t, Session>> sessions;
  StateReader r(value);
  uint64_t n;
  if (!r.GetRow(&keys) || !r.GetVarint(&n) || n > value.size()) return Status::Corruption("session state: bad key state");
  for (uint64_t i = 0; i < n; ++i) {
    int64_t start;
    uint8_t fired;
    uint64_t accs;
    Session sess;
    if (!r.GetSigned(&start) || !r.GetSigned(&sess.end) || !r.GetU8(&fired) || fired > 1 || !r.GetVarint(&accs) ||
        accs != query_.aggregates.size() || sess.end <= start || (!sessions.empty() && start <= sessions.back().first)) {
      return Status::Corruption("session state: bad session");
    }
    sess.fired = fired == 1;
    sess.accs.resize(accs);
    for (Accumulator& a : sess.accs) {
      if (!r.GetAccumulator(&a)) return Status::Corruption("session state: bad accumulator");
    }
    sessions.emplace_back(start, std::move(sess));
  }
  if (!r.done() || sessions.empty()) return Status::Corruption("session state: trailing bytes or no sessions");
  auto [it, inserted] = keys_.try_emplace(std::string(encoded_key));
  if (!inserted) return Status::Corruption("session state: duplicate key");
  KeyState& ks = it->second;
  ks.id = next_key_id_++;
  ks.key = &it->first;
  ks.keys = std::move(keys);
  by_id_[ks.id] = &ks;
  const int64_t lateness = options_.allowed_lateness.count();
  for (auto& [start, sess] : sessions) {
    if (sess.fired) {
      const Timer t{sess.end + lateness, ks.id, start};
      defer_timers ? restored_purge_.push_back(t) : void(purge_timers_.insert(t));
    } else {
      const Timer t{sess.end, ks.id, start};
      defer_timers ? restored_fire_.push_back(t) : void(fire_timers_.insert(t));
    }
    ks.sessions.emplace_hint(ks.sessions.end(), start, std::move(sess));
    ++sessions_;
  }
  return &ks;
}

size_t SessionWindowAggregate::StateBytes() const {
  size_t n = 0;
  for (const auto& [key, ks] : keys_) {
    n += key.capacity() + sizeof(KeyState) + 64 + ks.keys.capacity() * sizeof(Value);
    for (const auto& [start, s] : ks.sessions) {
      n += sizeof(Session) + 48 + 3 * 48;  // map node and timer entries
      for (const Accumulator& a : s.accs) n += AccumulatorBytes(a);
    }
  }
  return n;
}

}  // namespace sluice::ops
