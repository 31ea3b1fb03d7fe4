// The pipeline plan: what the SQL planner produces and the runtime executes.
//
// A Pipeline has sources (CREATE TABLE … WITH (connector = 'stream')), sinks (CREATE TABLE …
// WITH (connector = 'kv' | 'files')) and queries (INSERT INTO sink SELECT … FROM source).
// All cross references are indexes into the Pipeline's vectors; column references are indexes
// into the source schema. A plan is immutable once built. Thread-safety: read-only sharing is safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/time.h"
#include "core/value.h"

namespace sluice {

/// Scalar expression operators. Arithmetic follows SQL: any NULL operand gives NULL; comparisons
/// with NULL give NULL; AND/OR use three-valued logic.
enum class ExprOp : uint8_t {
  kColumn,    ///< `column` indexes the input row.
  kLiteral,   ///< `literal` holds the value.
  kAdd, kSub, kMul, kDiv, kMod, kNeg,
  kEq, kNe, kLt, kLe, kGt, kGe,
  kAnd, kOr, kNot,
  kIsNull, kIsNotNull,
  kCast,      ///< Cast args[0] to `type`.
};

/// A typed scalar expression tree over one input row.
struct Expr {
  ExprOp op = ExprOp::kLiteral;
  DataType type = DataType::kNull;  ///< Result type, fixed at plan time.
  int column = -1;                  ///< For kColumn.
  Value literal;                    ///< For kLiteral.
  std::vector<Expr> args;           ///< Operands, left to right.
  std::string text;                 ///< The SQL text it came from, for messages and EXPLAIN.
};

/// Aggregate functions. Results: count → BIGINT; sum → BIGINT for integer input else FLOAT8;
/// avg → FLOAT8; min/max → the input type. NULL inputs are skipped; an empty sum/min/max/avg is NULL.
enum class AggKind : uint8_t { kCountStar, kCount, kSum, kMin, kMax, kAvg };

/// One aggregate call in a SELECT list.
struct AggregateDef {
  AggKind kind = AggKind::kCountStar;
  Expr arg;                          ///< Unused for kCountStar.
  DataType result_type = DataType::kInt64;
  std::string text;                  ///< e.g. "sum(distance)".
};

enum class WindowKind : uint8_t { kNone, kTumble };

/// The window table function in FROM. TUMBLE(t, ts, size): [floor(ts/size)*size, +size).
struct WindowDef {
  WindowKind kind = WindowKind::kNone;
  int time_column = -1;   ///< Source column holding event time (TIMESTAMPTZ).
  Duration size{0};       ///< Window length. Unit: microseconds; > 0 for kTumble.
};

/// Where one output column's value comes from.
struct OutputColumn {
  enum class Kind : uint8_t {
    kGroupKey,     ///< group_keys[index]
    kWindowStart,  ///< the window's start (TIMESTAMPTZ)
    kWindowEnd,    ///< the window's end, exclusive (TIMESTAMPTZ)
    kAggregate,    ///< aggregates[index]
    kProjection,   ///< projections[index], for queries without aggregation
  };
  std::string name;
  Kind kind = Kind::kProjection;
  int index = -1;
  DataType type = DataType::kNull;
};

/// A source stream: CREATE TABLE name (cols) WITH (connector = 'stream', ...).
struct SourceDef {
  std::string name;
  Schema schema;
  std::string connector = "stream";
  int shards = 1;                      ///< Shard count when Sluice creates the stream.
  std::string format = "json";
  int event_time_column = -1;          ///< Index into schema; required for windowed queries.
  Duration watermark_delay{0};         ///< Watermark = max event time seen − delay.
  Duration idle_timeout{0};            ///< 0 = never idle. A shard quiet this long stops holding the watermark.
  Duration allowed_lateness{0};        ///< Events this far behind the watermark still update windows.
  std::map<std::string, std::string> options;  ///< Every WITH option, lower-cased keys.
};

/// A sink table: CREATE TABLE name (cols) WITH (connector = 'kv' | 'files', ...).
struct SinkDef {
  std::string name;
  std::string connector;               ///< "kv" or "files".
  Schema schema;                       ///< Declared columns, or the feeding query's outputs when `()`.
  std::vector<int> primary_key;        ///< Indexes into schema (kv only; required there).
  std::map<std::string, std::string> options;  ///< Every WITH option, lower-cased keys.
};

/// INSERT INTO sinks[sink] SELECT … FROM sources[source].
/// An output's type may be narrower than a declared sink column's (BIGINT into FLOAT8); values
/// are written as computed, and JSON sinks print them as numbers either way.
/// Windowed and/or grouped queries have aggregates/group_keys; others have projections.
/// Output column i is written to sink schema column i.
struct QueryDef {
  int source = -1;
  int sink = -1;
  std::optional<Expr> where;           ///< Filter over the source row, before windowing.
  WindowDef window;
  std::vector<Expr> group_keys;        ///< GROUP BY expressions, excluding window_start/window_end.
  std::vector<AggregateDef> aggregates;
  std::vector<Expr> projections;       ///< Only for non-aggregating queries (SELECT *, SELECT a, b+1).
  std::vector<OutputColumn> outputs;
  std::string name;                    ///< "q<N>_<sink>", stable across runs of the same file.
  std::string text;                    ///< The statement's SQL text.

  bool aggregating() const { return !aggregates.empty() || !group_keys.empty(); }
};

/// A whole pipeline file, planned.
struct Pipeline {
  std::vector<SourceDef> sources;
  std::vector<SinkDef> sinks;
  std::vector<QueryDef> queries;
};

}  // namespace sluice
