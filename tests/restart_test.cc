// Restart: the server is killed with SIGKILL while PutRecords calls are in flight, restarted, and
// every record it acknowledged is still in the log, once, with its sequence number and bytes.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/time.h"
#include "ingest/log/log.h"
#include "tests/test_util.h"

using namespace sluice;
using namespace sluice::testing;
using nlohmann::json;

TEST_CASE("SIGKILL during PutRecords loses no acknowledged record and duplicates none") {
  TempDir tmp;
  std::string pipeline = tmp.path() + "/p.sql";
  WriteFile(pipeline,
            "CREATE TABLE events (id BIGINT, ts TIMESTAMPTZ) WITH (connector = 'stream', shards = 3, "
            "event_time = 'ts', watermark_delay = '1 second');\n"
            "CREATE TABLE per_second () WITH (connector = 'kv', primary_key = 'window_start');\n"
            "INSERT INTO per_second SELECT window_start, count(*) AS n FROM TUMBLE(events, ts, INTERVAL '1 second') "
            "GROUP BY window_start;\n");
  const std::string data = tmp.path() + "/data";
  std::map<std::pair<std::string, uint64_t>, std::string> acked;  // (shard, seq) -> data
  std::atomic<uint64_t> next_id{0};
  const int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    SluiceProcess server(pipeline, data);
    std::mutex mu;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w) {
      writers.emplace_back([&] {
        while (!stop.load()) {
          std::vector<std::pair<std::string, std::string>> batch;
          for (int i = 0; i < 50; ++i) {
            uint64_t id = next_id++;
            batch.emplace_back("key-" + std::to_string(id % 97),
                               "{\"id\":" + std::to_string(id) + ",\"ts\":" + std::to_string(1700000000000 + id) + "}");
          }
          auto r = HttpPost(server.url() + "/", PutRecordsBody("events", batch), KinesisHeaders("PutRecords"), false, 5000);
          if (r.status != 200) continue;  // Killed mid-call: nothing was acknowledged.
          auto j = json::parse(r.body, nullptr, false);
          if (!j.is_object() || !j.contains("Records")) continue;
          std::lock_guard lock(mu);
          for (size_t i = 0; i < batch.size(); ++i) {
            const json& rec = j["Records"][i];
            if (!rec.contains("SequenceNumber")) continue;
            auto key = std::make_pair(rec["ShardId"].get<std::string>(), std::stoull(rec["SequenceNumber"].get<std::string>()));
            CHECK(acked.count(key) == 0);  // A sequence number is never handed out twice.
            acked[key] = batch[i].second;
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + 70 * (round % 8)));  // Kill at varied moments.
    server.Kill(SIGKILL);
    stop.store(true);
    for (auto& t : writers) t.join();
  }
  REQUIRE(acked.size() > 500);
  // Restart once more: recovery must succeed and new writes continue the sequences.
  {
    SluiceProcess server(pipeline, data);
    auto r = HttpPost(server.url() + "/", PutRecordsBody("events", {{"key-1", "{\"id\":-1,\"ts\":1700000000000}"}}),
                      KinesisHeaders("PutRecords"));
    REQUIRE(r.status == 200);
    auto j = json::parse(r.body);
    std::string shard = j["Records"][0]["ShardId"];
    uint64_t seq = std::stoull(j["Records"][0]["SequenceNumber"].get<std::string>());
    uint64_t max_acked = 0;
    for (auto& [k, v] : acked)
      if (k.first == shard) max_acked = std::max(max_acked, k.second);
    CHECK(seq > max_acked);
  }
  // Read every shard back directly from the log files.
  auto log = log::Log::Open({data + "/streams", {}});
  REQUIRE(log.ok());
  auto stream = (*log)->GetStream("events");
  REQUIRE(stream.ok());
  std::map<std::pair<std::string, uint64_t>, std::string> stored;
  for (int s = 0; s < (*stream)->shard_count(); ++s) {
    log::LogCursor c;
    log::ReadBatch b;
    uint64_t expect_seq = 1;
    for (;;) {
      REQUIRE((*stream)->shard(s).Read(&c, 1000, 1 << 20, &b).ok());
      if (b.records.empty()) break;
      for (const auto& r : b.records) {
        CHECK(r.sequence == expect_seq);  // Contiguous: no gap, no repeat.
        ++expect_seq;
        stored[{log::Stream::ShardIdFor(s), r.sequence}] = std::string(r.data);
      }
    }
  }
  // No payload is stored twice (every payload carries a unique id; clients never retry here).
  std::map<std::string, int> copies;
  for (const auto& [k, v] : stored) copies[v]++;
  size_t duplicated = 0;
  for (const auto& [v, n] : copies) duplicated += n > 1;
  CHECK(duplicated == 0);
  size_t missing = 0, different = 0;
  for (const auto& [k, v] : acked) {
    auto it = stored.find(k);
    if (it == stored.end()) ++missing;
    else if (it->second != v) ++different;
  }
  CHECK(missing == 0);
  CHECK(different == 0);
  MESSAGE("acknowledged " << acked.size() << " records over " << kRounds << " SIGKILLs; stored " << stored.size());
}

namespace {
// Runs `cmd` through the shell; returns (exit code, stdout+stderr).
std::pair<int, std::string> RunShell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, out};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}
}  // namespace

TEST_CASE("sluice savepoint NAME asks the running server over HTTP/1.1; its errors keep their meaning") {
  TempDir tmp;
  const std::string pipeline = tmp.path() + "/p.sql";
  WriteFile(pipeline,
            "CREATE TABLE events (id BIGINT, ts TIMESTAMPTZ) WITH (connector = 'stream', shards = 1, "
            "event_time = 'ts', watermark_delay = '1 second');\n"
            "CREATE TABLE per_second () WITH (connector = 'kv', primary_key = 'window_start');\n"
            "INSERT INTO per_second SELECT window_start, count(*) AS n FROM TUMBLE(events, ts, INTERVAL '1 second') "
            "GROUP BY window_start;\n");
  const std::string data = tmp.path() + "/data";
  int port = 0;
  {
    SluiceProcess server(pipeline, data);
    port = server.port();
    const std::string listen = " --listen 127.0.0.1:" + std::to_string(port);
    auto [rc, out] = RunShell(std::string(SLUICE_BINARY) + " savepoint before-upgrade" + listen);
    CAPTURE(out);
    CHECK(rc == 0);
    CHECK(out.find("savepoints/before-upgrade") != std::string::npos);  // the JSON body names the folder
    CHECK(std::filesystem::is_directory(data + "/savepoints/before-upgrade"));
    // The same name again: the server's 400 becomes InvalidArgument with its message.
    auto [rc2, out2] = RunShell(std::string(SLUICE_BINARY) + " savepoint before-upgrade" + listen);
    CAPTURE(out2);
    CHECK(rc2 == 1);
    CHECK(out2.find("already exists") != std::string::npos);
    // A name that needs percent-encoding in the query string reaches the server intact.
    auto [rc3, out3] = RunShell(std::string(SLUICE_BINARY) + " savepoint 'a b&c'" + listen);
    CAPTURE(out3);
    CHECK(std::filesystem::exists(data + "/savepoints/a b&c") == (rc3 == 0));
  }
  // Nobody listening any more: Unavailable.
  auto [rc4, out4] = RunShell(std::string(SLUICE_BINARY) + " savepoint later --listen 127.0.0.1:" + std::to_string(port));
  CAPTURE(out4);
  CHECK(rc4 == 1);
  CHECK(out4.find("no Sluice server at 127.0.0.1:" + std::to_string(port)) != std::string::npos);
  // The savepoint restores.
  SluiceProcess restored(pipeline, data, {.args = {"--from-savepoint", "before-upgrade"}});
  CHECK(restored.port() > 0);
}

namespace {

// The worker-count test's pipeline: 4 shards, 10 s counts and sums per key.
const char* kKeyedPipeline =
    "CREATE TABLE events (k TEXT, ts TIMESTAMPTZ, v BIGINT) WITH (connector = 'stream', shards = 4, "
    "event_time = 'ts', watermark_delay = '1 second');\n"
    "CREATE TABLE per_key () WITH (connector = 'kv', primary_key = 'k, window_start');\n"
    "INSERT INTO per_key SELECT k, window_start, count(*) AS n, sum(v) AS total "
    "FROM TUMBLE(events, ts, INTERVAL '10 seconds') GROUP BY k, window_start;\n";

// Events [from, to): 23 keys, 100 ms apart in event time, as NDJSON keyed by k.
std::string KeyedEvents(int from, int to) {
  std::string body;
  for (int i = from; i < to; ++i) {
    body += "{\"k\":\"k" + std::to_string(i % 23) + "\",\"ts\":\"" +
            FormatTimestamp(EventTime{1'767'225'600'000'000 + int64_t{i} * 100'000}) + "\",\"v\":" +
            std::to_string((i * 7919) % 1000) + "}\n";
  }
  return body;
}

// Posts events [from, to) and waits until the query has read every record in the log (`total`).
void PostAndWait(const SluiceProcess& server, int from, int to, int total) {
  auto r = HttpPost(server.url() + "/streams/events/records?partition_key=k", KeyedEvents(from, to));
  REQUIRE(r.status == 200);
  bool read_all = false;
  for (int i = 0; i < 600 && !read_all; ++i) {
    auto q = json::parse(HttpGet(server.url() + "/queries").body, nullptr, false);
    if (q.is_array() && !q.empty()) {
      int64_t read = 0;
      for (const json& s : q[0]["shards"]) read += std::stoll(s["next_sequence_number"].get<std::string>()) - 1;
      read_all = read == total;
    }
    if (!read_all) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(read_all);
}

// A savepoint (a checkpoint: what was read is committed and visible), then the whole table.
json SavepointAndTable(const SluiceProcess& server, const std::string& name) {
  auto [rc, out] = RunShell(std::string(SLUICE_BINARY) + " savepoint " + name + " --listen 127.0.0.1:" +
                            std::to_string(server.port()));
  CAPTURE(out);
  REQUIRE(rc == 0);
  auto t = HttpGet(server.url() + "/tables/per_key?limit=100000");
  REQUIRE(t.status == 200);
  return json::parse(t.body)["rows"];
}

}  // namespace

TEST_CASE("a savepoint taken with 1 worker restores with 2, and the reverse, giving an uninterrupted run's table") {
  TempDir tmp;
  const std::string pipeline = tmp.path() + "/p.sql";
  WriteFile(pipeline, kKeyedPipeline);
  constexpr int kFirst = 3000, kAll = 6000;
  json expected;
  {
    SluiceProcess reference(pipeline, tmp.path() + "/reference", {.args = {"--workers", "1"}});
    PostAndWait(reference, 0, kFirst, kFirst);
    PostAndWait(reference, kFirst, kAll, kAll);
    expected = SavepointAndTable(reference, "end");
  }
  REQUIRE(expected.size() > 500);  // 23 keys × about 59 fired windows
  for (auto [before, after] : {std::pair{"1", "2"}, std::pair{"2", "1"}}) {
    INFO("workers " << before << " then " << after);
    const std::string data = tmp.path() + "/run" + before;
    {
      SluiceProcess first(pipeline, data, {.args = {"--workers", before}});
      PostAndWait(first, 0, kFirst, kFirst);
      SavepointAndTable(first, "middle");
    }
    SluiceProcess second(pipeline, data, {.args = {"--workers", after, "--from-savepoint", "middle"}});
    auto q = json::parse(HttpGet(second.url() + "/queries").body);
    CHECK(q[0]["workers"] == std::stoi(after));
    CHECK(q[0]["key_groups"] == 128);
    PostAndWait(second, kFirst, kAll, kAll);
    CHECK(SavepointAndTable(second, "end") == expected);
  }
}
