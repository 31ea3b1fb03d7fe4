// Kafka source end to end (issue 5: "every source position (shard sequence numbers, Kafka
// offsets)" commits with the checkpoint): `sluice run` reads a topic of librdkafka's mock
// cluster, which lives in this test process on 127.0.0.1, while it is killed with SIGKILL at
// random moments and at the checkpoint protocol's crash points, and restarted, as messages keep
// arriving. At the end:
//   - every per-minute row equals its closed form computed here (count and sum per unicorn);
//   - the archive holds every message exactly once (each unicorn's Seq without gap or repeat);
//   - the consumer group's committed offsets reach the end of every partition (the offsets are
//     mirrored there after checkpoints, for Kafka's lag tools).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/time.h"
#include "runtime/rocks_state_store.h"
#include "tests/kafka_mock.h"
#include "tests/test_util.h"

using namespace sluice;
using namespace sluice::testing;
using nlohmann::json;

namespace {

constexpr int64_t kBaseMs = 1767225600000;  // 2026-01-01T00:00:00Z
constexpr int kUnicorns = 40;
constexpr int kPartitions = 4;
constexpr int kSeconds = 600;  // 24,000 messages

std::string Iso(int64_t ms) { return FormatTimestamp(EventTime{ms * 1000}); }

struct Message {
  int partition;
  std::string key, value;
};

// Every unicorn reports once a second into partition (unicorn % 4); within a partition, 10% of
// messages are sent up to 3 s late (inside the 5 s watermark delay, so never late records).
// Last, one message per partition far ahead closes every window.
std::vector<Message> Generate(std::map<std::pair<std::string, int64_t>, int>* minute_counts) {
  std::mt19937_64 rng(20261201);
  std::vector<std::pair<int64_t, Message>> timed;
  for (int t = 0; t < kSeconds; ++t) {
    for (int u = 0; u < kUnicorns; ++u) {
      const std::string name = "unicorn-" + std::to_string(u);
      const int64_t event_ms = kBaseMs + t * 1000LL + u;
      int64_t send_ms = event_ms;
      if (rng() % 10 == 0) send_ms += static_cast<int64_t>(rng() % 3000);
      json j = {{"Name", name}, {"StatusTime", Iso(event_ms)}, {"Distance", 0.5 + u}, {"Seq", t}};
      timed.push_back({send_ms, {u % kPartitions, name, j.dump()}});
      ++(*minute_counts)[{name, (event_ms - kBaseMs) / 60000 * 60000 + kBaseMs}];
    }
  }
  std::stable_sort(timed.begin(), timed.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<Message> out;
  for (auto& [_, m] : timed) out.push_back(std::move(m));
  for (int p = 0; p < kPartitions; ++p) {
    json j = {{"Name", "end"}, {"StatusTime", Iso(kBaseMs + (kSeconds + 600) * 1000LL)}, {"Distance", 0}, {"Seq", p}};
    out.push_back({p, "end", j.dump()});
  }
  return out;
}

// The query's split positions from GET /queries: split id → next position (offset + 1).
std::map<std::string, uint64_t> Positions(const std::string& url, std::string* query_name) {
  std::map<std::string, uint64_t> out;
  auto r = HttpGet(url + "/queries", 5000);
  if (r.status != 200) return out;
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& q : j) {
    if (q.value("sink", "") != "minutes") continue;
    *query_name = q.value("name", "");
    for (const auto& s : q["shards"]) {
      out[s["shard"].get<std::string>()] = std::stoull(s["next_sequence_number"].get<std::string>());
    }
  }
  return out;
}

}  // namespace

TEST_CASE("kafka source: SIGKILLs while messages arrive; tables and archive exact, offsets committed") {
  MockKafka kafka;
  kafka.CreateTopic("telemetry", kPartitions);
  std::map<std::pair<std::string, int64_t>, int> minute_counts;
  const std::vector<Message> messages = Generate(&minute_counts);
  std::vector<uint64_t> per_partition(kPartitions, 0);
  for (const Message& m : messages) ++per_partition[static_cast<size_t>(m.partition)];

  TempDir tmp;
  const std::string pipeline = tmp.path() + "/kafka.sql";
  WriteFile(pipeline,
            "CREATE TABLE telemetry (\"Name\" TEXT, \"StatusTime\" TIMESTAMPTZ, \"Distance\" FLOAT8, \"Seq\" BIGINT)\n"
            "  WITH (connector = 'kafka', topic = 'telemetry', bootstrap_servers = '" + kafka.bootstraps() + "',\n"
            "        format = 'json', event_time = 'StatusTime', watermark_delay = '5 seconds');\n"
            "CREATE TABLE minutes () WITH (connector = 'kv', primary_key = 'name, window_start');\n"
            "INSERT INTO minutes SELECT \"Name\" AS name, window_start, count(*) AS readings, sum(\"Distance\") AS distance\n"
            "FROM TUMBLE(telemetry, \"StatusTime\", INTERVAL '1 minute') GROUP BY \"Name\", window_start;\n"
            "CREATE TABLE archive () WITH (connector = 'files', path = 'archive', format = 'jsonl', compression = 'gzip',\n"
            "  partition = 'none', buffer_size = '64 KB', buffer_interval = '1 second');\n"
            "INSERT INTO archive SELECT * FROM telemetry;\n");
  const std::string data = tmp.path() + "/data";
  SluiceProcessOptions base;
  base.args = {"--checkpoint-interval", "1 second"};

  // Messages arrive in eight parts while Sluice is killed and restarted.
  const size_t kParts = 8;
  size_t sent = 0;
  auto send_part = [&](size_t part) {
    const size_t end = part + 1 == kParts ? messages.size() : messages.size() * (part + 1) / kParts;
    for (; sent < end; ++sent) kafka.Produce("telemetry", messages[sent].partition, messages[sent].key, messages[sent].value);
    kafka.Flush();
  };
  std::mt19937_64 rng(11);
  const char* points[] = {"checkpoint.before_commit", "checkpoint.after_commit", "checkpoint.after_publish"};
  int at_point = 0, at_random = 0;
  for (size_t part = 0; part < kParts; ++part) {
    send_part(part);
    SluiceProcessOptions o = base;
    o.may_exit = true;
    const bool use_point = part % 2 == 1;
    if (use_point) o.env = {std::string("SLUICE_CRASH_POINT=") + points[part / 2 % 3] + ":" + std::to_string(1 + rng() % 3)};
    SluiceProcess p(pipeline, data, o);
    if (p.exited_early()) {
      ++at_point;
      continue;
    }
    if (use_point && p.WaitExit(8000) != -1) {
      ++at_point;
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 1200));
    p.Kill(SIGKILL);
    ++at_random;
  }
  MESSAGE("kills: " << at_point << " at checkpoint crash points, " << at_random << " at random moments");
  CHECK(at_point + at_random == static_cast<int>(kParts));
  CHECK(at_point >= 1);

  // The last run reads to the end of every partition; its checkpoints reach the consumer group.
  std::string query_name;
  {
    SluiceProcess p(pipeline, data, base);
    bool caught_up = false;
    for (int i = 0; i < 600 && !caught_up; ++i) {
      auto pos = Positions(p.url(), &query_name);
      caught_up = pos.size() == static_cast<size_t>(kPartitions);
      for (int part = 0; caught_up && part < kPartitions; ++part) {
        // position = offset + 1, and the next position is one past the last message's.
        caught_up = pos["telemetry-" + std::to_string(part)] == per_partition[static_cast<size_t>(part)] + 1;
      }
      if (!caught_up) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!caught_up) MESSAGE(HttpGet(p.url() + "/queries", 5000).body);
    REQUIRE(caught_up);
    REQUIRE(!query_name.empty());
    bool committed = false;
    for (int i = 0; i < 100 && !committed; ++i) {
      committed = true;
      for (int part = 0; committed && part < kPartitions; ++part) {
        committed = kafka.Committed("sluice-telemetry", "telemetry", part) ==  // sluice-<source name>
                    static_cast<int64_t>(per_partition[static_cast<size_t>(part)]);
      }
      if (!committed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK_MESSAGE(committed, "the consumer group's offsets did not reach the end of every partition");
  }

  // Per-minute rows: exactly the closed form, every minute present.
  auto store = runtime::RocksStateStore::Open(data + "/kv");
  REQUIRE(store.ok());
  size_t rows = 0, exact = 0;
  REQUIRE((*store)
              ->Scan("table.minutes", "",
                     [&](std::string_view, std::string_view v, bool*) {
                       auto j = json::parse(v);
                       const std::string name = j["name"].get<std::string>();
                       if (name == "end") return Status::OK();
                       ++rows;
                       int64_t minute = -1;
                       for (int m = 0; m <= kSeconds / 60; ++m)
                         if (Iso(kBaseMs + m * 60000LL) == j["window_start"].get<std::string>()) minute = kBaseMs + m * 60000LL;
                       auto it = minute_counts.find({name, minute});
                       const int u = std::stoi(name.substr(8));
                       if (it != minute_counts.end() && j["readings"].get<int>() == it->second &&
                           j["distance"].get<double>() == doctest::Approx(it->second * (0.5 + u))) {
                         ++exact;
                       } else if (rows - exact <= 5) {
                         MESSAGE("row differs from the closed form: " << v);
                       }
                       return Status::OK();
                     })
              .ok());
  CHECK(rows == minute_counts.size());
  CHECK(exact == minute_counts.size());

  // Archive: every message once.
  const std::string text = ReadGzipTree(data + "/archive");
  std::map<std::string, std::vector<int64_t>> seqs;
  size_t lines = 0;
  for (size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    auto j = json::parse(text.substr(start, nl - start));
    seqs[j["Name"].get<std::string>()].push_back(j["Seq"].get<int64_t>());
    ++lines;
  }
  CHECK(lines == messages.size());
  CHECK(seqs.size() == static_cast<size_t>(kUnicorns) + 1);
  for (int u = 0; u < kUnicorns; ++u) {
    auto& s = seqs["unicorn-" + std::to_string(u)];
    std::sort(s.begin(), s.end());
    bool ok = s.size() == static_cast<size_t>(kSeconds);
    for (size_t i = 0; ok && i < s.size(); ++i) ok = s[i] == static_cast<int64_t>(i);
    CHECK_MESSAGE(ok, "unicorn-" << u << ": Seq has a gap or a repeat (" << s.size() << " rows)");
  }
}
