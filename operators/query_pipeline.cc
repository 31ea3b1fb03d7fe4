#include "operators/query_pipeline.h"

#include <algorithm>

#include "operators/expr_eval.h"

namespace sluice::ops {

QueryPipeline::QueryPipeline(const Pipeline& pipeline, int query_index, size_t splits, EventTime now)
    : query_(pipeline.queries[static_cast<size_t>(query_index)]),
      source_(pipeline.sources[static_cast<size_t>(query_.source)]),
      emit_interval_(pipeline.sinks[static_cast<size_t>(query_.sink)].emit_interval),
      splits_(splits),
      start_(now),
      next_emit_(now + emit_interval_) {
  WindowOptions options;
  options.allowed_lateness = source_.allowed_lateness;
  options.emit_partial = emit_interval_.count() > 0;
  if (query_.stages) {
    stage_ = std::make_unique<WindowStage>(query_);
  } else if (query_.window.kind == WindowKind::kTumble || query_.window.kind == WindowKind::kHop) {
    hop_ = std::make_unique<WindowAggregate>(query_, options);
  } else if (query_.window.kind == WindowKind::kSession) {
    session_ = std::make_unique<SessionWindowAggregate>(query_, options);
  }
  for (SplitState& s : splits_) s.last_activity = now;
}

void QueryPipeline::NoteActivity(size_t split, EventTime now) { splits_[split].last_activity = now; }

namespace {

// The per-row loop, instantiated per window operator so the calls are direct.
template <typename Op>
void AddRows(Op* op, const QueryDef& q, size_t time_col, const std::vector<Row>& rows, std::vector<LateRow>* late) {
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
    if (op->Add(row, t.as_time()) == AddResult::kLate) late->push_back({i, op->LastWindowEnd(t.as_time()), false});
  }
}

}  // namespace

void QueryPipeline::ProcessBatch(size_t split, const std::vector<Row>& rows, std::vector<Row>* out,
                                 std::vector<LateRow>* late) {
  SplitState& s = splits_[split];
  if (source_.event_time_column >= 0) {
    const size_t tc = static_cast<size_t>(source_.event_time_column);
    for (const Row& row : rows) {
      const Value& t = row[tc];
      if (t.type() == DataType::kTimestamp && t.as_time() > s.max_event_time &&
          t.as_time().micros < kMaxEventTimeMicros) {
        s.max_event_time = t.as_time();
      }
    }
  }
  if (hop_) {
    AddRows(hop_.get(), query_, static_cast<size_t>(query_.window.time_column), rows, late);
  } else if (session_) {
    AddRows(session_.get(), query_, static_cast<size_t>(query_.window.time_column), rows, late);
  } else if (stage_) {
    AddRows(stage_.get(), query_, static_cast<size_t>(source_.event_time_column), rows, late);
  } else {
    for (const Row& row : rows) {
      if (query_.where && !EvalPredicate(*query_.where, row)) continue;
      Row o;
      o.reserve(query_.projections.size());
      for (const Expr& e : query_.projections) o.push_back(Eval(e, row));
      out->push_back(std::move(o));
    }
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
  if (hop_) hop_->AdvanceWatermark(watermark_, out);
  if (session_) session_->AdvanceWatermark(watermark_, out);
  if (stage_) stage_->AdvanceWatermark(watermark_, out);
  if (emit_interval_.count() > 0 && now >= next_emit_) {
    if (hop_) hop_->EmitPartial(out);
    if (session_) session_->EmitPartial(out);
    // The next multiple of the interval after `now`, counted from the start.
    const int64_t periods = (now - start_).count() / emit_interval_.count() + 1;
    next_emit_ = start_ + Duration(periods * emit_interval_.count());
  }
  return watermark_;
}

void QueryPipeline::Flush(std::vector<Row>* out) {
  if (hop_) hop_->FlushAll(out);
  if (session_) session_->FlushAll(out);
  if (stage_) stage_->FlushAll(out);
}

size_t QueryPipeline::open_windows() const {
  if (hop_) return hop_->open_windows();
  if (session_) return session_->open_windows();
  if (stage_) return stage_->open_windows();
  return 0;
}

size_t QueryPipeline::open_groups() const {
  if (hop_) return hop_->open_groups();
  if (session_) return session_->open_groups();
  if (stage_) return stage_->open_groups();
  return 0;
}

void QueryPipeline::CheckpointDelta(std::string_view space, StoreBatch* batch, std::string* scalars) {
  StateWriter w(scalars);
  w.PutSigned(watermark_.micros);
  if (hop_) {
    hop_->CheckpointDelta(space, batch);
    hop_->AppendScalars(&w);
  }
  if (session_) {
    session_->CheckpointDelta(space, batch);
    session_->AppendScalars(&w);
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
  if (hop_ && !hop_->RestoreScalars(&r)) return Status::Corruption("checkpoint: bad window scalars");
  if (session_ && !session_->RestoreScalars(&r)) return Status::Corruption("checkpoint: bad session scalars");
  if (stage_) SLUICE_RETURN_IF_ERROR(stage_->Restore(&r, store, space));
  if (!r.done()) return Status::Corruption("checkpoint: trailing scalar bytes");
  if (!hop_ && !session_) return Status::OK();
  // With a bounded state cache, window groups stay in the store and are read when used.
  if (hop_ && hop_->spill_enabled()) return hop_->RestoreLazily();
  if (session_ && session_->spill_enabled()) return session_->RestoreLazily();
  // Room for the state, from RocksDB's estimate (SESSION: one timer index entry and one value
  // per key). The estimate counts old versions too, so it is capped (4M: 256 MiB of TUMBLE
  // groups), and FinishRestore() gives back what was not used.
  constexpr size_t kMaxReserve = size_t{1} << 22;
  if (session_) session_->ReserveKeys(std::min(store->EstimateKeys(space) / 2, kMaxReserve));
  if (hop_) hop_->ReserveGroups(std::min(store->EstimateKeys(space), kMaxReserve));
  SLUICE_RETURN_IF_ERROR(store->Scan(space, "", [&](std::string_view key, std::string_view value, bool*) {
    return hop_ ? hop_->RestoreGroup(key, value) : session_->RestoreKey(key, value);
  }));
  if (hop_) hop_->FinishRestore();
  if (session_) session_->FinishRestore();
  return Status::OK();
}

size_t QueryPipeline::StateBytes() const {
  if (hop_) return hop_->StateBytes();
  if (session_) return session_->StateBytes();
  if (stage_) return stage_->StateBytes();
  return 0;
}

}  // namespace sluice::ops
