#include "operators/session_window_aggregate.h"

#include "operators/expr_eval.h"

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
    auto key_it = by_id_.find(id);
    KeyState* ks = key_it->second;
    DropSession(ks, start);
    if (ks->sessions.empty()) {
      by_id_.erase(key_it);
      key_buf_.clear();
      EncodeKey(ks->keys, &key_buf_);
      keys_.erase(key_buf_);
    }
  }
}

void SessionWindowAggregate::EmitPartial(std::vector<Row>* out) {
  for (const auto& [id, start] : dirty_) {
    KeyState* ks = by_id_.at(id);
    Emit(*ks, start, ks->sessions.at(start), out);
  }
  dirty_.clear();
}

void SessionWindowAggregate::FlushAll(std::vector<Row>* out) {
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
  changed_keys_.clear();
  cleared_ = true;
}

void SessionWindowAggregate::CheckpointDelta(std::string_view space, StoreBatch* batch) {
  if (cleared_) {
    batch->DeleteRange(space, "s", "t");
    cleared_ = false;
  }
  std::string key, value;
  for (const std::string& k : changed_keys_) {
    key.assign("s");
    key += k;
    auto it = keys_.find(k);
    if (it == keys_.end() || it->second.sessions.empty()) {
      batch->Delete(space, key);
      continue;
    }
    KeyState& ks = it->second;
    if (!ks.changed) continue;  // listed twice (dropped and re-created)
    ks.changed = false;
    value.clear();
    StateWriter w(&value);
    w.PutRow(ks.keys);
    w.PutVarint(ks.sessions.size());
    for (const auto& [start, sess] : ks.sessions) {
      w.PutSigned(start);
      w.PutSigned(sess.end);
      w.PutU8(sess.fired ? 1 : 0);
      w.PutVarint(sess.accs.size());
      for (const Accumulator& a : sess.accs) w.PutAccumulator(a);
    }
    batch->Put(space, key, value);
  }
  changed_keys_.clear();
}

void SessionWindowAggregate::AppendScalars(StateWriter* w) const { PutOperatorScalars(w, watermark_, seq_); }

bool SessionWindowAggregate::RestoreScalars(StateReader* r) { return GetOperatorScalars(r, &watermark_, &seq_); }

Status SessionWindowAggregate::RestoreKey(std::string_view key, std::string_view value) {
  if (key.empty() || key[0] != 's') return Status::Corruption("session state: bad key");
  auto [it, inserted] = keys_.try_emplace(std::string(key.substr(1)));
  if (!inserted) return Status::Corruption("session state: duplicate key");
  KeyState& ks = it->second;
  ks.id = next_key_id_++;
  ks.key = &it->first;
  by_id_[ks.id] = &ks;
  StateReader r(value);
  uint64_t n;
  if (!r.GetRow(&ks.keys) || !r.GetVarint(&n) || n > value.size()) return Status::Corruption("session state: bad key state");
  const int64_t lateness = options_.allowed_lateness.count();
  for (uint64_t i = 0; i < n; ++i) {
    int64_t start;
    uint8_t fired;
    uint64_t accs;
    Session sess;
    if (!r.GetSigned(&start) || !r.GetSigned(&sess.end) || !r.GetU8(&fired) || fired > 1 || !r.GetVarint(&accs) ||
        accs != query_.aggregates.size() || sess.end <= start) {
      return Status::Corruption("session state: bad session");
    }
    sess.fired = fired == 1;
    sess.accs.resize(accs);
    for (Accumulator& a : sess.accs) {
      if (!r.GetAccumulator(&a)) return Status::Corruption("session state: bad accumulator");
    }
    if (sess.fired) {
      purge_timers_.insert(Timer{sess.end + lateness, ks.id, start});
    } else {
      fire_timers_.insert(Timer{sess.end, ks.id, start});
    }
    if (!ks.sessions.emplace(start, std::move(sess)).second) return Status::Corruption("session state: duplicate session");
    ++sessions_;
  }
  if (!r.done() || ks.sessions.empty()) return Status::Corruption("session state: trailing bytes or no sessions");
  return Status::OK();
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
