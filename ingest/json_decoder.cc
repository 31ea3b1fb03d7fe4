#include "ingest/json_decoder.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_map>

namespace sluice::ingest {

struct JsonDecoder::Impl {
  Schema schema;
  int required = -1;
  std::unordered_map<std::string, int> columns;
  simdjson::ondemand::parser parser;
  // The payload copied with simdjson's padding; grows, never shrinks (no allocation per record).
  std::unique_ptr<char[]> buf;
  size_t buf_capacity = 0;
  // Field-order prediction: the key and column (-1: ignored) of the k-th field of the last record.
  // Producers send fields in the same order every time, so most lookups are one memcmp.
  std::vector<std::string> predicted_key;
  std::vector<int> predicted_column;
  // Columns set by the current record (generation stamp per column; no clearing per record).
  std::vector<uint32_t> seen;
  uint32_t stamp = 0;

  int Lookup(std::string_view key) const {
    auto it = columns.find(std::string(key));
    return it == columns.end() ? -1 : it->second;
  }
};

JsonDecoder::JsonDecoder(Schema schema, int required_column) : impl_(std::make_unique<Impl>()) {
  impl_->schema = std::move(schema);
  impl_->required = required_column;
  for (size_t i = 0; i < impl_->schema.size(); ++i) impl_->columns.emplace(impl_->schema[i].name, static_cast<int>(i));
  impl_->seen.assign(impl_->schema.size(), 0);
}

JsonDecoder::~JsonDecoder() = default;

void JsonDecoder::SetNeededColumns(const std::vector<bool>& needed) {
  Impl& m = *impl_;
  m.columns.clear();
  for (size_t i = 0; i < m.schema.size(); ++i) {
    const bool keep = i >= needed.size() || needed[i] || static_cast<int>(i) == m.required;
    if (keep) m.columns.emplace(m.schema[i].name, static_cast<int>(i));
  }
  m.predicted_key.clear();
  m.predicted_column.clear();
}

const char* JsonDecoder::SimdjsonImplementation() {
  static const std::string name = simdjson::get_active_implementation()->name();
  return name.c_str();
}

namespace {

Status FieldError(const std::string& name, DataType t, std::string_view got) {
  return Status::InvalidArgument("field \"" + name + "\": expected " + DataTypeName(t) + ", got " +
                                 std::string(got.substr(0, 40)));
}

// The common shapes of RFC 3339 / PostgreSQL timestamps in UTC, parsed without ParseTimestamp's
// generality: "YYYY-MM-DD[T ]HH:MM:SS[.fff][Z]" (milliseconds only). Returns false for anything
// else, including days past the 28th (month lengths) and leap seconds, which ParseTimestamp then
// handles, so results are identical.
bool FastTimestamp(std::string_view s, EventTime* out) {
  const size_t n = s.size();
  if (n != 19 && n != 20 && n != 23 && n != 24) return false;
  const char* p = s.data();
  auto d = [p](size_t i) { return static_cast<unsigned>(p[i] - '0'); };
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18})
    if (d(i) > 9) return false;
  if (p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != ' ') || p[13] != ':' || p[16] != ':') return false;
  unsigned ms = 0;
  size_t end = 19;
  if (n >= 23) {
    if (p[19] != '.' || d(20) > 9 || d(21) > 9 || d(22) > 9) return false;
    ms = d(20) * 100 + d(21) * 10 + d(22);
    end = 23;
  }
  if (n == end + 1) {
    if (p[end] != 'Z') return false;
  } else if (n != end) {
    return false;
  }
  const unsigned year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3), month = d(5) * 10 + d(6), day = d(8) * 10 + d(9);
  const unsigned hour = d(11) * 10 + d(12), minute = d(14) * 10 + d(15), second = d(17) * 10 + d(18);
  if (month < 1 || month > 12 || day < 1 || day > 28 || hour > 23 || minute > 59 || second > 59) return false;
  const int64_t days = DaysFromCivil(year, month, day);
  const int64_t secs = days * 86400 + int64_t{hour} * 3600 + int64_t{minute} * 60 + second;
  *out = EventTime{secs * 1'000'000 + static_cast<int64_t>(ms) * 1000};
  return true;
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
        out->SetText(s);
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
        out->SetText(raw);
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
        EventTime fast;
        if (FastTimestamp(s, &fast)) {
          *out = Value::Time(fast);
          return Status::OK();
        }
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
  const size_t ncols = m.schema.size();
  if (row->size() != ncols) row->resize(ncols);
  if (++m.stamp == 0) {  // wrapped: forget old stamps
    std::fill(m.seen.begin(), m.seen.end(), 0);
    m.stamp = 1;
  }
  const size_t need = payload.size() + simdjson::SIMDJSON_PADDING;
  if (need > m.buf_capacity) {
    m.buf_capacity = std::max(need, 2 * m.buf_capacity);
    m.buf = std::make_unique<char[]>(m.buf_capacity);
  }
  if (!payload.empty()) std::memcpy(m.buf.get(), payload.data(), payload.size());
  std::memset(m.buf.get() + payload.size(), 0, simdjson::SIMDJSON_PADDING);
  Status st = DecodeFields(payload.size(), row);
  // Columns the record did not set are NULL (also after a failure, so the row is never stale).
  for (size_t c = 0; c < ncols; ++c)
    if (m.seen[c] != m.stamp) (*row)[c] = Value::Null();
  SLUICE_RETURN_IF_ERROR(st);
  if (m.required >= 0 && (*row)[static_cast<size_t>(m.required)].is_null())
    return Status::InvalidArgument("event-time field \"" + m.schema[static_cast<size_t>(m.required)].name +
                                   "\" is missing or null");
  return Status::OK();
}

Status JsonDecoder::DecodeFields(size_t length, Row* row) {
  Impl& m = *impl_;
  simdjson::ondemand::document doc;
  if (m.parser.iterate(m.buf.get(), length, m.buf_capacity).get(doc)) return Status::InvalidArgument("not JSON");
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return Status::InvalidArgument("payload is not a JSON object");
  const char* const buf_end = m.buf.get() + length;
  size_t k = 0;
  for (auto field_result : obj) {
    simdjson::ondemand::field field;
    if (std::move(field_result).get(field)) return Status::InvalidArgument("malformed JSON object");
    // The raw key (between the quotes in the buffer); keys with escapes take the slow path.
    const char* raw = field.key().raw();
    const char* end = raw && raw < buf_end
                          ? static_cast<const char*>(std::memchr(raw, '"', static_cast<size_t>(buf_end - raw)))
                          : nullptr;
    std::string_view key;
    const bool escaped = !end || std::memchr(raw, '\\', static_cast<size_t>(end - raw)) != nullptr;
    if (escaped) {
      if (field.unescaped_key().get(key)) return Status::InvalidArgument("malformed JSON key");
    } else {
      key = std::string_view(raw, static_cast<size_t>(end - raw));
    }
    int column;
    if (!escaped && k < m.predicted_key.size() && m.predicted_key[k] == key) {
      column = m.predicted_column[k];
    } else {
      column = m.Lookup(key);
      if (!escaped) {
        if (k >= m.predicted_key.size()) {
          m.predicted_key.resize(k + 1);
          m.predicted_column.resize(k + 1, -1);
        }
        m.predicted_key[k].assign(key);
        m.predicted_column[k] = column;
      }
    }
    ++k;
    if (column < 0) continue;
    const size_t c = static_cast<size_t>(column);
    SLUICE_RETURN_IF_ERROR(Convert(field.value(), m.schema[c], &(*row)[c]));
    m.seen[c] = m.stamp;
  }
  const char* trailing = nullptr;
  if (!doc.current_location().get(trailing)) return Status::InvalidArgument("trailing bytes after the JSON object");
  return Status::OK();
}

void JsonDecoder::DecodeBatch(const std::vector<SourceRecord>& in, std::vector<Row>* rows,
                              std::vector<size_t>* row_index, std::vector<DecodeError>* errors) {
  // Rows already in `rows` are overwritten in place, so a caller that passes the same vector
  // every batch decodes without allocating (TEXT values keep their capacity).
  row_index->clear();
  errors->clear();
  if (rows->size() < in.size()) rows->resize(in.size());
  size_t n = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    Status st = DecodeOne(in[i].data, &(*rows)[n]);
    if (st.ok()) {
      row_index->push_back(i);
      ++n;
    } else {
      errors->push_back({i, st.message()});
    }
  }
  rows->resize(n);
}

}  // namespace sluice::ingest
