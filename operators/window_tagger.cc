#include "operators/window_tagger.h"

#include <algorithm>

#include "operators/expr_eval.h"

namespace sluice::ops {

WindowTagger::WindowTagger(const QueryDef& query)
    : query_(query),
      size_(query.window.size),
      slide_(query.window.kind == WindowKind::kHop ? query.window.slide : query.window.size) {}

EventTime WindowTagger::LastWindowEnd(EventTime t) const { return FloorTo(t, slide_) + size_; }

AddResult WindowTagger::Add(const Row& row, EventTime t) {
  const EventTime last_start = FloorTo(t, slide_);
  if (last_start + size_ <= watermark_) return AddResult::kLate;
  Row projected;
  projected.reserve(query_.projections.size());
  for (const Expr& e : query_.projections) projected.push_back(Eval(e, row));
  // Every window [ws, ws + size) with ws <= t < ws + size that has not fired, newest first; the
  // newest one always qualifies (t − last_start < slide <= size, checked against the watermark).
  int64_t ws = last_start.micros;
  while (true) {
    const int64_t next = ws - slide_.count();
    const bool more = next + size_.count() > t.micros && EventTime{next} + size_ > watermark_;
    std::vector<Row>& rows = windows_[ws];
    if (more) {
      rows.push_back(projected);
    } else {
      rows.push_back(std::move(projected));
    }
    ++rows_;
    if (!more) break;
    ws = next;
  }
  return AddResult::kAccepted;
}

void WindowTagger::EmitWindow(int64_t start, std::vector<Row>* rows, std::vector<Row>* out) const {
  const Value ws = Value::Time(EventTime{start});
  const Value we = Value::Time(EventTime{start} + size_);
  for (Row& p : *rows) {
    Row r;
    r.reserve(query_.outputs.size());
    for (const OutputColumn& oc : query_.outputs) {
      switch (oc.kind) {
        case OutputColumn::Kind::kWindowStart: r.push_back(ws); break;
        case OutputColumn::Kind::kWindowEnd: r.push_back(we); break;
        case OutputColumn::Kind::kProjection: r.push_back(p[static_cast<size_t>(oc.index)]); break;
        default: r.push_back(Value::Null()); break;
      }
    }
    out->push_back(std::move(r));
  }
}

void WindowTagger::AdvanceWatermark(EventTime wm, std::vector<Row>* out) {
  if (wm > watermark_) watermark_ = wm;
  while (!windows_.empty() && EventTime{windows_.begin()->first} + size_ <= watermark_) {
    auto it = windows_.begin();
    EmitWindow(it->first, &it->second, out);
    rows_ -= it->second.size();
    if (logged_.erase(it->first) != 0) fired_since_checkpoint_.push_back(it->first);
    windows_.erase(it);
  }
}

void WindowTagger::FlushAll(std::vector<Row>* out) {
  for (auto& [start, rows] : windows_) EmitWindow(start, &rows, out);
  windows_.clear();
  rows_ = 0;
  logged_.clear();
  fired_since_checkpoint_.clear();
  cleared_ = true;
}

void WindowTagger::CheckpointDelta(std::string_view space, StoreBatch* batch) {
  if (cleared_) {
    batch->DeleteRange(space, "w", "x");
    cleared_ = false;
  }
  for (int64_t start : fired_since_checkpoint_) {
    std::string begin = "w", end = "w";
    PutOrderedInt64(start, &begin);
    PutOrderedInt64(start + 1, &end);
    batch->DeleteRange(space, begin, end);
  }
  fired_since_checkpoint_.clear();
  std::string key, value;
  for (const auto& [start, rows] : windows_) {
    Logged& l = logged_[start];
    if (rows.size() == l.rows) continue;
    key.assign("w");
    PutOrderedInt64(start, &key);
    PutOrderedInt64(l.next_chunk++, &key);
    value.clear();
    StateWriter w(&value);
    w.PutVarint(rows.size() - l.rows);
    for (size_t i = l.rows; i < rows.size(); ++i) w.PutRow(rows[i]);
    batch->Put(space, key, value);
    l.rows = rows.size();
  }
}

bool WindowTagger::RestoreScalars(StateReader* r) {
  int64_t wm;
  if (!r->GetSigned(&wm)) return false;
  watermark_ = EventTime{wm};
  return true;
}

Status WindowTagger::RestoreChunk(std::string_view key, std::string_view value) {
  if (key.size() != 17 || key[0] != 'w') return Status::Corruption("window rows: bad key");
  const int64_t start = GetOrderedInt64(key.substr(1, 8)), chunk = GetOrderedInt64(key.substr(9, 8));
  StateReader r(value);
  uint64_t n;
  if (!r.GetVarint(&n) || n > value.size()) return Status::Corruption("window rows: bad chunk");
  std::vector<Row>& rows = windows_[start];
  for (uint64_t i = 0; i < n; ++i) {
    Row row;
    if (!r.GetRow(&row)) return Status::Corruption("window rows: bad row");
    rows.push_back(std::move(row));
  }
  if (!r.done()) return Status::Corruption("window rows: trailing bytes");
  rows_ += n;
  Logged& l = logged_[start];
  l.rows = rows.size();
  l.next_chunk = std::max(l.next_chunk, chunk + 1);
  return Status::OK();
}

size_t WindowTagger::StateBytes() const {
  size_t bytes = 0;
  for (const auto& [start, rows] : windows_) {
    bytes += 64;
    for (const Row& r : rows) {
      bytes += sizeof(Row) + r.size() * sizeof(Value);
      for (const Value& v : r) {
        if (v.type() == DataType::kText) bytes += v.as_text().capacity();
      }
    }
  }
  return bytes;
}

}  // namespace sluice::ops
