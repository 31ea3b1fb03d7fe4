#include "core/value.h"

#include <doctest/doctest.h>

using namespace sluice;

TEST_CASE("values encode as JSON") {
  Schema s({{"a", DataType::kText}, {"b", DataType::kInt64}, {"c", DataType::kFloat64},
            {"d", DataType::kNull}, {"e", DataType::kTimestamp}, {"f", DataType::kBool}});
  Row r{Value::Text("x\"y\n"), Value::Int(-3), Value::Float(1.5), Value::Null(), Value::Time(EventTime{0}),
        Value::Bool(true)};
  CHECK(RowToJson(s, r) ==
        R"({"a":"x\"y\n","b":-3,"c":1.5,"d":null,"e":"1970-01-01T00:00:00.000Z","f":true})");
}

TEST_CASE("value order") {
  CHECK(Value::Null().Compare(Value::Int(0)) < 0);
  CHECK(Value::Int(2).Compare(Value::Float(1.5)) > 0);
  CHECK(Value::Int(2) == Value::Float(2.0));
  CHECK(Value::Text("a").Compare(Value::Text("b")) < 0);
  CHECK(Schema({{"x", DataType::kInt64}}).IndexOf("x") == 0);
  CHECK(Schema({{"x", DataType::kInt64}}).IndexOf("X") == -1);
}

#include "core/base64.h"
#include "core/metrics.h"

TEST_CASE("base64 round trip and strict decoding (RFC 4648 test vectors)") {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    std::string e, d;
    Base64Encode(plain[i], &e);
    CHECK(e == enc[i]);
    CHECK(Base64Decode(enc[i], &d));
    CHECK(d == plain[i]);
  }
  std::string d;
  CHECK(Base64Decode("Zm8", &d));
  CHECK(d == "fo");
  CHECK_FALSE(Base64Decode("Zm9v!", &d));
  CHECK_FALSE(Base64Decode("Z", &d));
  CHECK_FALSE(Base64Decode("Zh==", &d));  // Non-zero leftover bits.
}

TEST_CASE("metrics registry returns stable series and counts") {
  MetricsRegistry r;
  Counter& a = r.GetCounter("x_total", "x", {{"s", "1"}});
  Counter& b = r.GetCounter("x_total", "x", {{"s", "1"}});
  CHECK(&a == &b);
  a.Inc(3);
  Histogram& h = r.GetHistogram("lat_seconds", "l", {}, {0.1, 1});
  h.Observe(0.05);
  h.Observe(5);
  CHECK(h.BucketCounts() == std::vector<uint64_t>{1, 0, 1});
  int families = 0;
  r.ForEach([&](const std::string&, const std::string&, MetricsRegistry::Type, const auto& s) {
    ++families;
    CHECK(s.size() == 1);
  });
  CHECK(families == 2);
  CHECK(b.value() == 3);
}

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/file_util.h"

TEST_CASE("file helpers: atomic replace, errors name the path") {
  char tmpl[] = "/tmp/sluice-core-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string p = dir + "/meta.json";
  REQUIRE(WriteFileAtomically(p, "one").ok());
  REQUIRE(WriteFileAtomically(p, "two").ok());
  std::ifstream in(p);
  std::string s;
  in >> s;
  CHECK(s == "two");
  CHECK_FALSE(std::filesystem::exists(p + ".tmp"));
  Status bad = WriteFileAtomically(dir + "/no/such/dir/x", "y");
  CHECK(bad.code() == StatusCode::kIOError);
  CHECK(bad.message().find("/no/such/dir/x.tmp") != std::string::npos);
  CHECK(FsyncDir(dir + "/missing").code() == StatusCode::kIOError);
  std::filesystem::remove_all(dir);
}

TEST_CASE("SetText gives the same value as Text() and reuses the string") {
  Value v = Value::Int(3);
  v.SetText("first, a text longer than the small-string buffer");
  CHECK(v.type() == DataType::kText);
  CHECK(v == Value::Text("first, a text longer than the small-string buffer"));
  const char* data = v.as_text().data();
  v.SetText("short");
  CHECK(v.as_text() == "short");
  CHECK(v.as_text().data() == data);  // capacity kept: no allocation
  Value n;
  n.SetText("");
  CHECK(n.type() == DataType::kText);
  CHECK(n.as_text().empty());
}
