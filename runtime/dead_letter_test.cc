#include "runtime/dead_letter.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace sluice;
using namespace sluice::runtime;

TEST_CASE("dead letters: one decode entry per record however many queries read it; late entries all kept") {
  char tmpl[] = "/tmp/sluice-dlq-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  MetricsRegistry m;
  {
    DeadLetterQueue q(dir + "/dl", &m);
    // Two queries read shard 0 in order; both see the bad records at 3 and 9.
    REQUIRE(q.Write("decode", "s", "shardId-000000000000", 3, "bad \"x\"", "{\"a\":").ok());
    REQUIRE(q.Write("decode", "s", "shardId-000000000000", 3, "bad \"x\"", "{\"a\":").ok());
    REQUIRE(q.Write("decode", "s", "shardId-000000000000", 9, "bad", "z").ok());
    REQUIRE(q.Write("decode", "s", "shardId-000000000000", 9, "bad", "z").ok());
    REQUIRE(q.Write("decode", "s", "shardId-000000000001", 3, "bad", "y").ok());  // Other shard.
    REQUIRE(q.Write("late", "s", "shardId-000000000000", 5, "late", "w").ok());
    REQUIRE(q.Write("late", "s", "shardId-000000000000", 5, "late", "w").ok());
  }
  std::ifstream in(dir + "/dl/s.jsonl");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 5);
  CHECK(text.find(R"("reason":"bad \"x\"","data":"{\"a\":")") != std::string::npos);
  CHECK(m.GetCounter("sluice_bad_records_total", "", {{"stage", "decode"}, {"source", "s"}}).value() == 3);
  CHECK(m.GetCounter("sluice_bad_records_total", "", {{"stage", "late"}, {"source", "s"}}).value() == 2);
  std::filesystem::remove_all(dir);
}
