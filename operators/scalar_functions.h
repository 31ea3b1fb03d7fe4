// Scalar SQL functions over already-evaluated arguments: string functions, LIKE, math,
// date_trunc/extract on the UTC calendar, to_timestamp. expr_eval.cc evaluates the arguments
// and calls ApplyScalar(); the planner (sql/expr_binder.cc) has fixed the argument and result
// types, so these functions only see NULL or values of the planned types.
//
// NULL semantics: NULL in → NULL out, except concat() (skips NULLs). Where PostgreSQL raises an
// error on bad input (sqrt(-1), substring with a negative count, integer overflow), the result
// is NULL instead: a stream processor must not stop on one row (docs/sql.md lists these).
// Calendar arithmetic is proleptic Gregorian in UTC, after H. Hinnant's "chrono-Compatible
// Low-Level Date Algorithms" (days_from_civil / civil_from_days).
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/plan.h"
#include "core/value.h"

namespace sluice::ops {

/// Applies `fn` to `args[0..n)`.
/// REQUIRES: n and the argument types match what the planner accepts for `fn`; for
/// kDateTrunc/kExtract args[0] is a BIGINT TimeField code.
Value ApplyScalar(ScalarFn fn, const Value* args, size_t n);

/// JSON member access, PostgreSQL's jsonb `->` / `->>` (RFC 8259 text): in `json`, the value of
/// object member `key` (args TEXT) or of array element `index` (0-based; negative counts from the
/// end), as its JSON text (`as_text` false) or, with `as_text`, strings unescaped and JSON null
/// as SQL NULL. NULL when `json` is not an object/array of that shape, the member is missing, or
/// the text is malformed up to the member (the scan stops there). Duplicate keys: the last wins,
/// as in jsonb. No recursion, so any nesting depth is safe.
Value JsonGet(std::string_view json, const Value& key, bool as_text);

/// SQL LIKE: '%' matches any run of characters, '_' exactly one character (UTF-8 code point),
/// '\' makes the next pattern character literal (a trailing '\' is literal). With
/// `case_insensitive` ASCII letters compare without case (ILIKE).
bool LikeMatch(std::string_view text, std::string_view pattern, bool case_insensitive);

/// date_trunc(unit, t) in UTC. REQUIRES: `unit` is one of kMicrosecond..kYear.
EventTime DateTrunc(TimeField unit, EventTime t);

/// extract(field FROM t) in UTC: BIGINT for integral fields, FLOAT8 for kSecond (with the
/// fraction), kMillisecond (seconds × 1000 with the fraction) and kEpoch (Unix seconds).
Value Extract(TimeField field, EventTime t);

}  // namespace sluice::ops
