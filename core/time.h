// Event time and durations.
//
// EventTime is a point on the event-time axis in microseconds since the Unix epoch (UTC).
// Durations are std::chrono::microseconds. Parsing and formatting follow ISO 8601 / RFC 3339
// and PostgreSQL interval text ('5 seconds', '1 minute', '00:01:00').
// Thread-safety: all functions are pure and thread-safe.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

using Duration = std::chrono::microseconds;

/// A timestamp on the event-time axis. Unit: microseconds since 1970-01-01T00:00:00Z.
struct EventTime {
  int64_t micros = 0;

  static constexpr EventTime Min() { return {std::numeric_limits<int64_t>::min()}; }
  static constexpr EventTime Max() { return {std::numeric_limits<int64_t>::max()}; }
  /// REQUIRES: |ms| < 9.2e15 (about ±290,000 years), so the microseconds fit; callers with
  /// untrusted input check with InMillisRange() first.
  static EventTime FromMillis(int64_t ms) { return {ms * 1000}; }
  static constexpr bool InMillisRange(int64_t ms) { return ms > -9'200'000'000'000'000 && ms < 9'200'000'000'000'000; }
  int64_t millis() const { return micros / 1000; }

  friend auto operator<=>(const EventTime&, const EventTime&) = default;
  EventTime operator+(Duration d) const { return {micros + d.count()}; }
  EventTime operator-(Duration d) const { return {micros - d.count()}; }
  Duration operator-(EventTime o) const { return Duration(micros - o.micros); }
};

/// Wall-clock now, as an EventTime (used for arrival timestamps and idle detection).
EventTime WallNow();

/// Parses an RFC 3339 / ISO 8601 timestamp or PostgreSQL's 'YYYY-MM-DD HH:MM:SS[.ffffff][Z|±HH[:MM]]'.
/// No offset means UTC. Accepts a bare date ('2026-11-21') as midnight UTC.
/// Errors: InvalidArgument when the text is not such a timestamp or a field is out of range.
Result<EventTime> ParseTimestamp(std::string_view text);

/// Formats as RFC 3339 in UTC with millisecond precision: "2026-11-21T10:22:00.000Z".
/// Microsecond precision is printed when the value has sub-millisecond digits.
std::string FormatTimestamp(EventTime t);

/// Parses a PostgreSQL-style interval: '<n> <unit>' terms ('1 minute', '2 hours 30 minutes',
/// '500 ms') with units microsecond(s)/us, millisecond(s)/ms, second(s)/s/sec, minute(s)/min/m,
/// hour(s)/h, day(s)/d; or 'HH:MM:SS[.fff]'.
/// Errors: InvalidArgument for empty text, an unknown unit or a negative result.
Result<Duration> ParseInterval(std::string_view text);

/// Formats a duration for people: "5s", "1m", "250ms", "1h30m".
std::string FormatDuration(Duration d);

/// Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12, d 1..31; negative before
/// 1970). Source: H. Hinnant, "chrono-Compatible Low-Level Date Algorithms" (days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);

/// The inverse of DaysFromCivil: the date `days` after 1970-01-01.
void CivilFromDays(int64_t days, int64_t* y, unsigned* m, unsigned* d);

/// Floors `t` to a multiple of `size` (sizes > 0), correct for negative times.
inline EventTime FloorTo(EventTime t, Duration size) {
  int64_t s = size.count();
  int64_t q = t.micros / s;
  if (t.micros % s < 0) --q;
  return {q * s};
}

}  // namespace sluice
