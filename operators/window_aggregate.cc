#include "operators/window_aggregate.h"

#include <cstring>

#include "operators/expr_eval.h"

namespace sluice::ops {

void EncodeKey(const Row& values, std::string* out) {
  for (const Value& v : values) {
    out->push_back(static_cast<char>(v.type()));
    switch (v.type()) {
      case DataType::kNull: break;
      case DataType::kBool: out->push_back(v.as_bool() ? 1 : 0); break;
      case DataType::kInt64: {
        int64_t i = v.as_int();
        out->append(reinterpret_cast<const char*>(&i), 8);
        break;
      }
      case DataType::kFloat64: {
        double d = v.as_float();
        out->append(reinterpret_cast<const char*>(&d), 8);
        break;
      }
      case DataType::kText: {
        uint32_t n = static_cast<uint32_t>(v.as_text().size());
        out->append(reinterpret_cast<const char*>(&n), 4);
        out->append(v.as_text());
        break;
      }
      case DataType::kTimestamp: {
        int64_t i = v.as_time().micros;
        out->append(reinterpret_cast<const char*>(&i), 8);
        break;
      }
    }
  }
}

WindowAggregate::WindowAggregate(const QueryDef& query) : query_(query), size_(query.window.size) {}

AddResult WindowAggregate::Add(const Row& row, EventTime t) {
  EventTime start = FloorTo(t, size_);
  if (start + size_ <= watermark_) return AddResult::kLate;
  key_values_.clear();
  for (const Expr& k : query_.group_keys) key_values_.push_back(Eval(k, row));
  key_buf_.clear();
  EncodeKey(key_values_, &key_buf_);
  Window& w = windows_[start.micros];
  auto [it, inserted] = w.index.try_emplace(key_buf_, w.groups.size());
  if (inserted) {
    w.groups.push_back(Group{key_values_, std::vector<Accumulator>(query_.aggregates.size())});
    ++groups_;
  }
  Group& g = w.groups[it->second];
  for (size_t i = 0; i < query_.aggregates.size(); ++i) {
    const AggregateDef& a = query_.aggregates[i];
    Accumulator& acc = g.accs[i];
    if (a.kind == AggKind::kCountStar) {
      ++acc.count;
      continue;
    }
    Value v = Eval(a.arg, row);
    if (v.is_null()) continue;
    ++acc.count;
    switch (a.kind) {
      case AggKind::kSum:
      case AggKind::kAvg:
        if (v.type() == DataType::kInt64 && a.kind == AggKind::kSum && a.result_type == DataType::kInt64) {
          if (__builtin_add_overflow(acc.isum, v.as_int(), &acc.isum)) acc.overflow = true;
        } else {
          acc.dsum += v.ToDouble();
        }
        break;
      case AggKind::kMin:
        if (acc.count == 1 || v.Compare(acc.extreme) < 0) acc.extreme = std::move(v);
        break;
      case AggKind::kMax:
        if (acc.count == 1 || v.Compare(acc.extreme) > 0) acc.extreme = std::move(v);
        break;
      default: break;
    }
  }
  return AddResult::kAccepted;
}

void WindowAggregate::Emit(int64_t start_us, Window& w, std::vector<Row>* out) const {
  const EventTime start{start_us};
  const EventTime end = start + size_;
  for (Group& g : w.groups) {
    Row r;
    r.reserve(query_.outputs.size());
    for (const OutputColumn& oc : query_.outputs) {
      switch (oc.kind) {
        case OutputColumn::Kind::kGroupKey: r.push_back(g.keys[static_cast<size_t>(oc.index)]); break;
        case OutputColumn::Kind::kWindowStart: r.push_back(Value::Time(start)); break;
        case OutputColumn::Kind::kWindowEnd: r.push_back(Value::Time(end)); break;
        case OutputColumn::Kind::kAggregate: {
          const AggregateDef& a = query_.aggregates[static_cast<size_t>(oc.index)];
          const Accumulator& acc = g.accs[static_cast<size_t>(oc.index)];
          switch (a.kind) {
            case AggKind::kCountStar:
            case AggKind::kCount: r.push_back(Value::Int(acc.count)); break;
            case AggKind::kSum:
              if (acc.count == 0 || acc.overflow) r.push_back(Value::Null());
              else if (a.result_type == DataType::kInt64) r.push_back(Value::Int(acc.isum));
              else r.push_back(Value::Float(acc.dsum));
              break;
            case AggKind::kAvg:
              r.push_back(acc.count == 0 ? Value::Null() : Value::Float(acc.dsum / static_cast<double>(acc.count)));
              break;
            case AggKind::kMin:
            case AggKind::kMax: r.push_back(acc.count == 0 ? Value::Null() : acc.extreme); break;
          }
          break;
        }
        case OutputColumn::Kind::kProjection: r.push_back(Value::Null()); break;
      }
    }
    out->push_back(std::move(r));
  }
}

void WindowAggregate::AdvanceWatermark(EventTime wm, std::vector<Row>* out) {
  if (wm <= watermark_) return;
  watermark_ = wm;
  while (!windows_.empty()) {
    auto it = windows_.begin();
    if (EventTime{it->first} + size_ > wm) break;
    Emit(it->first, it->second, out);
    groups_ -= it->second.groups.size();
    windows_.erase(it);
  }
}

void WindowAggregate::FlushAll(std::vector<Row>* out) {
  for (auto& [start, w] : windows_) Emit(start, w, out);
  windows_.clear();
  groups_ = 0;
}

}  // namespace sluice::ops
