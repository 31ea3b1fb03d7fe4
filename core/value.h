// Value, Row and Schema: the typed data that flows between operators.
//
// A Value is one SQL value: NULL, BOOLEAN, BIGINT, FLOAT8, TEXT or TIMESTAMPTZ. A Row is a vector of
// Values whose positions follow a Schema. Thread-safety: plain values; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace sluice {

/// SQL types Sluice stores. The numeric order matches Value's variant index.
enum class DataType : uint8_t { kNull = 0, kBool, kInt64, kFloat64, kText, kTimestamp };

/// SQL spelling of a type ("BIGINT", "TIMESTAMPTZ", ...).
const char* DataTypeName(DataType t);

/// One SQL value. NULL is std::monostate. TEXT owns its bytes.
class Value {
 public:
  Value() = default;
  static Value Null() { return Value(); }
  static Value Bool(bool b) { return Value(b); }
  static Value Int(int64_t i) { return Value(i); }
  static Value Float(double d) { return Value(d); }
  static Value Text(std::string s) { return Value(std::move(s)); }
  static Value Time(EventTime t) { return Value(t); }

  DataType type() const { return static_cast<DataType>(v_.index()); }
  bool is_null() const { return v_.index() == 0; }
  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  const std::string& as_text() const { return std::get<std::string>(v_); }
  EventTime as_time() const { return std::get<EventTime>(v_); }
  /// Makes this value the TEXT `s`, reusing the string's capacity when it already holds TEXT
  /// (no allocation for decoders that refill the same row). Same result as `*this = Text(s)`.
  void SetText(std::string_view s) {
    if (auto* p = std::get_if<std::string>(&v_)) p->assign(s.data(), s.size());
    else v_.emplace<std::string>(s);
  }
  /// Numeric view: BIGINT and FLOAT8 as double; TIMESTAMPTZ as microseconds. REQUIRES: numeric type.
  double ToDouble() const;

  /// Appends the JSON encoding: null, true, 42, 1.5, "text" (escaped), "2026-11-21T10:00:00.000Z".
  /// Non-finite floats encode as null.
  void AppendJson(std::string* out) const;
  /// Text for keys and terminals: NULL as "NULL", timestamps as RFC 3339, floats shortest round-trip.
  std::string ToString() const;

  /// Total order used for keys and min/max: NULL < BOOLEAN < numbers (BIGINT and FLOAT8 compared
  /// numerically) < TEXT < TIMESTAMPTZ. Returns <0, 0 or >0.
  int Compare(const Value& o) const;
  bool operator==(const Value& o) const { return Compare(o) == 0; }

 private:
  template <typename T>
  explicit Value(T v) : v_(std::move(v)) {}
  std::variant<std::monostate, bool, int64_t, double, std::string, EventTime> v_;
};

using Row = std::vector<Value>;

/// Appends `s` as a JSON string literal (with quotes), escaping per RFC 8259.
void AppendJsonString(std::string_view s, std::string* out);

/// A named, typed column.
struct Column {
  std::string name;
  DataType type = DataType::kNull;
};

/// An ordered list of columns. Names are compared exactly (SQL folding is the parser's job).
class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<Column> columns) : columns_(std::move(columns)) {}

  size_t size() const { return columns_.size(); }
  bool empty() const { return columns_.empty(); }
  const Column& operator[](size_t i) const { return columns_[i]; }
  const std::vector<Column>& columns() const { return columns_; }
  void Add(Column c) { columns_.push_back(std::move(c)); }
  /// Position of the column named `name`, or -1.
  int IndexOf(std::string_view name) const;

 private:
  std::vector<Column> columns_;
};

/// Encodes `row` as one JSON object with `schema`'s column names as keys, no trailing newline.
/// REQUIRES: row.size() == schema.size().
std::string RowToJson(const Schema& schema, const Row& row);

}  // namespace sluice
