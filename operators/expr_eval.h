// Evaluation of planned scalar expressions (core/plan.h Expr) over one row.
//
// SQL NULL semantics: arithmetic and comparisons with a NULL operand give NULL; AND/OR use
// three-valued logic; division or modulo by zero gives NULL (PostgreSQL raises an error; a stream
// processor must not stop, so the row gets NULL and the planner documents it).
// CASE picks the first WHEN that is TRUE (NULL counts as not true); COALESCE the first non-NULL
// argument; NULLIF(a, b) is NULL when a = b; LIKE with a NULL operand is NULL. CASE and COALESCE
// convert the chosen value to the planned type (BIGINT → FLOAT8 when branches mix them).
// Scalar functions (kCall) are in scalar_functions.h.
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <vector>

#include "core/plan.h"
#include "core/value.h"

namespace sluice::ops {

/// Evaluates `e` over `row`. REQUIRES: `e` was planned against `row`'s schema.
Value Eval(const Expr& e, const Row& row);

/// True only when `e` evaluates to TRUE (NULL and FALSE both filter the row out), as WHERE does.
bool EvalPredicate(const Expr& e, const Row& row);

/// Casts `v` to `to`. Text parses as the target type; failures give NULL.
Value CastValue(const Value& v, DataType to);

/// Sets used[c] for every column `e` reads (kColumn nodes, recursively). Columns at or beyond
/// used->size() are ignored.
void CollectColumns(const Expr& e, std::vector<bool>* used);

/// The source columns query `q` reads from each input row: WHERE, projections, GROUP BY keys,
/// aggregate arguments and FILTERs, and the window's time column, plus `event_time_column` (read
/// for watermarks; -1 for none). For a stage plan (q.stages), the union over its leaves (only
/// the leaves read source rows). One entry per
/// source column (`source_columns`). Used to let a decoder skip fields no query needs.
std::vector<bool> ColumnsUsed(const QueryDef& q, size_t source_columns, int event_time_column);

}  // namespace sluice::ops
