#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/memory_state_store.h"
#include "sinks/archive_sink.h"
#include "sinks/kv_table.h"
#include "sinks/metrics_sink.h"

using namespace sluice;
using namespace sluice::sinks;
namespace fs = std::filesystem;

namespace {
std::string TempDir() {
  char tmpl[] = "/tmp/sluice-sinks-XXXXXX";
  return ::mkdtemp(tmpl);
}
Schema MinuteSchema() {
  return Schema({{"name", DataType::kText}, {"window_start", DataType::kTimestamp}, {"readings", DataType::kInt64}});
}
Row MinuteRow(const char* name, int64_t minute, int64_t n) {
  return {Value::Text(name), Value::Time(EventTime{minute * 60000000}), Value::Int(n)};
}
std::string Gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[4096];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return out;
}
// One checkpoint as the runtime takes it: prepare, commit the batch, publish.
void Checkpoint(Sink* sink, StateStore* store) {
  static uint64_t id = 0;
  StoreBatch batch;
  REQUIRE(sink->PrepareCheckpoint(++id, &batch).ok());
  REQUIRE(store->Commit(batch).ok());
  REQUIRE(sink->CommitCheckpoint(id).ok());
}
// Every line of every published file under `dir`, sorted.
std::vector<std::string> PublishedLines(const std::string& dir) {
  std::vector<std::string> lines;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().filename().string()[0] == '.') continue;
    std::string text = Gunzip(e.path());
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) lines.push_back(text.substr(start, nl - start));
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}
size_t InProgressFiles(const std::string& dir) {
  size_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] == '.') ++n;
  return n;
}
}  // namespace

TEST_CASE("kv table: upsert by primary key, get, prefix and range scans, reopen") {
  MemoryStateStore store;
  {
    KvTables tables(&store);
    auto t = tables.Open("unicorn_minutes", MinuteSchema(), {0, 1});
    REQUIRE(t.ok());
    CHECK(tables.table("unicorn_minutes") == *t);
    CHECK(tables.table("other") == nullptr);
    CHECK(tables.Open("bad", MinuteSchema(), {}).status().code() == StatusCode::kInvalidArgument);
    REQUIRE((*t)->Write({MinuteRow("Shadowfax", 0, 1), MinuteRow("Shadowfax", 1, 2), MinuteRow("Rocinante", 0, 3)}).ok());
    REQUIRE((*t)->Write({MinuteRow("Shadowfax", 1, 5)}).ok());  // Upsert replaces.
    auto g = (*t)->Get("Shadowfax|1970-01-01T00:01:00.000Z");
    REQUIRE(g.ok());
    REQUIRE(g->has_value());
    CHECK(**g == R"({"name":"Shadowfax","window_start":"1970-01-01T00:01:00.000Z","readings":5})");
    CHECK_FALSE((*t)->Get("nobody")->has_value());
    auto p = (*t)->Scan("Shadowfax|", "", "", 100);
    REQUIRE(p.ok());
    CHECK(p->size() == 2);
    auto r = (*t)->Scan("", "Rocinante", "S", 100);
    REQUIRE(r->size() == 1);
    CHECK(r->at(0).first == "Rocinante|1970-01-01T00:00:00.000Z");
    CHECK((*t)->Scan("", "", "", 2)->size() == 2);
    CHECK((*t)->Scan("", "", "", 0)->empty());
    CHECK(store.size("table.unicorn_minutes") == 3);
  }
  KvTables reopened(&store);
  auto t = reopened.Open("unicorn_minutes", MinuteSchema(), {0, 1});
  REQUIRE(t.ok());
  CHECK((*t)->Scan("", "", "", 100)->size() == 3);
}

TEST_CASE("archive: hour partitions, gzip JSON lines, size and interval flushes") {
  std::string dir = TempDir();
  ArchiveOptions o;
  o.dir = dir + "/archive/t";
  o.buffer_bytes = 1 << 20;
  o.buffer_interval = std::chrono::seconds(60);
  MemoryStateStore store;
  ArchiveSink sink(o, MinuteSchema());
  REQUIRE(sink.Recover(&store).ok());
  // Minutes 0..119 span hours 00 and 01 of 1970-01-01.
  std::vector<Row> rows;
  for (int m = 0; m < 120; ++m) rows.push_back(MinuteRow("u", m, m));
  REQUIRE(sink.Write(rows).ok());
  CHECK(sink.buffered_rows() == 120);
  REQUIRE(sink.Tick(WallNow()).ok());
  CHECK(sink.files_written() == 0);  // Interval not reached.
  REQUIRE(sink.Tick(WallNow() + std::chrono::seconds(61)).ok());
  CHECK(sink.files_written() == 0);  // Sealed, but published only by a checkpoint.
  CHECK(sink.WantsCheckpoint());
  Checkpoint(&sink, &store);
  CHECK(sink.files_written() == 2);
  CHECK_FALSE(sink.WantsCheckpoint());
  CHECK(sink.buffered_rows() == 0);
  std::string h0 = o.dir + "/year=1970/month=01/day=01/hour=00";
  std::string h1 = o.dir + "/year=1970/month=01/day=01/hour=01";
  REQUIRE(fs::exists(h0));
  REQUIRE(fs::exists(h1));
  std::string content;
  int files = 0;
  for (auto& e : fs::directory_iterator(h1)) {
    CHECK(e.path().filename().string().rfind("part-", 0) == 0);
    CHECK(e.path().extension() == ".gz");
    content += Gunzip(e.path());
    ++files;
  }
  CHECK(files == 1);
  CHECK(std::count(content.begin(), content.end(), '\n') == 60);
  CHECK(content.find(R"({"name":"u","window_start":"1970-01-01T01:00:00.000Z","readings":60})") != std::string::npos);
  // Size-triggered flush.
  ArchiveOptions small = o;
  small.buffer_bytes = 200;
  small.file_prefix = "small";
  small.state_space = "sink.small";
  ArchiveSink s2(small, MinuteSchema());
  REQUIRE(s2.Recover(&store).ok());
  REQUIRE(s2.Write({MinuteRow("a", 0, 1), MinuteRow("b", 0, 2), MinuteRow("c", 0, 3)}).ok());
  Checkpoint(&s2, &store);
  CHECK(s2.files_written() == 1);
  REQUIRE(s2.Write({MinuteRow("d", 0, 4)}).ok());
  REQUIRE(s2.Close().ok());
  Checkpoint(&s2, &store);
  CHECK(s2.files_written() == 2);
  fs::remove_all(dir);
}

TEST_CASE("archive: two-phase publish survives a crash at every phase, each row in exactly one file") {
  std::string dir = TempDir();
  ArchiveOptions o;
  o.dir = dir + "/archive";
  o.buffer_bytes = 1 << 20;
  o.partition = "none";
  MemoryStateStore store;
  std::vector<std::string> expected;
  auto rows = [&](int from, int to) {
    std::vector<Row> out;
    for (int i = from; i < to; ++i) out.push_back(MinuteRow("u", i, i));
    return out;
  };
  Schema schema = MinuteSchema();
  for (const Row& r : rows(0, 30)) expected.push_back(RowToJson(schema, r));
  std::sort(expected.begin(), expected.end());

  {
    ArchiveSink a(o, schema);
    REQUIRE(a.Recover(&store).ok());
    REQUIRE(a.Write(rows(0, 10)).ok());
    Checkpoint(&a, &store);            // rows 0..9 committed as a buffer chunk, no file yet
    REQUIRE(a.Write(rows(10, 15)).ok());
    REQUIRE(a.Close().ok());           // sealed into an in-progress file, never committed
    CHECK(InProgressFiles(o.dir) == 1);
  }  // crash
  {
    ArchiveSink a(o, schema);
    REQUIRE(a.Recover(&store).ok());   // deletes the uncommitted file, reloads rows 0..9
    CHECK(InProgressFiles(o.dir) == 0);
    CHECK(a.buffered_rows() == 10);
    CHECK(PublishedLines(o.dir).empty());
    REQUIRE(a.Write(rows(10, 20)).ok());  // the replay
    REQUIRE(a.Close().ok());
    StoreBatch batch;
    REQUIRE(a.PrepareCheckpoint(1, &batch).ok());
    REQUIRE(store.Commit(batch).ok());
  }  // crash between the state commit and the publish
  {
    ArchiveSink a(o, schema);
    Status rs = a.Recover(&store);  // rolls the committed file forward
    INFO(rs.ToString());
    REQUIRE(rs.ok());
    CHECK(InProgressFiles(o.dir) == 0);
    CHECK(PublishedLines(o.dir).size() == 20);
    CHECK(a.buffered_rows() == 0);
    REQUIRE(a.Write(rows(20, 30)).ok());
    REQUIRE(a.Close().ok());
    Checkpoint(&a, &store);
  }
  CHECK(PublishedLines(o.dir) == expected);

  // A published file numbered at or past the committed sequence (from a checkpoint that was
  // rolled back to an older snapshot) is removed on recovery; other files are left alone.
  {
    std::ofstream(o.dir + "/part-0000000099.jsonl.gz") << "x";
    std::ofstream(o.dir + "/other-0000000099.jsonl.gz") << "x";
    std::ofstream(o.dir + "/part-1767225600000-0.jsonl.gz") << "x";  // the old naming: kept
    ArchiveSink a(o, schema);
    REQUIRE(a.Recover(&store).ok());
    CHECK_FALSE(fs::exists(o.dir + "/part-0000000099.jsonl.gz"));
    CHECK(fs::exists(o.dir + "/other-0000000099.jsonl.gz"));
    CHECK(fs::exists(o.dir + "/part-1767225600000-0.jsonl.gz"));
  }
  fs::remove_all(dir);
}

TEST_CASE("kv table writer: rows are staged until the checkpoint commits them") {
  MemoryStateStore store;
  KvTables tables(&store);
  auto table = tables.Open("minutes", MinuteSchema(), {0, 1});
  REQUIRE(table.ok());
  KvTableWriter w(*table);
  REQUIRE(w.Write({MinuteRow("a", 1, 1), MinuteRow("a", 1, 2), MinuteRow("b", 1, 3)}).ok());
  CHECK(w.buffered_rows() == 2);  // last row per key wins
  CHECK(w.WantsCheckpoint());
  auto before = (*table)->Scan("", "", "", 100);
  REQUIRE(before.ok());
  CHECK(before->empty());
  Checkpoint(&w, &store);
  CHECK_FALSE(w.WantsCheckpoint());
  auto after = (*table)->Scan("", "", "", 100);
  REQUIRE(after.ok());
  REQUIRE(after->size() == 2);
  CHECK((*after)[0].second.find("\"readings\":2") != std::string::npos);
  // Recovery drops what an uncommitted attempt staged.
  REQUIRE(w.Write({MinuteRow("c", 1, 9)}).ok());
  REQUIRE(w.Recover(&store).ok());
  Checkpoint(&w, &store);
  CHECK((*table)->Scan("", "", "", 100)->size() == 2);
  // The table counts committed rows and keeps the latest, newest first.
  CHECK((*table)->rows_written() == 2);
  // A prefix scan starting inside the prefix (the table API's continuation).
  auto from_b = (*table)->Scan("b", "b|", "", 10);
  REQUIRE(from_b.ok());
  CHECK(from_b->size() == 1);
  CHECK((*table)->Scan("a", "a|\xff", "", 10)->empty());
  auto latest = (*table)->LatestRows();
  REQUIRE(latest.size() == 2);
  CHECK(latest[0].find("\"name\":\"b\"") != std::string::npos);
  for (int i = 0; i < 15; ++i) {
    REQUIRE(w.Write({MinuteRow("z", 10 + i, i)}).ok());
    Checkpoint(&w, &store);
  }
  CHECK((*table)->rows_written() == 17);
  latest = (*table)->LatestRows();
  REQUIRE(latest.size() == KvTable::kLatestRows);
  CHECK(latest[0].find("\"readings\":14") != std::string::npos);
  // Within one checkpoint, newest by write order, not by key.
  REQUIRE(w.Write({MinuteRow("zz", 1, 100), MinuteRow("aa", 1, 101)}).ok());
  Checkpoint(&w, &store);
  latest = (*table)->LatestRows();
  CHECK(latest[0].find("\"name\":\"aa\"") != std::string::npos);
  CHECK(latest[1].find("\"name\":\"zz\"") != std::string::npos);
}

TEST_CASE("metrics sink: numeric columns of the last committed row become gauges") {
  MetricsRegistry metrics;
  MemoryStateStore store;
  Schema schema({{"window_start", DataType::kTimestamp}, {"label", DataType::kText}, {"distance", DataType::kFloat64},
                 {"unicorns", DataType::kInt64}, {"ok", DataType::kBool}});
  MetricsSink sink("fleet", schema, &metrics);
  CHECK(sink.columns() == std::vector<std::string>{"window_start", "distance", "unicorns", "ok"});
  auto& distance = metrics.GetGauge("sluice_sink_value", "", {{"sink", "fleet"}, {"column", "distance"}});
  auto& unicorns = metrics.GetGauge("sluice_sink_value", "", {{"sink", "fleet"}, {"column", "unicorns"}});
  auto& start = metrics.GetGauge("sluice_sink_value", "", {{"sink", "fleet"}, {"column", "window_start"}});
  CHECK(std::isnan(distance.value()));
  REQUIRE(sink.Write({{Value::Time(EventTime{60000000}), Value::Text("x"), Value::Float(1.5), Value::Int(3), Value::Bool(true)},
                      {Value::Time(EventTime{120000000}), Value::Text("y"), Value::Float(2.5), Value::Null(), Value::Bool(false)}})
              .ok());
  CHECK(sink.WantsCheckpoint());
  CHECK(std::isnan(distance.value()));  // not committed yet
  Checkpoint(&sink, &store);
  CHECK(distance.value() == 2.5);
  CHECK(std::isnan(unicorns.value()));  // NULL
  CHECK(start.value() == 120.0);
  // A row of an attempt that never committed is never shown.
  REQUIRE(sink.Write({{Value::Time(EventTime{180000000}), Value::Text("z"), Value::Float(9), Value::Int(1), Value::Bool(true)}}).ok());
  REQUIRE(sink.Recover(&store).ok());
  Checkpoint(&sink, &store);
  CHECK(distance.value() == 2.5);
}
