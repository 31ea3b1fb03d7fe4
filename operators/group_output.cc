#include "operators/group_output.h"

#include "operators/expr_eval.h"

namespace sluice::ops {

GroupOutput::GroupOutput(const QueryDef& query)
    : query_(query), need_group_row_(query.having.has_value() || !query.post_projections.empty()) {}

bool GroupOutput::Emit(const Row& keys, const std::vector<Accumulator>& accs, EventTime window_start,
                       EventTime window_end, std::vector<Row>* out) {
  finals_.clear();
  for (size_t i = 0; i < query_.aggregates.size(); ++i) finals_.push_back(Finalize(query_.aggregates[i], accs[i]));
  if (need_group_row_) {
    group_row_.clear();
    group_row_.push_back(Value::Time(window_start));
    group_row_.push_back(Value::Time(window_end));
    group_row_.insert(group_row_.end(), keys.begin(), keys.end());
    group_row_.insert(group_row_.end(), finals_.begin(), finals_.end());
    if (query_.having && !EvalPredicate(*query_.having, group_row_)) return false;
  }
  Row r;
  r.reserve(query_.outputs.size());
  for (const OutputColumn& oc : query_.outputs) {
    const size_t i = static_cast<size_t>(oc.index);
    switch (oc.kind) {
      case OutputColumn::Kind::kGroupKey: r.push_back(keys[i]); break;
      case OutputColumn::Kind::kWindowStart: r.push_back(Value::Time(window_start)); break;
      case OutputColumn::Kind::kWindowEnd: r.push_back(Value::Time(window_end)); break;
      case OutputColumn::Kind::kAggregate: r.push_back(finals_[i]); break;
      case OutputColumn::Kind::kPostExpr: r.push_back(Eval(query_.post_projections[i], group_row_)); break;
      case OutputColumn::Kind::kProjection: r.push_back(Value::Null()); break;
    }
  }
  out->push_back(std::move(r));
  return true;
}

}  // namespace sluice::ops
