// ExplainPipeline: the text `sluice explain PIPELINE.sql` prints — for each source its shards,
// event time and watermark rule; for each query its operators in order (decode, filter,
// watermark, window, aggregates, HAVING, emission, sink), each window operator's watermark column
// and delay, its state key and a state-size estimate.
//
// State-size estimate (docs/sql.md, "explain"): units × B bytes per distinct GROUP BY key, where
//   units = windows held per key:
//     TUMBLE:  ⌈(watermark_delay + allowed_lateness) / size⌉ + 1
//     HOP:     ⌈(size + watermark_delay + allowed_lateness) / pane⌉ + 1, pane = gcd(slide, size)
//     SESSION: ⌈(watermark_delay + allowed_lateness) / gap⌉ + 1
//   B = 96 (hash entry and encoded key) + 48 per group key + the accumulators' estimated bytes
//       (operators/aggregate_function.h EstimatedAccumulatorBytes; count(DISTINCT) assumes 100
//       distinct values per group).
// The number of distinct keys is data-dependent, so the estimate is printed per key and for
// 1,000 keys.
// Thread-safety: a pure function.
#pragma once

#include <string>

#include "core/plan.h"

namespace sluice::app {

/// The explain text for `pipeline`, one block per source and per query, '\n'-terminated lines.
std::string ExplainPipeline(const Pipeline& pipeline);

/// Estimated bytes of window state per distinct GROUP BY key of `query` (see above); 0 for
/// queries without a window.
size_t EstimatedStateBytesPerKey(const Pipeline& pipeline, const QueryDef& query);

}  // namespace sluice::app
