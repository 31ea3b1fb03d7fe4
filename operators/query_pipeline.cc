#include "operators/query_pipeline.h"

#include <algorithm>

#include "operators/expr_eval.h"
#include "operators/key_encoder.h"

namespace sluice::ops {
namespace {

bool HasKeyedWindow(const QueryDef& q) {
  return !q.stages && (q.window.kind == WindowKind::kTumble || q.window.kind == WindowKind::kHop ||
                       q.window.kind == WindowKind::kSession);
}

// Queries without keyed window state have one group, whatever the caller asked for; an empty
// range stays empty (a worker that holds none of the query's state).
KeyGroupRange NormalizeGroups(const QueryDef& q, KeyGroupRange g) {
  if (!HasKeyedWindow(q) || g.count <= 1) return g.empty() ? KeyGroupRange{1, 1, 1} : KeyGroupRange{};
  return g;
}

}  // namespace

QueryPipeline::QueryPipeline(const Pipeline& pipeline, int query_index, size_t splits, EventTime now,
                             KeyGroupRange groups, bool partition_key_groups)
    : query_(pipeline.queries[static_cast<size_t>(query_index)]),
      source_(pipeline.sources[static_cast<size_t>(query_.source)]),
      emit_interval_(pipeline.sinks[static_cast<size_t>(query_.sink)].emit_interval),
      groups_(NormalizeGroups(query_, groups)),
      pk_key_(partition_key_groups ? PartitionKeyGroupKey(source_, query_) : -1),
      splits_(splits),
      start_(now),
      next_emit_(now + emit_interval_) {
  WindowOptions options;
  options.allowed_lateness = source_.allowed_lateness;
  options.emit_partial = emit_interval_.count() > 0;
  windowed_ = query_.stages || HasKeyedWindow(query_);
  if (pk_key_ >= 0 && groups_.count > 1) pk_groups_ = std::make_unique<PartitionKeyGroups>(groups_.count);
  const uint32_t n = groups_.empty() ? 0 : groups_.last - groups_.first;
  if (query_.stages) {
    if (n > 0) stage_ = std::make_unique<WindowStage>(query_);
  } else if (query_.window.kind == WindowKind::kTumble || query_.window.kind == WindowKind::kHop) {
    for (uint32_t i = 0; i < n; ++i) hop_.push_back(std::make_unique<WindowAggregate>(query_, options));
  } else if (query_.window.kind == WindowKind::kSession) {
    for (uint32_t i = 0; i < n; ++i) session_.push_back(std::make_unique<SessionWindowAggregate>(query_, options));
  }
  for (SplitState& s : splits_) s.last_activity = now;
}

template <typename Fn>
void QueryPipeline::ForEachOp(Fn&& fn) const {
  for (const auto& op : hop_) fn(*op);
  for (const auto& op : session_) fn(*op);
}

void QueryPipeline::NoteActivity(size_t split, EventTime now) { splits_[split].last_activity = now; }

namespace {

// The key group of a row of a keyed window query (K > 1): from the partition key's hash key when
// the GROUP BY holds it (pk_key >= 0, a column reference; `pk` set), else XXH3 of the encoded
// GROUP BY key.
uint32_t RowKeyGroup(const QueryDef& q, int pk_key, PartitionKeyGroups* pk, uint32_t key_groups, const Row& row,
                     Row* key_values, std::string* key_buf) {
  if (pk_key >= 0) return pk->Of(row[static_cast<size_t>(q.group_keys[static_cast<size_t>(pk_key)].column)]);
  key_values->clear();
  for (const Expr& k : q.group_keys) key_values->push_back(Eval(k, row));
  key_buf->clear();
  EncodeKey(*key_values, key_buf);
  return KeyGroupOfKey(*key_buf, key_groups);
}

// The per-row loop, instantiated per window operator so the calls are direct. With one operator
// (K = 1) every row goes to ops[0]; otherwise to the operator of the row's key group (rows of
// groups outside [first, first + ops.size()) are skipped).
template <typename Op>
void AddRows(std::vector<std::unique_ptr<Op>>& ops, uint32_t key_groups, uint32_t first, const QueryDef& q,
             int pk_key, PartitionKeyGroups* pk, size_t time_col, const std::vector<Row>& rows, std::vector<LateRow>* late, Row* key_values,
             std::string* key_buf) {
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    if (q.where && !EvalPredicate(*q.where, row)) continue;
    const Value& t = row[time_col];
    if (t.type() != DataType::kTimestamp) continue;  // the decoder rejects NULL event time
    const int64_t micros = t.as_time().micros;
    if (micros <= -kMaxEventTimeMicros || micros >= kMaxEventTimeMicros) {
      late->push_back({i, EventTime{}, true});
      continue;
    }
    Op* op = ops[0].get();
    if (key_groups > 1) {
      const uint32_t g = RowKeyGroup(q, pk_key, pk, key_groups, row, key_values, key_buf);
      if (g < first || g - first >= ops.size()) continue;
      op = ops[g - first].get();
    }
    if (op->Add(row, t.as_time()) == AddResult::kLate) late->push_back({i, op->LastWindowEnd(t.as_time()), false});
  }
}

// Rows routed here: WHERE passed, groups known.
template <typename Op>
void AddRouted(std::vector<std::unique_ptr<Op>>& ops, uint32_t first, size_t time_col, const std::vector<Row>& rows,
               const std::vector<uint32_t>& groups, std::vector<LateRow>* late) {
  for (size_t i = 0; i < rows.size(); ++i) {
    const uint32_t g = groups[i];
    if (g < first || g - first >= ops.size()) continue;  // another pipeline's group, or kNoGroup
    const EventTime t = rows[i][time_col].as_time();
    if (t.micros <= -kMaxEventTimeMicros || t.micros >= kMaxEventTimeMicros) {
      late->push_back({i, EventTime{}, true});
      continue;
    }
    Op* op = ops[g - first].get();
    if (op->Add(rows[i], t) == AddResult::kLate) late->push_back({i, op->LastWindowEnd(t), false});
  }
}

}  // namespace

EventTime QueryPipeline::MaxEventTime(const std::vector<Row>& rows) const {
  EventTime m = EventTime::Min();
  if (source_.event_time_column < 0) return m;
  const size_t tc = static_cast<size_t>(source_.event_time_column);
  for (const Row& row : rows) {
    const Value& t = row[tc];
    if (t.type() == DataType::kTimestamp && t.as_time() > m && t.as_time().micros < kMaxEventTimeMicros) m = t.as_time();
  }
  return m;
}

void QueryPipeline::ProcessBatch(size_t split, const std::vector<Row>& rows, std::vector<Row>* out,
                                 std::vector<LateRow>* late) {
  ObserveSplit(split, MaxEventTime(rows));
  const size_t tc = static_cast<size_t>(query_.window.time_column);
  if (!hop_.empty()) {
    AddRows(hop_, groups_.count, groups_.first, query_, pk_key_, pk_groups_.get(), tc, rows, late, &key_values_, &key_buf_);
  } else if (!session_.empty()) {
    AddRows(session_, groups_.count, groups_.first, query_, pk_key_, pk_groups_.get(), tc, rows, late, &key_values_, &key_buf_);
  } else if (stage_) {
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& row = rows[i];
      if (query_.where && !EvalPredicate(*query_.where, row)) continue;
      const Value& t = row[static_cast<size_t>(source_.event_time_column)];
      if (t.type() != DataType::kTimestamp) continue;
      const int64_t micros = t.as_time().micros;
      if (micros <= -kMaxEventTimeMicros || micros >= kMaxEventTimeMicros) {
        late->push_back({i, EventTime{}, true});
        continue;
      }
      if (stage_->Add(row, t.as_time()) == AddResult::kLate) late->push_back({i, stage_->LastWindowEnd(t.as_time()), false});
    }
  } else if (!windowed_) {
    for (const Row& row : rows) {
      if (query_.where && !EvalPredicate(*query_.where, row)) continue;
      Row o;
      o.reserve(query_.projections.size());
      for (const Expr& e : query_.projections) o.push_back(Eval(e, row));
      out->push_back(std::move(o));
    }
  }
}

void QueryPipeline::ProcessRouted(const std::vector<Row>& rows, const std::vector<uint32_t>& groups,
                                  std::vector<LateRow>* late) {
  const size_t tc = static_cast<size_t>(query_.window.time_column);
  if (!hop_.empty()) {
    AddRouted(hop_, groups_.first, tc, rows, groups, late);
  } else if (!session_.empty()) {
    AddRouted(session_, groups_.first, tc, rows, groups, late);
  } else if (stage_) {
    const size_t sc = static_cast<size_t>(source_.event_time_column);
    for (size_t i = 0; i < rows.size(); ++i) {
      const EventTime t = rows[i][sc].as_time();
      if (t.micros <= -kMaxEventTimeMicros || t.micros >= kMaxEventTimeMicros) {
        late->push_back({i, EventTime{}, true});
        continue;
      }
      if (stage_->Add(rows[i], t) == AddResult::kLate) late->push_back({i, stage_->LastWindowEnd(t), false});
    }
  }
}

void QueryPipeline::RouteRows(const std::vector<Row>& rows, std::vector<uint32_t>* groups) {
  groups->clear();
  groups->reserve(rows.size());
  const int time_col = query_.stages ? source_.event_time_column : query_.window.time_column;
  for (const Row& row : rows) {
    if ((query_.where && !EvalPredicate(*query_.where, row)) || time_col < 0 ||
        row[static_cast<size_t>(time_col)].type() != DataType::kTimestamp) {
      groups->push_back(kNoGroup);
      continue;
    }
    const int64_t micros = row[static_cast<size_t>(time_col)].as_time().micros;
    if (groups_.count <= 1 || micros <= -kMaxEventTimeMicros || micros >= kMaxEventTimeMicros) {
      groups->push_back(0);
      continue;
    }
    groups->push_back(RowKeyGroup(query_, pk_key_, pk_groups_.get(), groups_.count, row, &key_values_, &key_buf_));
  }
}

EventTime QueryPipeline::ComputeWatermark(EventTime now) {
  const Duration delay = source_.watermark_delay;
  const Duration idle_after = source_.idle_timeout;
  EventTime min_active = EventTime::Max(), max_any = EventTime::Min();
  bool any_active = false;
  holding_ = -1;
  for (size_t i = 0; i < splits_.size(); ++i) {
    SplitState& s = splits_[i];
    s.idle = !s.holds || (idle_after.count() > 0 && now - s.last_activity >= idle_after);
    EventTime wm = s.max_event_time == EventTime::Min() ? EventTime::Min() : s.max_event_time - delay;
    max_any = std::max(max_any, wm);
    if (s.idle) continue;
    any_active = true;
    if (wm < min_active) {
      min_active = wm;
      holding_ = static_cast<int>(i);
    }
  }
  return any_active ? min_active : max_any;
}

EventTime QueryPipeline::AdvanceTime(EventTime now, std::vector<Row>* out) {
  EventTime wm = ComputeWatermark(now);
  if (wm > watermark_) watermark_ = wm;
  for (auto& op : hop_) op->AdvanceWatermark(watermark_, out);
  for (auto& op : session_) op->AdvanceWatermark(watermark_, out);
  if (stage_) stage_->AdvanceWatermark(watermark_, out);
  if (emit_interval_.count() > 0 && now >= next_emit_) {
    for (auto& op : hop_) op->EmitPartial(out);
    for (auto& op : session_) op->EmitPartial(out);
    // The next multiple of the interval after `now`, counted from the start.
    const int64_t periods = (now - start_).count() / emit_interval_.count() + 1;
    next_emit_ = start_ + Duration(periods * emit_interval_.count());
  }
  return watermark_;
}

void QueryPipeline::Flush(std::vector<Row>* out) {
  for (auto& op : hop_) op->FlushAll(out);
  for (auto& op : session_) op->FlushAll(out);
  if (stage_) stage_->FlushAll(out);
}

size_t QueryPipeline::open_windows() const {
  // TUMBLE/HOP: every group's operator tracks the same windows (the largest count); SESSION:
  // sessions are per key (the sum).
  size_t n = 0;
  for (const auto& op : hop_) n = std::max(n, op->open_windows());
  for (const auto& op : session_) n += op->open_windows();
  if (stage_) n = stage_->open_windows();
  return n;
}

size_t QueryPipeline::open_groups() const {
  size_t n = 0;
  ForEachOp([&](const auto& op) { n += op.open_groups(); });
  if (stage_) n = stage_->open_groups();
  return n;
}

StateStore* QueryPipeline::GroupStore(StateStore* store, size_t i) {
  if (groups_.count <= 1) return store;
  if (views_base_ != store || views_.empty()) {
    views_.clear();
    for (uint32_t g = groups_.first; g < groups_.last; ++g)
      views_.push_back(std::make_unique<PrefixedStateStore>(store, KeyGroupPrefix(g), groups_.count));
    views_base_ = store;
  }
  return views_[i].get();
}

void QueryPipeline::EnableStateCache(StateStore* store, std::string_view space, size_t max_groups) {
  // One bound for the pipeline: before each checkpoint's eviction it is shared among the key
  // groups' operators in proportion to what each holds (ShareCacheBound()).
  cache_bound_ = std::max<size_t>(max_groups, 1);
  for (size_t i = 0; i < hop_.size(); ++i) hop_[i]->EnableSpill(GroupStore(store, i), std::string(space), cache_bound_);
  for (size_t i = 0; i < session_.size(); ++i)
    session_[i]->EnableSpill(GroupStore(store, i), std::string(space), cache_bound_);
}

bool QueryPipeline::over_state_cache_bound() const {
  // Only window operators spill; a stage plan's state cannot be evicted, so its size must not
  // ask for the early checkpoints that would evict (each would write all of it, for nothing).
  if (cache_bound_ == 0 || stage_) return false;
  size_t n = 0;
  ForEachOp([&](const auto& op) { n += op.open_groups(); });
  return n > cache_bound_;
}

void QueryPipeline::ShareCacheBound() {
  if (cache_bound_ == 0 || hop_.size() + session_.size() <= 1) return;
  // Over the bound, each operator keeps its share of it, so the pipeline ends at about the bound;
  // under it, nothing is evicted.
  const size_t total = open_groups();
  auto share = [&](auto& op) {
    op->set_cache_bound(total <= cache_bound_ ? cache_bound_
                                              : static_cast<size_t>(static_cast<double>(op->open_groups()) *
                                                                    static_cast<double>(cache_bound_) /
                                                                    static_cast<double>(total)));
  };
  for (auto& op : hop_) share(op);
  for (auto& op : session_) share(op);
}

Status QueryPipeline::state_status() const {
  Status st;
  ForEachOp([&](const auto& op) {
    if (st.ok() && !op.spill_status().ok()) st = op.spill_status();
  });
  return st;
}

uint64_t QueryPipeline::state_evictions() const {
  uint64_t n = 0;
  ForEachOp([&](const auto& op) { n += op.evictions(); });
  return n;
}

uint64_t QueryPipeline::state_reads() const {
  uint64_t n = 0;
  ForEachOp([&](const auto& op) { n += op.spill_reads(); });
  return n;
}

size_t QueryPipeline::spilled_groups() const {
  size_t n = 0;
  ForEachOp([&](const auto& op) { n += op.spilled_groups(); });
  return n;
}

namespace {

// One key group's operator: its delta under the group's prefix, and its scalars at prefix + "z".
template <typename Op>
void GroupDelta(Op& op, uint32_t group, std::string_view space, StoreBatch* batch) {
  StoreBatch own;
  op.CheckpointDelta(space, &own);
  const std::string prefix = KeyGroupPrefix(group);
  AppendPrefixed(own, prefix, batch);
  std::string scalars;
  StateWriter w(&scalars);
  op.AppendScalars(&w);
  batch->Put(space, prefix + "z", scalars);
}

constexpr size_t kMaxReserve = size_t{1} << 22;

// Restores one operator from `store` (a key group's view, or the whole space for K = 1), whose
// scalars were already restored. Keys "z" (a group's scalars) are skipped.
template <typename Op>
Status RestoreOp(Op& op, StateStore* store, std::string_view space, size_t reserve_divisor);

template <>
Status RestoreOp(WindowAggregate& op, StateStore* store, std::string_view space, size_t reserve_divisor) {
  if (op.spill_enabled()) return op.RestoreLazily();
  // Room for the state, from RocksDB's estimate. The estimate counts old versions too, so it is
  // capped (4M: 256 MiB of TUMBLE groups), and FinishRestore() gives back what was not used.
  op.ReserveGroups(std::min(store->EstimateKeys(space), kMaxReserve / reserve_divisor));
  SLUICE_RETURN_IF_ERROR(store->Scan(space, "", [&](std::string_view key, std::string_view value, bool*) {
    return key == "z" ? Status::OK() : op.RestoreGroup(key, value);
  }));
  op.FinishRestore();
  return Status::OK();
}

template <>
Status RestoreOp(SessionWindowAggregate& op, StateStore* store, std::string_view space, size_t reserve_divisor) {
  if (op.spill_enabled()) return op.RestoreLazily();
  // SESSION: one timer index entry and one value per key.
  op.ReserveKeys(std::min(store->EstimateKeys(space) / 2, kMaxReserve / reserve_divisor));
  SLUICE_RETURN_IF_ERROR(store->Scan(space, "", [&](std::string_view key, std::string_view value, bool*) {
    return key == "z" ? Status::OK() : op.RestoreKey(key, value);
  }));
  op.FinishRestore();
  return Status::OK();
}

}  // namespace

void QueryPipeline::CheckpointDelta(std::string_view space, StoreBatch* batch, std::string* scalars) {
  StateWriter w(scalars);
  w.PutSigned(watermark_.micros);
  if (groups_.count > 1) {
    // Each key group's state under its prefix; the pipeline's scalars are the watermark only.
    ShareCacheBound();
    for (size_t i = 0; i < hop_.size(); ++i) GroupDelta(*hop_[i], groups_.first + static_cast<uint32_t>(i), space, batch);
    for (size_t i = 0; i < session_.size(); ++i)
      GroupDelta(*session_[i], groups_.first + static_cast<uint32_t>(i), space, batch);
    return;
  }
  for (auto& op : hop_) {
    op->CheckpointDelta(space, batch);
    op->AppendScalars(&w);
  }
  for (auto& op : session_) {
    op->CheckpointDelta(space, batch);
    op->AppendScalars(&w);
  }
  if (stage_) {
    stage_->CheckpointDelta(space, batch);
    stage_->AppendScalars(&w);
  }
}

Status QueryPipeline::Restore(std::string_view scalars, StateStore* store, std::string_view space) {
  StateReader r(scalars);
  int64_t wm;
  if (!r.GetSigned(&wm)) return Status::Corruption("checkpoint: bad pipeline scalars");
  watermark_ = EventTime{wm};
  if (groups_.count > 1) {
    if (!r.done()) return Status::Corruption("checkpoint: trailing scalar bytes");
    auto restore_group = [&](auto& op, size_t i) -> Status {
      StateStore* view = GroupStore(store, i);
      auto saved = view->Get(space, "z");
      if (saved.ok()) {
        StateReader gr(*saved);
        if (!op.RestoreScalars(&gr) || !gr.done()) return Status::Corruption("checkpoint: bad key group scalars");
      } else if (saved.status().code() != StatusCode::kNotFound) {
        return saved.status();
      }
      SLUICE_RETURN_IF_ERROR(RestoreOp(op, view, space, groups_.count));
      if (!saved.ok()) {
        std::vector<Row> none;  // a group never checkpointed holds nothing: only its watermark
        op.AdvanceWatermark(watermark_, &none);
      }
      return Status::OK();
    };
    for (size_t i = 0; i < hop_.size(); ++i) SLUICE_RETURN_IF_ERROR(restore_group(*hop_[i], i));
    for (size_t i = 0; i < session_.size(); ++i) SLUICE_RETURN_IF_ERROR(restore_group(*session_[i], i));
    return Status::OK();
  }
  for (auto& op : hop_) {
    if (!op->RestoreScalars(&r)) return Status::Corruption("checkpoint: bad window scalars");
  }
  for (auto& op : session_) {
    if (!op->RestoreScalars(&r)) return Status::Corruption("checkpoint: bad session scalars");
  }
  if (stage_) SLUICE_RETURN_IF_ERROR(stage_->Restore(&r, store, space));
  if (!r.done()) return Status::Corruption("checkpoint: trailing scalar bytes");
  for (auto& op : hop_) SLUICE_RETURN_IF_ERROR(RestoreOp(*op, store, space, 1));
  for (auto& op : session_) SLUICE_RETURN_IF_ERROR(RestoreOp(*op, store, space, 1));
  return Status::OK();
}

size_t QueryPipeline::StateBytes() const {
  size_t n = 0;
  ForEachOp([&](const auto& op) { n += op.StateBytes(); });
  if (stage_) n += stage_->StateBytes();
  return n;
}

}  // namespace sluice::ops
