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
