#include "operators/window_aggregate.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "operators/expr_eval.h"
#include "operators/state_run.h"

namespace sluice::ops {
namespace {

Duration SlideOf(const WindowDef& w) { return w.kind == WindowKind::kHop ? w.slide : w.size; }

}  // namespace

WindowAggregate::WindowAggregate(const QueryDef& query, WindowOptions options)
    : query_(query),
      options_(options),
      size_(query.window.size),
      slide_(SlideOf(query.window)),
      pane_(std::gcd(query.window.size.count(), SlideOf(query.window).count())),
      output_(query) {}

int64_t WindowAggregate::FirstWindowStart(int64_t t) const {
  return FloorTo(EventTime{t - size_.count()}, slide_).micros + slide_.count();
}

EventTime WindowAggregate::LastWindowEnd(EventTime t) const { return EventTime{LastWindowStartOf(t.micros)} + size_; }

std::string WindowAggregate::StoreKey(int64_t pane_start, std::string_view key) const {
  std::string k = "p";
  PutOrderedInt64(pane_start, &k);
  k += key;
  return k;
}

template <typename Fn>
void WindowAggregate::ForEachSpilled(int64_t pane_start, const Pane& pane, Fn&& fn) {
  std::string prefix = "p";
  PutOrderedInt64(pane_start, &prefix);
  Status st = spill_store_->Scan(spill_space_, prefix, [&](std::string_view key, std::string_view value, bool*) {
    spill_key_.assign(key.substr(prefix.size()));
    if (pane.index.count(spill_key_) != 0) return Status::OK();  // memory holds the newer version
    SLUICE_RETURN_IF_ERROR(DecodeGroup(value, &spill_group_));
    spill_group_.key = &spill_key_;
    ++spill_reads_;
    fn(static_cast<const Group&>(spill_group_));
    return Status::OK();
  });
  if (!st.ok() && spill_status_.ok()) spill_status_ = st;
}

Status WindowAggregate::DecodeGroup(std::string_view value, Group* g) const {
  StateReader r(value);
  uint64_t n;
  g->keys.clear();
  if (!r.GetRow(&g->keys) || !r.GetVarint(&n) || n != query_.aggregates.size())
    return Status::Corruption("window state: bad group");
  g->accs.clear();
  g->accs.resize(n);
  for (Accumulator& a : g->accs) {
    if (!r.GetAccumulator(&a)) return Status::Corruption("window state: bad accumulator");
  }
  if (!r.done()) return Status::Corruption("window state: trailing bytes");
  return Status::OK();
}

WindowAggregate::Pane& WindowAggregate::PaneAt(int64_t pane_start) {
  if (last_pane_ != nullptr && last_pane_start_ == pane_start) return *last_pane_;
  auto [it, inserted] = panes_.try_emplace(pane_start);
  if (inserted) {
    // Register the windows that contain this pane and have not fired yet.
    for (int64_t ws = LastWindowStartOf(pane_start); ws + size_.count() > pane_start; ws -= slide_.count()) {
      if (EventTime{ws} + size_ > watermark_) pending_.insert(ws);
    }
  }
  last_pane_start_ = pane_start;
  last_pane_ = &it->second;
  return it->second;
}

AddResult WindowAggregate::Add(const Row& row, EventTime t) {
  const EventTime last_end = LastWindowEnd(t);
  if (last_end + options_.allowed_lateness <= watermark_) return AddResult::kLate;
  key_values_.clear();
  for (const Expr& k : query_.group_keys) key_values_.push_back(Eval(k, row));
  key_buf_.clear();
  EncodeKey(key_values_, &key_buf_);
  Pane& pane = PaneAt(FloorTo(t, pane_).micros);
  auto [it, inserted] = pane.index.try_emplace(key_buf_, pane.groups.size());
  if (inserted) {
    Group g;
    bool restored = false;
    if (pane.has_spilled()) {
      // The group may have been evicted: read it back (one bloom-filtered Get when it was not).
      auto value = spill_store_->Get(spill_space_, StoreKey(last_pane_start_, key_buf_));
      if (value.ok()) {
        Status st = DecodeGroup(*value, &g);
        if (st.ok()) {
          restored = true;
          if (!pane.spilled_unknown && pane.spilled > 0) {
            --pane.spilled;
            --spilled_groups_;
          }
          ++spill_reads_;
        } else if (spill_status_.ok()) {
          spill_status_ = st;
        }
      } else if (value.status().code() != StatusCode::kNotFound && spill_status_.ok()) {
        spill_status_ = value.status();
      }
    }
    if (!restored) {
      g.keys = key_values_;
      g.accs.resize(query_.aggregates.size());
    }
    g.key = &it->first;
    pane.groups.push_back(std::move(g));
    ++groups_;
  }
  Group& group = pane.groups[it->second];
  group.touched_epoch = epoch_;
  AccumulateRow(query_, row, InputOrder{t.micros, seq_++}, &group.accs, &scratch_);
  if (!group.changed) {
    group.changed = true;
    changed_.emplace_back(last_pane_start_, it->second);
  }
  if (options_.emit_partial) pane.dirty = true;
  // Windows of this row that already fired but are within allowed lateness get re-emitted.
  const int64_t first = FirstWindowStart(t.micros);
  if (EventTime{first} + size_ <= watermark_) {
    for (int64_t ws = first; ws + size_.count() <= watermark_.micros && ws <= t.micros; ws += slide_.count()) {
      if (EventTime{ws} + size_ + options_.allowed_lateness > watermark_) late_updates_.emplace(ws, key_buf_);
    }
  }
  return AddResult::kAccepted;
}

void WindowAggregate::EmitWindowKey(int64_t window_start, const std::string& key, std::vector<Row>* out) {
  const int64_t window_end = window_start + size_.count();
  std::vector<Accumulator> accs(query_.aggregates.size());
  const Row* keys = nullptr;
  Row spilled_keys;
  for (auto it = panes_.lower_bound(window_start); it != panes_.end() && it->first < window_end; ++it) {
    auto found = it->second.index.find(key);
    if (found == it->second.index.end()) {
      if (!it->second.has_spilled()) continue;
      auto value = spill_store_->Get(spill_space_, StoreKey(it->first, key));
      if (!value.ok()) {
        if (value.status().code() != StatusCode::kNotFound && spill_status_.ok()) spill_status_ = value.status();
        continue;
      }
      Status st = DecodeGroup(*value, &spill_group_);
      if (!st.ok()) {
        if (spill_status_.ok()) spill_status_ = st;
        continue;
      }
      ++spill_reads_;
      spilled_keys = spill_group_.keys;
      keys = &spilled_keys;
      for (size_t i = 0; i < accs.size(); ++i) Merge(query_.aggregates[i], spill_group_.accs[i], &accs[i]);
      continue;
    }
    const Group& g = it->second.groups[found->second];
    keys = &g.keys;
    for (size_t i = 0; i < accs.size(); ++i) Merge(query_.aggregates[i], g.accs[i], &accs[i]);
  }
  if (keys != nullptr) output_.Emit(*keys, accs, EventTime{window_start}, EventTime{window_end}, out);
}

void WindowAggregate::EmitWindow(int64_t window_start, std::vector<Row>* out) {
  const int64_t window_end = window_start + size_.count();
  const EventTime start{window_start}, end{window_end};
  auto first = panes_.lower_bound(window_start);
  if (pane_ == size_) {
    // One pane per window (TUMBLE): emit straight from the pane.
    if (first == panes_.end() || first->first != window_start) return;
    for (const Group& g : first->second.groups) output_.Emit(g.keys, g.accs, start, end, out);
    if (first->second.has_spilled()) {
      ForEachSpilled(first->first, first->second,
                     [&](const Group& g) { output_.Emit(g.keys, g.accs, start, end, out); });
    }
    return;
  }
  merge_index_.clear();
  size_t used = 0;
  auto merge = [&](const Group& g, std::string_view key) {
    auto [m, inserted] = merge_index_.try_emplace(key, used);
    if (inserted) {
      if (used == merged_.size()) merged_.emplace_back();
      Group& fresh = merged_[used];
      fresh.keys = g.keys;
      fresh.accs.clear();
      fresh.accs.resize(query_.aggregates.size());
      ++used;
    }
    Group& into = merged_[m->second];
    for (size_t i = 0; i < into.accs.size(); ++i) Merge(query_.aggregates[i], g.accs[i], &into.accs[i]);
  };
  for (auto it = first; it != panes_.end() && it->first < window_end; ++it) {
    for (const Group& g : it->second.groups) merge(g, *g.key);
    if (it->second.has_spilled()) {
      // The merge index keeps views of keys: copy the store's keys somewhere stable first.
      ForEachSpilled(it->first, it->second, [&](const Group& g) { merge(g, merged_keys_.emplace_back(*g.key)); });
    }
  }
  for (size_t i = 0; i < used; ++i) output_.Emit(merged_[i].keys, merged_[i].accs, start, end, out);
  for (size_t i = 0; i < used; ++i) merged_[i].accs.clear();  // release sketches held by the merge buffer
  merge_index_.clear();
  merged_keys_.clear();
}

void WindowAggregate::AdvanceWatermark(EventTime wm, std::vector<Row>* out) {
  for (const auto& [ws, key] : late_updates_) EmitWindowKey(ws, key, out);
  late_updates_.clear();
  if (wm <= watermark_) return;
  watermark_ = wm;
  while (!pending_.empty() && EventTime{*pending_.begin()} + size_ <= wm) {
    EmitWindow(*pending_.begin(), out);
    pending_.erase(pending_.begin());
  }
  // Drop panes whose last window ended allowed_lateness or more before the watermark.
  while (!panes_.empty()) {
    auto it = panes_.begin();
    if (EventTime{LastWindowStartOf(it->first)} + size_ + options_.allowed_lateness > wm) break;
    groups_ -= it->second.groups.size();
    spilled_groups_ -= it->second.spilled;
    if (last_pane_ == &it->second) last_pane_ = nullptr;
    dropped_panes_.push_back(it->first);
    panes_.erase(it);
  }
}

void WindowAggregate::EmitPartial(std::vector<Row>* out) {
  std::set<int64_t> changed;
  for (auto& [start, pane] : panes_) {
    if (!pane.dirty) continue;
    pane.dirty = false;
    for (int64_t ws = LastWindowStartOf(start); ws + size_.count() > start; ws -= slide_.count()) {
      if (pending_.count(ws) != 0) changed.insert(ws);
    }
  }
  for (int64_t ws : changed) EmitWindow(ws, out);
}

void WindowAggregate::FlushAll(std::vector<Row>* out) {
  for (const auto& [ws, key] : late_updates_) EmitWindowKey(ws, key, out);
  late_updates_.clear();
  for (int64_t ws : pending_) EmitWindow(ws, out);
  pending_.clear();
  panes_.clear();
  last_pane_ = nullptr;
  groups_ = 0;
  spilled_groups_ = 0;
  changed_.clear();
  dropped_panes_.clear();
  cleared_ = true;
}

void WindowAggregate::CheckpointDelta(std::string_view space, StoreBatch* batch) {
  if (cleared_) {
    batch->DeleteRange(space, "p", "q");
    cleared_ = false;
  }
  for (int64_t start : dropped_panes_) {
    std::string begin = "p", end = "p";
    PutOrderedInt64(start, &begin);
    PutOrderedInt64(start + 1, &end);
    batch->DeleteRange(space, begin, end);
  }
  dropped_panes_.clear();
  // The changed groups go into a StateRun, encoded in memory order (by pane, then position in
  // the pane: rows touch groups in any order, and a restore lays them out in key order, so
  // changed_ order can be a random walk over memory); the run is sorted into key order on the
  // committing thread.
  std::sort(changed_.begin(), changed_.end());
  auto run = std::make_shared<StateRun>('p', /*with_order=*/true);
  run->Reserve(changed_.size(), changed_.size() * 48);  // a typical group's key and value
  int64_t cached_start = 0;
  Pane* cached_pane = nullptr;
  for (const auto& [start, index] : changed_) {
    if (cached_pane == nullptr || cached_start != start) {
      auto it = panes_.find(start);
      cached_pane = it == panes_.end() ? nullptr : &it->second;
      cached_start = start;
    }
    if (cached_pane == nullptr || index >= cached_pane->groups.size()) continue;  // dropped since
    Group& g = cached_pane->groups[index];
    if (!g.changed) continue;
    g.changed = false;
    StateWriter w(run->BeginPut(start, *g.key));
    w.PutRow(g.keys);
    w.PutVarint(g.accs.size());
    for (const Accumulator& a : g.accs) w.PutAccumulator(a);
    run->EndPut();
  }
  if (run->count() > 0) batch->AddRun(space, run, run->count(), run->bytes());
  changed_.clear();
  if (spill_store_ != nullptr) Evict();
}

void WindowAggregate::Evict() {
  // Runs at the end of CheckpointDelta(): changed_ is empty, so group positions may move. A group
  // not touched in the current epoch (since the previous delta) was last written by a checkpoint
  // that has committed; one touched in it is in the batch being built, which has not.
  if (groups_ > max_cached_groups_) {
    // Down to 90% of the bound, oldest panes first. Within a pane a clock hand goes round the
    // groups (second chance: touched ones are skipped), at most once round per call; an evicted
    // slot is refilled from the pane's end. When most groups are touched every interval, a call
    // can sweep the whole cache and evict little: O(cache) per checkpoint in that case.
    const size_t target = max_cached_groups_ - max_cached_groups_ / 10;
    for (auto& [start, pane] : panes_) {
      if (groups_ <= target) break;
      for (size_t scanned = 0, n = pane.groups.size(); groups_ > target && scanned < n && !pane.groups.empty();
           ++scanned) {
        if (pane.clock_hand >= pane.groups.size()) pane.clock_hand = 0;
        Group& g = pane.groups[pane.clock_hand];
        if (g.touched_epoch == epoch_ || g.changed) {
          ++pane.clock_hand;
          continue;
        }
        pane.index.erase(pane.index.find(*g.key));  // by iterator: g.key points into the node
        const size_t last = pane.groups.size() - 1;
        if (pane.clock_hand != last) {
          g = std::move(pane.groups[last]);
          pane.index.find(*g.key)->second = pane.clock_hand;  // examined next, at the same hand
        }
        pane.groups.pop_back();
        --groups_;
        ++evictions_;
        if (!pane.spilled_unknown) {  // a lazily restored pane's spilled groups are not counted
          ++pane.spilled;
          ++spilled_groups_;
        }
      }
      if (pane.groups.size() < pane.groups.capacity() / 4) {  // give the memory back too
        pane.groups.shrink_to_fit();
        pane.index.rehash(0);
      }
    }
  }
  ++epoch_;  // every group is now untouched in the new epoch
}

void WindowAggregate::EnableSpill(StateStore* store, std::string space, size_t max_cached_groups) {
  spill_store_ = store;
  spill_space_ = std::move(space);
  max_cached_groups_ = std::max<size_t>(max_cached_groups, 1);
}


void WindowAggregate::AppendScalars(StateWriter* w) const { PutOperatorScalars(w, watermark_, seq_); }

bool WindowAggregate::RestoreScalars(StateReader* r) { return GetOperatorScalars(r, &watermark_, &seq_); }

Status WindowAggregate::RestoreGroup(std::string_view key, std::string_view value) {
  if (key.size() < 9 || key[0] != 'p') return Status::Corruption("window state: bad key");
  const int64_t start = GetOrderedInt64(key.substr(1, 8));
  // Keys arrive in (pane, key) order: look the pane up once per pane, not once per group.
  if (last_pane_ == nullptr || last_pane_start_ != start) {
    last_pane_ = &panes_[start];
    last_pane_start_ = start;
    if (restore_reserve_ > 0) {  // the first pane: ReserveGroups()
      last_pane_->groups.reserve(restore_reserve_);
      last_pane_->index.reserve(restore_reserve_);
      restore_reserve_ = 0;
    }
  }
  Pane& pane = *last_pane_;
  if (spill_store_ != nullptr && groups_ >= max_cached_groups_) {
    // Beyond the cache's bound: leave the group in the store (read when used or fired).
    ++pane.spilled;
    ++spilled_groups_;
    return Status::OK();
  }
  Group g;
  SLUICE_RETURN_IF_ERROR(DecodeGroup(value, &g));
  auto [it, inserted] = pane.index.try_emplace(std::string(key.substr(9)), pane.groups.size());
  if (!inserted) return Status::Corruption("window state: duplicate group");
  g.key = &it->first;
  pane.groups.push_back(std::move(g));
  ++groups_;
  return Status::OK();
}

Status WindowAggregate::RestoreLazily() {
  // One seek per pane: find the first key at or after `from`, note its pane, skip past the pane.
  std::string from = "p";
  while (true) {
    bool found = false;
    int64_t start = 0;
    SLUICE_RETURN_IF_ERROR(spill_store_->ScanFrom(spill_space_, from, "p", [&](std::string_view key, std::string_view, bool* more) {
      if (key.size() < 9) return Status::Corruption("window state: bad key");
      start = GetOrderedInt64(key.substr(1, 8));
      found = true;
      *more = false;
      return Status::OK();
    }));
    if (!found) break;
    panes_[start].spilled_unknown = true;
    if (start == INT64_MAX) break;
    from.assign("p");
    PutOrderedInt64(start + 1, &from);
  }
  FinishRestore();
  return Status::OK();
}

void WindowAggregate::FinishRestore() {
  pending_.clear();
  restore_reserve_ = 0;
  for (auto& [start, pane] : panes_) {
    if (pane.groups.capacity() > 2 * pane.groups.size() + 1024) {  // ReserveGroups() was too much
      pane.groups.shrink_to_fit();
      pane.index.rehash(0);
    }
  }
  for (const auto& [start, pane] : panes_) {
    for (int64_t ws = LastWindowStartOf(start); ws + size_.count() > start; ws -= slide_.count()) {
      if (EventTime{ws} + size_ > watermark_) pending_.insert(ws);
    }
  }
  last_pane_ = nullptr;
}

size_t WindowAggregate::StateBytes() const {
  size_t n = 0;
  for (const auto& [start, pane] : panes_) {
    for (const auto& [key, index] : pane.index) n += key.capacity() + 48;
    for (const Group& g : pane.groups) {
      n += sizeof(Group) + g.keys.capacity() * sizeof(Value);
      for (const Accumulator& a : g.accs) n += AccumulatorBytes(a);
    }
  }
  return n;
}

}  // namespace sluice::ops
