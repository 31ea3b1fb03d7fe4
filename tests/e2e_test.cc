// End to end: `sluice run` on a temporary data dir, a known set of unicorn events posted over
// the Kinesis API (HTTP/1.1 and h2c) and the NDJSON endpoint, some out of order; every
// per-minute row in the KV table is checked against values computed here, and the archive, the
// metrics and /queries are checked too.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/base64.h"
#include "core/time.h"
#include "tests/test_util.h"

using namespace sluice;
using namespace sluice::testing;
using nlohmann::json;

namespace {

struct Event {
  std::string name;
  int64_t t_ms;
  double distance;
  int magic, health;
  std::string Json() const {
    std::string ts = FormatTimestamp(EventTime::FromMillis(t_ms));
    char b[256];
    std::snprintf(b, sizeof b,
                  R"({"Name":"%s","StatusTime":"%s","Latitude":40.7,"Longitude":-73.9,"Distance":%.1f,"MagicPoints":%d,"HealthPoints":%d})",
                  name.c_str(), ts.c_str(), distance, magic, health);
    return b;
  }
};

struct Expected {
  int64_t count = 0;
  double distance = 0, health_sum = 0;
  int min_magic = 1 << 30, max_magic = -1, min_health = 1 << 30, max_health = -1;
};

// The demo pipeline, with short timers so the test finishes quickly.
std::string TestPipeline(const std::string& dir) {
  std::string p = ReadAndReplace(SLUICE_SOURCE_DIR "/examples/wildrydes/pipeline.sql", "idle_timeout = '10 seconds'",
                                 "idle_timeout = '1 second'");
  auto at = p.find("buffer_interval = '60 seconds'");
  REQUIRE(at != std::string::npos);
  p.replace(at, 30, "buffer_interval = '1 second'");
  std::string path = dir + "/pipeline.sql";
  WriteFile(path, p);
  return path;
}

bool WaitFor(const std::function<bool()>& pred, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

}  // namespace

TEST_CASE("wild rydes end to end: per-minute rows equal an independent computation") {
  TempDir tmp;
  SluiceProcess server(TestPipeline(tmp.path()), tmp.path() + "/data");

  // 5 unicorns x 180 s from 2026-01-01T00:00:00Z.
  const char* names[] = {"Shadowfax", "Rocinante", "Bucephalus", "Pegasus", "Silver"};
  const int64_t t0 = 1767225600000;  // 2026-01-01T00:00:00Z
  std::mt19937 rng(7);
  std::vector<Event> events;
  for (int s = 0; s < 180; ++s)
    for (const char* n : names)
      events.push_back({n, t0 + s * 1000, static_cast<double>(rng() % 200) / 10.0, 1 + static_cast<int>(rng() % 200),
                        1 + static_cast<int>(rng() % 200)});
  std::map<std::pair<std::string, int64_t>, Expected> expect;
  for (const Event& e : events) {
    Expected& x = expect[{e.name, (e.t_ms - t0) / 60000}];
    x.count++;
    x.distance += e.distance;
    x.health_sum += e.health;
    x.min_magic = std::min(x.min_magic, e.magic);
    x.max_magic = std::max(x.max_magic, e.magic);
    x.min_health = std::min(x.min_health, e.health);
    x.max_health = std::max(x.max_health, e.health);
  }
  // Arrival order: event time plus a random delay of up to 3 s (inside the 5 s watermark delay).
  std::vector<std::pair<int64_t, size_t>> order;
  for (size_t i = 0; i < events.size(); ++i) order.emplace_back(events[i].t_ms + static_cast<int64_t>(rng() % 3000), i);
  std::sort(order.begin(), order.end());
  size_t inversions = 0;
  for (size_t i = 1; i < order.size(); ++i) inversions += events[order[i].second].t_ms < events[order[i - 1].second].t_ms;
  CHECK(inversions > 50);

  // First 600 through PutRecords (HTTP/1.1, then h2c), the rest through NDJSON.
  size_t sent = 0;
  for (size_t off = 0; off < 600; off += 60) {
    std::vector<std::pair<std::string, std::string>> batch;
    for (size_t i = off; i < off + 60; ++i) batch.emplace_back(events[order[i].second].name, events[order[i].second].Json());
    bool h2 = off >= 300;
    auto r = HttpPost(server.url() + "/", PutRecordsBody("unicorn_telemetry", batch), KinesisHeaders("PutRecords"), h2);
    REQUIRE(r.status == 200);
    if (h2) CHECK(r.http_version == 3);  // CURL_HTTP_VERSION_2_0
    auto j = json::parse(r.body);
    CHECK(j["FailedRecordCount"] == 0);
    REQUIRE(j["Records"].size() == 60);
    CHECK(j["Records"][0]["ShardId"].get<std::string>().rfind("shardId-", 0) == 0);
    sent += 60;
  }
  std::string ndjson;
  for (size_t i = 600; i < order.size(); ++i) ndjson += events[order[i].second].Json() + "\n";
  ndjson += "this line is not json\n";
  auto nr = HttpPost(server.url() + "/streams/unicorn_telemetry/records?partition_key=Name", ndjson);
  REQUIRE(nr.status == 200);
  auto nj = json::parse(nr.body);
  CHECK(nj["accepted"] == events.size() - 600);
  CHECK(nj["rejected"] == 1);
  CHECK(nj["errors"][0]["line"] == events.size() - 600 + 1);
  sent += events.size() - 600;
  // A sentinel far ahead moves the watermark past the last minute once the other shards go idle.
  Event sentinel{"Sentinel", t0 + 600000, 0, 1, 1};
  REQUIRE(HttpPost(server.url() + "/", PutRecordsBody("unicorn_telemetry", {{"Sentinel", sentinel.Json()}}),
                   KinesisHeaders("PutRecords"))
              .status == 200);
  ++sent;

  json rows;
  bool complete = WaitFor(
      [&] {
        auto r = HttpGet(server.url() + "/tables/unicorn_minutes?limit=100");
        if (r.status != 200) return false;
        rows = json::parse(r.body)["rows"];
        return rows.size() >= expect.size();
      },
      30);
  REQUIRE(complete);
  REQUIRE(rows.size() == expect.size());
  for (const json& row : rows) {
    std::string name = row["name"];
    auto start = ParseTimestamp(row["window_start"].get<std::string>());
    REQUIRE(start.ok());
    int64_t minute = (start->millis() - t0) / 60000;
    INFO(name << " minute " << minute);
    auto it = expect.find({name, minute});
    REQUIRE(it != expect.end());
    const Expected& x = it->second;
    CHECK(row["window_end"] == FormatTimestamp(*start + std::chrono::minutes(1)));
    CHECK(row["readings"] == x.count);
    CHECK(row["distance"].get<double>() == doctest::Approx(x.distance).epsilon(1e-9));
    CHECK(row["min_magic"] == x.min_magic);
    CHECK(row["max_magic"] == x.max_magic);
    CHECK(row["min_health"] == x.min_health);
    CHECK(row["max_health"] == x.max_health);
    CHECK(row["avg_health"].get<double>() == doctest::Approx(x.health_sum / static_cast<double>(x.count)));
  }
  // Point lookup by primary key.
  auto one = HttpGet(server.url() + "/tables/unicorn_minutes?key=Shadowfax%7C2026-01-01T00:01:00.000Z");
  REQUIRE(one.status == 200);
  CHECK(json::parse(one.body)["readings"] == 60);
  CHECK(HttpGet(server.url() + "/tables/unicorn_minutes?key=Nobody").status == 404);
  // Paging: Shadowfax's 3 minutes, 2 per page, with the continuation token; a bad token is refused.
  auto page1 = json::parse(HttpGet(server.url() + "/tables/unicorn_minutes?prefix=Shadowfax%7C&limit=2").body);
  REQUIRE(page1["count"] == 2);
  REQUIRE(page1["next_token"].is_string());
  CHECK(page1["rows"][0]["window_start"] == "2026-01-01T00:00:00.000Z");
  auto page2 = json::parse(HttpGet(server.url() + "/tables/unicorn_minutes?prefix=Shadowfax%7C&limit=2&next_token=" +
                                   page1["next_token"].get<std::string>())
                               .body);
  REQUIRE(page2["count"] == 1);
  CHECK(page2["rows"][0]["window_start"] == "2026-01-01T00:02:00.000Z");
  CHECK_FALSE(page2.contains("next_token"));
  CHECK(HttpGet(server.url() + "/tables/unicorn_minutes?next_token=zz").status == 400);
  CHECK(HttpGet(server.url() + "/tables/unicorn_minutes?limit=0").status == 400);

  // Every accepted event reaches the archive, under its hour partition, as gzip JSON lines.
  std::string archive_dir = tmp.path() + "/data/archive/unicorns";
  std::string archived;
  bool archived_all = WaitFor(
      [&] {
        archived = ReadGzipTree(archive_dir);
        return static_cast<size_t>(std::count(archived.begin(), archived.end(), '\n')) >= sent;
      },
      30);
  CHECK(archived_all);
  CHECK(std::count(archived.begin(), archived.end(), '\n') == static_cast<long>(sent));
  CHECK(std::filesystem::exists(archive_dir + "/year=2026/month=01/day=01/hour=00"));
  CHECK(archived.find("\"Name\":\"Shadowfax\",\"StatusTime\":\"2026-01-01T00:02:59.000Z\"") != std::string::npos);

  // Metrics: ingested records per shard add up; the NDJSON bad line is counted.
  auto m = HttpGet(server.url() + "/metrics");
  REQUIRE(m.status == 200);
  double ingested = 0, decoded = -1;
  std::istringstream lines(m.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("sluice_records_ingested_total{", 0) == 0) ingested += std::stod(line.substr(line.rfind(' ') + 1));
    if (line.rfind("sluice_source_records_decoded_total{source=\"unicorn_telemetry\"}", 0) == 0)
      decoded = std::stod(line.substr(line.rfind(' ') + 1));
  }
  CHECK(ingested == static_cast<double>(sent));
  // Two queries read the stream, and each record was decoded once (one shared scan).
  CHECK(decoded == ingested);
  CHECK(m.body.find("sluice_query_records_in_total{query=\"q2_telemetry_archive\"} " + std::to_string(sent)) !=
        std::string::npos);
  CHECK(m.body.find("sluice_bad_records_total{stage=\"ingest\",source=\"unicorn_telemetry\"} 1") != std::string::npos);
  CHECK(m.body.find("sluice_kv_rows_written_total{table=\"unicorn_minutes\"} 15") != std::string::npos);
  CHECK(m.body.find("sluice_archive_files_total{sink=\"telemetry_archive\"} ") != std::string::npos);
  CHECK(m.body.find("sluice_query_running{query=\"q1_unicorn_minutes\"} 1") != std::string::npos);
  // The fleet query's last committed minute as gauges: the 5 unicorns reported in it.
  CHECK(m.body.find("sluice_sink_value{sink=\"fleet_minutes\",column=\"unicorns\"} 5\n") != std::string::npos);
  CHECK(m.body.find("sluice_build_info{version=\"") != std::string::npos);
  // Every record was read: no shard's reader is behind (Kinesis MillisBehindLatest 0).
  CHECK(m.body.find("sluice_source_behind_latest_seconds{source=\"unicorn_telemetry\",shard=\"shardId-000000000000\"} 0\n") !=
        std::string::npos);
  CHECK(m.body.find("sluice_source_lag_records{source=\"unicorn_telemetry\",shard=\"shardId-000000000003\"} 0\n") !=
        std::string::npos);
  CHECK(m.body.find("process_resident_memory_bytes ") != std::string::npos);
  CHECK(m.body.find("process_cpu_seconds_total ") != std::string::npos);
  {
    // One label set per metric name (the Prometheus naming guide): the label names of every
    // series of a family are the same, in the same order.
    std::map<std::string, std::string> label_names;
    std::istringstream all(m.body);
    for (std::string l; std::getline(all, l);) {
      if (l.empty() || l[0] == '#') continue;
      std::string name = l.substr(0, l.find_first_of("{ "));
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string sfx = suffix;
        if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0 &&
            m.body.find("# TYPE " + name.substr(0, name.size() - sfx.size()) + " histogram") != std::string::npos)
          name = name.substr(0, name.size() - sfx.size());
      }
      std::string keys;
      const size_t open = l.find('{');
      if (open != std::string::npos && open < l.find(' ')) {
        for (size_t p = open + 1; p < l.size() && l[p] != '}';) {
          const size_t eq = l.find('=', p);
          const std::string key = l.substr(p, eq - p);
          if (key != "le") keys += key + ",";
          size_t q = eq + 2;  // past ="
          while (q < l.size() && l[q] != '"') q += l[q] == '\\' ? 2 : 1;
          p = q + 1;
          if (p < l.size() && l[p] == ',') ++p;
        }
      }
      auto [it, fresh] = label_names.try_emplace(name, keys);
      INFO("metric " << name);
      CHECK(it->second == keys);
    }
    CHECK(label_names.size() > 40);
  }
  // The status page's endpoints (docs/monitoring.md).
  auto streams = json::parse(HttpGet(server.url() + "/streams").body);
  REQUIRE(streams["streams"].size() >= 1);
  uint64_t shard_records = 0;
  for (const auto& sh : streams["streams"][0]["shards"]) {
    shard_records += sh["records_ingested"].get<uint64_t>();
    CHECK(sh["size_bytes"].get<uint64_t>() >= sh["bytes_ingested"].get<uint64_t>());
  }
  CHECK(streams["streams"][0]["name"] == "unicorn_telemetry");
  CHECK(shard_records == sent);
  auto tables = json::parse(HttpGet(server.url() + "/tables").body);
  REQUIRE(tables["tables"].size() == 1);
  CHECK(tables["tables"][0]["name"] == "unicorn_minutes");
  CHECK(tables["tables"][0]["primary_key"] == json::array({"name", "window_start"}));
  CHECK(tables["tables"][0]["rows_written"] == 15);
  CHECK(tables["tables"][0]["row_count"].get<uint64_t>() >= 1);  // RocksDB's estimate
  CHECK(tables["tables"][0]["columns"][0] == json({{"name", "name"}, {"type", "TEXT"}}));
  CHECK(tables["tables"][0]["columns"].size() == 10);
  CHECK(tables["tables"][0]["latest"].size() == 10);
  CHECK(tables["tables"][0]["latest"][0].contains("readings"));
  auto checkpoints = json::parse(HttpGet(server.url() + "/checkpoints").body);
  REQUIRE(checkpoints["checkpoints"].size() >= 2);  // one per query at least
  CHECK(checkpoints["checkpoints"][0]["ok"] == true);
  CHECK(checkpoints["checkpoints"][0]["at"].get<std::string>() >= checkpoints["checkpoints"].back()["at"].get<std::string>());
  CHECK(m.body.find("sluice_putrecords_latency_seconds_bucket") != std::string::npos);
  CHECK(m.body.find("sluice_sink_rows_total{sink=\"unicorn_minutes\",query=\"q1_unicorn_minutes\"} 15") != std::string::npos);
  CHECK(m.body.find("sluice_watermark_lag_seconds{query=\"q1_unicorn_minutes\"}") != std::string::npos);

  auto q = HttpGet(server.url() + "/queries");
  REQUIRE(q.status == 200);
  auto qj = json::parse(q.body);
  REQUIRE(qj.size() == 3);  // per-minute table, archive, fleet gauges
  CHECK(qj[0]["late_records"] == 0);
  CHECK(qj[0]["late_by_disposition"]["dead_letter"] == 0);
  CHECK(qj[0]["pending_reason"].is_null());  // windows have fired
  CHECK(qj[0]["bad_records"] == 0);
  CHECK(qj[0]["watermark"].get<std::string>() >= "2026-01-01T00:09:55.000Z");
  // The per-minute query's state is in 128 key groups, placed by the partition key (Name): every
  // unicorn's statuses reach one shard. When the worker count divides the 4 shards, each shard's
  // reader owns all its groups and no row goes to another worker; otherwise (3 workers, or more
  // than 4) some groups are shared and their rows are exchanged. The archive query (a
  // projection) has no keyed state.
  CHECK(qj[0]["key_groups"] == 128);
  const int workers = qj[0]["workers"].get<int>();
  CHECK(workers >= 1);
  CHECK(qj[0]["exchange"] == (workers == 1 ? "none" : 4 % workers == 0 ? "partition key" : "key group"));
  if (4 % workers == 0) CHECK(qj[0]["rows_exchanged"] == 0);
  CHECK(qj[1]["key_groups"] == 1);
  CHECK(qj[1]["exchange"] == "none");

  // The watermark, per shard, in /metrics too: one gauge per shard of each query, and the shard
  // holding the watermark back is the one /queries names.
  auto m2 = HttpGet(server.url() + "/metrics");
  REQUIRE(m2.status == 200);
  std::istringstream ml(m2.body);
  int max_time_lines = 0, holding_ones = 0;
  std::string holding_shard;
  while (std::getline(ml, line)) {
    if (line.find("query=\"q1_unicorn_minutes\"") == std::string::npos) continue;
    if (line.rfind("sluice_shard_max_event_timestamp_seconds{", 0) == 0) ++max_time_lines;
    if (line.rfind("sluice_watermark_holding_shard{", 0) == 0 && line.substr(line.rfind(' ') + 1) == "1") {
      ++holding_ones;
      const size_t a = line.find("shard=\"") + 7;
      holding_shard = line.substr(a, line.find('"', a) - a);
    }
  }
  CHECK(max_time_lines == static_cast<int>(qj[0]["shards"].size()));
  if (qj[0]["held_back_by"].is_string()) {
    CHECK(holding_ones == 1);
    CHECK(holding_shard == qj[0]["held_back_by"].get<std::string>());
  } else {
    CHECK(holding_ones == 0);
  }
}

TEST_CASE("bad input gets clear errors and never stops the server") {
  TempDir tmp;
  SluiceProcess server(TestPipeline(tmp.path()), tmp.path() + "/data");
  auto post = [&](const std::string& op, const std::string& body) {
    return HttpPost(server.url() + "/", body, KinesisHeaders(op));
  };
  auto r = post("PutRecords", "{not json");
  CHECK(r.status == 400);
  CHECK(r.body.find("SerializationException") != std::string::npos);
  r = post("PutRecords", R"({"StreamName":"nope","Records":[{"Data":"eA==","PartitionKey":"k"}]})");
  CHECK(r.status == 400);
  CHECK(r.body.find("ResourceNotFoundException") != std::string::npos);
  r = post("PutRecords", R"({"StreamName":"unicorn_telemetry","Records":[{"Data":"!!!","PartitionKey":"k"}]})");
  CHECK(r.status == 400);
  r = post("PutRecords", R"({"StreamName":"unicorn_telemetry","Records":[{"Data":"eA==","PartitionKey":""}]})");
  CHECK(r.body.find("ValidationException") != std::string::npos);
  std::string big = "{\"StreamName\":\"unicorn_telemetry\",\"Records\":[";
  for (int i = 0; i < 501; ++i) big += std::string(i ? "," : "") + R"({"Data":"eA==","PartitionKey":"k"})";
  r = post("PutRecords", big + "]}");
  CHECK(r.status == 400);
  CHECK(r.body.find("less than or equal to 500") != std::string::npos);
  r = HttpPost(server.url() + "/", "x", {"Content-Type: application/x-amz-cbor-1.1", "X-Amz-Target: Kinesis_20131202.PutRecords"});
  CHECK(r.body.find("AWS_CBOR_DISABLE") != std::string::npos);
  r = post("NoSuchOp", "{}");
  CHECK(r.body.find("UnknownOperationException") != std::string::npos);
  // PutRecord with fields at the top level.
  r = post("PutRecord", R"({"StreamName":"unicorn_telemetry","Data":"eyJ4IjoxfQ==","PartitionKey":"Shadowfax"})");
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["ShardId"] == "shardId-000000000001");
  // A record that is valid Kinesis but not a valid unicorn status goes to the dead-letter file.
  bool dlq = WaitFor([&] { return std::filesystem::exists(tmp.path() + "/data/dead-letter/unicorn_telemetry.jsonl"); }, 10);
  CHECK(dlq);
  CHECK(HttpGet(server.url() + "/nothing").status == 404);
  CHECK(HttpGet(server.url() + "/tables/nope").status == 404);
  CHECK(HttpGet(server.url() + "/tables/unicorn_minutes?limit=abc").status == 400);
  // Still serving, and every refused request is counted by operation and AWS error type.
  auto m = HttpGet(server.url() + "/metrics");
  CHECK(m.status == 200);
  CHECK(m.body.find("sluice_kinesis_errors_total{operation=\"PutRecords\",error_code=\"ResourceNotFoundException\"} 1\n") !=
        std::string::npos);
  CHECK(m.body.find("sluice_kinesis_errors_total{operation=\"PutRecords\",error_code=\"ValidationException\"} ") !=
        std::string::npos);
  CHECK(m.body.find("sluice_kinesis_errors_total{operation=\"other\",error_code=\"UnknownOperationException\"} 1\n") !=
        std::string::npos);
}

TEST_CASE("queries keep reading across SplitShard, MergeShards and UpdateShardCount, losing nothing") {
  TempDir tmp;
  const std::string pipeline = tmp.path() + "/reshard.sql";
  WriteFile(pipeline,
            "CREATE TABLE events (id BIGINT, k TEXT, ts TIMESTAMPTZ) WITH (connector = 'stream', shards = 2, "
            "event_time = 'ts', watermark_delay = '1 second');\n"
            "CREATE TABLE by_id () WITH (connector = 'kv', primary_key = 'id');\n"
            "INSERT INTO by_id SELECT id, k FROM events;\n"
            "CREATE TABLE per_key () WITH (connector = 'kv', primary_key = 'k, window_start');\n"
            "INSERT INTO per_key SELECT k, window_start, count(*) AS n FROM TUMBLE(events, ts, INTERVAL '1 hour') "
            "GROUP BY k, window_start;\n");
  SluiceProcess server(pipeline, tmp.path() + "/data");
  auto call = [&](const std::string& op, const std::string& body) {
    auto r = HttpPost(server.url() + "/", body, KinesisHeaders(op));
    INFO(op << ": " << r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  };
  int next = 0;
  auto put = [&](int n) {
    std::vector<std::pair<std::string, std::string>> batch;
    for (int i = 0; i < n; ++i, ++next) {
      // Event times one hour apart per round, so the previous hour's window fires.
      batch.emplace_back("key-" + std::to_string(next % 16),
                         "{\"id\":" + std::to_string(next) + ",\"k\":\"key-" + std::to_string(next % 16) +
                             "\",\"ts\":" + std::to_string(1767225600000LL + next) + "}");
    }
    auto j = call("PutRecords", PutRecordsBody("events", batch));
    REQUIRE(j["FailedRecordCount"].get<int>() == 0);
  };
  put(400);
  call("SplitShard", R"({"StreamName":"events","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"85070591730234615865843651857942052864"})");
  put(400);
  auto shards = call("ListShards", R"({"StreamName":"events"})")["Shards"];
  REQUIRE(shards.size() == 4);
  call("MergeShards", R"({"StreamName":"events","ShardToMerge":"shardId-000000000002","AdjacentShardToMerge":"shardId-000000000003"})");
  put(400);
  call("UpdateShardCount", R"({"StreamName":"events","TargetShardCount":3,"ScalingType":"UNIFORM_SCALING"})");
  put(400);
  // Every record reached the projection, whichever shard generation it landed in.
  bool all = false;
  for (int i = 0; i < 200 && !all; ++i) {
    auto r = HttpGet(server.url() + "/tables/by_id?prefix=&limit=100000");
    auto j = json::parse(r.body, nullptr, false);
    all = j.is_object() && j.contains("rows") && j["rows"].size() == static_cast<size_t>(next);
    if (!all) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(all);
  // The query read every shard: /queries lists the children next to their parents.
  auto q = json::parse(HttpGet(server.url() + "/queries").body);
  CHECK(q[0]["shards"].size() >= 6);
  CHECK(q[0]["records_in"].get<int>() == next);
}

TEST_CASE("late_output: events later than allowed lateness go to the named stream with the reason and watermark") {
  TempDir tmp;
  const std::string pipeline = tmp.path() + "/late.sql";
  WriteFile(pipeline,
            "CREATE TABLE events (id BIGINT, ts TIMESTAMPTZ) WITH (connector = 'stream', shards = 1, "
            "event_time = 'ts', watermark_delay = '1 second', allowed_lateness = '5 seconds', late_output = 'late_events');\n"
            "CREATE TABLE per_10s () WITH (connector = 'kv', primary_key = 'window_start');\n"
            "INSERT INTO per_10s SELECT window_start, count(*) AS n FROM TUMBLE(events, ts, INTERVAL '10 seconds') "
            "GROUP BY window_start;\n");
  SluiceProcess server(pipeline, tmp.path() + "/data");
  auto put = [&](const std::vector<std::pair<std::string, std::string>>& records) {
    auto r = HttpPost(server.url() + "/", PutRecordsBody("events", records), KinesisHeaders("PutRecords"));
    REQUIRE(r.status == 200);
  };
  const int64_t base = 1767225600000;
  std::vector<std::pair<std::string, std::string>> on_time;
  for (int i = 0; i < 60; ++i)
    on_time.emplace_back("k", "{\"id\":" + std::to_string(i) + ",\"ts\":" + std::to_string(base + i * 1000) + "}");
  put(on_time);
  // Wait until the watermark has passed 00:00:40 (the batch above has been processed).
  for (int i = 0; i < 100; ++i) {
    auto q = json::parse(HttpGet(server.url() + "/queries").body, nullptr, false);
    if (q.is_array() && q[0]["records_in"].get<int>() == 60) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // id 1000: 00:00:05, whose window ended 00:00:10 + 5 s lateness long before the watermark (~00:00:58).
  put({{"k", "{\"id\":1000,\"ts\":" + std::to_string(base + 5000) + "}"}});
  json records = json::array();
  for (int i = 0; i < 100 && records.empty(); ++i) {
    auto it = HttpPost(server.url() + "/",
                       R"({"StreamName":"late_events","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"})",
                       KinesisHeaders("GetShardIterator"));
    REQUIRE(it.status == 200);
    auto got = HttpPost(server.url() + "/",
                        "{\"ShardIterator\":\"" + json::parse(it.body)["ShardIterator"].get<std::string>() + "\"}",
                        KinesisHeaders("GetRecords"));
    REQUIRE(got.status == 200);
    records = json::parse(got.body)["Records"];
    if (records.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(records.size() == 1);
  std::string decoded;
  REQUIRE(Base64Decode(records[0]["Data"].get<std::string>(), &decoded));
  auto late = json::parse(decoded);
  CHECK(late["source"] == "events");
  CHECK(late["window_end"] == "2026-01-01T00:00:10.000Z");
  CHECK(late["reason"].get<std::string>().find("already closed at watermark") != std::string::npos);
  CHECK(late["watermark"].get<std::string>().rfind("2026-01-01T00:00:5", 0) == 0);
  CHECK(json::parse(late["data"].get<std::string>())["id"] == 1000);
  // Counted as late, not sent to the dead-letter queue.
  auto q = json::parse(HttpGet(server.url() + "/queries").body);
  CHECK(q[0]["late_records"] == 1);
  CHECK_FALSE(std::filesystem::exists(tmp.path() + "/data/dead-letter/events.jsonl"));
}

TEST_CASE("Kinesis limits are configurable: --max-records-per-request and --max-record-bytes") {
  TempDir tmp;
  SluiceProcessOptions o;
  o.args = {"--max-records-per-request", "3", "--max-record-bytes", "16"};
  SluiceProcess server(TestPipeline(tmp.path()), tmp.path() + "/data", o);
  auto post = [&](const std::string& body) {
    return HttpPost(server.url() + "/", body, KinesisHeaders("PutRecords"));
  };
  auto records = [](int n, const std::string& data_b64) {
    std::string b = R"({"StreamName":"unicorn_telemetry","Records":[)";
    for (int i = 0; i < n; ++i) b += std::string(i ? "," : "") + R"({"Data":")" + data_b64 + R"(","PartitionKey":"k"})";
    return b + "]}";
  };
  auto r = post(records(3, "eA=="));
  CHECK(r.status == 200);
  r = post(records(4, "eA=="));
  CHECK(r.status == 400);
  CHECK(r.body.find("ValidationException") != std::string::npos);
  CHECK(r.body.find("less than or equal to 3") != std::string::npos);
  // 16 bytes of data plus the 1-byte key is over the 16-byte record limit.
  r = post(records(1, "MDEyMzQ1Njc4OWFiY2RlZg=="));
  CHECK(r.status == 400);
  CHECK(r.body.find("ValidationException") != std::string::npos);
  r = post(records(1, "MDEyMzQ1Njc4OWFiY2Rl"));  // 15 bytes + key: exactly the limit
  CHECK(r.status == 200);
}
