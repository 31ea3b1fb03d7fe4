// The SQL planner: a pipeline file (PostgreSQL grammar, parsed by libpg_query) → Pipeline.
//
// A pipeline file is a sequence of ';'-separated statements, planned in order (a table must be
// created before an INSERT uses it):
//
//   CREATE TABLE s (col TYPE, ...) WITH (connector = 'stream', shards = 4, format = 'json',
//       event_time = 'ts', watermark_delay = '5 seconds', idle_timeout = '1 minute',
//       allowed_lateness = '10 seconds');                                       → SourceDef
//   CREATE TABLE k () WITH (connector = 'kv', primary_key = 'name, window_start'
//       [, emit_interval = '10 seconds']);                                       → SinkDef
//   CREATE TABLE f () WITH (connector = 'files', path = 'archive/x', format = 'jsonl',
//       compression = 'gzip' | 'none', partition = 'hour' | 'day' | 'none',
//       buffer_size = '5 MB', buffer_interval = '60 seconds');                   → SinkDef
//   INSERT INTO k SELECT ... FROM s [WHERE ...];                                 → QueryDef
//   INSERT INTO k SELECT key, window_start, window_end, count(*), sum(x), ...
//       FROM TUMBLE(s, ts, INTERVAL '1 minute')          -- or
//            HOP(s, ts, INTERVAL '<slide>', INTERVAL '<size>') | SESSION(s, ts, INTERVAL '<gap>')
//       [WHERE ...] GROUP BY key, window_start, window_end [HAVING ...];         → QueryDef
//
// Aggregates: count(*), count(x), count(DISTINCT x), sum, avg, min, max, var_samp (variance),
// var_pop, stddev_samp (stddev), stddev_pop, first_value, last_value, approx_count_distinct,
// approx_percentile(x, q); each may take FILTER (WHERE …). SELECT items may be expressions over
// aggregates and GROUP BY columns (sum(x) / count(*)). Scalar expressions: see expr_binder.h.
// docs/sql.md is the user-facing reference.
//
// Column types: TEXT/VARCHAR/CHAR → TEXT; BOOLEAN → BOOLEAN; SMALLINT/INT/INTEGER/BIGINT →
// BIGINT; REAL/FLOAT4/FLOAT8/DOUBLE PRECISION/NUMERIC/DECIMAL → FLOAT8; TIMESTAMP[TZ] →
// TIMESTAMPTZ. A sink's column list may be empty, `()`: its schema is then the outputs (names
// and types) of the first query that feeds it. Unquoted identifiers are folded to lower case,
// quoted ones ("StatusTime") keep their case. WITH keys are lower-cased and all kept in
// SourceDef/SinkDef::options.
//
// Subqueries in FROM and window joins (FROM (SELECT …) AS a JOIN (SELECT …) AS b ON a.window_start
// = b.window_start AND a.window_end = b.window_end AND …): window-aligned stage plans over one
// source (core/plan.h StagePlan; docs/sql.md "Subqueries and window joins").
// JSONB/JSON columns are TEXT holding JSON; `->` and `->>` read members.
//
// Not supported (each reported as "… is not supported" at the construct): other JOINs and
// subqueries,
// SELECT DISTINCT, DISTINCT in aggregates other than count, ORDER BY, LIMIT, UNION, window
// functions (OVER), CREATE VIEW, SELECT without INSERT INTO, and other statements.
#pragma once

#include <string_view>

#include "core/plan.h"
#include "core/status.h"

namespace sluice::sql {

/// Parses and plans a whole pipeline file (several ';'-separated statements).
///
/// Returns the Pipeline: sources, sinks and queries in the order the file creates them; queries
/// are named "q<N>_<sink>" (N = 1-based position among the INSERTs) and carry their statement's
/// text. An empty file (or only comments) gives an empty Pipeline.
///
/// Errors: every error is Status::InvalidArgument with the message
///   "line L, column C: <message>\n<source line>\n<spaces>^"
/// (1-based L and C, C in characters; the caret is under the offending token). Reported: syntax
/// errors, unknown tables and columns (with a hint listing what exists), type mismatches
/// ("operator does not exist: TEXT + BIGINT"), a missing or non-TIMESTAMPTZ event_time, windows
/// on a non-event-time column, aggregation without a window, non-grouped columns, bad option
/// values (shards outside 1..1024, bad intervals, unknown connector/compression/partition,
/// non-positive window sizes, slides, gaps and emit_interval, a HOP slide larger than its size), kv
/// primary keys naming missing columns, sink schemas that do not match their query, and
/// unsupported constructs. Only the first error is reported.
///
/// Thread-safety: a pure function; safe to call concurrently (libpg_query keeps per-thread
/// state). Never throws.
Result<Pipeline> PlanPipeline(std::string_view sql_text);

}  // namespace sluice::sql
