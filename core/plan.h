// The pipeline plan: what the SQL planner produces and the runtime executes.
//
// A Pipeline has sources (CREATE TABLE … WITH (connector = 'stream')), sinks (CREATE TABLE …
// WITH (connector = 'kv' | 'files')) and queries (INSERT INTO sink SELECT … FROM source).
// All cross references are indexes into the Pipeline's vectors; column references are indexes
// into the source schema. A plan is immutable once built. Thread-safety: read-only sharing is safe.
#pragma once

#include <map>
#include <memory>
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
  kCase,      ///< args = [when1, then1, when2, then2, ..., (else)]: an odd count means the last is ELSE.
              ///< The first WHEN that is TRUE picks its THEN; none (or NULL) → ELSE, or NULL without one.
  kCoalesce,  ///< The first non-NULL argument, else NULL.
  kNullIf,    ///< NULL when args[0] = args[1], else args[0].
  kLike,      ///< args[0] LIKE args[1] (TEXT; '%' any run, '_' one character, '\' escapes).
              ///< `fn` = kILike for ILIKE (ASCII case-insensitive). NOT LIKE is kNot over kLike.
  kCall,      ///< A scalar function, `fn`, over args (see ScalarFn).
};

/// Scalar functions for ExprOp::kCall (and kLike's variant). NULL in → NULL out unless noted.
enum class ScalarFn : uint8_t {
  kNone,
  kILike,       ///< Only as kLike's flag.
  kLower, kUpper,        ///< TEXT → TEXT; ASCII letters only, other bytes unchanged.
  kLength,               ///< TEXT → BIGINT, in characters (UTF-8 code points).
  kSubstring,            ///< (TEXT, BIGINT start[, BIGINT count]) → TEXT, 1-based, in characters;
                         ///< PostgreSQL rules for start < 1; a negative count gives NULL.
  kConcat,               ///< (any...) → TEXT; NULL arguments are skipped (concat()), never NULL.
  kConcatOp,             ///< a || b → TEXT; NULL when either side is NULL.
  kAbs,                  ///< BIGINT → BIGINT (NULL on overflow), FLOAT8 → FLOAT8.
  kRound,                ///< (x[, BIGINT digits]): half away from zero; BIGINT → BIGINT, FLOAT8 → FLOAT8.
  kFloor, kCeil,         ///< BIGINT → BIGINT, FLOAT8 → FLOAT8.
  kSqrt,                 ///< numeric → FLOAT8; NULL for negative input.
  kDateTrunc,            ///< (unit, TIMESTAMPTZ) → TIMESTAMPTZ, in UTC. args[0]: a BIGINT literal TimeField.
  kExtract,              ///< (field, TIMESTAMPTZ) → BIGINT, or FLOAT8 for second/milliseconds/epoch.
                         ///< args[0]: a BIGINT literal TimeField.
  kToTimestamp,          ///< numeric Unix seconds → TIMESTAMPTZ.
  kJsonGet,              ///< json -> key|index: (TEXT holding JSON, TEXT key or BIGINT array index) →
                         ///< TEXT, the member's JSON text; NULL when missing or not JSON.
  kJsonGetText,          ///< json ->> key|index: as kJsonGet, but strings unescaped and JSON null → NULL.
};

/// Units of date_trunc and fields of extract, stored as a BIGINT literal in args[0] so no text is
/// compared per row. kEpoch, kDow, kIsoDow and kDoy are extract-only. Weeks start on Monday (ISO).
enum class TimeField : uint8_t {
  kMicrosecond, kMillisecond, kSecond, kMinute, kHour, kDay, kWeek, kMonth, kQuarter, kYear,
  kEpoch, kDow, kIsoDow, kDoy,
};

/// A typed scalar expression tree over one input row.
struct Expr {
  ExprOp op = ExprOp::kLiteral;
  ScalarFn fn = ScalarFn::kNone;    ///< For kCall and kLike.
  DataType type = DataType::kNull;  ///< Result type, fixed at plan time.
  int column = -1;                  ///< For kColumn.
  Value literal;                    ///< For kLiteral.
  std::vector<Expr> args;           ///< Operands, left to right.
  std::string text;                 ///< The SQL text it came from, for messages and EXPLAIN.
};

/// Aggregate functions. Results: count → BIGINT; sum → BIGINT for integer input else FLOAT8;
/// avg → FLOAT8; min/max → the input type. NULL inputs are skipped; an empty sum/min/max/avg is NULL.
/// count(DISTINCT x) → BIGINT (exact); var_samp/var_pop/stddev_samp/stddev_pop → FLOAT8 (Welford,
/// NULL below 2 resp. 1 input); first_value/last_value → the input type, by event time (ties: the
/// earlier resp. later arrival); approx_count_distinct → BIGINT (HyperLogLog, ~0.8% std. error);
/// approx_percentile(x, q) → FLOAT8 (DDSketch, 1% relative value error). See docs/sql.md.
enum class AggKind : uint8_t {
  kCountStar, kCount, kSum, kMin, kMax, kAvg,
  kCountDistinct, kVarSamp, kVarPop, kStddevSamp, kStddevPop, kFirstValue, kLastValue,
  kApproxCountDistinct, kApproxPercentile,
};

/// One aggregate call in a SELECT list (or in HAVING).
struct AggregateDef {
  AggKind kind = AggKind::kCountStar;
  Expr arg;                          ///< Unused for kCountStar.
  std::optional<Expr> filter;        ///< FILTER (WHERE …): only rows where it is TRUE are aggregated.
  double param = 0;                  ///< approx_percentile's q, in [0, 1].
  DataType result_type = DataType::kInt64;
  std::string text;                  ///< e.g. "sum(distance)".
};

enum class WindowKind : uint8_t { kNone, kTumble, kHop, kSession };

/// The window table function in FROM.
///  TUMBLE(t, ts, size): [floor(ts/size)*size, +size).
///  HOP(t, ts, slide, size): windows [k*slide, k*slide + size) for every integer k; an event is in
///    each window that contains it. Evaluated on panes of gcd(slide, size) (slide <= size).
///  SESSION(t, ts, gap): per GROUP BY key, events at most `gap` apart form one session
///    [first event time, last event time + gap).
struct WindowDef {
  WindowKind kind = WindowKind::kNone;
  int time_column = -1;   ///< Source column holding event time (TIMESTAMPTZ).
  Duration size{0};       ///< Window length (kTumble, kHop). Unit: microseconds; > 0.
  Duration slide{0};      ///< kHop: distance between window starts; 0 < slide <= size. kTumble: == size.
  Duration gap{0};        ///< kSession: inactivity gap. Unit: microseconds; > 0.
};

/// Where one output column's value comes from.
struct OutputColumn {
  enum class Kind : uint8_t {
    kGroupKey,     ///< group_keys[index]
    kWindowStart,  ///< the window's start (TIMESTAMPTZ)
    kWindowEnd,    ///< the window's end, exclusive (TIMESTAMPTZ)
    kAggregate,    ///< aggregates[index]
    kProjection,   ///< projections[index], for queries without aggregation
    kPostExpr,     ///< post_projections[index]: an expression over the group row (see QueryDef)
  };
  std::string name;
  Kind kind = Kind::kProjection;
  int index = -1;
  DataType type = DataType::kNull;
};

/// A source stream: CREATE TABLE name (cols) WITH (connector = 'stream', ...).
/// The idle_timeout of a source that does not set one: 30 s of processing time. Long enough that a
/// shard with a steady trickle of records (one every few seconds) keeps holding the watermark;
/// short enough that a first pipeline whose some shards or partitions get no record at all still
/// emits its windows within half a minute. Flink has no default (withIdleness is opt-in), which
/// is a common cause of "no results" there.
inline constexpr Duration kDefaultIdleTimeout = std::chrono::seconds(30);

struct SourceDef {
  std::string name;
  Schema schema;
  std::string connector = "stream";
  int shards = 1;                      ///< Shard count when Sluice creates the stream.
  std::string format = "json";
  int event_time_column = -1;          ///< Index into schema; required for windowed queries.
  /// WITH (partition_key = 'col'), stream sources only: producers use this TEXT or BIGINT
  /// column's value as each record's partition key. A windowed query whose GROUP BY holds it
  /// keeps each shard's keys on the worker that reads the shard (no exchange;
  /// operators/key_groups.h). -1 = not declared.
  int partition_key_column = -1;
  Duration watermark_delay{0};         ///< Watermark = max event time seen − delay.
  /// A shard without records for this long (processing time) stops holding the watermark back,
  /// so a shard that never gets a record (a first Kafka pipeline with few keys) cannot hold
  /// windows back forever. 0 = never idle. Default: kDefaultIdleTimeout (30 s).
  Duration idle_timeout = kDefaultIdleTimeout;
  Duration allowed_lateness{0};        ///< A fired window keeps its state until the watermark passes
                                       ///< window_end + allowed_lateness; events for it until then
                                       ///< update it and re-emit it. Later ones are late records.
  std::string late_output;             ///< WITH (late_output = 'stream'): late records are appended to
                                       ///< this stream (JSON with the reason and the watermark);
                                       ///< empty = the dead-letter queue, stage "late".
  std::map<std::string, std::string> options;  ///< Every WITH option, lower-cased keys.
};

/// A sink table: CREATE TABLE name (cols) WITH (connector = 'kv' | 'files', ...).
struct SinkDef {
  std::string name;
  std::string connector;               ///< "kv" or "files".
  Schema schema;                       ///< Declared columns, or the feeding query's outputs when `()`.
  std::vector<int> primary_key;        ///< Indexes into schema (kv only; required there).
  Duration emit_interval{0};           ///< WITH (emit_interval = '10 seconds'): windowed queries into this
                                       ///< sink also emit the current partial rows of open windows that
                                       ///< changed, every interval of processing time. 0 = only on close.
  std::map<std::string, std::string> options;  ///< Every WITH option, lower-cased keys.
};

struct StagePlan;

/// INSERT INTO sinks[sink] SELECT … FROM sources[source].
/// An output's type may be narrower than a declared sink column's (BIGINT into FLOAT8); values
/// are written as computed, and JSON sinks print them as numbers either way.
/// Windowed and/or grouped queries have aggregates/group_keys; others have projections.
/// Output column i is written to sink schema column i.
///
/// The group row: HAVING and post_projections are evaluated over one row per (key, window) laid
/// out as [window_start, window_end, group_keys[0..k), aggregates[0..a)] — column 0 is
/// window_start, column 2 + i group key i, column 2 + k + j aggregate j. Aggregates used only by
/// HAVING or inside a post-projection are in `aggregates` without an output of their own.
struct QueryDef {
  int source = -1;
  int sink = -1;
  std::optional<Expr> where;           ///< Filter over the source row, before windowing.
  WindowDef window;
  std::vector<Expr> group_keys;        ///< GROUP BY expressions, excluding window_start/window_end.
  std::vector<AggregateDef> aggregates;
  std::optional<Expr> having;          ///< HAVING, over the group row; rows where it is not TRUE are not emitted.
  std::vector<Expr> post_projections;  ///< SELECT items over aggregates (sum(x) / count(*)), over the group row.
  std::vector<Expr> projections;       ///< Only for non-aggregating queries (SELECT *, SELECT a, b+1).
  std::vector<OutputColumn> outputs;
  std::string name;                    ///< "q<N>_<sink>", stable across runs of the same file.
  std::string text;                    ///< The statement's SQL text.
  /// Set for window-aligned multi-stage queries (subqueries in FROM, window joins; see StagePlan).
  /// Then `source` is the one source every stage reads, `outputs` are kProjection columns
  /// 0..n-1 of the stage plan's root, and where/window/group_keys/aggregates/projections are
  /// unused. Null for single-stage queries, which use the fields above.
  std::shared_ptr<const StagePlan> stages;

  bool aggregating() const { return !aggregates.empty() || !group_keys.empty(); }
};

/// One operator of a StagePlan, over the rows that one firing of its inputs produced.
struct StageNode {
  enum class Kind : uint8_t {
    kLeaf,       ///< The rows leaf `leaf` fired; layout: that leaf's outputs.
    kJoin,       ///< Inner hash join of nodes `left` and `right`; layout: left columns ++ right columns.
    kAggregate,  ///< Hash aggregate of node `left`; layout: aggregate.outputs.
    kProject,    ///< Filter (`condition`) and projections of node `left`; layout: projections.
  };
  Kind kind = Kind::kLeaf;
  int leaf = -1;                   ///< kLeaf: index into StagePlan::leaves.
  int left = -1;                   ///< kJoin: left input node; kAggregate, kProject: the input node.
  int right = -1;                  ///< kJoin: right input node.
  std::vector<Expr> left_keys;     ///< kJoin: equi-join keys over the left row (NULL never matches).
  std::vector<Expr> right_keys;    ///< kJoin: the matching keys over the right row, same count and types.
  std::optional<Expr> condition;   ///< kJoin: the rest of ON, over the joined row; kProject: WHERE over the input.
  std::vector<Expr> projections;   ///< kProject: one per output column, over the input row.
  /// kAggregate: a QueryDef used only for where (over the input row, before grouping),
  /// group_keys, aggregates, having, post_projections and outputs; its window kind is kNone and
  /// the group row's window_start/window_end come from input columns window_start_column and
  /// window_end_column (which are also group keys).
  QueryDef aggregate;
  int window_start_column = -1;    ///< kAggregate: input column holding window_start.
  int window_end_column = -1;      ///< kAggregate: input column holding window_end.
  int width = 0;                   ///< Number of output columns.
};

/// A window-aligned multi-stage query (docs/sql.md "Subqueries and window joins").
///
/// Leaves are windowed subqueries over the query's one source: TUMBLE/HOP aggregates (planned
/// as ordinary QueryDefs) or non-aggregating SELECTs over TUMBLE/HOP whose outputs tag each row
/// with window_start/window_end (outputs of kind kWindowStart/kWindowEnd/kProjection). Every
/// leaf fires all rows of a window when the watermark reaches window_end. The nodes above them
/// are evaluated over the finite batch of rows the leaves fired in one watermark advance. Every
/// join's equi-keys include window_start and window_end of both sides and every aggregate groups
/// by window_start and window_end, so evaluating over the batch equals evaluating per window.
/// Allowed lateness and emit_interval are rejected by the planner for such queries (a fired
/// window never changes). Identical leaves are planned once and shared.
struct StagePlan {
  std::vector<QueryDef> leaves;   ///< Windowed subqueries; each has source = the query's source.
  std::vector<StageNode> nodes;   ///< Children before parents; the last node is the root.
};

/// A whole pipeline file, planned.
struct Pipeline {
  std::vector<SourceDef> sources;
  std::vector<SinkDef> sinks;
  std::vector<QueryDef> queries;
};

}  // namespace sluice
