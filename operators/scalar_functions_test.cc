#include "operators/scalar_functions.h"

#include <doctest/doctest.h>

#include "operators/expr_eval.h"

using namespace sluice;
using namespace sluice::ops;

namespace {

Value Call(ScalarFn fn, std::vector<Value> args) { return ApplyScalar(fn, args.data(), args.size()); }
EventTime T(const char* text) { return *ParseTimestamp(text); }
Value Code(TimeField f) { return Value::Int(static_cast<int64_t>(f)); }

}  // namespace

TEST_CASE("LIKE: %, _, escapes, UTF-8 and ILIKE") {
  CHECK(LikeMatch("Shadowfax", "Shadow%", false));
  CHECK(LikeMatch("Shadowfax", "%fax", false));
  CHECK(LikeMatch("Shadowfax", "%ado%", false));
  CHECK_FALSE(LikeMatch("Shadowfax", "shadow%", false));
  CHECK(LikeMatch("Shadowfax", "shadow%", true));
  CHECK(LikeMatch("abc", "a_c", false));
  CHECK_FALSE(LikeMatch("abbc", "a_c", false));
  CHECK(LikeMatch("é!", "_!", false));  // one character, two bytes
  CHECK(LikeMatch("100%", "100\\%", false));
  CHECK_FALSE(LikeMatch("1000", "100\\%", false));
  CHECK(LikeMatch("", "%", false));
  CHECK_FALSE(LikeMatch("", "_", false));
  CHECK(LikeMatch("aaa", "%a%a%a%", false));
  CHECK_FALSE(LikeMatch("aa", "%a%a%a%", false));
}

TEST_CASE("string functions count characters, not bytes") {
  CHECK(Call(ScalarFn::kLength, {Value::Text("héllo")}).as_int() == 5);
  CHECK(Call(ScalarFn::kSubstring, {Value::Text("héllo"), Value::Int(2), Value::Int(3)}).as_text() == "éll");
  CHECK(Call(ScalarFn::kSubstring, {Value::Text("hello"), Value::Int(0), Value::Int(3)}).as_text() == "he");
  CHECK(Call(ScalarFn::kSubstring, {Value::Text("hello"), Value::Int(4)}).as_text() == "lo");
  CHECK(Call(ScalarFn::kSubstring, {Value::Text("hello"), Value::Int(9)}).as_text() == "");
  CHECK(Call(ScalarFn::kSubstring, {Value::Text("hello"), Value::Int(1), Value::Int(-1)}).is_null());
  CHECK(Call(ScalarFn::kUpper, {Value::Text("abc-é")}).as_text() == "ABC-é");
  CHECK(Call(ScalarFn::kConcat, {Value::Text("a"), Value::Null(), Value::Int(3)}).as_text() == "a3");
  CHECK(Call(ScalarFn::kConcatOp, {Value::Text("a"), Value::Null()}).is_null());
  CHECK(Call(ScalarFn::kLower, {Value::Null()}).is_null());
}

TEST_CASE("math functions") {
  CHECK(Call(ScalarFn::kRound, {Value::Float(2.5)}).as_float() == 3.0);
  CHECK(Call(ScalarFn::kRound, {Value::Float(-2.5)}).as_float() == -3.0);
  CHECK(Call(ScalarFn::kRound, {Value::Float(3.14159), Value::Int(2)}).as_float() == doctest::Approx(3.14));
  CHECK(Call(ScalarFn::kRound, {Value::Int(1250), Value::Int(-2)}).as_int() == 1300);
  CHECK(Call(ScalarFn::kFloor, {Value::Float(-1.5)}).as_float() == -2.0);
  CHECK(Call(ScalarFn::kCeil, {Value::Float(-1.5)}).as_float() == -1.0);
  CHECK(Call(ScalarFn::kAbs, {Value::Int(-4)}).as_int() == 4);
  CHECK(Call(ScalarFn::kAbs, {Value::Int(INT64_MIN)}).is_null());
  CHECK(Call(ScalarFn::kSqrt, {Value::Int(16)}).as_float() == 4.0);
  CHECK(Call(ScalarFn::kSqrt, {Value::Float(-1)}).is_null());
  CHECK(Call(ScalarFn::kToTimestamp, {Value::Float(1.5)}).as_time().micros == 1500000);
}

TEST_CASE("date_trunc and extract on the UTC calendar") {
  EventTime t = T("2026-11-21T10:22:33.456789Z");  // a Saturday
  CHECK(DateTrunc(TimeField::kMinute, t) == T("2026-11-21T10:22:00Z"));
  CHECK(DateTrunc(TimeField::kHour, t) == T("2026-11-21T10:00:00Z"));
  CHECK(DateTrunc(TimeField::kDay, t) == T("2026-11-21"));
  CHECK(DateTrunc(TimeField::kWeek, t) == T("2026-11-16"));  // Monday
  CHECK(DateTrunc(TimeField::kMonth, t) == T("2026-11-01"));
  CHECK(DateTrunc(TimeField::kQuarter, t) == T("2026-10-01"));
  CHECK(DateTrunc(TimeField::kYear, t) == T("2026-01-01"));
  CHECK(DateTrunc(TimeField::kMillisecond, t) == T("2026-11-21T10:22:33.456Z"));
  CHECK(DateTrunc(TimeField::kDay, T("1969-12-31T23:00:00Z")) == T("1969-12-31"));  // before the epoch
  CHECK(Extract(TimeField::kYear, t).as_int() == 2026);
  CHECK(Extract(TimeField::kMonth, t).as_int() == 11);
  CHECK(Extract(TimeField::kDay, t).as_int() == 21);
  CHECK(Extract(TimeField::kHour, t).as_int() == 10);
  CHECK(Extract(TimeField::kMinute, t).as_int() == 22);
  CHECK(Extract(TimeField::kSecond, t).as_float() == doctest::Approx(33.456789));
  CHECK(Extract(TimeField::kMillisecond, t).as_float() == doctest::Approx(33456.789));
  CHECK(Extract(TimeField::kMicrosecond, t).as_int() == 33456789);
  CHECK(Extract(TimeField::kDow, t).as_int() == 6);
  CHECK(Extract(TimeField::kIsoDow, T("2026-11-22")).as_int() == 7);
  CHECK(Extract(TimeField::kDoy, t).as_int() == 325);
  CHECK(Extract(TimeField::kQuarter, t).as_int() == 4);
  CHECK(Extract(TimeField::kWeek, t).as_int() == 47);
  CHECK(Extract(TimeField::kWeek, T("2027-01-01")).as_int() == 53);  // ISO: belongs to 2026's last week
  CHECK(Extract(TimeField::kEpoch, T("1970-01-01T00:00:01.5Z")).as_float() == 1.5);
  CHECK(Call(ScalarFn::kExtract, {Code(TimeField::kYear), Value::Time(t)}).as_int() == 2026);
}

TEST_CASE("CASE, COALESCE and NULLIF follow SQL NULL rules") {
  auto lit = [](Value v, DataType t) {
    Expr e;
    e.op = ExprOp::kLiteral;
    e.literal = std::move(v);
    e.type = t;
    return e;
  };
  Expr c;
  c.op = ExprOp::kCase;
  c.type = DataType::kFloat64;
  c.args = {lit(Value::Null(), DataType::kBool), lit(Value::Int(1), DataType::kInt64),
            lit(Value::Bool(true), DataType::kBool), lit(Value::Int(2), DataType::kInt64),
            lit(Value::Float(3), DataType::kFloat64)};
  Value v = Eval(c, {});
  CHECK(v.type() == DataType::kFloat64);  // BIGINT branch converted to the CASE's type
  CHECK(v.as_float() == 2.0);
  c.args.erase(c.args.begin() + 2, c.args.begin() + 4);  // WHEN NULL THEN 1 ELSE 3
  CHECK(Eval(c, {}).as_float() == 3.0);
  c.args.pop_back();  // no ELSE
  CHECK(Eval(c, {}).is_null());
  Expr co;
  co.op = ExprOp::kCoalesce;
  co.type = DataType::kInt64;
  co.args = {lit(Value::Null(), DataType::kNull), lit(Value::Int(7), DataType::kInt64)};
  CHECK(Eval(co, {}).as_int() == 7);
  Expr n;
  n.op = ExprOp::kNullIf;
  n.type = DataType::kInt64;
  n.args = {lit(Value::Int(7), DataType::kInt64), lit(Value::Int(7), DataType::kInt64)};
  CHECK(Eval(n, {}).is_null());
  n.args[1] = lit(Value::Null(), DataType::kInt64);
  CHECK(Eval(n, {}).as_int() == 7);
}

TEST_CASE("JsonGet reads object members and array elements, as JSON or as text") {
  using sluice::ops::JsonGet;
  const std::string doc = R"( {"a": 1, "s": "x\"y\u00e9", "n": null, "o": {"b": [10, "t", {"c": true}]}, "a": 2} )";
  CHECK(JsonGet(doc, Value::Text("a"), true).as_text() == "2");  // the last duplicate wins
  CHECK(JsonGet(doc, Value::Text("s"), true).as_text() == "x\"y\xc3\xa9");
  CHECK(JsonGet(doc, Value::Text("s"), false).as_text() == R"("x\"y\u00e9")");
  CHECK(JsonGet(doc, Value::Text("n"), true).is_null());
  CHECK(JsonGet(doc, Value::Text("n"), false).as_text() == "null");
  CHECK(JsonGet(doc, Value::Text("missing"), true).is_null());
  const Value o = JsonGet(doc, Value::Text("o"), false);
  CHECK(o.as_text() == R"({"b": [10, "t", {"c": true}]})");
  const Value b = JsonGet(o.as_text(), Value::Text("b"), false);
  CHECK(JsonGet(b.as_text(), Value::Int(1), true).as_text() == "t");
  CHECK(JsonGet(b.as_text(), Value::Int(-1), false).as_text() == R"({"c": true})");
  CHECK(JsonGet(b.as_text(), Value::Int(3), true).is_null());
  CHECK(JsonGet(b.as_text(), Value::Text("0"), true).is_null());  // a key on an array
  CHECK(JsonGet("not json", Value::Text("a"), true).is_null());
  CHECK(JsonGet(R"({"a": )", Value::Text("a"), true).is_null());
  CHECK(JsonGet(R"({"a": [[[[)", Value::Text("a"), true).is_null());
  CHECK(JsonGet(std::string(100000, '['), Value::Int(0), true).is_null());
  CHECK(JsonGet(doc, Value::Null(), true).is_null());
}
