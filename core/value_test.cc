#include "core/value.h"

#include <doctest/doctest.h>

using namespace sluice;

TEST_CASE("values encode as JSON") {
  Schema s({{"a", DataType::kText}, {"b", DataType::kInt64}, {"c", DataType::kFloat64},
            {"d", DataType::kNull}, {"e", DataType::kTimestamp}, {"f", DataType::kBool}});
  Row r{Value::Text("x\"y\n"), Value::Int(-3), Value::Float(1.5), Value::Null(), Value::Time(EventTime{0}),
        Value::Bool(true)};
  CHECK(RowToJson(s, r) ==
        R"({"a":"x\"y\n","b":-3,"c":1.5,"d":null,"e":"1970-01-01T00:00:00.000Z","f":true})");
}

TEST_CASE("value order") {
  CHECK(Value::Null().Compare(Value::Int(0)) < 0);
  CHECK(Value::Int(2).Compare(Value::Float(1.5)) > 0);
  CHECK(Value::Int(2) == Value::Float(2.0));
  CHECK(Value::Text("a").Compare(Value::Text("b")) < 0);
  CHECK(Schema({{"x", DataType::kInt64}}).IndexOf("x") == 0);
  CHECK(Schema({{"x", DataType::kInt64}}).IndexOf("X") == -1);
}
