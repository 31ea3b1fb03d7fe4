// Plans `INSERT INTO sink SELECT … FROM source | TUMBLE(…) | HOP(…) | SESSION(…) [WHERE …]
// [GROUP BY …] [HAVING …]` into a QueryDef.
//
// Shape of the result:
//  - non-aggregating queries: one projection per output (SELECT * expands to every source
//    column);
//  - aggregating queries (aggregates, GROUP BY or HAVING): need a window (TUMBLE, HOP, SESSION);
//    GROUP BY items other than window_start/window_end become group_keys; each output is a group
//    key, the window's start or end, an aggregate (see planner.h for the list; FILTER and
//    count(DISTINCT) allowed), or an expression over the group row (post_projections: items
//    with aggregates or window_start/window_end inside an expression). A plain SELECT item must
//    equal a GROUP BY item; an expression over plain-column GROUP BY items or constants only
//    (`x * 2` with GROUP BY x, `1`) becomes an extra group key, which groups identically.
//    HAVING is bound over the group row; aggregates it alone uses are added without outputs.
//    Identical aggregates (same text) are computed once.
//  - GROUP BY also accepts a SELECT position (GROUP BY 1) or alias, as PostgreSQL does.
//
// Internal to sql/. Thread-safety: pure; touches only the PlanState passed in.
#pragma once

#include "core/status.h"
#include "sql/pg_parser.h"
#include "sql/plan_state.h"
#include "sql/source_text.h"

namespace sluice::sql {

/// Plans the InsertStmt body `insert` of statement `statement` and appends the QueryDef to
/// state->pipeline.queries, naming it "q<N>_<sink>" (N counts INSERTs from 1); then fixes or
/// checks the sink's schema (see ApplyQueryToSink).
/// Errors: InvalidArgument (SourceText format) for an unknown sink or source, unknown columns,
/// type errors, aggregation without a window, windows on a non-event-time column or a source
/// without event_time, bad window sizes, non-grouped columns, duplicate output names, and every
/// construct outside the supported shape (JOIN, subqueries, DISTINCT, ORDER BY, LIMIT, UNION,
/// OVER, …: "… is not supported"), HOP slides larger than the size, non-positive sizes, slides
/// and gaps, and HOP windows of more than 10,000 panes.
Status PlanInsert(const StatementContext& ctx, const ParsedStatement& statement, const Json* insert,
                  PlanState* state);

}  // namespace sluice::sql
