#include "operators/expr_eval.h"

#include <array>
#include <charconv>
#include <cmath>

#include "operators/scalar_functions.h"

namespace sluice::ops {
namespace {

bool IsNumeric(const Value& v) { return v.type() == DataType::kInt64 || v.type() == DataType::kFloat64; }

Value Arith(ExprOp op, const Value& a, const Value& b) {
  if (a.is_null() || b.is_null()) return Value::Null();
  if (!IsNumeric(a) || !IsNumeric(b)) return Value::Null();
  if (a.type() == DataType::kInt64 && b.type() == DataType::kInt64) {
    int64_t x = a.as_int(), y = b.as_int(), r = 0;
    switch (op) {
      case ExprOp::kAdd: if (__builtin_add_overflow(x, y, &r)) return Value::Null(); return Value::Int(r);
      case ExprOp::kSub: if (__builtin_sub_overflow(x, y, &r)) return Value::Null(); return Value::Int(r);
      case ExprOp::kMul: if (__builtin_mul_overflow(x, y, &r)) return Value::Null(); return Value::Int(r);
      case ExprOp::kDiv:
        if (y == 0 || (x == INT64_MIN && y == -1)) return Value::Null();
        return Value::Int(x / y);
      case ExprOp::kMod:
        if (y == 0 || y == -1) return y == -1 ? Value::Int(0) : Value::Null();
        return Value::Int(x % y);
      default: return Value::Null();
    }
  }
  double x = a.ToDouble(), y = b.ToDouble();
  switch (op) {
    case ExprOp::kAdd: return Value::Float(x + y);
    case ExprOp::kSub: return Value::Float(x - y);
    case ExprOp::kMul: return Value::Float(x * y);
    case ExprOp::kDiv: return y == 0 ? Value::Null() : Value::Float(x / y);
    case ExprOp::kMod: return y == 0 ? Value::Null() : Value::Float(std::fmod(x, y));
    default: return Value::Null();
  }
}

Value Compare(ExprOp op, const Value& a, const Value& b) {
  if (a.is_null() || b.is_null()) return Value::Null();
  int c = a.Compare(b);
  switch (op) {
    case ExprOp::kEq: return Value::Bool(c == 0);
    case ExprOp::kNe: return Value::Bool(c != 0);
    case ExprOp::kLt: return Value::Bool(c < 0);
    case ExprOp::kLe: return Value::Bool(c <= 0);
    case ExprOp::kGt: return Value::Bool(c > 0);
    case ExprOp::kGe: return Value::Bool(c >= 0);
    default: return Value::Null();
  }
}

}  // namespace

Value CastValue(const Value& v, DataType to) {
  if (v.is_null() || v.type() == to) return v;
  switch (to) {
    case DataType::kText: return Value::Text(v.ToString());
    case DataType::kFloat64:
      if (IsNumeric(v)) return Value::Float(v.ToDouble());
      if (v.type() == DataType::kText) {
        double d;
        const auto& s = v.as_text();
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec == std::errc() && p == s.data() + s.size()) return Value::Float(d);
      }
      return Value::Null();
    case DataType::kInt64:
      if (v.type() == DataType::kFloat64) {
        double d = std::nearbyint(v.as_float());
        if (!std::isfinite(d) || d < -9.2e18 || d > 9.2e18) return Value::Null();
        return Value::Int(static_cast<int64_t>(d));
      }
      if (v.type() == DataType::kBool) return Value::Int(v.as_bool());
      if (v.type() == DataType::kText) {
        int64_t i;
        const auto& s = v.as_text();
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
        if (ec == std::errc() && p == s.data() + s.size()) return Value::Int(i);
      }
      return Value::Null();
    case DataType::kBool:
      if (v.type() == DataType::kInt64) return Value::Bool(v.as_int() != 0);
      if (v.type() == DataType::kText) {
        const auto& s = v.as_text();
        if (s == "true" || s == "t" || s == "1") return Value::Bool(true);
        if (s == "false" || s == "f" || s == "0") return Value::Bool(false);
      }
      return Value::Null();
    case DataType::kTimestamp:
      if (v.type() == DataType::kText) {
        auto t = ParseTimestamp(v.as_text());
        return t.ok() ? Value::Time(*t) : Value::Null();
      }
      return Value::Null();
    case DataType::kNull: return Value::Null();
  }
  return Value::Null();
}

Value Eval(const Expr& e, const Row& row) {
  switch (e.op) {
    case ExprOp::kColumn:
      return e.column >= 0 && static_cast<size_t>(e.column) < row.size() ? row[static_cast<size_t>(e.column)]
                                                                         : Value::Null();
    case ExprOp::kLiteral: return e.literal;
    case ExprOp::kAdd: case ExprOp::kSub: case ExprOp::kMul: case ExprOp::kDiv: case ExprOp::kMod:
      return Arith(e.op, Eval(e.args[0], row), Eval(e.args[1], row));
    case ExprOp::kNeg: {
      Value v = Eval(e.args[0], row);
      if (v.type() == DataType::kInt64) return v.as_int() == INT64_MIN ? Value::Null() : Value::Int(-v.as_int());
      if (v.type() == DataType::kFloat64) return Value::Float(-v.as_float());
      return Value::Null();
    }
    case ExprOp::kEq: case ExprOp::kNe: case ExprOp::kLt: case ExprOp::kLe: case ExprOp::kGt: case ExprOp::kGe:
      return Compare(e.op, Eval(e.args[0], row), Eval(e.args[1], row));
    case ExprOp::kAnd: {
      Value a = Eval(e.args[0], row);
      if (a.type() == DataType::kBool && !a.as_bool()) return Value::Bool(false);
      Value b = Eval(e.args[1], row);
      if (b.type() == DataType::kBool && !b.as_bool()) return Value::Bool(false);
      if (a.is_null() || b.is_null()) return Value::Null();
      return Value::Bool(true);
    }
    case ExprOp::kOr: {
      Value a = Eval(e.args[0], row);
      if (a.type() == DataType::kBool && a.as_bool()) return Value::Bool(true);
      Value b = Eval(e.args[1], row);
      if (b.type() == DataType::kBool && b.as_bool()) return Value::Bool(true);
      if (a.is_null() || b.is_null()) return Value::Null();
      return Value::Bool(false);
    }
    case ExprOp::kNot: {
      Value a = Eval(e.args[0], row);
      return a.type() == DataType::kBool ? Value::Bool(!a.as_bool()) : Value::Null();
    }
    case ExprOp::kIsNull: return Value::Bool(Eval(e.args[0], row).is_null());
    case ExprOp::kIsNotNull: return Value::Bool(!Eval(e.args[0], row).is_null());
    case ExprOp::kCast: return CastValue(Eval(e.args[0], row), e.type);
    case ExprOp::kCase: {
      const size_t pairs = e.args.size() / 2;
      for (size_t i = 0; i < pairs; ++i) {
        if (EvalPredicate(e.args[2 * i], row)) return CastValue(Eval(e.args[2 * i + 1], row), e.type);
      }
      if (e.args.size() % 2 == 1) return CastValue(Eval(e.args.back(), row), e.type);
      return Value::Null();
    }
    case ExprOp::kCoalesce:
      for (const Expr& a : e.args) {
        Value v = Eval(a, row);
        if (!v.is_null()) return CastValue(v, e.type);
      }
      return Value::Null();
    case ExprOp::kNullIf: {
      Value a = Eval(e.args[0], row);
      if (a.is_null()) return a;
      Value b = Eval(e.args[1], row);
      if (!b.is_null() && a.Compare(b) == 0) return Value::Null();
      return a;
    }
    case ExprOp::kLike: {
      Value a = Eval(e.args[0], row);
      Value p = Eval(e.args[1], row);
      if (a.type() != DataType::kText || p.type() != DataType::kText) return Value::Null();
      return Value::Bool(LikeMatch(a.as_text(), p.as_text(), e.fn == ScalarFn::kILike));
    }
    case ExprOp::kCall: {
      if (e.args.size() <= 4) {
        std::array<Value, 4> args;
        for (size_t i = 0; i < e.args.size(); ++i) args[i] = Eval(e.args[i], row);
        return ApplyScalar(e.fn, args.data(), e.args.size());
      }
      std::vector<Value> args;
      args.reserve(e.args.size());
      for (const Expr& a : e.args) args.push_back(Eval(a, row));
      return ApplyScalar(e.fn, args.data(), args.size());
    }
  }
  return Value::Null();
}

bool EvalPredicate(const Expr& e, const Row& row) {
  Value v = Eval(e, row);
  return v.type() == DataType::kBool && v.as_bool();
}

void CollectColumns(const Expr& e, std::vector<bool>* used) {
  if (e.op == ExprOp::kColumn && e.column >= 0 && static_cast<size_t>(e.column) < used->size())
    (*used)[static_cast<size_t>(e.column)] = true;
  for (const Expr& a : e.args) CollectColumns(a, used);
}

std::vector<bool> ColumnsUsed(const QueryDef& q, size_t source_columns, int event_time_column) {
  std::vector<bool> used(source_columns, false);
  if (q.stages != nullptr) {
    // Only the leaves read the source; the nodes above them read the leaves' outputs.
    for (const QueryDef& leaf : q.stages->leaves) {
      const std::vector<bool> l = ColumnsUsed(leaf, source_columns, event_time_column);
      for (size_t c = 0; c < source_columns; ++c) used[c] = used[c] || l[c];
    }
    if (event_time_column >= 0 && static_cast<size_t>(event_time_column) < source_columns)
      used[static_cast<size_t>(event_time_column)] = true;
    return used;
  }
  auto mark = [&](int c) {
    if (c >= 0 && static_cast<size_t>(c) < source_columns) used[static_cast<size_t>(c)] = true;
  };
  mark(event_time_column);
  mark(q.window.time_column);
  if (q.where) CollectColumns(*q.where, &used);
  for (const Expr& e : q.projections) CollectColumns(e, &used);
  for (const Expr& e : q.group_keys) CollectColumns(e, &used);
  for (const AggregateDef& a : q.aggregates) {
    if (a.kind != AggKind::kCountStar) CollectColumns(a.arg, &used);
    if (a.filter) CollectColumns(*a.filter, &used);
  }
  return used;
}

}  // namespace sluice::ops
