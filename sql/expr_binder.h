// ExprBinder: turns libpg_query scalar expression nodes into typed, column-indexed Exprs.
//
// Supported: column references (bare or qualified with the source name or alias), integer, float,
// string, boolean and NULL constants, + - * / % and unary minus, = <> < <= > >=, AND OR NOT,
// IS [NOT] NULL, [NOT] BETWEEN, [NOT] IN (list), CAST(x AS t) and x::t to TEXT, BOOLEAN, BIGINT,
// FLOAT8 and TIMESTAMPTZ. Typing follows PostgreSQL: BIGINT op BIGINT is BIGINT (also for '/'),
// FLOAT8 on either side gives FLOAT8; comparisons need comparable types; an untyped string
// literal next to a typed operand is read as that type at plan time ('2026-11-21 10:00' compared
// with a TIMESTAMPTZ column becomes a TIMESTAMPTZ literal). Aggregates, window functions and
// everything else are rejected here; the query planner handles aggregates at the top of SELECT.
//
// Internal to sql/. Thread-safety: a binder is immutable; Bind() is const and reentrant.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/plan.h"
#include "core/status.h"
#include "sql/pg_parser.h"
#include "sql/source_text.h"

namespace sluice::sql {

/// The clause an expression sits in. It decides what may appear (no aggregates in WHERE, no
/// nested aggregates) and how errors read.
enum class Clause : uint8_t { kWhere, kGroupBy, kSelect, kAggregateArgument, kWindowArgument };

/// The names an expression can see: the columns of one source.
struct BindScope {
  const SourceDef* source = nullptr;  ///< REQUIRES: non-null; borrowed for the binder's life.
  std::string qualifier;              ///< Qualified references must use it: the alias, else the source name.
  bool windowed = false;              ///< window_start/window_end name the window, not columns.
};

/// Binds expressions of one statement. Borrows `ctx` and `scope`; both must outlive the binder.
class ExprBinder {
 public:
  ExprBinder(const StatementContext& ctx, const BindScope& scope) : ctx_(ctx), scope_(scope) {}

  /// Binds `node` (a parse-tree node such as {"A_Expr": {...}}) appearing in `clause`.
  /// Errors (InvalidArgument at the offending node): unknown column or table qualifier; operand
  /// types that do not fit the operator ("operator does not exist: TEXT + BIGINT"); a string
  /// literal that does not parse as the type it is cast or compared to; aggregates and window
  /// functions; unsupported constructs ("CASE is not supported"); nesting deeper than
  /// kMaxExpressionDepth.
  Result<Expr> Bind(const Json* node, Clause clause) const;

  /// kWindowStart or kWindowEnd when `node` is a ColumnRef naming window_start/window_end
  /// (optionally qualified) and the scope is windowed; nullopt otherwise.
  std::optional<OutputColumn::Kind> WindowColumn(const Json* node) const;

  /// Maximum nesting of operators and casts in one expression.
  static constexpr int kMaxExpressionDepth = 200;

 private:
  struct Bound;

  Result<Bound> BindNode(const Json* node, Clause clause, int depth) const;
  Result<Bound> BindColumnRef(const Json* body, Clause clause) const;
  Result<Bound> BindConst(const Json* body) const;
  Result<Bound> BindCast(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindAExpr(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindBoolExpr(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindNullTest(const Json* body, Clause clause, int depth) const;
  Status FuncCallError(const Json* body, Clause clause) const;

  Result<Bound> MakeBinary(std::string_view op, Bound left, Bound right, int location) const;
  Result<Bound> MakeLogical(ExprOp op, Bound left, Bound right) const;
  Status CoerceLiteral(Bound* literal, DataType type) const;
  Status RequireBoolean(const Bound& arg, std::string_view what) const;

  const StatementContext& ctx_;
  const BindScope& scope_;
};

/// Maps a TypeName node body to a DataType: TEXT/VARCHAR/CHAR → TEXT; BOOLEAN/BOOL → BOOLEAN;
/// SMALLINT/INT/INTEGER/INT4/BIGINT/INT8 → BIGINT; REAL/FLOAT4/FLOAT8/DOUBLE PRECISION/NUMERIC/
/// DECIMAL → FLOAT8; TIMESTAMP/TIMESTAMPTZ (with or without time zone) → TIMESTAMPTZ.
/// Errors: InvalidArgument at the type for any other type, arrays and qualified names.
Result<DataType> ResolveTypeName(const StatementContext& ctx, const Json* type_name_body);

/// True when the TypeName body names INTERVAL.
bool IsIntervalType(const Json* type_name_body);

/// True for the aggregate functions Sluice computes: count, sum, min, max, avg.
bool IsAggregateFunction(std::string_view name);

/// The name PostgreSQL gives an unaliased SELECT item: the column name for a column reference,
/// the function name for a call, the type name for a cast of a constant, else "?column?".
std::string DefaultOutputName(const Json* node);

/// The message for a column `name` that `schema` lacks: `column "x" does not exist`, then a
/// hint: the differently-cased match if there is one, else the available columns.
/// `windowed` says whether window_start/window_end were available.
std::string UnknownColumnMessage(std::string_view name, const Schema& schema, bool windowed);

/// Parses `text` as a constant of `type` (for casts and comparisons with string literals).
/// Errors: InvalidArgument "invalid input syntax for type BIGINT: \"abc\"" (no location).
Result<Value> ParseLiteral(std::string_view text, DataType type);

/// Renders a literal value as SQL: 42, 1.5, 'text', TRUE, NULL, '2026-11-21T10:00:00.000Z'.
std::string RenderLiteral(const Value& v);

}  // namespace sluice::sql
