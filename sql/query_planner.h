// Plans `INSERT INTO sink SELECT … FROM source | TUMBLE(source, ts, size) [WHERE …] [GROUP BY …]`
// into a QueryDef.
//
// Shape of the result:
//  - non-aggregating queries: one projection per output (SELECT * expands to every source
//    column);
//  - aggregating queries (aggregates or GROUP BY): need a TUMBLE window; GROUP BY items other
//    than window_start/window_end become group_keys; each output is a group key, the window's
//    start or end, or an aggregate (count(*), count, sum, min, max, avg). A non-aggregate SELECT
//    item must equal a GROUP BY item; an expression over plain-column GROUP BY items or
//    constants only (`x * 2` with GROUP BY x, `1`) becomes an extra group key, which groups
//    identically.
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
/// construct outside the supported shape (JOIN, subqueries, DISTINCT, ORDER BY, LIMIT, HAVING,
/// UNION, HOP/SESSION, OVER, …: "… is not supported").
Status PlanInsert(const StatementContext& ctx, const ParsedStatement& statement, const Json* insert,
                  PlanState* state);

}  // namespace sluice::sql
