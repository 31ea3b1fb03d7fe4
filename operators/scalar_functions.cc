#include "operators/scalar_functions.h"

#include <cctype>
#include <cmath>
#include <string>
#include <vector>

namespace sluice::ops {
namespace {

// --- JSON member access -----------------------------------------------------------------------

size_t SkipBlanks(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

// End of the string starting at s[i] == '"' (one past the closing quote), or npos.
size_t SkipString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// End of the JSON value starting at s[i], or npos. Nesting is counted, not recursed.
size_t SkipJsonValue(std::string_view s, size_t i) {
  if (i >= s.size()) return std::string_view::npos;
  if (s[i] == '"') return SkipString(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int64_t depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = SkipString(s, i);
        if (i == std::string_view::npos) return i;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') --depth;
      ++i;
      if (depth == 0) return i;
    }
    return std::string_view::npos;
  }
  const size_t start = i;  // number, true, false, null
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
         s[i] != '\n' && s[i] != '\r') {
    ++i;
  }
  return i > start ? i : std::string_view::npos;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool Hex4(std::string_view s, size_t i, uint32_t* v) {
  if (i + 4 > s.size()) return false;
  *v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    const char c = s[k];
    uint32_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    *v = *v * 16 + d;
  }
  return true;
}

// The text of JSON string literal `lit` (with its quotes); false when an escape is malformed.
bool UnescapeJsonString(std::string_view lit, std::string* out) {
  out->clear();
  for (size_t i = 1; i + 1 < lit.size(); ++i) {
    const char c = lit[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i + 1 > lit.size() - 1) return false;
    switch (lit[i]) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        uint32_t cp;
        if (!Hex4(lit, i + 1, &cp)) return false;
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < lit.size() && lit[i + 1] == '\\' && lit[i + 2] == 'u') {
          uint32_t lo;
          if (Hex4(lit, i + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        AppendUtf8(cp, out);
        break;
      }
      default: return false;
    }
  }
  return true;
}


constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Length of the UTF-8 sequence starting at s[i]; 1 for invalid bytes so scanning always advances.
size_t CharLen(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

bool SameChar(std::string_view a, size_t ai, size_t an, std::string_view b, size_t bi, size_t bn, bool ci) {
  if (an != bn) return false;
  for (size_t k = 0; k < an; ++k) {
    char x = a[ai + k], y = b[bi + k];
    if (ci) {
      x = static_cast<char>(std::tolower(static_cast<unsigned char>(x)));
      y = static_cast<char>(std::tolower(static_cast<unsigned char>(y)));
    }
    if (x != y) return false;
  }
  return true;
}

int64_t CodePoints(std::string_view s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); i += CharLen(s, i)) ++n;
  return n;
}

// Byte offset of character `chars` (0-based), clamped to s.size().
size_t ByteOffsetOfChar(std::string_view s, int64_t chars) {
  size_t i = 0;
  for (int64_t c = 0; c < chars && i < s.size(); ++c) i += CharLen(s, i);
  return i;
}

Value Substring(const Value* args, size_t n) {
  const std::string& s = args[0].as_text();
  int64_t start = args[1].as_int();
  // PostgreSQL: characters [start, start + count) intersected with [1, length].
  int64_t end = INT64_MAX;
  if (n >= 3) {
    int64_t count = args[2].as_int();
    if (count < 0) return Value::Null();
    if (__builtin_add_overflow(start, count, &end)) end = INT64_MAX;
  }
  int64_t first = std::max<int64_t>(start, 1);
  if (end <= first) return Value::Text("");
  size_t from = ByteOffsetOfChar(s, first - 1);
  size_t to = end == INT64_MAX ? s.size() : ByteOffsetOfChar(s, end - 1);
  if (to <= from) return Value::Text("");
  return Value::Text(s.substr(from, to - from));
}

double RoundHalfAway(double x) { return std::round(x); }

Value Round(const Value* args, size_t n) {
  int64_t digits = n >= 2 ? args[1].as_int() : 0;
  if (args[0].type() == DataType::kInt64) {
    int64_t v = args[0].as_int();
    if (digits >= 0) return Value::Int(v);
    if (digits < -18) return Value::Int(0);
    int64_t p = 1;
    for (int64_t i = 0; i < -digits; ++i) p *= 10;
    int64_t q = v / p, r = v % p;
    if (2 * (r < 0 ? -r : r) >= p) q += v < 0 ? -1 : 1;
    int64_t out = 0;
    if (__builtin_mul_overflow(q, p, &out)) return Value::Null();
    return Value::Int(out);
  }
  double x = args[0].as_float();
  if (digits == 0) return Value::Float(RoundHalfAway(x));
  if (digits > 300 || digits < -300) return Value::Float(digits > 0 ? x : 0.0);
  double p = std::pow(10.0, static_cast<double>(digits));
  double scaled = x * p;
  if (!std::isfinite(scaled)) return Value::Float(x);
  return Value::Float(RoundHalfAway(scaled) / p);
}

}  // namespace

EventTime DateTrunc(TimeField unit, EventTime t) {
  auto floor_to = [&](int64_t step) { return EventTime{FloorDiv(t.micros, step) * step}; };
  switch (unit) {
    case TimeField::kMicrosecond: return t;
    case TimeField::kMillisecond: return floor_to(1000);
    case TimeField::kSecond: return floor_to(kMicrosPerSecond);
    case TimeField::kMinute: return floor_to(60 * kMicrosPerSecond);
    case TimeField::kHour: return floor_to(3600 * kMicrosPerSecond);
    case TimeField::kDay: return floor_to(kMicrosPerDay);
    case TimeField::kWeek: {
      // 1970-01-01 was a Thursday; Mondays are days ≡ 4 (mod 7).
      int64_t days = FloorDiv(t.micros, kMicrosPerDay);
      int64_t monday = FloorDiv(days + 3, 7) * 7 - 3;
      return EventTime{monday * kMicrosPerDay};
    }
    case TimeField::kMonth:
    case TimeField::kQuarter:
    case TimeField::kYear: {
      int64_t y;
      unsigned m, d;
      CivilFromDays(FloorDiv(t.micros, kMicrosPerDay), &y, &m, &d);
      if (unit == TimeField::kQuarter) m = (m - 1) / 3 * 3 + 1;
      if (unit == TimeField::kYear) m = 1;
      return EventTime{DaysFromCivil(y, m, 1) * kMicrosPerDay};
    }
    default: return t;
  }
}

Value Extract(TimeField field, EventTime t) {
  const int64_t days = FloorDiv(t.micros, kMicrosPerDay);
  const int64_t micros_of_day = t.micros - days * kMicrosPerDay;
  const int64_t micros_of_minute = micros_of_day % (60 * kMicrosPerSecond);
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  const int64_t isodow = (((days + 3) % 7) + 7) % 7 + 1;  // 1970-01-01 was a Thursday (4)
  switch (field) {
    case TimeField::kMicrosecond: return Value::Int(micros_of_minute);
    case TimeField::kMillisecond: return Value::Float(static_cast<double>(micros_of_minute) / 1000.0);
    case TimeField::kSecond: return Value::Float(static_cast<double>(micros_of_minute) / 1e6);
    case TimeField::kMinute: return Value::Int(micros_of_day / (60 * kMicrosPerSecond) % 60);
    case TimeField::kHour: return Value::Int(micros_of_day / (3600 * kMicrosPerSecond));
    case TimeField::kDay: return Value::Int(d);
    case TimeField::kMonth: return Value::Int(m);
    case TimeField::kQuarter: return Value::Int((m - 1) / 3 + 1);
    case TimeField::kYear: return Value::Int(y);
    case TimeField::kEpoch: return Value::Float(static_cast<double>(t.micros) / 1e6);
    case TimeField::kDow: return Value::Int(isodow % 7);
    case TimeField::kIsoDow: return Value::Int(isodow);
    case TimeField::kDoy: return Value::Int(days - DaysFromCivil(y, 1, 1) + 1);
    case TimeField::kWeek: {
      // ISO 8601 week: the week (Monday..Sunday) belongs to the year of its Thursday.
      int64_t thursday = days - (isodow - 4);
      int64_t ty;
      unsigned tm, td;
      CivilFromDays(thursday, &ty, &tm, &td);
      return Value::Int((thursday - DaysFromCivil(ty, 1, 1)) / 7 + 1);
    }
  }
  return Value::Null();
}

bool LikeMatch(std::string_view text, std::string_view pattern, bool ci) {
  size_t ti = 0, pi = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (ti < text.size()) {
    if (pi < pattern.size()) {
      char c = pattern[pi];
      if (c == '%') {
        star_p = ++pi;
        star_t = ti;
        continue;
      }
      if (c == '_') {
        ti += CharLen(text, ti);
        ++pi;
        continue;
      }
      size_t lit = pi;
      if (c == '\\' && pi + 1 < pattern.size()) lit = pi + 1;
      size_t pn = CharLen(pattern, lit);
      size_t tn = CharLen(text, ti);
      if (SameChar(pattern, lit, pn, text, ti, tn, ci)) {
        pi = lit + pn;
        ti += tn;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    // Backtrack: let the last '%' absorb one more character.
    star_t += CharLen(text, star_t);
    ti = star_t;
    pi = star_p;
  }
  while (pi < pattern.size() && pattern[pi] == '%') ++pi;
  return pi == pattern.size();
}

Value JsonGet(std::string_view json, const Value& key, bool as_text) {
  if (key.is_null()) return Value::Null();
  size_t i = SkipBlanks(json, 0);
  if (i >= json.size()) return Value::Null();
  std::string_view found;
  bool have = false;
  std::string name;
  if (json[i] == '{' && key.type() == DataType::kText) {
    i = SkipBlanks(json, i + 1);
    if (i < json.size() && json[i] == '}') return Value::Null();
    while (i < json.size() && json[i] == '"') {
      const size_t key_end = SkipString(json, i);
      if (key_end == std::string_view::npos) return Value::Null();
      const std::string_view lit = json.substr(i, key_end - i);
      i = SkipBlanks(json, key_end);
      if (i >= json.size() || json[i] != ':') return Value::Null();
      i = SkipBlanks(json, i + 1);
      const size_t value_end = SkipJsonValue(json, i);
      if (value_end == std::string_view::npos) return Value::Null();
      const bool plain = lit.find('\\') == std::string_view::npos;
      if (plain ? lit.substr(1, lit.size() - 2) == key.as_text()
                : UnescapeJsonString(lit, &name) && name == key.as_text()) {
        found = json.substr(i, value_end - i);  // keep scanning: the last duplicate wins
        have = true;
      }
      i = SkipBlanks(json, value_end);
      if (i < json.size() && json[i] == ',') {
        i = SkipBlanks(json, i + 1);
        continue;
      }
      break;
    }
  } else if (json[i] == '[' && key.type() == DataType::kInt64) {
    std::vector<std::string_view> elements;
    i = SkipBlanks(json, i + 1);
    while (i < json.size() && json[i] != ']') {
      const size_t end = SkipJsonValue(json, i);
      if (end == std::string_view::npos) return Value::Null();
      elements.push_back(json.substr(i, end - i));
      i = SkipBlanks(json, end);
      if (i >= json.size() || json[i] != ',') break;
      i = SkipBlanks(json, i + 1);
    }
    int64_t index = key.as_int();
    const auto n = static_cast<int64_t>(elements.size());
    if (index < 0) index += n;
    if (index < 0 || index >= n) return Value::Null();
    found = elements[static_cast<size_t>(index)];
    have = true;
  }
  if (!have) return Value::Null();
  if (!as_text) return Value::Text(std::string(found));
  if (found == "null") return Value::Null();
  if (!found.empty() && found.front() == '"') {
    if (!UnescapeJsonString(found, &name)) return Value::Null();
    return Value::Text(std::move(name));
  }
  return Value::Text(std::string(found));
}

Value ApplyScalar(ScalarFn fn, const Value* args, size_t n) {
  if (fn == ScalarFn::kConcat) {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
      if (args[i].is_null()) continue;
      if (args[i].type() == DataType::kText) {
        out += args[i].as_text();
      } else {
        out += args[i].ToString();
      }
    }
    return Value::Text(std::move(out));
  }
  for (size_t i = 0; i < n; ++i) {
    if (args[i].is_null()) return Value::Null();
  }
  switch (fn) {
    case ScalarFn::kLower:
    case ScalarFn::kUpper: {
      std::string s = args[0].as_text();
      for (char& c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        c = static_cast<char>(fn == ScalarFn::kLower ? std::tolower(u) : std::toupper(u));
      }
      return Value::Text(std::move(s));
    }
    case ScalarFn::kLength: return Value::Int(CodePoints(args[0].as_text()));
    case ScalarFn::kSubstring: return Substring(args, n);
    case ScalarFn::kJsonGet:
    case ScalarFn::kJsonGetText: return JsonGet(args[0].as_text(), args[1], fn == ScalarFn::kJsonGetText);
    case ScalarFn::kConcatOp: {
      std::string s = args[0].type() == DataType::kText ? args[0].as_text() : args[0].ToString();
      s += args[1].type() == DataType::kText ? args[1].as_text() : args[1].ToString();
      return Value::Text(std::move(s));
    }
    case ScalarFn::kAbs:
      if (args[0].type() == DataType::kInt64) {
        int64_t v = args[0].as_int();
        if (v == INT64_MIN) return Value::Null();
        return Value::Int(v < 0 ? -v : v);
      }
      return Value::Float(std::fabs(args[0].as_float()));
    case ScalarFn::kRound: return Round(args, n);
    case ScalarFn::kFloor:
    case ScalarFn::kCeil:
      if (args[0].type() == DataType::kInt64) return args[0];
      return Value::Float(fn == ScalarFn::kFloor ? std::floor(args[0].as_float()) : std::ceil(args[0].as_float()));
    case ScalarFn::kSqrt: {
      double x = args[0].ToDouble();
      if (x < 0) return Value::Null();
      return Value::Float(std::sqrt(x));
    }
    case ScalarFn::kDateTrunc:
      return Value::Time(DateTrunc(static_cast<TimeField>(args[0].as_int()), args[1].as_time()));
    case ScalarFn::kExtract: return Extract(static_cast<TimeField>(args[0].as_int()), args[1].as_time());
    case ScalarFn::kToTimestamp: {
      double micros = std::round(args[0].ToDouble() * 1e6);
      if (!std::isfinite(micros) || micros < -9.2e18 || micros > 9.2e18) return Value::Null();
      return Value::Time(EventTime{static_cast<int64_t>(micros)});
    }
    case ScalarFn::kNone:
    case ScalarFn::kILike:
    case ScalarFn::kConcat: break;
  }
  return Value::Null();
}

}  // namespace sluice::ops
