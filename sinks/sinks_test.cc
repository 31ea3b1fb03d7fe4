#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>

#include "sinks/archive_sink.h"
#include "sinks/kv_store.h"

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
}  // namespace

TEST_CASE("kv table: upsert by primary key, get, prefix and range scans, reopen") {
  std::string dir = TempDir();
  {
    auto store = KvStore::Open(dir);
    REQUIRE(store.ok());
    auto t = (*store)->OpenTable("unicorn_minutes", MinuteSchema(), {0, 1});
    REQUIRE(t.ok());
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
    REQUIRE((*store)->PutMeta("positions/q1", "{\"a\":1}").ok());
    CHECK((*store)->GetMeta("nope").status().code() == StatusCode::kNotFound);
  }
  auto store = KvStore::Open(dir);
  REQUIRE(store.ok());
  auto t = (*store)->OpenTable("unicorn_minutes", MinuteSchema(), {0, 1});
  CHECK((*t)->Scan("", "", "", 100)->size() == 3);
  CHECK(*(*store)->GetMeta("positions/q1") == "{\"a\":1}");
  fs::remove_all(dir);
}

TEST_CASE("archive: hour partitions, gzip JSON lines, size and interval flushes") {
  std::string dir = TempDir();
  ArchiveOptions o;
  o.dir = dir + "/archive/t";
  o.buffer_bytes = 1 << 20;
  o.buffer_interval = std::chrono::seconds(60);
  ArchiveSink sink(o, MinuteSchema());
  // Minutes 0..119 span hours 00 and 01 of 1970-01-01.
  std::vector<Row> rows;
  for (int m = 0; m < 120; ++m) rows.push_back(MinuteRow("u", m, m));
  REQUIRE(sink.Write(rows).ok());
  CHECK(sink.buffered_rows() == 120);
  REQUIRE(sink.Tick(WallNow()).ok());
  CHECK(sink.files_written() == 0);  // Interval not reached.
  REQUIRE(sink.Tick(WallNow() + std::chrono::seconds(61)).ok());
  CHECK(sink.files_written() == 2);
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
  ArchiveSink s2(small, MinuteSchema());
  REQUIRE(s2.Write({MinuteRow("a", 0, 1), MinuteRow("b", 0, 2), MinuteRow("c", 0, 3)}).ok());
  CHECK(s2.files_written() == 1);
  REQUIRE(s2.Write({MinuteRow("d", 0, 4)}).ok());
  REQUIRE(s2.Close().ok());
  CHECK(s2.files_written() == 2);
  fs::remove_all(dir);
}
