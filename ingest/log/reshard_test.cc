// Resharding of the embedded log: SplitShard, MergeShards, UpdateShardCount; routing after a
// reshard, closed shards' end sequence numbers, stream.json (version 2) across reopen, reading a
// version-1 stream.json, and the error paths.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <set>

#include "core/file_util.h"
#include "ingest/log/log.h"

using namespace sluice;
using namespace sluice::log;

namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/sluice-reshard-XXXXXX";
  return ::mkdtemp(tmpl);
}

LogOptions Options(const std::string& dir) {
  LogOptions o;
  o.dir = dir;
  o.retention_check_interval = std::chrono::milliseconds(0);
  return o;
}

// Puts one record per key (synchronously durable) and returns where each went.
std::vector<PutResult> PutKeys(Log& log, const std::string& stream, const std::vector<std::string>& keys,
                               const std::string& data) {
  std::vector<PutEntry> entries;
  for (const auto& k : keys) entries.push_back({k, data, {}});
  std::vector<PutResult> res;
  std::promise<Status> p;
  REQUIRE(log.Put(stream, entries, &res, [&](Status st) { p.set_value(st); }).ok());
  REQUIRE(p.get_future().get().ok());
  for (const auto& r : res) REQUIRE(r.status.ok());
  return res;
}

std::vector<std::string> Keys(int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) keys.push_back("key-" + std::to_string(i));
  return keys;
}

// Checks the open shards tile the hash-key space and every closed shard has an end.
void CheckTopology(const StreamTopology& t) {
  HashKey next = 0;
  for (size_t i = 0; i < t.open_shards.size(); ++i) {
    const ShardInfo& s = t.shards[static_cast<size_t>(t.open_shards[i])];
    CHECK(s.open());
    CHECK(s.range.start == next);
    next = s.range.end + 1;  // Wraps to 0 after the last.
  }
  CHECK(next == 0);
  for (size_t i = 0; i < t.shards.size(); ++i) {
    CHECK(t.shards[i].index == static_cast<int>(i));
    CHECK(t.shards[i].parent < static_cast<int>(i));
    CHECK(t.shards[i].adjacent_parent < static_cast<int>(i));
  }
}

}  // namespace

TEST_CASE("reshard: split, merge, routing, end sequence numbers, reopen") {
  const std::string dir = TempDir();
  const auto keys = Keys(200);
  std::map<std::string, int> before_shard;
  {
    auto log = Log::Open(Options(dir));
    REQUIRE(log.ok());
    Log& l = **log;
    REQUIRE(l.CreateStream("s", 2).ok());
    auto first = PutKeys(l, "s", keys, "a");
    for (size_t i = 0; i < keys.size(); ++i) before_shard[keys[i]] = first[i].shard;
    auto stream = *l.GetStream("s");
    const uint64_t end0 = stream->shard(0).next_sequence();
    CHECK(stream->topology_version() == 0);

    // SplitShard: errors first.
    const HashKey mid0 = stream->topology()->shards[0].range.end / 2;
    CHECK(l.SplitShard("nope", "shardId-000000000000", mid0).code() == StatusCode::kNotFound);
    CHECK(l.SplitShard("s", "shardId-000000000007", mid0).code() == StatusCode::kNotFound);
    CHECK(l.SplitShard("s", "shardId-000000000000", 0).code() == StatusCode::kInvalidArgument);
    CHECK(l.SplitShard("s", "shardId-000000000000", 1).code() == StatusCode::kInvalidArgument);
    CHECK(l.SplitShard("s", "shardId-000000000000", stream->topology()->shards[0].range.end).code() ==
          StatusCode::kInvalidArgument);
    CHECK(l.SplitShard("s", "shardId-000000000000", stream->topology()->shards[1].range.start + 5).code() ==
          StatusCode::kInvalidArgument);
    ReshardResult rr;
    REQUIRE(l.SplitShard("s", "shardId-000000000000", mid0, &rr).ok());
    CHECK(rr.open_shards_before == 2);
    CHECK(rr.open_shards_after == 3);
    CHECK(rr.closed == std::vector<int>{0});
    CHECK(rr.created == std::vector<int>{2, 3});
    CHECK(stream->topology_version() == 1);
    auto t = stream->topology();
    REQUIRE(t->shards.size() == 4);
    CheckTopology(*t);
    CHECK(!t->shards[0].open());
    CHECK(t->shards[0].end_sequence == end0);
    CHECK(t->shards[2].parent == 0);
    CHECK(t->shards[3].parent == 0);
    CHECK(t->shards[2].adjacent_parent == -1);
    CHECK(t->shards[2].range.end + 1 == mid0);
    CHECK(t->shards[3].range.start == mid0);
    CHECK(stream->open_shard_count() == 3);
    CHECK(stream->shard_count() == 4);
    // A closed shard can't be split or merged again.
    CHECK(l.SplitShard("s", "shardId-000000000000", mid0).code() == StatusCode::kAlreadyExists);
    CHECK(l.MergeShards("s", "shardId-000000000000", "shardId-000000000001").code() == StatusCode::kAlreadyExists);

    // Routing: keys of shard 0 now go to 2 or 3 by their hash; shard 1's keys stay.
    auto second = PutKeys(l, "s", keys, "b");
    for (size_t i = 0; i < keys.size(); ++i) {
      const HashKey hk = HashPartitionKey(keys[i]);
      if (before_shard[keys[i]] == 1) {
        CHECK(second[i].shard == 1);
      } else {
        CHECK(second[i].shard == (hk < mid0 ? 2 : 3));
      }
    }
    CHECK(stream->shard(0).next_sequence() == end0);  // Nothing reached the closed shard.

    // MergeShards: 2 and 3 are adjacent (either order); 2 and 1 are not.
    CHECK(l.MergeShards("s", "shardId-000000000002", "shardId-000000000001").code() == StatusCode::kInvalidArgument);
    CHECK(l.MergeShards("s", "shardId-000000000002", "shardId-000000000002").code() == StatusCode::kInvalidArgument);
    CHECK(l.MergeShards("s", "shardId-000000000002", "shardId-000000000009").code() == StatusCode::kNotFound);
    REQUIRE(l.MergeShards("s", "shardId-000000000003", "shardId-000000000002").ok());
    t = stream->topology();
    REQUIRE(t->shards.size() == 5);
    CheckTopology(*t);
    CHECK(t->shards[4].parent == 3);
    CHECK(t->shards[4].adjacent_parent == 2);
    CHECK(t->shards[4].range.start == 0);
    CHECK(t->shards[4].range.end == t->shards[0].range.end);
    CHECK(!t->shards[2].open());
    CHECK(!t->shards[3].open());
    auto third = PutKeys(l, "s", keys, "c");
    for (size_t i = 0; i < keys.size(); ++i) CHECK(third[i].shard == (before_shard[keys[i]] == 1 ? 1 : 4));
  }
  // Everything survives a reopen: topology, ends, lineage, records.
  {
    auto log = Log::Open(Options(dir));
    REQUIRE(log.ok());
    auto stream = *(*log)->GetStream("s");
    auto t = stream->topology();
    REQUIRE(t->shards.size() == 5);
    CheckTopology(*t);
    CHECK(t->version == 2);
    CHECK(stream->topology_version() == 2);
    CHECK(t->shards[4].parent == 3);
    CHECK(t->shards[4].adjacent_parent == 2);
    CHECK(!t->shards[0].open());
    CHECK(t->shards[0].end_sequence == stream->shard(0).durable_end());
    CHECK(t->shards[2].end_sequence == stream->shard(2).durable_end());
    uint64_t total = 0;
    for (int i = 0; i < stream->shard_count(); ++i) total += stream->shard(i).durable_end() - 1;
    CHECK(total == 3 * keys.size());
    auto fourth = PutKeys(**log, "s", keys, "d");
    for (size_t i = 0; i < keys.size(); ++i) CHECK(fourth[i].shard == (before_shard[keys[i]] == 1 ? 1 : 4));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("reshard: UpdateShardCount uniform scaling, limits, short-lived shards") {
  const std::string dir = TempDir();
  auto log = Log::Open(Options(dir));
  REQUIRE(log.ok());
  Log& l = **log;
  REQUIRE(l.CreateStream("u", 3).ok());
  REQUIRE(l.CreateStream("od", 2, StreamMode::kOnDemand).ok());
  CHECK(l.UpdateShardCount("od", 3).code() == StatusCode::kInvalidArgument);
  CHECK(l.UpdateShardCount("nope", 3).code() == StatusCode::kNotFound);
  CHECK(l.UpdateShardCount("u", 7).code() == StatusCode::kResourceExhausted);  // > double.
  CHECK(l.UpdateShardCount("u", 1).code() == StatusCode::kResourceExhausted);  // < half.
  CHECK(l.UpdateShardCount("u", 0).code() == StatusCode::kInvalidArgument);
  auto stream = *l.GetStream("u");
  ReshardResult rr;
  REQUIRE(l.UpdateShardCount("u", 3, &rr).ok());  // Already uniform: no change.
  CHECK(rr.created.empty());
  CHECK(stream->topology_version() == 0);

  const auto keys = Keys(300);
  PutKeys(l, "u", keys, "x");
  for (int target : {5, 4, 2, 3, 6}) {
    CAPTURE(target);
    REQUIRE(l.UpdateShardCount("u", target, &rr).ok());
    auto t = stream->topology();
    CheckTopology(*t);
    REQUIRE(static_cast<int>(t->open_shards.size()) == target);
    CHECK(rr.open_shards_after == target);
    // The open ranges are exactly CreateStream's for `target` shards.
    const auto want = EvenHashKeyRanges(target);
    for (int i = 0; i < target; ++i) {
      CHECK(t->open_ranges[static_cast<size_t>(i)].start == want[static_cast<size_t>(i)].start);
      CHECK(t->open_ranges[static_cast<size_t>(i)].end == want[static_cast<size_t>(i)].end);
    }
    // Every child's parents cover its range; short-lived shards are closed and empty.
    for (int c : rr.created) {
      const ShardInfo& s = t->shards[static_cast<size_t>(c)];
      REQUIRE(s.parent >= 0);
      const ShardInfo& p = t->shards[static_cast<size_t>(s.parent)];
      CHECK(!p.open());
      if (s.adjacent_parent < 0) {
        CHECK(p.range.start <= s.range.start);
        CHECK(p.range.end >= s.range.end);
      } else {
        const ShardInfo& a = t->shards[static_cast<size_t>(s.adjacent_parent)];
        CHECK(!a.open());
        CHECK(p.range.start == s.range.start);
        CHECK(p.range.end + 1 == a.range.start);
        CHECK(a.range.end == s.range.end);
      }
      if (!s.open()) CHECK(s.end_sequence == 1);
    }
    PutKeys(l, "u", keys, "x");
  }
  // Reads: every record is in exactly one shard, 6 rounds of puts.
  uint64_t total = 0;
  for (int i = 0; i < stream->shard_count(); ++i) total += stream->shard(i).durable_end() - 1;
  CHECK(total == 6 * keys.size());
  std::filesystem::remove_all(dir);
}

TEST_CASE("reshard: a version-1 stream.json still opens; a bad version-2 one is corruption") {
  const std::string dir = TempDir();
  std::filesystem::create_directories(dir + "/old");
  REQUIRE(WriteFileAtomically(dir + "/old/stream.json",
                              "{\"name\":\"old\",\"shard_count\":3,\"created_ms\":123,\"retention_hours\":48,"
                              "\"mode\":\"PROVISIONED\"}\n")
              .ok());
  {
    auto log = Log::Open(Options(dir));
    REQUIRE(log.ok());
    auto s = (*log)->GetStream("old");
    REQUIRE(s.ok());
    CHECK((*s)->shard_count() == 3);
    CHECK((*s)->retention_hours() == 48);
    CHECK((*s)->created_ms() == 123);
    CheckTopology(*(*s)->topology());
    // A reshard rewrites it as version 2.
    REQUIRE((*log)->MergeShards("old", "shardId-000000000000", "shardId-000000000001").ok());
  }
  auto text = ReadFileToString(dir + "/old/stream.json");
  REQUIRE(text.ok());
  CHECK(text->find("\"format_version\":2") != std::string::npos);
  {
    auto log = Log::Open(Options(dir));
    REQUIRE(log.ok());
    CHECK((*(*log)->GetStream("old"))->shard_count() == 4);
  }
  // Corrupt topologies: a gap between open shards, a parent after its child, a future version.
  const std::string good = *text;
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    auto p = t.find(from);
    REQUIRE(p != std::string::npos);
    return t.replace(p, from.size(), to);
  };
  for (const std::string& bad :
       {replace("\"format_version\":2", "\"format_version\":3"), replace("\"id\":3", "\"id\":4"),
        replace("\"parent\":0", "\"parent\":3"), replace("\"end_sequence\":0", "\"end_sequence\":-1"),
        std::string("{\"format_version\":2}"), std::string("not json")}) {
    CAPTURE(bad);
    REQUIRE(WriteFileAtomically(dir + "/old/stream.json", bad).ok());
    auto log = Log::Open(Options(dir));
    CHECK(log.status().code() == StatusCode::kCorruption);
  }
  std::filesystem::remove_all(dir);
}
