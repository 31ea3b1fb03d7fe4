#include "core/time.h"

#include <doctest/doctest.h>

using namespace sluice;

TEST_CASE("timestamps parse in RFC 3339 and PostgreSQL forms") {
  auto t = ParseTimestamp("2017-11-29T21:05:30.123Z");
  REQUIRE(t.ok());
  CHECK(t->micros == 1511989530123000LL);
  CHECK(ParseTimestamp("2017-11-29 21:05:30.123")->micros == 1511989530123000LL);
  CHECK(ParseTimestamp("2017-11-29T23:05:30.123+02:00")->micros == 1511989530123000LL);
  CHECK(ParseTimestamp("1970-01-01")->micros == 0);
  CHECK(ParseTimestamp("1969-12-31T23:59:59Z")->micros == -1000000);
  CHECK(FormatTimestamp(EventTime{1511989530123000LL}) == "2017-11-29T21:05:30.123Z");
  CHECK(FormatTimestamp(EventTime{-1000000}) == "1969-12-31T23:59:59.000Z");
  CHECK(FormatTimestamp(EventTime{1500}) == "1970-01-01T00:00:00.001500Z");
}

TEST_CASE("bad timestamps are rejected, not misread") {
  for (const char* s : {"", "2017", "2017-13-01", "2017-11-29X10:00", "2017-11-29T25:00:00", "abc",
                        "2017-11-29T10:00:00.Z", "2017-11-29T10:00:00+"}) {
    INFO(s);
    CHECK_FALSE(ParseTimestamp(s).ok());
  }
}

TEST_CASE("intervals") {
  CHECK(ParseInterval("5 seconds")->count() == 5000000);
  CHECK(ParseInterval("1 minute")->count() == 60000000);
  CHECK(ParseInterval("2 hours 30 minutes")->count() == 9000000000LL);
  CHECK(ParseInterval("250 ms")->count() == 250000);
  CHECK(ParseInterval("00:01:00")->count() == 60000000);
  CHECK_FALSE(ParseInterval("").ok());
  CHECK_FALSE(ParseInterval("5 parsecs").ok());
  CHECK(FormatDuration(Duration(90000000)) == "1m30s");
}

TEST_CASE("FloorTo handles negative times") {
  CHECK(FloorTo(EventTime{125}, Duration(60)).micros == 120);
  CHECK(FloorTo(EventTime{-1}, Duration(60)).micros == -60);
  CHECK(FloorTo(EventTime{-60}, Duration(60)).micros == -60);
}

TEST_CASE("huge intervals are errors, not overflow") {
  CHECK_FALSE(ParseInterval("99999999999999 days").ok());
  CHECK_FALSE(ParseInterval("1e300 seconds").ok());
  CHECK(ParseInterval("3650 days").ok());
  CHECK(EventTime::InMillisRange(1767225600000));
  CHECK_FALSE(EventTime::InMillisRange(INT64_MAX));
}
