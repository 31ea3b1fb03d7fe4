#include "ingest/json_decoder.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <unordered_map>

namespace sluice::ingest {

struct JsonDecoder::Impl {
  Schema schema;
  int required = -1;
  std::unordered_map<std::string, int> columns;
  simdjson::ondemand::parser parser;
  std::string buf;
};

JsonDecoder::JsonDecoder(Schema schema, int required_column) : impl_(std::make_unique<Impl>()) {
  impl_->schema = std::move(schema);
  impl_->required = required_column;
  for (size_t i = 0; i < impl_->schema.size(); ++i) impl_->columns.emplace(impl_->schema[i].name, static_cast<int>(i));
}

JsonDecoder::~JsonDecoder() = default;

namespace {

Status FieldError(const std::string& name, DataType t, std::string_view got) {
  return Status::InvalidArgument("field \"" + name + "\": expected " + DataTypeName(t) + ", got " +
                                 std::string(got.substr(0, 40)));
}

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

Status Convert(simdjson::ondemand::value v, const Column& col, Value* out) {
  using simdjson::ondemand::json_type;
  json_type jt;
  if (v.type().get(jt)) return Status::InvalidArgument("field \"" + col.name + "\": malformed JSON value");
  if (jt == json_type::null) {
    *out = Value::Null();
    return Status::OK();
  }
  switch (col.type) {
    case DataType::kText: {
      if (jt == json_type::string) {
        std::string_view s;
        if (v.get_string().get(s)) return Status::InvalidArgument("field \"" + col.name + "\": bad string");
        *out = Value::Text(std::string(s));
      } else {
        std::string_view raw = v.raw_json_token();
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\t' || raw.back() == '\r'))
          raw.remove_suffix(1);
        std::string_view whole;
        bool bad = false;
        if (jt == json_type::object) {
          simdjson::ondemand::object o;
          bad = v.get_object().get(o) || o.raw_json().get(whole);
          raw = whole;
        } else if (jt == json_type::array) {
          simdjson::ondemand::array a;
          bad = v.get_array().get(a) || a.raw_json().get(whole);
          raw = whole;
        }
        if (bad) return Status::InvalidArgument("field \"" + col.name + "\": bad JSON");
        *out = Value::Text(std::string(raw));
      }
      return Status::OK();
    }
    case DataType::kInt64: {
      if (jt == json_type::number) {
        int64_t i;
        if (!v.get_int64().get(i)) {
          *out = Value::Int(i);
          return Status::OK();
        }
        double d;
        if (!v.get_double().get(d) && std::floor(d) == d && std::fabs(d) < 9.2e18) {
          *out = Value::Int(static_cast<int64_t>(d));
          return Status::OK();
        }
      } else if (jt == json_type::string) {
        std::string_view s;
        int64_t i;
        if (!v.get_string().get(s) && ParseNumber(s, &i)) {
          *out = Value::Int(i);
          return Status::OK();
        }
      }
      return FieldError(col.name, col.type, v.raw_json_token());
    }
    case DataType::kFloat64: {
      double d;
      if (jt == json_type::number && !v.get_double().get(d)) {
        *out = Value::Float(d);
        return Status::OK();
      }
      std::string_view s;
      if (jt == json_type::string && !v.get_string().get(s) && ParseNumber(s, &d)) {
        *out = Value::Float(d);
        return Status::OK();
      }
      return FieldError(col.name, col.type, v.raw_json_token());
    }
    case DataType::kBool: {
      bool b;
      if (jt == json_type::boolean && !v.get_bool().get(b)) {
        *out = Value::Bool(b);
        return Status::OK();
      }
      return FieldError(col.name, col.type, v.raw_json_token());
    }
    case DataType::kTimestamp: {
      if (jt == json_type::string) {
        std::string_view s;
        if (v.get_string().get(s)) return FieldError(col.name, col.type, "a bad string");
        auto t = ParseTimestamp(s);
        if (!t.ok()) return Status::InvalidArgument("field \"" + col.name + "\": " + t.status().message());
        *out = Value::Time(*t);
        return Status::OK();
      }
      if (jt == json_type::number) {
        int64_t ms;
        double d;
        if (!v.get_int64().get(ms)) {
          if (!EventTime::InMillisRange(ms)) return FieldError(col.name, col.type, "an out-of-range number");
          *out = Value::Time(EventTime::FromMillis(ms));
          return Status::OK();
        }
        if (!v.get_double().get(d) && std::isfinite(d) && std::fabs(d) < 9e15) {
          *out = Value::Time(EventTime{static_cast<int64_t>(d * 1000)});
          return Status::OK();
        }
      }
      return FieldError(col.name, col.type, v.raw_json_token());
    }
    case DataType::kNull: *out = Value::Null(); return Status::OK();
  }
  return Status::Internal("unknown column type");
}

}  // namespace

Status JsonDecoder::DecodeOne(std::string_view payload, Row* row) {
  Impl& m = *impl_;
  row->assign(m.schema.size(), Value::Null());
  m.buf.assign(payload);
  m.buf.resize(payload.size() + simdjson::SIMDJSON_PADDING);
  simdjson::ondemand::document doc;
  if (m.parser.iterate(m.buf.data(), payload.size(), m.buf.size()).get(doc))
    return Status::InvalidArgument("not JSON");
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return Status::InvalidArgument("payload is not a JSON object");
  for (auto field_result : obj) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field)) return Status::InvalidArgument("malformed JSON object");
    std::string_view key;
    if (field.unescaped_key().get(key)) return Status::InvalidArgument("malformed JSON key");
    auto it = m.columns.find(std::string(key));
    if (it == m.columns.end()) continue;
    const Column& col = m.schema[static_cast<size_t>(it->second)];
    SLUICE_RETURN_IF_ERROR(Convert(field.value(), col, &(*row)[static_cast<size_t>(it->second)]));
  }
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing)) return Status::InvalidArgument("trailing bytes after the JSON object");
  if (m.required >= 0 && (*row)[static_cast<size_t>(m.required)].is_null())
    return Status::InvalidArgument("event-time field \"" + m.schema[static_cast<size_t>(m.required)].name +
                                   "\" is missing or null");
  return Status::OK();
}

void JsonDecoder::DecodeBatch(const std::vector<SourceRecord>& in, std::vector<Row>* rows,
                              std::vector<size_t>* row_index, std::vector<DecodeError>* errors) {
  rows->clear();
  row_index->clear();
  errors->clear();
  Row row;
  for (size_t i = 0; i < in.size(); ++i) {
    Status st = DecodeOne(in[i].data, &row);
    if (st.ok()) {
      rows->push_back(std::move(row));
      row_index->push_back(i);
    } else {
      errors->push_back({i, st.message()});
    }
  }
}

}  // namespace sluice::ingest
