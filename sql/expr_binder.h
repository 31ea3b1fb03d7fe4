// ExprBinder: turns libpg_query scalar expression nodes into typed, column-indexed Exprs.
//
// Supported: column references (bare or qualified with the source name or alias), integer, float,
// string, boolean and NULL constants, + - * / % and unary minus, = <> < <= > >=, AND OR NOT,
// IS [NOT] NULL, [NOT] BETWEEN, [NOT] IN (list), CAST(x AS t) and x::t to TEXT, BOOLEAN, BIGINT,
// FLOAT8 and TIMESTAMPTZ, CASE (searched and simple), COALESCE, NULLIF, [NOT] LIKE / ILIKE, ||,
// and the scalar functions lower, upper, length (char_length), substring (substr, and
// SUBSTRING(s FROM a FOR b)), concat, abs, round, floor, ceil (ceiling), sqrt, mod, date_trunc,
// extract / date_part, to_timestamp. Typing follows PostgreSQL: BIGINT op BIGINT is BIGINT (also
// for '/'), FLOAT8 on either side gives FLOAT8; comparisons need comparable types; an untyped
// string literal next to a typed operand is read as that type at plan time ('2026-11-21 10:00'
// compared with a TIMESTAMPTZ column becomes a TIMESTAMPTZ literal); CASE and COALESCE branches
// must share a type (BIGINT and FLOAT8 mix to FLOAT8). Window functions and everything else are
// rejected here.
//
// Aggregates: rejected, except when the scope has a GroupRowResolver (HAVING, SELECT items over
// aggregates). Then the expression is bound over the group row (core/plan.h QueryDef): aggregate
// calls and GROUP BY expressions become column references the resolver hands out, and any other
// column reference is an error ("must appear in GROUP BY or be used in an aggregate").
//
// Internal to sql/. Thread-safety: a binder is immutable; Bind() is const and reentrant.
#pragma once

#include <optional>
#include <vector>
#include <string>
#include <string_view>

#include "core/plan.h"
#include "core/status.h"
#include "sql/pg_parser.h"
#include "sql/source_text.h"

namespace sluice::sql {

/// The clause an expression sits in. It decides what may appear (no aggregates in WHERE, no
/// nested aggregates) and how errors read.
enum class Clause : uint8_t { kWhere, kGroupBy, kSelect, kAggregateArgument, kWindowArgument, kHaving, kFilter };

/// Hands out group-row columns while binding HAVING and SELECT items over aggregates.
/// Implemented by the query planner, which owns the aggregate list. Column numbers it returns
/// may be provisional codes that the planner renumbers once the group row is final.
class GroupRowResolver {
 public:
  virtual ~GroupRowResolver() = default;
  /// A column of the group row, with its type and SQL text.
  struct Ref {
    int column = -1;
    DataType type = DataType::kNull;
    std::string text;
  };
  /// Plans the aggregate call `func_call` (a {"FuncCall": …} node) and returns its column.
  /// Errors: InvalidArgument as for aggregates in SELECT.
  virtual Result<Ref> Aggregate(const Json* func_call) = 0;
  /// The column of window_start (kWindowStart) or window_end.
  virtual Ref Window(OutputColumn::Kind kind) const = 0;
  /// The column of the GROUP BY expression equal to `e` (same text and type), if any.
  virtual std::optional<Ref> GroupKey(const Expr& e) const = 0;
};

/// The names an expression can see: the columns of one source.
struct BindScope {
  const SourceDef* source = nullptr;  ///< REQUIRES: non-null; borrowed for the binder's life.
  std::string qualifier;              ///< Qualified references must use it: the alias, else the source name.
  bool windowed = false;              ///< window_start/window_end name the window, not columns.
  std::string window_name = "TUMBLE"; ///< The window function, for messages.
  GroupRowResolver* group_row = nullptr;  ///< Set: bind over the group row (see above). Borrowed.
  /// One named input of a joined relation: its columns are source->schema[offset, offset + count).
  struct Part {
    std::string qualifier;
    int offset = 0;
    int count = 0;
  };
  /// Non-empty over a relation built from subqueries in FROM (a window join's inputs): a
  /// qualified name `a.x` resolves within part `a`, an unqualified name must be in exactly one
  /// part ("column reference \"x\" is ambiguous" otherwise). Empty: `qualifier` names all columns.
  std::vector<Part> parts;
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
  /// A bound expression plus what binding its parent needs to know.
  struct Bound {
    Expr expr;
    int start = -1;                ///< Byte offset where the expression's text starts, or -1.
    bool untyped_literal = false;  ///< A bare string constant whose type the context decides.
  };

  Result<Bound> BindNode(const Json* node, Clause clause, int depth) const;
  Result<Bound> BindColumnRef(const Json* body, Clause clause) const;
  Result<Bound> BindPartColumn(const std::vector<std::string_view>& names, int loc) const;
  Result<Bound> BindConst(const Json* body) const;
  Result<Bound> BindCast(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindAExpr(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindBoolExpr(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindNullTest(const Json* body, Clause clause, int depth) const;
  Status FuncCallError(const Json* body, Clause clause) const;
  Result<std::optional<Bound>> BindGroupRow(const Json* node, PgNode n, Clause clause, int depth) const;
  Result<Bound> BindFuncCall(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindCase(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindCoalesce(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindNullIf(const Json* body, Clause clause, int depth) const;
  Result<Bound> BindLike(const Json* body, std::string_view kind, Clause clause, int depth) const;
  Result<Bound> MakeConcat(Bound left, Bound right, int location) const;
  Status UnifyTypes(std::vector<Bound>* items, std::string_view what, int location, DataType* type) const;

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

/// True for the aggregate functions Sluice computes: count, sum, min, max, avg, var_samp,
/// var_pop, variance, stddev_samp, stddev_pop, stddev, first_value, last_value,
/// approx_count_distinct, approx_percentile.
bool IsAggregateFunction(std::string_view name);

/// True when the subtree holds a call to an aggregate function (not inside OVER).
bool ContainsAggregate(const Json* node);

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

/// Rendering precedence levels for expression text, PostgreSQL's order (higher binds tighter).
inline constexpr int kPrecOr = 1, kPrecAnd = 2, kPrecNot = 3, kPrecIs = 4, kPrecCompare = 5, kPrecLike = 6,
                     kPrecOther = 7, kPrecAdd = 8, kPrecMul = 9, kPrecNeg = 10, kPrecAtom = 12;

/// The precedence level `e` renders at.
int Precedence(const Expr& e);

/// `child`'s text as an operand of an operator at level `parent` (on its right side when
/// `right`), parenthesized only when needed.
std::string Operand(const Expr& child, int parent, bool right = false);

/// A kLiteral expression holding `v` with type `type`, its text rendered as SQL.
Expr LiteralExpr(Value v, DataType type);

/// Renders a literal value as SQL: 42, 1.5, 'text', TRUE, NULL, '2026-11-21T10:00:00.000Z'.
std::string RenderLiteral(const Value& v);

}  // namespace sluice::sql
