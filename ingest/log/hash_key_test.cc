#include "ingest/log/hash_key.h"

#include <doctest/doctest.h>

using namespace sluice::log;

// Expected values were computed independently with Python's hashlib:
//   int(hashlib.md5(key.encode()).hexdigest(), 16) and (2**128 * i) // n.
TEST_CASE("partition keys hash with MD5 as a big-endian 128-bit integer") {
  CHECK(HashKeyToString(HashPartitionKey("Shadowfax")) == "123578240268536456638675226308427189982");
  CHECK(HashKeyToString(HashPartitionKey("Rocinante")) == "308908976092264465909199232450869422404");
  CHECK(HashKeyToString(HashPartitionKey("a")) == "16955237001963240173058271559858726497");
  CHECK(HashKeyToString(HashPartitionKey("")) == "281949768489412648962353822266799178366");
}

TEST_CASE("even shard ranges match Kinesis CreateStream") {
  auto r3 = EvenHashKeyRanges(3);
  REQUIRE(r3.size() == 3);
  CHECK(HashKeyToString(r3[0].start) == "0");
  CHECK(HashKeyToString(r3[0].end) == "113427455640312821154458202477256070484");
  CHECK(HashKeyToString(r3[1].start) == "113427455640312821154458202477256070485");
  CHECK(HashKeyToString(r3[2].start) == "226854911280625642308916404954512140970");
  CHECK(HashKeyToString(r3[2].end) == "340282366920938463463374607431768211455");
  auto r4 = EvenHashKeyRanges(4);
  CHECK(HashKeyToString(r4[1].start) == "85070591730234615865843651857942052864");
  CHECK(HashKeyToString(r4[0].end) == "85070591730234615865843651857942052863");
  auto r1 = EvenHashKeyRanges(1);
  CHECK(r1[0].start == 0);
  CHECK(r1[0].end == ~static_cast<HashKey>(0));
}

TEST_CASE("keys route to the shard whose range holds their hash") {
  auto r4 = EvenHashKeyRanges(4), r3 = EvenHashKeyRanges(3);
  CHECK(ShardForHashKey(r4, HashPartitionKey("Shadowfax")) == 1);
  CHECK(ShardForHashKey(r4, HashPartitionKey("Rocinante")) == 3);
  CHECK(ShardForHashKey(r4, HashPartitionKey("a")) == 0);
  CHECK(ShardForHashKey(r3, HashPartitionKey("Rocinante")) == 2);
  CHECK(ShardForHashKey(r3, HashPartitionKey("")) == 2);
  CHECK(ShardForHashKey(r3, r3[1].start) == 1);
  CHECK(ShardForHashKey(r3, r3[1].start - 1) == 0);
  CHECK(ShardForHashKey(r3, ~static_cast<HashKey>(0)) == 2);
}

TEST_CASE("hash key text round trip and rejects") {
  auto max = ParseHashKey("340282366920938463463374607431768211455");
  REQUIRE(max.has_value());
  CHECK(*max == ~static_cast<HashKey>(0));
  CHECK_FALSE(ParseHashKey("340282366920938463463374607431768211456").has_value());
  CHECK_FALSE(ParseHashKey("-1").has_value());
  CHECK_FALSE(ParseHashKey("").has_value());
  CHECK_FALSE(ParseHashKey("12a").has_value());
}
