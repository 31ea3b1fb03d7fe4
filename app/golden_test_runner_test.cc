// Tests of the golden test kit itself: that it passes what matches, and that every kind of
// mismatch fails with a readable diff (a kit that always passes would prove nothing).
#include "app/golden_test_runner.h"

#include <doctest/doctest.h>

#include <string>

using sluice::app::GoldenOptions;
using sluice::app::RunGoldenText;

namespace {

constexpr const char* kPipeline = R"(pipeline
CREATE TABLE t (k TEXT, ts TIMESTAMPTZ, x FLOAT8) WITH (connector = 'stream', shards = 2, event_time = 'ts');
CREATE TABLE out () WITH (connector = 'kv', primary_key = 'k');
INSERT INTO out SELECT k, count(*) AS n, sum(x) AS total FROM TUMBLE(t, ts, INTERVAL '1 minute') GROUP BY k;
----
events
0 {"k":"a","ts":"2026-01-01T00:00:01Z","x":0.1}
1 {"k":"a","ts":"2026-01-01T00:00:02Z","x":0.2}
1 {"k":"b|c","ts":"2026-01-01T00:00:03Z","x":1}
flush
----
)";

std::string Run(const std::string& expectations, bool* passed) {
  auto r = RunGoldenText("mem.sql.test", std::string(kPipeline) + expectations, GoldenOptions{});
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  *passed = r->passed;
  return r->report;
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("golden: matching rows pass, in any order, floats within tolerance, quoted cells") {
  bool passed = false;
  Run("expect out\nk | total | n\n\"b|c\" | 1 | 1\na | 0.30000000000000004 | 2\n----\n", &passed);
  CHECK(passed);
  Run("expect out\nn | k\n2 | a\n1 | \"b|c\"\n----\n", &passed);  // a subset of the columns
  CHECK(passed);
}

TEST_CASE("golden: a wrong value, a missing row and an extra row each fail with a diff") {
  bool passed = true;
  std::string report = Run("expect out\nk | n\na | 3\n\"b|c\" | 1\n----\n", &passed);
  CHECK_FALSE(passed);
  CHECK(Contains(report, "missing (expected, not produced):"));
  CHECK(Contains(report, "a | 3"));
  CHECK(Contains(report, "unexpected (produced, not expected):"));
  CHECK(Contains(report, "a | 2"));
  report = Run("expect out\nk | n\na | 2\n----\n", &passed);
  CHECK_FALSE(passed);
  CHECK(Contains(report, "expected 1 rows, got 2"));
  report = Run("expect out\nk | n\na | 2\n\"b|c\" | 1\nz | 1\n----\n", &passed);
  CHECK_FALSE(passed);
  CHECK(Contains(report, "z | 1"));
  report = Run("expect out\nk | total\na | 0.31\n\"b|c\" | 1\n----\n", &passed);
  CHECK_FALSE(passed);
  report = Run("expect out\n----\n", &passed);
  CHECK_FALSE(passed);
  CHECK(Contains(report, "expected no rows, got 2"));
  report = Run("expect out\nk | nope\n----\n", &passed);
  CHECK_FALSE(passed);
  CHECK(Contains(report, "has no column 'nope'"));
  report = Run("expect nosuch\n----\n", &passed);
  CHECK_FALSE(passed);
  report = Run("expect late\n{}\n----\n", &passed);
  CHECK_FALSE(passed);
  CHECK(Contains(report, "expect late"));
}

TEST_CASE("golden: expected planning errors compare the leading lines exactly") {
  const std::string bad = "pipeline\nCREATE TABLE t (k TEXT) WITH (connector = 'stream', event_time = 'k');\n----\n";
  auto r = RunGoldenText("e.sql.test",
                         bad + "expect error\nline 1, column 53: event_time column \"k\" must be TIMESTAMPTZ, not TEXT\n----\n",
                         GoldenOptions{});
  REQUIRE(r.ok());
  CHECK(r->passed);
  r = RunGoldenText("e.sql.test", bad + "expect error\nline 1, column 54: event_time column\n----\n", GoldenOptions{});
  REQUIRE(r.ok());
  CHECK_FALSE(r->passed);
  CHECK(Contains(r->report, "the planning error differs"));
  // A pipeline that plans while an error is expected fails too.
  r = RunGoldenText("e.sql.test", std::string(kPipeline) + "expect error\nline 1\n----\n", GoldenOptions{});
  REQUIRE(r.ok());
  CHECK_FALSE(r->passed);
}

TEST_CASE("golden: malformed files are errors with the line") {
  auto r = RunGoldenText("m.sql.test", std::string(kPipeline), GoldenOptions{});
  CHECK_FALSE(r.ok());
  CHECK(Contains(r.status().message(), "no expect blocks"));
  r = RunGoldenText("m.sql.test", "pipeline\nCREATE TABLE t (k TEXT);\n", GoldenOptions{});
  CHECK(Contains(r.status().message(), "m.sql.test:1: this block has no closing line '----'"));
  r = RunGoldenText("m.sql.test", std::string(kPipeline) + "frobnicate\n", GoldenOptions{});
  CHECK(Contains(r.status().message(), "unknown directive 'frobnicate'"));
  r = RunGoldenText("m.sql.test",
                    std::string(kPipeline) + "events\n7 {\"k\":\"a\",\"ts\":\"2026-01-01T00:00:01Z\"}\n----\n"
                                             "expect out\n----\n",
                    GoldenOptions{});
  CHECK(Contains(r.status().message(), "m.sql.test:13: source t has 2 shards (0..1), not shard 7"));
  r = RunGoldenText("m.sql.test", std::string(kPipeline) + "events\nadvance soon\n----\nexpect out\n----\n",
                    GoldenOptions{});
  CHECK(Contains(r.status().message(), "advance needs an interval"));
}
