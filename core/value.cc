#include "core/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace sluice {

const char* DataTypeName(DataType t) {
  switch (t) {
    case DataType::kNull: return "NULL";
    case DataType::kBool: return "BOOLEAN";
    case DataType::kInt64: return "BIGINT";
    case DataType::kFloat64: return "FLOAT8";
    case DataType::kText: return "TEXT";
    case DataType::kTimestamp: return "TIMESTAMPTZ";
  }
  return "?";
}

double Value::ToDouble() const {
  switch (type()) {
    case DataType::kInt64: return static_cast<double>(as_int());
    case DataType::kFloat64: return as_float();
    case DataType::kTimestamp: return static_cast<double>(as_time().micros);
    case DataType::kBool: return as_bool() ? 1 : 0;
    default: return 0;
  }
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

namespace {
void AppendDouble(double d, std::string* out) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d);
  out->append(buf, p);
}
}  // namespace

void Value::AppendJson(std::string* out) const {
  switch (type()) {
    case DataType::kNull: out->append("null"); break;
    case DataType::kBool: out->append(as_bool() ? "true" : "false"); break;
    case DataType::kInt64: out->append(std::to_string(as_int())); break;
    case DataType::kFloat64:
      if (std::isfinite(as_float())) AppendDouble(as_float(), out);
      else out->append("null");
      break;
    case DataType::kText: AppendJsonString(as_text(), out); break;
    case DataType::kTimestamp: AppendJsonString(FormatTimestamp(as_time()), out); break;
  }
}

std::string Value::ToString() const {
  switch (type()) {
    case DataType::kNull: return "NULL";
    case DataType::kBool: return as_bool() ? "true" : "false";
    case DataType::kInt64: return std::to_string(as_int());
    case DataType::kFloat64: {
      std::string s;
      AppendDouble(as_float(), &s);
      return s;
    }
    case DataType::kText: return as_text();
    case DataType::kTimestamp: return FormatTimestamp(as_time());
  }
  return "";
}

int Value::Compare(const Value& o) const {
  auto rank = [](DataType t) {
    switch (t) {
      case DataType::kNull: return 0;
      case DataType::kBool: return 1;
      case DataType::kInt64:
      case DataType::kFloat64: return 2;
      case DataType::kText: return 3;
      case DataType::kTimestamp: return 4;
    }
    return 5;
  };
  int ra = rank(type()), rb = rank(o.type());
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (type()) {
    case DataType::kNull: return 0;
    case DataType::kBool: return static_cast<int>(as_bool()) - static_cast<int>(o.as_bool());
    case DataType::kInt64:
      if (o.type() == DataType::kInt64) return as_int() < o.as_int() ? -1 : (as_int() > o.as_int() ? 1 : 0);
      [[fallthrough]];
    case DataType::kFloat64: {
      double a = ToDouble(), b = o.ToDouble();
      return a < b ? -1 : (a > b ? 1 : 0);
    }
    case DataType::kText: {
      int c = as_text().compare(o.as_text());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case DataType::kTimestamp:
      return as_time() < o.as_time() ? -1 : (as_time() > o.as_time() ? 1 : 0);
  }
  return 0;
}

int Schema::IndexOf(std::string_view name) const {
  for (size_t i = 0; i < columns_.size(); ++i)
    if (columns_[i].name == name) return static_cast<int>(i);
  return -1;
}

std::string RowToJson(const Schema& schema, const Row& row) {
  std::string out;
  out.reserve(16 * row.size() + 2);
  out.push_back('{');
  for (size_t i = 0; i < row.size() && i < schema.size(); ++i) {
    if (i) out.push_back(',');
    AppendJsonString(schema[i].name, &out);
    out.push_back(':');
    row[i].AppendJson(&out);
  }
  out.push_back('}');
  return out;
}

}  // namespace sluice
