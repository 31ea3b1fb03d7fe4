#include "ingest/json_decoder.h"

#include <doctest/doctest.h>

using namespace sluice;
using namespace sluice::ingest;

TEST_CASE("workshop payloads decode into typed rows") {
  Schema s({{"Name", DataType::kText}, {"StatusTime", DataType::kTimestamp}, {"Distance", DataType::kFloat64},
            {"MagicPoints", DataType::kInt64}, {"Ok", DataType::kBool}});
  JsonDecoder d(s, 1);
  Row r;
  REQUIRE(d.DecodeOne(R"({"Name":"Shadowfax","StatusTime":"2017-11-29 21:05:30.123","Distance":12.5,)"
                      R"("MagicPoints":"150","Extra":{"a":[1,2]},"Ok":true})",
                      &r)
              .ok());
  CHECK(r[0].as_text() == "Shadowfax");
  CHECK(r[1].as_time().micros == 1511989530123000LL);
  CHECK(r[2].as_float() == 12.5);
  CHECK(r[3].as_int() == 150);
  CHECK(r[4].as_bool());
  REQUIRE(d.DecodeOne(R"({"StatusTime":1511989530123,"MagicPoints":7.0,"Name":42})", &r).ok());
  CHECK(r[0].as_text() == "42");
  CHECK(r[1].as_time().micros == 1511989530123000LL);
  CHECK(r[2].is_null());
  CHECK(r[3].as_int() == 7);
}

TEST_CASE("bad payloads fail with a reason, and the batch goes on") {
  Schema s({{"Name", DataType::kText}, {"StatusTime", DataType::kTimestamp}, {"MagicPoints", DataType::kInt64}});
  JsonDecoder d(s, 1);
  std::vector<std::string> payloads = {
      R"({"Name":"a","StatusTime":"2020-01-01T00:00:00Z"})",
      "not json",
      "[1,2]",
      R"({"Name":"a"})",
      R"({"Name":"a","StatusTime":"yesterday"})",
      R"({"Name":"a","StatusTime":"2020-01-01T00:00:00Z","MagicPoints":"many"})",
      R"({"Name":"a","StatusTime":"2020-01-01T00:00:00Z"} trailing)",
      R"({"Name":"b","StatusTime":"2020-01-01T00:00:01Z","MagicPoints":3})",
      "",
      R"({"Name":"a","StatusTime":"2020-01-01T00:00:00Z","MagicPoints":1.5})",
      R"({"Name":"a","StatusTime":9223372036854775807})",
  };
  std::vector<SourceRecord> in;
  for (size_t i = 0; i < payloads.size(); ++i) in.push_back({i + 1, 0, "k", payloads[i]});
  std::vector<Row> rows;
  std::vector<size_t> idx;
  std::vector<DecodeError> errors;
  d.DecodeBatch(in, &rows, &idx, &errors);
  REQUIRE(rows.size() == 2);
  CHECK(idx == std::vector<size_t>{0, 7});
  CHECK(rows[1][2].as_int() == 3);
  REQUIRE(errors.size() == 9);
  CHECK(errors[8].reason.find("out-of-range") != std::string::npos);
  CHECK(errors[0].reason == "payload is not a JSON object");
  CHECK(errors[1].reason == "payload is not a JSON object");
  CHECK(errors[2].reason.find("missing or null") != std::string::npos);
  CHECK(errors[3].reason.find("StatusTime") != std::string::npos);
  CHECK(errors[4].reason.find("MagicPoints") != std::string::npos);
}

TEST_CASE("the timestamp fast path agrees with ParseTimestamp") {
  Schema s({{"t", DataType::kTimestamp}});
  JsonDecoder d(s, 0);
  for (const char* text : {"2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123Z", "2017-11-29 21:05:30.123",
                           "2017-11-29 21:05:30", "1969-12-31T23:59:59.999Z", "2024-02-29T12:00:00Z",
                           "2023-12-31T23:59:60Z", "2026-01-01T00:00:00.123456Z", "2026-01-01T00:00:00+02:00",
                           "0001-01-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-01-01 00:00:00.5"}) {
    Row r;
    auto want = ParseTimestamp(text);
    Status st = d.DecodeOne(std::string("{\"t\":\"") + text + "\"}", &r);
    CHECK_MESSAGE(st.ok() == want.ok(), text);
    if (st.ok() && want.ok()) CHECK_MESSAGE(r[0].as_time().micros == want->micros, text);
  }
  Row r;
  CHECK_FALSE(d.DecodeOne(R"({"t":"2026-13-01T00:00:00Z"})", &r).ok());
  CHECK_FALSE(d.DecodeOne(R"({"t":"2026-01-01T24:00:00Z"})", &r).ok());
}

TEST_CASE("reused rows never keep values of an earlier record") {
  Schema s({{"a", DataType::kText}, {"b", DataType::kInt64}, {"t", DataType::kTimestamp}});
  JsonDecoder d(s, 2);
  std::vector<std::string> p1 = {R"({"a":"a long text value that is not in SSO","b":1,"t":1000})",
                                 R"({"a":"x","b":2,"t":2000})"};
  // Different field order, a missing field, an escaped key, an unknown field, then a failure.
  std::vector<std::string> p2 = {R"({"t":3000,"a":"y"})", R"({"\u0062":5,"zz":[1,{"q":2}],"t":4000})",
                                 R"({"a":"z","b":"nope","t":5000})", R"({"b":7,"a":null,"t":6000})"};
  auto batch = [](const std::vector<std::string>& p) {
    std::vector<SourceRecord> in;
    for (size_t i = 0; i < p.size(); ++i) in.push_back({i + 1, 0, "k", p[i]});
    return in;
  };
  std::vector<Row> rows;
  std::vector<size_t> idx;
  std::vector<DecodeError> errors;
  d.DecodeBatch(batch(p1), &rows, &idx, &errors);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0][0].as_text() == "a long text value that is not in SSO");
  d.DecodeBatch(batch(p2), &rows, &idx, &errors);
  REQUIRE(rows.size() == 3);
  CHECK(idx == std::vector<size_t>{0, 1, 3});
  CHECK(rows[0][0].as_text() == "y");
  CHECK(rows[0][1].is_null());
  CHECK(rows[0][2].as_time().micros == 3000000);
  CHECK(rows[1][0].is_null());
  CHECK(rows[1][1].as_int() == 5);
  CHECK(rows[2][0].is_null());
  CHECK(rows[2][1].as_int() == 7);
  CHECK(rows[2][2].as_time().micros == 6000000);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].index == 2);
  CHECK(errors[0].reason.find("\"b\"") != std::string::npos);
}

TEST_CASE("SetNeededColumns skips the other fields, unconverted and unchecked") {
  Schema s({{"a", DataType::kText}, {"b", DataType::kInt64}, {"t", DataType::kTimestamp}, {"c", DataType::kFloat64}});
  JsonDecoder d(s, 2);
  d.SetNeededColumns({false, true, false, false});  // the required column (t) is decoded anyway
  Row r;
  REQUIRE(d.DecodeOne(R"({"a":"x","b":4,"t":"2026-01-01T00:00:00Z","c":"not a number"})", &r).ok());
  CHECK(r[0].is_null());
  CHECK(r[1].as_int() == 4);
  CHECK(r[2].as_time().micros == 1767225600000000LL);
  CHECK(r[3].is_null());
  CHECK_FALSE(d.DecodeOne(R"({"a":"x","b":"four","t":"2026-01-01T00:00:00Z"})", &r).ok());
  CHECK_FALSE(d.DecodeOne(R"({"a":"x","b":4})", &r).ok());
  d.SetNeededColumns({});  // empty: every column again
  REQUIRE(d.DecodeOne(R"({"a":"x","b":4,"t":"2026-01-01T00:00:00Z","c":1.5})", &r).ok());
  CHECK(r[0].as_text() == "x");
  CHECK(r[3].as_float() == 1.5);
}
