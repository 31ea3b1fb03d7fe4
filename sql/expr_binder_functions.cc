// ExprBinder, second part: function calls, CASE, COALESCE, NULLIF, LIKE, || and binding over
// the group row (HAVING, SELECT items over aggregates). See expr_binder.h.
#include <algorithm>
#include <utility>

#include "sql/expr_binder.h"

namespace sluice::sql {
namespace {

bool IsNumeric(DataType t) { return t == DataType::kInt64 || t == DataType::kFloat64; }

int MinStart(int a, int b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return std::min(a, b);
}

struct FieldName {
  std::string_view name;
  TimeField field;
  bool truncatable;  // valid for date_trunc
};

constexpr FieldName kFields[] = {
    {"microsecond", TimeField::kMicrosecond, true}, {"microseconds", TimeField::kMicrosecond, true},
    {"millisecond", TimeField::kMillisecond, true}, {"milliseconds", TimeField::kMillisecond, true},
    {"second", TimeField::kSecond, true},           {"seconds", TimeField::kSecond, true},
    {"minute", TimeField::kMinute, true},           {"minutes", TimeField::kMinute, true},
    {"hour", TimeField::kHour, true},               {"hours", TimeField::kHour, true},
    {"day", TimeField::kDay, true},                 {"days", TimeField::kDay, true},
    {"week", TimeField::kWeek, true},               {"weeks", TimeField::kWeek, true},
    {"month", TimeField::kMonth, true},             {"months", TimeField::kMonth, true},
    {"quarter", TimeField::kQuarter, true},         {"year", TimeField::kYear, true},
    {"years", TimeField::kYear, true},              {"epoch", TimeField::kEpoch, false},
    {"dow", TimeField::kDow, false},                {"isodow", TimeField::kIsoDow, false},
    {"doy", TimeField::kDoy, false},
};

const FieldName* FindField(std::string_view text) {
  std::string lower = AsciiLower(TrimSpace(text));
  for (const FieldName& f : kFields) {
    if (f.name == lower) return &f;
  }
  return nullptr;
}

// "lower(BIGINT)", for "function … does not exist".
std::string Signature(std::string_view name, const std::vector<Expr>& args) {
  std::string s(name);
  s += '(';
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) s += ", ";
    s += DataTypeName(args[i].type);
  }
  return s + ")";
}

std::string JoinTexts(const std::vector<Expr>& args, size_t from = 0) {
  std::string s;
  for (size_t i = from; i < args.size(); ++i) {
    if (i > from) s += ", ";
    s += args[i].text;
  }
  return s;
}

}  // namespace

Result<std::optional<ExprBinder::Bound>> ExprBinder::BindGroupRow(const Json* node, PgNode n, Clause clause,
                                                                   int depth) const {
  GroupRowResolver& resolver = *scope_.group_row;
  auto from_ref = [&](const GroupRowResolver::Ref& ref, int start) {
    Bound b;
    b.expr.op = ExprOp::kColumn;
    b.expr.column = ref.column;
    b.expr.type = ref.type;
    b.expr.text = ref.text;
    b.start = start;
    return std::optional<Bound>(std::move(b));
  };
  const int loc = LocationOf(n.body);
  if (n.Is("FuncCall") && Field(n.body, "over") == nullptr) {
    auto names = NameList(Field(n.body, "funcname"));
    if (names && names->size() == 1 && IsAggregateFunction(names->front())) {
      SLUICE_ASSIGN_OR_RETURN(GroupRowResolver::Ref ref, resolver.Aggregate(node));
      return from_ref(ref, loc);
    }
  }
  if (n.Is("A_Const")) return std::optional<Bound>();
  BindScope plain_scope = scope_;
  plain_scope.group_row = nullptr;
  ExprBinder plain(ctx_, plain_scope);
  if (n.Is("ColumnRef")) {
    if (auto window = WindowColumn(node)) return from_ref(resolver.Window(*window), loc);
    SLUICE_ASSIGN_OR_RETURN(Bound b, plain.BindNode(node, clause, depth));
    if (auto key = resolver.GroupKey(b.expr)) return from_ref(*key, b.start);
    return ctx_.Error(loc, "column \"" + std::string(TrimSpace(b.expr.text)) +
                               "\" must appear in GROUP BY or be used in an aggregate");
  }
  // A subtree without aggregates that is itself a GROUP BY expression reads that key.
  if (!ContainsAggregate(node)) {
    auto b = plain.BindNode(node, clause, depth);
    if (b.ok()) {
      if (auto key = resolver.GroupKey(b->expr)) return from_ref(*key, b->start);
    }
  }
  return std::optional<Bound>();  // bind normally; children come back here
}

Status ExprBinder::UnifyTypes(std::vector<Bound>* items, std::string_view what, int location, DataType* type) const {
  DataType t = DataType::kNull;
  for (const Bound& b : *items) {
    if (b.untyped_literal || b.expr.type == DataType::kNull) continue;
    if (t == DataType::kNull) {
      t = b.expr.type;
    } else if (t != b.expr.type) {
      if (IsNumeric(t) && IsNumeric(b.expr.type)) {
        t = DataType::kFloat64;
      } else {
        return ctx_.Error(b.start >= 0 ? b.start : location, std::string(what) + " types " + DataTypeName(t) +
                                                                   " and " + DataTypeName(b.expr.type) +
                                                                   " cannot be matched");
      }
    }
  }
  if (t == DataType::kNull) t = DataType::kText;  // all untyped or NULL: TEXT, as in PostgreSQL
  for (Bound& b : *items) {
    if (b.untyped_literal) SLUICE_RETURN_IF_ERROR(CoerceLiteral(&b, t));
    if (b.expr.op == ExprOp::kLiteral && b.expr.literal.is_null()) b.expr.type = t;
  }
  *type = t;
  return Status::OK();
}

Result<ExprBinder::Bound> ExprBinder::BindCase(const Json* body, Clause clause, int depth) const {
  const int loc = LocationOf(body);
  const Json* whens = ListField(body, "args");
  if (whens == nullptr) return ctx_.Error(loc, "unreadable CASE");
  std::optional<Bound> subject;
  if (const Json* arg = Field(body, "arg")) {
    SLUICE_ASSIGN_OR_RETURN(Bound a, BindNode(arg, clause, depth + 1));
    subject = std::move(a);
  }
  std::vector<Bound> conditions, results;
  for (const Json& w : *whens) {
    PgNode when = AsNode(&w);
    if (!when.Is("CaseWhen")) return ctx_.Error(loc, "unreadable CASE");
    SLUICE_ASSIGN_OR_RETURN(Bound cond, BindNode(Field(when.body, "expr"), clause, depth + 1));
    if (subject) {
      // CASE x WHEN v THEN … is CASE WHEN x = v THEN …
      SLUICE_ASSIGN_OR_RETURN(Bound eq, MakeBinary("=", *subject, std::move(cond), LocationOf(when.body)));
      cond = std::move(eq);
    }
    if (cond.untyped_literal) SLUICE_RETURN_IF_ERROR(CoerceLiteral(&cond, DataType::kBool));
    SLUICE_RETURN_IF_ERROR(RequireBoolean(cond, "CASE/WHEN"));
    conditions.push_back(std::move(cond));
    SLUICE_ASSIGN_OR_RETURN(Bound result, BindNode(Field(when.body, "result"), clause, depth + 1));
    results.push_back(std::move(result));
  }
  const bool has_else = Field(body, "defresult") != nullptr;
  if (has_else) {
    SLUICE_ASSIGN_OR_RETURN(Bound def, BindNode(Field(body, "defresult"), clause, depth + 1));
    results.push_back(std::move(def));
  }
  DataType type;
  SLUICE_RETURN_IF_ERROR(UnifyTypes(&results, "CASE", loc, &type));
  Bound b;
  b.start = loc;
  b.expr.op = ExprOp::kCase;
  b.expr.type = type;
  std::string text = "CASE";
  for (size_t i = 0; i < conditions.size(); ++i) {
    text += " WHEN " + conditions[i].expr.text + " THEN " + results[i].expr.text;
    b.expr.args.push_back(std::move(conditions[i].expr));
    b.expr.args.push_back(std::move(results[i].expr));
  }
  if (has_else) {
    text += " ELSE " + results.back().expr.text;
    b.expr.args.push_back(std::move(results.back().expr));
  }
  b.expr.text = text + " END";
  return b;
}

Result<ExprBinder::Bound> ExprBinder::BindCoalesce(const Json* body, Clause clause, int depth) const {
  const int loc = LocationOf(body);
  const Json* args = ListField(body, "args");
  if (args == nullptr) return ctx_.Error(loc, "COALESCE needs at least one argument");
  std::vector<Bound> items;
  for (const Json& a : *args) {
    SLUICE_ASSIGN_OR_RETURN(Bound item, BindNode(&a, clause, depth + 1));
    items.push_back(std::move(item));
  }
  DataType type;
  SLUICE_RETURN_IF_ERROR(UnifyTypes(&items, "COALESCE", loc, &type));
  Bound b;
  b.start = loc;
  b.expr.op = ExprOp::kCoalesce;
  b.expr.type = type;
  for (Bound& item : items) b.expr.args.push_back(std::move(item.expr));
  b.expr.text = "COALESCE(" + JoinTexts(b.expr.args) + ")";
  return b;
}

Result<ExprBinder::Bound> ExprBinder::BindNullIf(const Json* body, Clause clause, int depth) const {
  const int loc = LocationOf(body);
  PgNode list = AsNode(Field(body, "rexpr"));
  const Json* lexpr = Field(body, "lexpr");
  const Json* rexpr = Field(body, "rexpr");
  if (list.Is("List")) {
    const Json* items = ListField(list.body, "items");
    if (items == nullptr || items->size() != 2) return ctx_.Error(loc, "NULLIF takes two arguments");
    lexpr = &(*items)[0];
    rexpr = &(*items)[1];
  }
  SLUICE_ASSIGN_OR_RETURN(Bound left, BindNode(lexpr, clause, depth + 1));
  SLUICE_ASSIGN_OR_RETURN(Bound right, BindNode(rexpr, clause, depth + 1));
  if (left.untyped_literal && right.untyped_literal) SLUICE_RETURN_IF_ERROR(CoerceLiteral(&left, DataType::kText));
  // Type-check (and coerce literals) as for a = b.
  SLUICE_ASSIGN_OR_RETURN(Bound cmp, MakeBinary("=", std::move(left), std::move(right), loc));
  Bound b;
  b.start = MinStart(loc, cmp.start);
  b.expr.op = ExprOp::kNullIf;
  b.expr.type = cmp.expr.args[0].type == DataType::kNull ? cmp.expr.args[1].type : cmp.expr.args[0].type;
  b.expr.text = "NULLIF(" + cmp.expr.args[0].text + ", " + cmp.expr.args[1].text + ")";
  b.expr.args = std::move(cmp.expr.args);
  return b;
}

Result<ExprBinder::Bound> ExprBinder::BindLike(const Json* body, std::string_view kind, Clause clause,
                                               int depth) const {
  const int loc = LocationOf(body);
  auto names = NameList(Field(body, "name"));
  std::string_view op = names && names->size() == 1 ? names->front() : "~~";
  const bool negated = op.front() == '!';
  const bool ilike = kind == "AEXPR_ILIKE";
  PgNode pattern = AsNode(Field(body, "rexpr"));
  if (pattern.Is("FuncCall")) {
    auto fn = NameList(Field(pattern.body, "funcname"));
    if (fn && !fn->empty() && fn->back() == "like_escape") return ctx_.Error(loc, "LIKE … ESCAPE is not supported");
  }
  SLUICE_ASSIGN_OR_RETURN(Bound left, BindNode(Field(body, "lexpr"), clause, depth + 1));
  SLUICE_ASSIGN_OR_RETURN(Bound right, BindNode(Field(body, "rexpr"), clause, depth + 1));
  for (Bound* side : {&left, &right}) {
    if (side->untyped_literal) SLUICE_RETURN_IF_ERROR(CoerceLiteral(side, DataType::kText));
  }
  const char* word = ilike ? "ILIKE" : "LIKE";
  for (const Bound* side : {&left, &right}) {
    if (side->expr.type != DataType::kText && side->expr.type != DataType::kNull) {
      return ctx_.Error(loc, std::string("operator does not exist: ") + DataTypeName(left.expr.type) + " " + word +
                                 " " + DataTypeName(right.expr.type));
    }
  }
  Bound b;
  b.start = MinStart(left.start, right.start);
  b.expr.op = ExprOp::kLike;
  b.expr.fn = ilike ? ScalarFn::kILike : ScalarFn::kNone;
  b.expr.type = DataType::kBool;
  const std::string left_text = Operand(left.expr, kPrecLike);
  const std::string right_text = Operand(right.expr, kPrecLike, true);
  b.expr.text = left_text + " " + word + " " + right_text;
  b.expr.args.push_back(std::move(left.expr));
  b.expr.args.push_back(std::move(right.expr));
  if (!negated) return b;
  Bound n;
  n.start = b.start;
  n.expr.op = ExprOp::kNot;
  n.expr.type = DataType::kBool;
  n.expr.text = left_text + " NOT " + word + " " + right_text;
  n.expr.args.push_back(std::move(b.expr));
  return n;
}

Result<ExprBinder::Bound> ExprBinder::MakeConcat(Bound left, Bound right, int location) const {
  for (Bound* side : {&left, &right}) {
    if (side->untyped_literal) SLUICE_RETURN_IF_ERROR(CoerceLiteral(side, DataType::kText));
  }
  if (left.expr.type != DataType::kText && right.expr.type != DataType::kText) {
    return ctx_.Error(location, std::string("operator does not exist: ") + DataTypeName(left.expr.type) + " || " +
                                    DataTypeName(right.expr.type));
  }
  Bound b;
  b.start = MinStart(left.start, right.start);
  b.expr.op = ExprOp::kCall;
  b.expr.fn = ScalarFn::kConcatOp;
  b.expr.type = DataType::kText;
  b.expr.text = Operand(left.expr, kPrecOther) + " || " + Operand(right.expr, kPrecOther, true);
  b.expr.args.push_back(std::move(left.expr));
  b.expr.args.push_back(std::move(right.expr));
  return b;
}

Result<ExprBinder::Bound> ExprBinder::BindFuncCall(const Json* body, Clause clause, int depth) const {
  const int loc = LocationOf(body);
  auto names = NameList(Field(body, "funcname"));
  if (Field(body, "over") != nullptr || !names || names->empty()) return FuncCallError(body, clause);
  const bool catalog = names->size() == 2 && (*names)[0] == "pg_catalog";
  if (names->size() != 1 && !catalog) return FuncCallError(body, clause);
  const std::string name = AsciiLower(names->back());
  if (names->size() == 1 && IsAggregateFunction(names->front())) return FuncCallError(body, clause);
  static constexpr std::string_view kScalars[] = {
      "lower", "upper", "length", "char_length", "character_length", "substring", "substr", "concat", "abs",
      "round", "floor", "ceil", "ceiling", "sqrt", "mod", "date_trunc", "extract", "date_part", "to_timestamp"};
  if (std::find(std::begin(kScalars), std::end(kScalars), name) == std::end(kScalars)) {
    return FuncCallError(body, clause);
  }
  if (BoolField(body, "agg_star") || BoolField(body, "agg_distinct") || Field(body, "agg_filter") != nullptr ||
      Field(body, "agg_order") != nullptr || BoolField(body, "agg_within_group")) {
    return ctx_.Error(loc, name + "() is not an aggregate function: *, DISTINCT, FILTER and ORDER BY do not apply");
  }
  std::vector<Bound> args;
  if (const Json* list = ListField(body, "args")) {
    for (const Json& a : *list) {
      SLUICE_ASSIGN_OR_RETURN(Bound arg, BindNode(&a, clause, depth + 1));
      args.push_back(std::move(arg));
    }
  }
  auto no_such = [&]() -> Status {
    std::vector<Expr> typed;
    for (const Bound& a : args) {
      typed.push_back(a.expr);
      if (a.untyped_literal) typed.back().type = DataType::kText;
    }
    return ctx_.Error(loc, "function " + Signature(name, typed) + " does not exist");
  };
  auto arity = [&](size_t lo, size_t hi) { return args.size() >= lo && args.size() <= hi; };
  // Coerces argument i to `t` (untyped literals parse, NULL takes the type); false on mismatch.
  auto expect = [&](size_t i, DataType t) -> Result<bool> {
    Bound& a = args[i];
    if (a.untyped_literal) {
      SLUICE_RETURN_IF_ERROR(CoerceLiteral(&a, t));
      return true;
    }
    if (a.expr.type == DataType::kNull) {
      a.expr.type = t;
      return true;
    }
    return a.expr.type == t;
  };
  auto expect_numeric = [&](size_t i) -> Result<bool> {
    Bound& a = args[i];
    if (a.untyped_literal) {
      SLUICE_RETURN_IF_ERROR(CoerceLiteral(&a, DataType::kFloat64));
      return true;
    }
    if (a.expr.type == DataType::kNull) {
      a.expr.type = DataType::kFloat64;
      return true;
    }
    return IsNumeric(a.expr.type);
  };
  Bound b;
  b.start = loc;
  b.expr.op = ExprOp::kCall;
  std::string text_name = name;
  if (name == "mod") {
    if (!arity(2, 2)) return no_such();
    SLUICE_ASSIGN_OR_RETURN(Bound m, MakeBinary("%", std::move(args[0]), std::move(args[1]), loc));
    return m;
  }
  if (name == "lower" || name == "upper") {
    if (!arity(1, 1)) return no_such();
    SLUICE_ASSIGN_OR_RETURN(bool ok, expect(0, DataType::kText));
    if (!ok) return no_such();
    b.expr.fn = name == "lower" ? ScalarFn::kLower : ScalarFn::kUpper;
    b.expr.type = DataType::kText;
  } else if (name == "length" || name == "char_length" || name == "character_length") {
    if (!arity(1, 1)) return no_such();
    SLUICE_ASSIGN_OR_RETURN(bool ok, expect(0, DataType::kText));
    if (!ok) return no_such();
    b.expr.fn = ScalarFn::kLength;
    b.expr.type = DataType::kInt64;
  } else if (name == "substring" || name == "substr") {
    if (!arity(2, 3)) return no_such();
    bool ok = true;
    for (size_t i = 0; i < args.size(); ++i) {
      SLUICE_ASSIGN_OR_RETURN(bool fits, expect(i, i == 0 ? DataType::kText : DataType::kInt64));
      ok = ok && fits;
    }
    if (!ok) return no_such();
    b.expr.fn = ScalarFn::kSubstring;
    b.expr.type = DataType::kText;
  } else if (name == "concat") {
    if (args.empty()) return no_such();
    for (Bound& a : args) {
      if (a.untyped_literal) SLUICE_RETURN_IF_ERROR(CoerceLiteral(&a, DataType::kText));
    }
    b.expr.fn = ScalarFn::kConcat;
    b.expr.type = DataType::kText;
  } else if (name == "abs" || name == "floor" || name == "ceil" || name == "ceiling" || name == "sqrt") {
    if (!arity(1, 1)) return no_such();
    SLUICE_ASSIGN_OR_RETURN(bool ok, expect_numeric(0));
    if (!ok) return no_such();
    b.expr.fn = name == "abs" ? ScalarFn::kAbs : name == "floor" ? ScalarFn::kFloor
              : name == "sqrt" ? ScalarFn::kSqrt : ScalarFn::kCeil;
    b.expr.type = name == "sqrt" ? DataType::kFloat64 : args[0].expr.type;
  } else if (name == "round") {
    if (!arity(1, 2)) return no_such();
    SLUICE_ASSIGN_OR_RETURN(bool ok, expect_numeric(0));
    if (args.size() == 2) {
      SLUICE_ASSIGN_OR_RETURN(bool digits_ok, expect(1, DataType::kInt64));
      ok = ok && digits_ok;
    }
    if (!ok) return no_such();
    b.expr.fn = ScalarFn::kRound;
    b.expr.type = args[0].expr.type;
  } else if (name == "date_trunc" || name == "extract" || name == "date_part") {
    const bool trunc = name == "date_trunc";
    if (!arity(2, 2)) return no_such();
    const FieldName* field = nullptr;
    if (args[0].untyped_literal) field = FindField(args[0].expr.literal.as_text());
    if (field == nullptr || (trunc && !field->truncatable)) {
      std::string shown = args[0].untyped_literal ? "'" + args[0].expr.literal.as_text() + "'" : args[0].expr.text;
      return ctx_.Error(args[0].start >= 0 ? args[0].start : loc,
                        std::string(trunc ? "date_trunc unit " : "extract field ") + shown +
                            " is not supported; use " +
                            (trunc ? "microseconds, milliseconds, second, minute, hour, day, week, month, quarter "
                                     "or year"
                                   : "microseconds, milliseconds, second, minute, hour, day, week, month, quarter, "
                                     "year, epoch, dow, isodow or doy"));
    }
    SLUICE_ASSIGN_OR_RETURN(bool ok, expect(1, DataType::kTimestamp));
    if (!ok) return no_such();
    Expr code = LiteralExpr(Value::Int(static_cast<int64_t>(field->field)), DataType::kInt64);
    code.text = QuoteLiteral(field->name);
    args[0].expr = std::move(code);
    b.expr.fn = trunc ? ScalarFn::kDateTrunc : ScalarFn::kExtract;
    if (trunc) {
      b.expr.type = DataType::kTimestamp;
    } else {
      const TimeField f = field->field;
      b.expr.type = f == TimeField::kSecond || f == TimeField::kMillisecond || f == TimeField::kEpoch
                        ? DataType::kFloat64
                        : DataType::kInt64;
      if (name == "extract") {
        b.expr.text = "EXTRACT(" + std::string(field->name) + " FROM " + args[1].expr.text + ")";
      }
    }
  } else if (name == "to_timestamp") {
    if (args.size() == 2) return ctx_.Error(loc, "to_timestamp(text, format) is not supported; use CAST(text AS TIMESTAMPTZ)");
    if (!arity(1, 1)) return no_such();
    SLUICE_ASSIGN_OR_RETURN(bool ok, expect_numeric(0));
    if (!ok) return no_such();
    b.expr.fn = ScalarFn::kToTimestamp;
    b.expr.type = DataType::kTimestamp;
  }
  for (Bound& a : args) b.expr.args.push_back(std::move(a.expr));
  if (b.expr.text.empty()) b.expr.text = text_name + "(" + JoinTexts(b.expr.args) + ")";
  return b;
}

}  // namespace sluice::sql
