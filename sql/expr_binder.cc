#include "sql/expr_binder.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace sluice::sql {

namespace {

bool IsNumeric(DataType t) { return t == DataType::kInt64 || t == DataType::kFloat64; }

std::string TypeName(DataType t) { return DataTypeName(t); }

int MinStart(int a, int b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return std::min(a, b);
}

}  // namespace

// Rendering precedence, following PostgreSQL's operator precedence (higher binds tighter).
int Precedence(const Expr& e) {
  switch (e.op) {
    case ExprOp::kOr: return kPrecOr;
    case ExprOp::kAnd: return kPrecAnd;
    case ExprOp::kNot:
      // NOT LIKE renders as one operator at LIKE's level.
      return !e.args.empty() && e.args[0].op == ExprOp::kLike && e.text.rfind("NOT ", 0) != 0 ? kPrecLike : kPrecNot;
    case ExprOp::kIsNull:
    case ExprOp::kIsNotNull: return kPrecIs;
    case ExprOp::kEq:
    case ExprOp::kNe:
    case ExprOp::kLt:
    case ExprOp::kLe:
    case ExprOp::kGt:
    case ExprOp::kGe: return kPrecCompare;
    case ExprOp::kLike: return kPrecLike;
    case ExprOp::kAdd:
    case ExprOp::kSub: return kPrecAdd;
    case ExprOp::kMul:
    case ExprOp::kDiv:
    case ExprOp::kMod: return kPrecMul;
    case ExprOp::kNeg: return kPrecNeg;
    case ExprOp::kLiteral: {
      // A negative number reads like a unary minus.
      const Value& v = e.literal;
      bool negative = (v.type() == DataType::kInt64 && v.as_int() < 0) ||
                      (v.type() == DataType::kFloat64 && std::signbit(v.as_float()));
      return negative ? kPrecNeg : kPrecAtom;
    }
    case ExprOp::kCall:
      return e.fn == ScalarFn::kConcatOp || e.fn == ScalarFn::kJsonGet || e.fn == ScalarFn::kJsonGetText ? kPrecOther
                                                                                                          : kPrecAtom;
    case ExprOp::kColumn:
    case ExprOp::kCast:
    case ExprOp::kCase:
    case ExprOp::kCoalesce:
    case ExprOp::kNullIf: return kPrecAtom;
  }
  return kPrecAtom;
}

// `child` rendered as an operand of an operator with precedence `parent`: parenthesized when it
// binds more loosely, or equally on the right of a left-associative operator (a - (b - c)).
// AND and OR chains stay flat; comparisons, LIKE and unary minus never chain unparenthesized.
std::string Operand(const Expr& child, int parent, bool right) {
  int p = Precedence(child);
  bool flat_chain = (p == kPrecOr || p == kPrecAnd) && p == parent;
  bool wrap = p < parent ||
              (p == parent && !flat_chain && (right || p == kPrecCompare || p == kPrecLike || p == kPrecNeg));
  return wrap ? "(" + child.text + ")" : child.text;
}

Expr LiteralExpr(Value v, DataType type) {
  Expr e;
  e.op = ExprOp::kLiteral;
  e.type = type;
  e.text = RenderLiteral(v);
  e.literal = std::move(v);
  return e;
}

namespace {

Expr MakeLiteral(Value v, DataType type) { return LiteralExpr(std::move(v), type); }

struct BinaryOp {
  std::string_view sql;
  ExprOp op;
  bool comparison;
};

constexpr BinaryOp kBinaryOps[] = {
    {"+", ExprOp::kAdd, false}, {"-", ExprOp::kSub, false}, {"*", ExprOp::kMul, false},
    {"/", ExprOp::kDiv, false}, {"%", ExprOp::kMod, false}, {"=", ExprOp::kEq, true},
    {"<>", ExprOp::kNe, true},  {"<", ExprOp::kLt, true},   {"<=", ExprOp::kLe, true},
    {">", ExprOp::kGt, true},   {">=", ExprOp::kGe, true},
};

const BinaryOp* FindBinaryOp(std::string_view sql) {
  for (const BinaryOp& b : kBinaryOps) {
    if (b.sql == sql) return &b;
  }
  return nullptr;
}

bool CastAllowed(DataType from, DataType to) {
  if (from == to || from == DataType::kNull || from == DataType::kText || to == DataType::kText) return true;
  if (IsNumeric(from) && IsNumeric(to)) return true;
  if ((from == DataType::kBool && to == DataType::kInt64) || (from == DataType::kInt64 && to == DataType::kBool)) {
    return true;
  }
  return false;
}

std::string_view UnsupportedExpressionName(std::string_view tag) {
  if (tag == "SubLink") return "subqueries are";
  if (tag == "MinMaxExpr") return "GREATEST and LEAST are";
  if (tag == "BooleanTest") return "IS TRUE / IS FALSE / IS UNKNOWN are";
  if (tag == "ParamRef") return "parameters ($1) are";
  if (tag == "A_ArrayExpr") return "arrays are";
  if (tag == "A_Indirection") return "subscripts and field selection are";
  if (tag == "RowExpr") return "row constructors are";
  if (tag == "SQLValueFunction") return "CURRENT_TIMESTAMP and similar functions are";
  if (tag == "CollateClause") return "COLLATE is";
  if (tag == "GroupingFunc") return "GROUPING() is";
  if (tag == "XmlExpr" || tag == "XmlSerialize") return "XML functions are";
  return {};
}

}  // namespace

std::string RenderLiteral(const Value& v) {
  switch (v.type()) {
    case DataType::kNull: return "NULL";
    case DataType::kBool: return v.as_bool() ? "TRUE" : "FALSE";
    case DataType::kInt64: return std::to_string(v.as_int());
    case DataType::kFloat64: return v.ToString();
    case DataType::kText: return QuoteLiteral(v.as_text());
    case DataType::kTimestamp: return QuoteLiteral(FormatTimestamp(v.as_time()));
  }
  return "NULL";
}

Result<Value> ParseLiteral(std::string_view text, DataType type) {
  auto bad = [&] {
    return Status::InvalidArgument("invalid input syntax for type " + TypeName(type) + ": \"" +
                                   std::string(text.substr(0, 64)) + "\"");
  };
  std::string_view t = TrimSpace(text);
  switch (type) {
    case DataType::kNull: return Value::Null();
    case DataType::kText: return Value::Text(std::string(text));
    case DataType::kBool: {
      std::string l = AsciiLower(t);
      if (l == "t" || l == "true" || l == "y" || l == "yes" || l == "on" || l == "1") return Value::Bool(true);
      if (l == "f" || l == "false" || l == "n" || l == "no" || l == "off" || l == "0") return Value::Bool(false);
      return bad();
    }
    case DataType::kInt64: {
      if (!t.empty() && t.front() == '+') t.remove_prefix(1);
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) return bad();
      return Value::Int(v);
    }
    case DataType::kFloat64: {
      std::string l = AsciiLower(t);
      if (l == "infinity" || l == "+infinity") return Value::Float(std::numeric_limits<double>::infinity());
      if (l == "-infinity") return Value::Float(-std::numeric_limits<double>::infinity());
      if (l == "nan") return Value::Float(std::numeric_limits<double>::quiet_NaN());
      if (!t.empty() && t.front() == '+') t.remove_prefix(1);
      double v = 0;
      auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (t.empty() || ec != std::errc() || ptr != t.data() + t.size() || !std::isfinite(v)) return bad();
      return Value::Float(v);
    }
    case DataType::kTimestamp: {
      auto ts = ParseTimestamp(t);
      if (!ts.ok()) return bad();
      return Value::Time(*ts);
    }
  }
  return bad();
}

bool IsAggregateFunction(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "count",       "sum",        "min",          "max",         "avg",         "var_samp",
      "var_pop",     "variance",   "stddev_samp",  "stddev_pop",  "stddev",      "first_value",
      "last_value",  "approx_count_distinct",      "approx_percentile",
  };
  for (std::string_view n : kNames) {
    if (n == name) return true;
  }
  return false;
}

namespace {

bool ContainsAggregateRec(const Json* j, int depth) {
  if (j == nullptr || depth > 1000) return false;
  PgNode n = AsNode(j);
  if (n.Is("FuncCall") && Field(n.body, "over") == nullptr) {
    auto names = NameList(Field(n.body, "funcname"));
    if (names && names->size() == 1 && IsAggregateFunction(names->front())) return true;
  }
  if (n.Is("SubLink")) return false;
  if (j->is_structured()) {
    for (const Json& child : *j) {
      if (child.is_structured() && ContainsAggregateRec(&child, depth + 1)) return true;
    }
  }
  return false;
}

}  // namespace

bool ContainsAggregate(const Json* node) { return ContainsAggregateRec(node, 0); }

std::string UnknownColumnMessage(std::string_view name, const Schema& schema, bool windowed) {
  std::string msg = "column \"" + std::string(name) + "\" does not exist";
  for (const Column& c : schema.columns()) {
    if (c.name != name && AsciiLower(c.name) == AsciiLower(name)) {
      return msg + "; did you mean " + QuoteIdent(c.name) +
             "? (unquoted names are folded to lower case; quote them to keep their case)";
    }
  }
  if (!windowed && (name == "window_start" || name == "window_end")) {
    return msg + "; " + std::string(name) + " exists only in a windowed query (FROM TUMBLE(...))";
  }
  msg += "; available columns: ";
  for (size_t i = 0; i < schema.size(); ++i) {
    if (i > 0) msg += ", ";
    if (i == 20) {
      msg += "...";
      break;
    }
    msg += QuoteIdent(schema[i].name);
  }
  if (schema.empty()) msg += "(none)";
  return msg;
}

bool IsIntervalType(const Json* type_name_body) {
  auto names = NameList(Field(type_name_body, "names"));
  return names && !names->empty() && AsciiLower(names->back()) == "interval";
}

Result<DataType> ResolveTypeName(const StatementContext& ctx, const Json* body) {
  int loc = LocationOf(body);
  auto names = NameList(Field(body, "names"));
  if (!names || names->empty()) return ctx.Error(loc, "unreadable type name");
  std::string full;
  for (std::string_view n : *names) {
    if (!full.empty()) full += '.';
    full += n;
  }
  if (ListField(body, "arrayBounds") != nullptr) return ctx.Error(loc, "array types are not supported");
  std::string name = AsciiLower(names->back());
  bool qualified_ok = names->size() == 1 || (names->size() == 2 && (*names)[0] == "pg_catalog");
  if (qualified_ok) {
    if (name == "text" || name == "varchar" || name == "bpchar" || name == "char" || name == "character" ||
        name == "character varying" || name == "string") {
      return DataType::kText;
    }
    if (name == "bool" || name == "boolean") return DataType::kBool;
    if (name == "int2" || name == "int4" || name == "int8" || name == "int" || name == "integer" ||
        name == "smallint" || name == "bigint") {
      return DataType::kInt64;
    }
    if (name == "float4" || name == "float8" || name == "real" || name == "float" || name == "double precision" ||
        name == "double" || name == "numeric" || name == "decimal") {
      return DataType::kFloat64;
    }
    if (name == "timestamptz" || name == "timestamp") return DataType::kTimestamp;
    // JSONB/JSON values are kept as their JSON text; ->, ->> read members (scalar_functions.h).
    if (name == "jsonb" || name == "json") return DataType::kText;
  }
  return ctx.Error(loc, "type \"" + full +
                            "\" is not supported; use TEXT, BOOLEAN, BIGINT, FLOAT8, TIMESTAMPTZ or JSONB");
}

std::string DefaultOutputName(const Json* node) {
  PgNode n = AsNode(node);
  if (n.Is("ColumnRef")) {
    const Json* fields = ListField(n.body, "fields");
    if (fields != nullptr) {
      if (auto s = StringNodeValue(&fields->back())) return std::string(*s);
    }
  } else if (n.Is("FuncCall")) {
    auto names = NameList(Field(n.body, "funcname"));
    if (names && !names->empty()) return std::string(names->back());
  } else if (n.Is("TypeCast")) {
    std::string inner = DefaultOutputName(Field(n.body, "arg"));
    if (inner != "?column?") return inner;
    auto names = NameList(Field(Field(n.body, "typeName"), "names"));
    if (names && !names->empty()) return std::string(names->back());
  } else if (n.Is("A_Const") && Field(n.body, "boolval") != nullptr) {
    return "bool";
  } else if (n.Is("CaseExpr")) {
    return "case";
  } else if (n.Is("CoalesceExpr")) {
    return "coalesce";
  } else if (n.Is("A_Expr") && StringField(n.body, "kind") == "AEXPR_NULLIF") {
    return "nullif";
  }
  return "?column?";
}

std::optional<OutputColumn::Kind> ExprBinder::WindowColumn(const Json* node) const {
  if (!scope_.windowed) return std::nullopt;
  PgNode n = AsNode(node);
  if (!n.Is("ColumnRef")) return std::nullopt;
  auto names = NameList(Field(n.body, "fields"));
  if (!names || names->empty() || names->size() > 2) return std::nullopt;
  if (names->size() == 2 && (*names)[0] != scope_.qualifier) return std::nullopt;
  if (names->back() == "window_start") return OutputColumn::Kind::kWindowStart;
  if (names->back() == "window_end") return OutputColumn::Kind::kWindowEnd;
  return std::nullopt;
}

Result<Expr> ExprBinder::Bind(const Json* node, Clause clause) const {
  SLUICE_ASSIGN_OR_RETURN(Bound b, BindNode(node, clause, 0));
  return std::move(b.expr);  // an untyped string literal on its own is TEXT
}

Result<ExprBinder::Bound> ExprBinder::BindNode(const Json* node, Clause clause, int depth) const {
  PgNode n = AsNode(node);
  if (!n) return ctx_.Error(MinLocation(node), "unreadable expression");
  if (depth > kMaxExpressionDepth) {
    return ctx_.Error(MinLocation(node), "expression is nested too deeply (more than " +
                                             std::to_string(kMaxExpressionDepth) + " levels)");
  }
  if (scope_.group_row != nullptr) {
    SLUICE_ASSIGN_OR_RETURN(std::optional<Bound> grouped, BindGroupRow(node, n, clause, depth));
    if (grouped) return std::move(*grouped);
  }
  if (n.tag == "ColumnRef") return BindColumnRef(n.body, clause);
  if (n.tag == "A_Const") return BindConst(n.body);
  if (n.tag == "TypeCast") return BindCast(n.body, clause, depth);
  if (n.tag == "A_Expr") return BindAExpr(n.body, clause, depth);
  if (n.tag == "BoolExpr") return BindBoolExpr(n.body, clause, depth);
  if (n.tag == "NullTest") return BindNullTest(n.body, clause, depth);
  if (n.tag == "FuncCall") return BindFuncCall(n.body, clause, depth);
  if (n.tag == "CaseExpr") return BindCase(n.body, clause, depth);
  if (n.tag == "CoalesceExpr") return BindCoalesce(n.body, clause, depth);
  int loc = LocationOf(n.body);
  if (loc < 0) loc = MinLocation(node);
  std::string_view what = UnsupportedExpressionName(n.tag);
  if (!what.empty()) return ctx_.Error(loc, std::string(what) + " not supported");
  return ctx_.Error(loc, "expression " + std::string(n.tag) + " is not supported");
}

Result<ExprBinder::Bound> ExprBinder::BindColumnRef(const Json* body, Clause clause) const {
  int loc = LocationOf(body);
  const Json* fields = ListField(body, "fields");
  if (fields == nullptr) return ctx_.Error(loc, "unreadable column reference");
  std::vector<std::string_view> parts;
  for (const Json& f : *fields) {
    if (AsNode(f).Is("A_Star")) return ctx_.Error(loc, "* is only allowed as a whole SELECT item");
    auto s = StringNodeValue(&f);
    if (!s) return ctx_.Error(loc, "unreadable column reference");
    parts.push_back(*s);
  }
  if (!scope_.parts.empty() && parts.size() <= 2) return BindPartColumn(parts, loc);
  std::string_view name;
  if (parts.size() == 1) {
    name = parts[0];
  } else if (parts.size() == 2) {
    if (parts[0] != scope_.qualifier) {
      return ctx_.Error(loc, "missing FROM-clause entry for table \"" + std::string(parts[0]) +
                                 "\"; the query reads from " + QuoteIdent(scope_.qualifier));
    }
    name = parts[1];
  } else {
    std::string joined;
    for (std::string_view p : parts) {
      if (!joined.empty()) joined += '.';
      joined += QuoteIdent(p);
    }
    return ctx_.Error(loc, "column reference " + joined + " is not supported");
  }
  if (scope_.windowed && (name == "window_start" || name == "window_end")) {
    std::string n(name);
    switch (clause) {
      case Clause::kWhere:
        return ctx_.Error(loc, n + " is not available in WHERE: the filter runs before windowing");
      case Clause::kAggregateArgument:
        return ctx_.Error(loc, n + " cannot be an aggregate's argument");
      case Clause::kWindowArgument:
        return ctx_.Error(loc, n + " is not available inside " + scope_.window_name + "(...)");
      case Clause::kFilter:
        return ctx_.Error(loc, n + " is not available in FILTER (WHERE …): it runs before windowing");
      default:
        return ctx_.Error(loc, n + " may only appear on its own in SELECT or GROUP BY, not inside an expression");
    }
  }
  const Schema& schema = scope_.source->schema;
  int index = schema.IndexOf(name);
  if (index < 0) return ctx_.Error(loc, UnknownColumnMessage(name, schema, scope_.windowed));
  Bound b;
  b.expr.op = ExprOp::kColumn;
  b.expr.column = index;
  b.expr.type = schema[index].type;
  b.expr.text = QuoteIdent(name);
  b.start = loc;
  return b;
}

Result<ExprBinder::Bound> ExprBinder::BindPartColumn(const std::vector<std::string_view>& names, int loc) const {
  const Schema& schema = scope_.source->schema;
  const std::string_view name = names.back();
  int index = -1;
  if (names.size() == 2) {
    const BindScope::Part* part = nullptr;
    std::string known;
    for (const BindScope::Part& p : scope_.parts) {
      if (p.qualifier == names[0]) part = &p;
      known += (known.empty() ? "" : ", ") + QuoteIdent(p.qualifier);
    }
    if (part == nullptr) {
      return ctx_.Error(loc, "missing FROM-clause entry for table \"" + std::string(names[0]) +
                                 "\"; the query reads from " + known);
    }
    std::vector<Column> columns;
    for (int i = part->offset; i < part->offset + part->count; ++i) {
      columns.push_back(schema[static_cast<size_t>(i)]);
      if (index < 0 && schema[static_cast<size_t>(i)].name == name) index = i;
    }
    if (index < 0) {
      return ctx_.Error(loc, UnknownColumnMessage(std::string(names[0]) + "." + std::string(name),
                                                  Schema(std::move(columns)), false));
    }
  } else {
    for (const BindScope::Part& p : scope_.parts) {
      for (int i = p.offset; i < p.offset + p.count; ++i) {
        if (schema[static_cast<size_t>(i)].name != name) continue;
        if (index >= 0) {
          return ctx_.Error(loc, "column reference \"" + std::string(name) +
                                     "\" is ambiguous; qualify it with the subquery's alias");
        }
        index = i;
        break;
      }
    }
    if (index < 0) return ctx_.Error(loc, UnknownColumnMessage(name, schema, false));
  }
  Bound b;
  b.expr.op = ExprOp::kColumn;
  b.expr.column = index;
  b.expr.type = schema[static_cast<size_t>(index)].type;
  b.expr.text = names.size() == 2 ? QuoteIdent(names[0]) + "." + QuoteIdent(name) : QuoteIdent(name);
  b.start = loc;
  return b;
}

Result<ExprBinder::Bound> ExprBinder::BindConst(const Json* body) const {
  int loc = LocationOf(body);
  Bound b;
  b.start = loc;
  if (BoolField(body, "isnull")) {
    b.expr = MakeLiteral(Value::Null(), DataType::kNull);
  } else if (const Json* iv = Field(body, "ival")) {
    // libpg_query 15 leaves out ival when it is 0 or negative; read it back from the text.
    int64_t v = IntField(iv, "ival", 0);
    if (Field(iv, "ival") == nullptr) v = RecoverInteger(ctx_.source(), loc).value_or(0);
    b.expr = MakeLiteral(Value::Int(v), DataType::kInt64);
  } else if (const Json* fv = Field(body, "fval")) {
    std::string_view s = StringField(fv, "fval");
    int64_t i = 0;
    auto [iptr, iec] = std::from_chars(s.data(), s.data() + s.size(), i);
    if (!s.empty() && iec == std::errc() && iptr == s.data() + s.size()) {
      b.expr = MakeLiteral(Value::Int(i), DataType::kInt64);
    } else {
      double d = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(d)) {
        return ctx_.Error(loc, "numeric constant " + std::string(s.substr(0, 64)) + " is out of range");
      }
      b.expr = MakeLiteral(Value::Float(d), DataType::kFloat64);
    }
  } else if (const Json* sv = Field(body, "sval")) {
    b.expr = MakeLiteral(Value::Text(std::string(StringField(sv, "sval"))), DataType::kText);
    b.untyped_literal = true;
  } else if (const Json* bv = Field(body, "boolval")) {
    b.expr = MakeLiteral(Value::Bool(BoolField(bv, "boolval")), DataType::kBool);
  } else if (Field(body, "bsval") != nullptr) {
    return ctx_.Error(loc, "bit-string constants are not supported");
  } else {
    return ctx_.Error(loc, "unreadable constant");
  }
  return b;
}

Status ExprBinder::CoerceLiteral(Bound* literal, DataType type) const {
  literal->untyped_literal = false;
  if (type == DataType::kText || type == DataType::kNull) return Status::OK();
  auto v = ParseLiteral(literal->expr.literal.as_text(), type);
  if (!v.ok()) return ctx_.Error(literal->start, v.status().message());
  literal->expr = MakeLiteral(std::move(v).value(), type);
  return Status::OK();
}

Result<ExprBinder::Bound> ExprBinder::BindCast(const Json* body, Clause clause, int depth) const {
  int loc = LocationOf(body);
  const Json* type_name = Field(body, "typeName");
  if (IsIntervalType(type_name)) {
    int at = LocationOf(type_name);
    return ctx_.Error(at >= 0 ? at : loc, "INTERVAL values are only supported as the size argument of TUMBLE");
  }
  SLUICE_ASSIGN_OR_RETURN(DataType target, ResolveTypeName(ctx_, type_name));
  SLUICE_ASSIGN_OR_RETURN(Bound arg, BindNode(Field(body, "arg"), clause, depth + 1));
  if (arg.untyped_literal) {
    SLUICE_RETURN_IF_ERROR(CoerceLiteral(&arg, target));
    return arg;
  }
  std::string text = "CAST(" + arg.expr.text + " AS " + TypeName(target) + ")";
  if (arg.expr.op == ExprOp::kLiteral && arg.expr.literal.is_null()) {
    arg.expr.type = target;
    arg.expr.text = std::move(text);
    return arg;
  }
  if (arg.expr.type == target) return arg;
  if (!CastAllowed(arg.expr.type, target)) {
    return ctx_.Error(loc >= 0 ? loc : arg.start,
                      "cannot cast type " + TypeName(arg.expr.type) + " to " + TypeName(target));
  }
  Bound b;
  b.start = MinStart(arg.start, loc);
  b.expr.op = ExprOp::kCast;
  b.expr.type = target;
  b.expr.text = std::move(text);
  b.expr.args.push_back(std::move(arg.expr));
  return b;
}

Result<ExprBinder::Bound> ExprBinder::MakeBinary(std::string_view op_sql, Bound left, Bound right,
                                                 int location) const {
  const BinaryOp* op = FindBinaryOp(op_sql);
  if (op == nullptr) return ctx_.Error(location, "operator is not supported: " + std::string(op_sql));
  if (location < 0) location = MinStart(left.start, right.start);
  // An untyped string literal takes the type of the other operand, as in PostgreSQL.
  if (left.untyped_literal && !right.untyped_literal && right.expr.type != DataType::kNull &&
      (op->comparison || IsNumeric(right.expr.type))) {
    SLUICE_RETURN_IF_ERROR(CoerceLiteral(&left, right.expr.type));
  }
  if (right.untyped_literal && !left.untyped_literal && left.expr.type != DataType::kNull &&
      (op->comparison || IsNumeric(left.expr.type))) {
    SLUICE_RETURN_IF_ERROR(CoerceLiteral(&right, left.expr.type));
  }
  DataType lt = left.expr.type;
  DataType rt = right.expr.type;
  auto mismatch = [&] {
    return ctx_.Error(location, "operator does not exist: " + TypeName(lt) + " " + std::string(op_sql) + " " +
                                    TypeName(rt));
  };
  Bound b;
  b.start = MinStart(left.start, right.start);
  b.expr.op = op->op;
  if (op->comparison) {
    bool ok = lt == rt || (IsNumeric(lt) && IsNumeric(rt)) || lt == DataType::kNull || rt == DataType::kNull;
    if (!ok) return mismatch();
    b.expr.type = DataType::kBool;
  } else {
    auto numeric_or_null = [](DataType t) { return IsNumeric(t) || t == DataType::kNull; };
    if (!numeric_or_null(lt) || !numeric_or_null(rt) || (lt == DataType::kNull && rt == DataType::kNull)) {
      return mismatch();
    }
    b.expr.type = lt == DataType::kFloat64 || rt == DataType::kFloat64 ? DataType::kFloat64 : DataType::kInt64;
  }
  const int prec = Precedence(b.expr);
  b.expr.text = Operand(left.expr, prec) + " " + std::string(op_sql) + " " + Operand(right.expr, prec, true);
  b.expr.args.push_back(std::move(left.expr));
  b.expr.args.push_back(std::move(right.expr));
  return b;
}

Status ExprBinder::RequireBoolean(const Bound& arg, std::string_view what) const {
  if (arg.expr.type == DataType::kBool || arg.expr.type == DataType::kNull) return Status::OK();
  return ctx_.Error(arg.start, "argument of " + std::string(what) + " must be type BOOLEAN, not type " +
                                   TypeName(arg.expr.type));
}

Result<ExprBinder::Bound> ExprBinder::MakeLogical(ExprOp op, Bound left, Bound right) const {
  const char* word = op == ExprOp::kAnd ? " AND " : " OR ";
  Bound b;
  b.start = MinStart(left.start, right.start);
  b.expr.op = op;
  b.expr.type = DataType::kBool;
  const int prec = Precedence(b.expr);
  b.expr.text = Operand(left.expr, prec) + word + Operand(right.expr, prec, true);
  b.expr.args.push_back(std::move(left.expr));
  b.expr.args.push_back(std::move(right.expr));
  return b;
}

Result<ExprBinder::Bound> ExprBinder::BindAExpr(const Json* body, Clause clause, int depth) const {
  std::string_view kind = StringField(body, "kind");
  int loc = LocationOf(body);
  auto names = NameList(Field(body, "name"));
  const Json* lexpr = Field(body, "lexpr");
  const Json* rexpr = Field(body, "rexpr");
  if (kind == "AEXPR_OP" || kind.empty()) {
    if (!names || names->size() != 1) return ctx_.Error(loc, "qualified operators are not supported");
    std::string_view op = names->front();
    if (rexpr == nullptr) return ctx_.Error(loc, "postfix operators are not supported");
    if (lexpr == nullptr) {
      if (op != "-" && op != "+") return ctx_.Error(loc, "operator is not supported: " + std::string(op));
      SLUICE_ASSIGN_OR_RETURN(Bound arg, BindNode(rexpr, clause, depth + 1));
      DataType t = arg.untyped_literal ? DataType::kText : arg.expr.type;
      if (!IsNumeric(t)) return ctx_.Error(loc, "operator does not exist: " + std::string(op) + " " + TypeName(t));
      if (op == "+") return arg;
      Bound b;
      b.start = MinStart(loc, arg.start);
      b.expr.op = ExprOp::kNeg;
      b.expr.type = t;
      b.expr.text = "-" + Operand(arg.expr, Precedence(b.expr));
      b.expr.args.push_back(std::move(arg.expr));
      return b;
    }
    if (op == "||") {
      SLUICE_ASSIGN_OR_RETURN(Bound left, BindNode(lexpr, clause, depth + 1));
      SLUICE_ASSIGN_OR_RETURN(Bound right, BindNode(rexpr, clause, depth + 1));
      return MakeConcat(std::move(left), std::move(right), loc);
    }
    if (op == "->" || op == "->>") {
      // JSON member access on a JSONB (TEXT) value: payload->>'field', payload->'a'->>'b', arr->0.
      SLUICE_ASSIGN_OR_RETURN(Bound left, BindNode(lexpr, clause, depth + 1));
      SLUICE_ASSIGN_OR_RETURN(Bound right, BindNode(rexpr, clause, depth + 1));
      const DataType lt = left.untyped_literal ? DataType::kText : left.expr.type;
      const DataType rt = right.untyped_literal ? DataType::kText : right.expr.type;
      if ((lt != DataType::kText && lt != DataType::kNull) ||
          (rt != DataType::kText && rt != DataType::kInt64 && rt != DataType::kNull)) {
        return ctx_.Error(loc, "operator does not exist: " + TypeName(lt) + " " + std::string(op) + " " +
                                   TypeName(rt) + " (use it on a JSONB column with a TEXT key or BIGINT index)");
      }
      Bound b;
      b.start = MinStart(left.start, right.start);
      b.expr.op = ExprOp::kCall;
      b.expr.fn = op == "->" ? ScalarFn::kJsonGet : ScalarFn::kJsonGetText;
      b.expr.type = DataType::kText;
      b.expr.text = Operand(left.expr, kPrecOther) + " " + std::string(op) + " " +
                    Operand(right.expr, kPrecOther, true);
      b.expr.args.push_back(std::move(left.expr));
      b.expr.args.push_back(std::move(right.expr));
      return b;
    }
    if (FindBinaryOp(op) == nullptr) return ctx_.Error(loc, "operator is not supported: " + std::string(op));
    SLUICE_ASSIGN_OR_RETURN(Bound left, BindNode(lexpr, clause, depth + 1));
    SLUICE_ASSIGN_OR_RETURN(Bound right, BindNode(rexpr, clause, depth + 1));
    return MakeBinary(op, std::move(left), std::move(right), loc);
  }
  if (kind == "AEXPR_IN") {
    // a IN (x, y) → a = x OR a = y;  a NOT IN (x, y) → a <> x AND a <> y.
    PgNode list = AsNode(rexpr);
    const Json* items = ListField(list.body, "items");
    if (!list.Is("List") || items == nullptr) return ctx_.Error(loc, "IN needs a list of values");
    bool negated = names && names->size() == 1 && names->front() == "<>";
    SLUICE_ASSIGN_OR_RETURN(Bound left, BindNode(lexpr, clause, depth + 1));
    std::optional<Bound> acc;
    for (const Json& item : *items) {
      SLUICE_ASSIGN_OR_RETURN(Bound right, BindNode(&item, clause, depth + 1));
      SLUICE_ASSIGN_OR_RETURN(Bound cmp, MakeBinary(negated ? "<>" : "=", left, std::move(right), loc));
      if (!acc) {
        acc = std::move(cmp);
      } else {
        SLUICE_ASSIGN_OR_RETURN(Bound joined,
                                MakeLogical(negated ? ExprOp::kAnd : ExprOp::kOr, std::move(*acc), std::move(cmp)));
        acc = std::move(joined);
      }
    }
    return std::move(*acc);
  }
  if (kind == "AEXPR_BETWEEN" || kind == "AEXPR_NOT_BETWEEN") {
    // a BETWEEN x AND y → a >= x AND a <= y;  NOT BETWEEN → a < x OR a > y.
    PgNode list = AsNode(rexpr);
    const Json* items = ListField(list.body, "items");
    if (!list.Is("List") || items == nullptr || items->size() != 2) return ctx_.Error(loc, "unreadable BETWEEN");
    bool negated = kind == "AEXPR_NOT_BETWEEN";
    SLUICE_ASSIGN_OR_RETURN(Bound value, BindNode(lexpr, clause, depth + 1));
    SLUICE_ASSIGN_OR_RETURN(Bound low, BindNode(&(*items)[0], clause, depth + 1));
    SLUICE_ASSIGN_OR_RETURN(Bound high, BindNode(&(*items)[1], clause, depth + 1));
    SLUICE_ASSIGN_OR_RETURN(Bound lower_ok, MakeBinary(negated ? "<" : ">=", value, std::move(low), loc));
    SLUICE_ASSIGN_OR_RETURN(Bound upper_ok, MakeBinary(negated ? ">" : "<=", std::move(value), std::move(high), loc));
    return MakeLogical(negated ? ExprOp::kOr : ExprOp::kAnd, std::move(lower_ok), std::move(upper_ok));
  }
  if (kind == "AEXPR_LIKE" || kind == "AEXPR_ILIKE") return BindLike(body, kind, clause, depth);
  if (kind == "AEXPR_NULLIF") return BindNullIf(body, clause, depth);
  std::string what = "this operator is";
  if (kind == "AEXPR_OP_ANY" || kind == "AEXPR_OP_ALL") what = "ANY/ALL are";
  if (kind == "AEXPR_DISTINCT" || kind == "AEXPR_NOT_DISTINCT") what = "IS [NOT] DISTINCT FROM is";
  if (kind == "AEXPR_SIMILAR") what = "SIMILAR TO is";
  if (kind == "AEXPR_BETWEEN_SYM" || kind == "AEXPR_NOT_BETWEEN_SYM") what = "BETWEEN SYMMETRIC is";
  return ctx_.Error(loc, what + " not supported");
}

Result<ExprBinder::Bound> ExprBinder::BindBoolExpr(const Json* body, Clause clause, int depth) const {
  std::string_view boolop = StringField(body, "boolop");
  int loc = LocationOf(body);
  const Json* args = ListField(body, "args");
  if (args == nullptr) return ctx_.Error(loc, "unreadable boolean expression");
  if (boolop == "NOT_EXPR") {
    SLUICE_ASSIGN_OR_RETURN(Bound arg, BindNode(&args->front(), clause, depth + 1));
    if (arg.untyped_literal) SLUICE_RETURN_IF_ERROR(CoerceLiteral(&arg, DataType::kBool));
    SLUICE_RETURN_IF_ERROR(RequireBoolean(arg, "NOT"));
    Bound b;
    b.start = MinStart(loc, arg.start);
    b.expr.op = ExprOp::kNot;
    b.expr.type = DataType::kBool;
    b.expr.text = "NOT " + Operand(arg.expr, Precedence(b.expr));
    b.expr.args.push_back(std::move(arg.expr));
    return b;
  }
  ExprOp op;
  const char* what;
  if (boolop == "AND_EXPR" || boolop.empty()) {
    op = ExprOp::kAnd;
    what = "AND";
  } else if (boolop == "OR_EXPR") {
    op = ExprOp::kOr;
    what = "OR";
  } else {
    return ctx_.Error(loc, "unreadable boolean expression");
  }
  std::optional<Bound> acc;
  for (const Json& a : *args) {
    SLUICE_ASSIGN_OR_RETURN(Bound arg, BindNode(&a, clause, depth + 1));
    if (arg.untyped_literal) SLUICE_RETURN_IF_ERROR(CoerceLiteral(&arg, DataType::kBool));
    SLUICE_RETURN_IF_ERROR(RequireBoolean(arg, what));
    if (!acc) {
      acc = std::move(arg);
    } else {
      SLUICE_ASSIGN_OR_RETURN(Bound joined, MakeLogical(op, std::move(*acc), std::move(arg)));
      acc = std::move(joined);
    }
  }
  return std::move(*acc);
}

Result<ExprBinder::Bound> ExprBinder::BindNullTest(const Json* body, Clause clause, int depth) const {
  bool is_not = StringField(body, "nulltesttype") == "IS_NOT_NULL";
  SLUICE_ASSIGN_OR_RETURN(Bound arg, BindNode(Field(body, "arg"), clause, depth + 1));
  Bound b;
  b.start = MinStart(arg.start, LocationOf(body));
  b.expr.op = is_not ? ExprOp::kIsNotNull : ExprOp::kIsNull;
  b.expr.type = DataType::kBool;
  b.expr.text = Operand(arg.expr, Precedence(b.expr)) + (is_not ? " IS NOT NULL" : " IS NULL");
  b.expr.args.push_back(std::move(arg.expr));
  return b;
}

Status ExprBinder::FuncCallError(const Json* body, Clause clause) const {
  int loc = LocationOf(body);
  auto names = NameList(Field(body, "funcname"));
  std::string name = names && !names->empty() ? std::string(names->back()) : "?";
  if (Field(body, "over") != nullptr) return ctx_.Error(loc, "window functions (OVER) are not supported");
  if (names && names->size() == 1 && IsAggregateFunction(name)) {
    switch (clause) {
      case Clause::kWhere: return ctx_.Error(loc, "aggregate functions are not allowed in WHERE");
      case Clause::kGroupBy: return ctx_.Error(loc, "aggregate functions are not allowed in GROUP BY");
      case Clause::kAggregateArgument: return ctx_.Error(loc, "aggregate function calls cannot be nested");
      case Clause::kWindowArgument:
        return ctx_.Error(loc, "aggregate functions are not allowed in " + scope_.window_name);
      case Clause::kFilter: return ctx_.Error(loc, "aggregate functions are not allowed in FILTER");
      case Clause::kHaving:
      case Clause::kSelect:
        return ctx_.Error(loc, "aggregate functions are not allowed here");
    }
  }
  if (name == "tumble" || name == "hop" || name == "session") {
    return ctx_.Error(loc, AsciiLower(name) + " is a table function: use it in FROM");
  }
  return ctx_.Error(loc, "function " + name + "() is not supported");
}

}  // namespace sluice::sql
