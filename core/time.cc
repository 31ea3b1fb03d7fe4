#include "core/time.h"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace sluice {

// Howard Hinnant's algorithms ("chrono-Compatible Low-Level Date Algorithms"), written out here.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

namespace {

bool ReadInt(std::string_view s, size_t* pos, size_t digits, int* out) {
  if (*pos + digits > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < digits; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += digits;
  *out = v;
  return true;
}

}  // namespace

EventTime WallNow() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return {std::chrono::duration_cast<std::chrono::microseconds>(now).count()};
}

Result<EventTime> ParseTimestamp(std::string_view s) {
  auto bad = [&] { return Status::InvalidArgument("not a timestamp: '" + std::string(s.substr(0, 64)) + "'"); };
  size_t p = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (!ReadInt(s, &p, 4, &y) || p >= s.size() || s[p++] != '-' || !ReadInt(s, &p, 2, &mo) ||
      p >= s.size() || s[p++] != '-' || !ReadInt(s, &p, 2, &d))
    return bad();
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return bad();
  int64_t frac_us = 0;
  int64_t offset_s = 0;
  if (p < s.size()) {
    if (s[p] != 'T' && s[p] != 't' && s[p] != ' ') return bad();
    ++p;
    if (!ReadInt(s, &p, 2, &h) || p >= s.size() || s[p++] != ':' || !ReadInt(s, &p, 2, &mi)) return bad();
    if (p < s.size() && s[p] == ':') {
      ++p;
      if (!ReadInt(s, &p, 2, &se)) return bad();
    }
    if (h > 23 || mi > 59 || se > 60) return bad();
    if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
      ++p;
      int64_t scale = 100000;
      size_t start = p;
      while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) {
        if (scale > 0) frac_us += (s[p] - '0') * scale;
        scale /= 10;
        ++p;
      }
      if (p == start) return bad();
    }
    while (p < s.size() && s[p] == ' ') ++p;
    if (p < s.size()) {
      char c = s[p];
      if (c == 'Z' || c == 'z') {
        ++p;
      } else if (c == '+' || c == '-') {
        ++p;
        int oh = 0, om = 0;
        if (!ReadInt(s, &p, 2, &oh)) return bad();
        if (p < s.size() && s[p] == ':') ++p;
        if (p < s.size()) {
          if (!ReadInt(s, &p, 2, &om)) return bad();
        }
        if (oh > 23 || om > 59) return bad();
        offset_s = (oh * 3600 + om * 60) * (c == '+' ? 1 : -1);
      } else {
        return bad();
      }
    }
    if (p != s.size()) return bad();
  }
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
  return EventTime{secs * 1000000 + frac_us};
}

std::string FormatTimestamp(EventTime t) {
  int64_t us = t.micros;
  int64_t secs = us / 1000000;
  int64_t rem = us % 1000000;
  if (rem < 0) {
    rem += 1000000;
    --secs;
  }
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --days;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[48];
  if (rem % 1000 == 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03lldZ", static_cast<long long>(y), m, d,
                  static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60),
                  static_cast<long long>(rem / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<long long>(y), m, d,
                  static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60),
                  static_cast<long long>(rem));
  }
  return buf;
}

Result<Duration> ParseInterval(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("bad interval '" + std::string(text) + "': " + why);
  };
  std::string_view s = text;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) return bad("empty");
  if (s.find(':') != std::string_view::npos) {
    auto r = ParseTimestamp("1970-01-01 " + std::string(s));
    if (!r.ok()) return bad("expected HH:MM:SS");
    return Duration(r->micros);
  }
  int64_t total = 0;
  size_t p = 0;
  bool any = false;
  while (p < s.size()) {
    while (p < s.size() && s[p] == ' ') ++p;
    if (p >= s.size()) break;
    size_t start = p;
    while (p < s.size() && (std::isdigit(static_cast<unsigned char>(s[p])) || s[p] == '.')) ++p;
    if (p == start) return bad("expected a number");
    double n = 0;
    auto [ptr, ec] = std::from_chars(s.data() + start, s.data() + p, n);
    if (ec != std::errc() || ptr != s.data() + p) return bad("bad number");
    while (p < s.size() && s[p] == ' ') ++p;
    size_t us = p;
    while (p < s.size() && std::isalpha(static_cast<unsigned char>(s[p]))) ++p;
    std::string unit(s.substr(us, p - us));
    for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    double mult;
    if (unit == "us" || unit == "microsecond" || unit == "microseconds") mult = 1;
    else if (unit == "ms" || unit == "millisecond" || unit == "milliseconds") mult = 1e3;
    else if (unit == "s" || unit == "sec" || unit == "secs" || unit == "second" || unit == "seconds") mult = 1e6;
    else if (unit == "m" || unit == "min" || unit == "mins" || unit == "minute" || unit == "minutes") mult = 60e6;
    else if (unit == "h" || unit == "hour" || unit == "hours") mult = 3600e6;
    else if (unit == "d" || unit == "day" || unit == "days") mult = 86400e6;
    else return bad("unknown unit '" + unit + "'");
    const double micros = n * mult + 0.5;
    if (!(micros < 9.2e18) || static_cast<double>(total) + micros >= 9.2e18) return bad("too large");
    total += static_cast<int64_t>(micros);
    any = true;
  }
  if (!any) return bad("no value");
  return Duration(total);
}

std::string FormatDuration(Duration d) {
  int64_t us = d.count();
  if (us == 0) return "0s";
  if (us % 1000 != 0) return std::to_string(us) + "us";
  if (us % 1000000 != 0) return std::to_string(us / 1000) + "ms";
  int64_t s = us / 1000000;
  std::string out;
  if (s >= 3600) { out += std::to_string(s / 3600) + "h"; s %= 3600; }
  if (s >= 60) { out += std::to_string(s / 60) + "m"; s %= 60; }
  if (s > 0) out += std::to_string(s) + "s";
  return out;
}

}  // namespace sluice
