// GroupOutput: turns one finished group — (GROUP BY values, window, accumulators) — into the
// query's output row, applying HAVING and SELECT items over aggregates.
//
// The group row (core/plan.h QueryDef) is [window_start, window_end, group keys..., aggregate
// results...]; it is built only when the query has HAVING or post-projections. Used by every
// window operator so that emission is one piece of code.
// Thread-safety: not thread-safe (reuses buffers); one per operator.
#pragma once

#include <vector>

#include "core/plan.h"
#include "core/value.h"
#include "operators/aggregate_function.h"

namespace sluice::ops {

class GroupOutput {
 public:
  /// REQUIRES: `query` outlives this object.
  explicit GroupOutput(const QueryDef& query);

  /// Appends the output row of one group to `out` (query.outputs order) unless HAVING is not
  /// TRUE for it. `accs` has one accumulator per query.aggregates. Returns whether a row was added.
  bool Emit(const Row& keys, const std::vector<Accumulator>& accs, EventTime window_start, EventTime window_end,
            std::vector<Row>* out);

 private:
  const QueryDef& query_;
  const bool need_group_row_;
  Row group_row_;  // reused
  Row finals_;     // reused: finalized aggregates
};

}  // namespace sluice::ops
