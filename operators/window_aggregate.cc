#include "operators/window_aggregate.h"

#include <numeric>

#include "operators/expr_eval.h"

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
    g.key = &it->first;
    g.keys = key_values_;
    g.accs.resize(query_.aggregates.size());
    pane.groups.push_back(std::move(g));
    ++groups_;
  }
  Group& group = pane.groups[it->second];
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
  for (auto it = panes_.lower_bound(window_start); it != panes_.end() && it->first < window_end; ++it) {
    auto found = it->second.index.find(key);
    if (found == it->second.index.end()) continue;
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
    return;
  }
  merge_index_.clear();
  size_t used = 0;
  for (auto it = first; it != panes_.end() && it->first < window_end; ++it) {
    for (const Group& g : it->second.groups) {
      auto [m, inserted] = merge_index_.try_emplace(std::string_view(*g.key), used);
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
    }
  }
  for (size_t i = 0; i < used; ++i) output_.Emit(merged_[i].keys, merged_[i].accs, start, end, out);
  for (size_t i = 0; i < used; ++i) merged_[i].accs.clear();  // release sketches held by the merge buffer
  merge_index_.clear();
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
  changed_.clear();
  dropped_panes_.clear();
  cleared_ = true;
}

void WindowAggregate::CheckpointDelta(std::string_view space, StoreBatch* batch) {
  std::string key, value;
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
  for (const auto& [start, index] : changed_) {
    auto it = panes_.find(start);
    if (it == panes_.end() || index >= it->second.groups.size()) continue;  // dropped since
    Group& g = it->second.groups[index];
    if (!g.changed) continue;
    g.changed = false;
    key.assign("p");
    PutOrderedInt64(start, &key);
    key += *g.key;
    value.clear();
    StateWriter w(&value);
    w.PutRow(g.keys);
    w.PutVarint(g.accs.size());
    for (const Accumulator& a : g.accs) w.PutAccumulator(a);
    batch->Put(space, key, value);
  }
  changed_.clear();
}

void WindowAggregate::AppendScalars(StateWriter* w) const { PutOperatorScalars(w, watermark_, seq_); }

bool WindowAggregate::RestoreScalars(StateReader* r) { return GetOperatorScalars(r, &watermark_, &seq_); }

Status WindowAggregate::RestoreGroup(std::string_view key, std::string_view value) {
  if (key.size() < 9 || key[0] != 'p') return Status::Corruption("window state: bad key");
  const int64_t start = GetOrderedInt64(key.substr(1, 8));
  Group g;
  StateReader r(value);
  uint64_t n;
  if (!r.GetRow(&g.keys) || !r.GetVarint(&n) || n != query_.aggregates.size())
    return Status::Corruption("window state: bad group");
  g.accs.resize(n);
  for (Accumulator& a : g.accs) {
    if (!r.GetAccumulator(&a)) return Status::Corruption("window state: bad accumulator");
  }
  if (!r.done()) return Status::Corruption("window state: trailing bytes");
  Pane& pane = panes_[start];
  auto [it, inserted] = pane.index.try_emplace(std::string(key.substr(9)), pane.groups.size());
  if (!inserted) return Status::Corruption("window state: duplicate group");
  g.key = &it->first;
  pane.groups.push_back(std::move(g));
  ++groups_;
  return Status::OK();
}

void WindowAggregate::FinishRestore() {
  pending_.clear();
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
