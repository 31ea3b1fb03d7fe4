// LogSource across reshards: OpenSplits() lists open and closed shards in id order with their
// parents, finished() turns true once a closed shard is read to its end, splits_version() changes
// with every reshard, and a reader that follows parents before children sees every record once,
// in per-key order.
#include "ingest/log_source.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <map>
#include <set>

using namespace sluice;
using namespace sluice::log;

namespace {

void PutKeys(Log& log, const std::string& stream, int n_keys, int round) {
  std::vector<std::string> keys, datas;
  for (int i = 0; i < n_keys; ++i) {
    keys.push_back("pk-" + std::to_string(i));
    datas.push_back(std::to_string(round));
  }
  std::vector<PutEntry> entries;
  for (int i = 0; i < n_keys; ++i) entries.push_back({keys[static_cast<size_t>(i)], datas[static_cast<size_t>(i)], {}});
  std::vector<PutResult> res;
  std::promise<Status> p;
  REQUIRE(log.Put(stream, entries, &res, [&](Status st) { p.set_value(st); }).ok());
  REQUIRE(p.get_future().get().ok());
}

}  // namespace

TEST_CASE("LogSource: lineage, finished(), splits_version(), parents-first reading keeps key order") {
  char tmpl[] = "/tmp/sluice-logsource-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  LogOptions o;
  o.dir = dir;
  o.retention_check_interval = std::chrono::milliseconds(0);
  auto log = Log::Open(o);
  REQUIRE(log.ok());
  Log& l = **log;
  REQUIRE(l.CreateStream("s", 2).ok());
  ingest::LogSource source(&l, *l.GetStream("s"));
  CHECK(source.splits_version() == 0);
  {
    auto splits = source.OpenSplits();
    REQUIRE(splits.size() == 2);
    CHECK(splits[0]->id() == "shardId-000000000000");
    CHECK(splits[0]->parent_ids().empty());
    CHECK(!splits[0]->finished());
  }
  const int kKeys = 50;
  int round = 0;
  PutKeys(l, "s", kKeys, round++);
  // A split opened before the reshard learns that its shard closed.
  auto early = source.OpenSplits();
  const HashKey mid = EvenHashKeyRanges(4)[1].start;
  REQUIRE(l.SplitShard("s", "shardId-000000000000", mid).ok());
  CHECK(source.splits_version() == 1);
  PutKeys(l, "s", kKeys, round++);
  REQUIRE(l.MergeShards("s", "shardId-000000000002", "shardId-000000000003").ok());
  CHECK(source.splits_version() == 2);
  PutKeys(l, "s", kKeys, round++);
  REQUIRE(l.UpdateShardCount("s", 3).ok());
  CHECK(source.splits_version() == 3);
  PutKeys(l, "s", kKeys, round++);

  std::vector<SourceRecord> batch;
  CHECK(!early[0]->finished());
  REQUIRE(early[0]->Read(1000, &batch).ok());
  CHECK(!batch.empty());
  CHECK(early[0]->finished());
  CHECK(!early[1]->finished());  // Shard 1 was closed by UpdateShardCount too, but not yet read.
  REQUIRE(early[1]->Read(1000, &batch).ok());
  CHECK(early[1]->finished());

  auto splits = source.OpenSplits();
  auto topology = (*l.GetStream("s"))->topology();
  REQUIRE(splits.size() == topology->shards.size());
  std::map<std::string, SourceSplit*> by_id;
  for (size_t i = 0; i < splits.size(); ++i) {
    CHECK(splits[i]->id() == Stream::ShardIdFor(static_cast<int>(i)));  // Id order.
    by_id[splits[i]->id()] = splits[i].get();
  }
  CHECK(splits[2]->parent_ids() == std::vector<std::string>{"shardId-000000000000"});
  CHECK(splits[4]->parent_ids() == std::vector<std::string>{"shardId-000000000002", "shardId-000000000003"});

  // Read like the runtime will: a split only after all its parents are finished.
  std::map<std::string, std::vector<int>> per_key;  // key -> rounds in read order
  std::set<std::string> done;
  size_t records = 0;
  for (int pass = 0; pass < 100 && done.size() < splits.size(); ++pass) {
    for (auto& sp : splits) {
      if (done.count(sp->id())) continue;
      bool ready = true;
      for (const auto& p : sp->parent_ids()) ready = ready && done.count(p) > 0;
      if (!ready) continue;
      for (;;) {
        REQUIRE(sp->Read(7, &batch).ok());
        if (batch.empty()) break;
        for (const auto& r : batch) {
          per_key[std::string(r.key)].push_back(std::stoi(std::string(r.data)));
          ++records;
        }
      }
      if (sp->finished()) done.insert(sp->id());
    }
  }
  // The open shards never finish; everything else did.
  CHECK(done.size() == splits.size() - topology->open_shards.size());
  CHECK(records == static_cast<size_t>(kKeys * round));
  for (const auto& [key, rounds] : per_key) {
    CAPTURE(key);
    REQUIRE(rounds.size() == static_cast<size_t>(round));
    for (int i = 0; i < round; ++i) CHECK(rounds[static_cast<size_t>(i)] == i);
  }
  // Seek past the end of a closed shard: finished at once; an open shard never is.
  REQUIRE(splits[0]->Seek(1).ok());
  CHECK(!splits[0]->finished());
  REQUIRE(splits[0]->Seek(1000000).ok());
  CHECK(splits[0]->finished());
  CHECK(!by_id[Stream::ShardIdFor(topology->open_shards[0])]->finished());
  log->reset();
  std::filesystem::remove_all(dir);
}
