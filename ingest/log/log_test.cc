#include "ingest/log/log.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "core/time.h"

using namespace sluice;
using namespace sluice::log;

TEST_CASE("streams: create, route by MD5, group-committed puts, reopen") {
  char tmpl[] = "/tmp/sluice-streams-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  {
    auto log = Log::Open({dir, {}});
    REQUIRE(log.ok());
    CHECK((*log)->CreateStream("bad/name", 1).code() == StatusCode::kInvalidArgument);
    CHECK((*log)->CreateStream("s", 0).code() == StatusCode::kInvalidArgument);
    REQUIRE((*log)->CreateStream("telemetry", 4).ok());
    CHECK((*log)->CreateStream("telemetry", 4).code() == StatusCode::kAlreadyExists);

    // Concurrent writers; every callback must see its records durable.
    std::atomic<int> acked{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; i < 50; ++i) {
          std::string k1 = "Shadowfax", k2 = "Rocinante", d = "w" + std::to_string(w) + "-" + std::to_string(i);
          PutEntry e[2] = {{k1, d, {}}, {k2, d, {}}};
          std::vector<PutResult> res;
          std::promise<Status> p;
          auto s = (*log)->Put("telemetry", e, &res, [&](Status st) { p.set_value(st); });
          REQUIRE(s.ok());
          REQUIRE(p.get_future().get().ok());
          CHECK(res[0].shard == 1);  // MD5("Shadowfax") lies in shard 1 of 4.
          CHECK(res[1].shard == 3);
          auto stream = (*log)->GetStream("telemetry");
          CHECK((*stream)->shard(res[0].shard).durable_end() > res[0].sequence);
          acked += 2;
        }
      });
    }
    for (auto& t : writers) t.join();
    CHECK(acked == 400);
    std::vector<PutResult> res;
    PutEntry e{"x", "y", {}};
    CHECK((*log)->Put("nope", {&e, 1}, &res, nullptr).code() == StatusCode::kNotFound);
  }
  auto log = Log::Open({dir, {}});
  REQUIRE(log.ok());
  CHECK((*log)->ListStreams() == std::vector<std::string>{"telemetry"});
  auto s = (*log)->GetStream("telemetry");
  REQUIRE(s.ok());
  CHECK((*s)->shard(1).durable_end() == 201);
  CHECK((*s)->shard(3).durable_end() == 201);
  CHECK((*s)->shard(0).durable_end() == 1);
  std::filesystem::remove_all(dir);
}

namespace {

std::string MakeTempDir() {
  char tmpl[] = "/tmp/sluice-streams-XXXXXX";
  return ::mkdtemp(tmpl);
}

// Puts `n` records with distinct keys to `stream` and waits until they are durable.
void PutAndWait(Log* log, const std::string& stream, int n, const std::string& tag = "r") {
  std::vector<std::string> keys, datas;
  for (int i = 0; i < n; ++i) {
    keys.push_back("key-" + std::to_string(i));
    datas.push_back(tag + std::to_string(i) + std::string(40, 'x'));
  }
  std::vector<PutEntry> entries;
  for (int i = 0; i < n; ++i) entries.push_back({keys[static_cast<size_t>(i)], datas[static_cast<size_t>(i)], {}});
  std::vector<PutResult> res;
  std::promise<Status> p;
  REQUIRE(log->Put(stream, entries, &res, [&](Status st) { p.set_value(st); }).ok());
  REQUIRE(p.get_future().get().ok());
}

size_t CountRecords(const Stream& s) {
  size_t n = 0;
  for (int i = 0; i < s.shard_count(); ++i) {
    LogCursor c;
    ReadBatch b;
    for (;;) {
      REQUIRE(s.shard(i).Read(&c, 1000, 1 << 20, &b).ok());
      if (b.records.empty()) break;
      n += b.records.size();
    }
  }
  return n;
}

LogOptions SmallSegments(const std::string& dir) {
  LogOptions o;
  o.dir = dir;
  o.shard.segment_bytes = 1500;
  o.shard.index_interval_bytes = 200;
  o.retention_check_interval = std::chrono::milliseconds(0);
  return o;
}

}  // namespace

TEST_CASE("retention: periods are validated and stored; expired segments are deleted") {
  std::string dir = MakeTempDir();
  {
    auto log = Log::Open(SmallSegments(dir));
    REQUIRE(log.ok());
    REQUIRE((*log)->CreateStream("short", 1).ok());
    REQUIRE((*log)->CreateStream("long", 1, StreamMode::kOnDemand).ok());
    auto s = *(*log)->GetStream("short");
    CHECK(s->retention_hours() == 24);
    CHECK(s->mode() == StreamMode::kProvisioned);
    CHECK((*(*log)->GetStream("long"))->mode() == StreamMode::kOnDemand);

    CHECK((*log)->SetRetentionHours("short", 23, RetentionChange::kIncrease).code() == StatusCode::kInvalidArgument);
    CHECK((*log)->SetRetentionHours("short", 8761, RetentionChange::kIncrease).code() == StatusCode::kInvalidArgument);
    CHECK((*log)->SetRetentionHours("nope", 48, RetentionChange::kIncrease).code() == StatusCode::kNotFound);
    REQUIRE((*log)->SetRetentionHours("long", 48, RetentionChange::kIncrease).ok());
    CHECK((*log)->SetRetentionHours("long", 47, RetentionChange::kIncrease).code() == StatusCode::kInvalidArgument);
    CHECK((*log)->SetRetentionHours("long", 49, RetentionChange::kDecrease).code() == StatusCode::kInvalidArgument);
    CHECK((*log)->SetRetentionHours("long", 48, RetentionChange::kDecrease).ok());  // Equal is fine.
    CHECK((*(*log)->GetStream("long"))->retention_hours() == 48);

    // Ten separate commits of 10 records: several segments per stream.
    for (int i = 0; i < 10; ++i) {
      PutAndWait(log->get(), "short", 10);
      PutAndWait(log->get(), "long", 10);
    }
    CHECK(CountRecords(*s) == 100);
    const int64_t now = WallNow().millis();
    auto r = (*log)->EnforceRetention(now);
    REQUIRE(r.ok());
    CHECK(r->segments == 0);
    // 25 hours later: "short" (24 h) loses every sealed segment; "long" (48 h) keeps everything.
    r = (*log)->EnforceRetention(now + 25 * 3600 * 1000LL);
    REQUIRE(r.ok());
    CHECK(r->segments > 0);
    CHECK(CountRecords(*s) == 100 - r->records);
    CHECK(s->shard(0).first_sequence() == 1 + r->records);
    CHECK(s->shard(0).durable_end() == 101);
    CHECK(CountRecords(**(*log)->GetStream("long")) == 100);
  }
  // Retention periods and modes survive a restart.
  auto log = Log::Open(SmallSegments(dir));
  REQUIRE(log.ok());
  CHECK((*(*log)->GetStream("long"))->retention_hours() == 48);
  CHECK((*(*log)->GetStream("long"))->mode() == StreamMode::kOnDemand);
  CHECK((*(*log)->GetStream("short"))->retention_hours() == 24);
  std::filesystem::remove_all(dir);
}

TEST_CASE("retention: the size cap is enforced by the sync thread") {
  std::string dir = MakeTempDir();
  LogOptions o = SmallSegments(dir);
  o.retention_bytes_per_shard = 3000;
  o.retention_check_interval = std::chrono::milliseconds(20);
  auto log = Log::Open(o);
  REQUIRE(log.ok());
  REQUIRE((*log)->CreateStream("capped", 1).ok());
  for (int i = 0; i < 10; ++i) PutAndWait(log->get(), "capped", 10);
  auto s = *(*log)->GetStream("capped");
  bool trimmed = false;
  for (int i = 0; i < 200 && !trimmed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    trimmed = s->shard(0).size_bytes() <= 3000;
  }
  CHECK(trimmed);
  CHECK(s->shard(0).first_sequence() > 1);
  CHECK(s->shard(0).durable_end() == 101);
  std::filesystem::remove_all(dir);
}

TEST_CASE("DeleteStream: gone at once, readers keep reading, files removed with the last reader") {
  namespace fs = std::filesystem;
  std::string dir = MakeTempDir();
  {
    auto log = Log::Open(SmallSegments(dir));
    REQUIRE(log.ok());
    CHECK((*log)->DeleteStream("nope").code() == StatusCode::kNotFound);
    REQUIRE((*log)->CreateStream("doomed", 2).ok());
    REQUIRE((*log)->CreateStream("kept", 1).ok());
    PutAndWait(log->get(), "doomed", 30);
    auto reader = *(*log)->GetStream("doomed");
    REQUIRE((*log)->DeleteStream("doomed").ok());
    CHECK(reader->deleted());
    CHECK((*log)->GetStream("doomed").status().code() == StatusCode::kNotFound);
    CHECK((*log)->ListStreams() == std::vector<std::string>{"kept"});
    CHECK((*log)->DeleteStream("doomed").code() == StatusCode::kNotFound);
    std::vector<PutResult> res;
    PutEntry e{"k", "v", {}};
    CHECK((*log)->Put("doomed", {&e, 1}, &res, nullptr).code() == StatusCode::kNotFound);
    CHECK(!fs::exists(dir + "/doomed"));
    // The reader still has every record.
    CHECK(CountRecords(*reader) == 30);
    // The name is free again, for a new, empty stream.
    REQUIRE((*log)->CreateStream("doomed", 1).ok());
    CHECK(CountRecords(**(*log)->GetStream("doomed")) == 0);
    size_t trash = 0;
    for (auto& d : fs::directory_iterator(dir)) trash += d.path().filename().string().find("~deleted-") != std::string::npos;
    CHECK(trash == 1);
    reader.reset();  // The last reference: the deleted stream's files go.
    trash = 0;
    for (auto& d : fs::directory_iterator(dir)) trash += d.path().filename().string().find("~deleted-") != std::string::npos;
    CHECK(trash == 0);
  }
  // Leftovers of an interrupted removal are cleaned up by Open().
  fs::create_directories(dir + "/old~deleted-1-1/shardId-000000000000");
  auto log = Log::Open(SmallSegments(dir));
  REQUIRE(log.ok());
  CHECK(!fs::exists(dir + "/old~deleted-1-1"));
  CHECK((*log)->ListStreams() == std::vector<std::string>{"doomed", "kept"});
  fs::remove_all(dir);
}

TEST_CASE("backpressure: shard write limits and the memory budget fail just the records over them") {
  char tmpl[] = "/tmp/sluice-bp-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  SUBCASE("records per second per shard") {
    LogOptions o{dir, {}};
    o.shard_records_per_second = 10;
    auto log = Log::Open(o);
    REQUIRE(log.ok());
    REQUIRE((*log)->CreateStream("s", 2).ok());
    std::vector<PutEntry> e(50, PutEntry{"Shadowfax", "x", {}});  // All on one shard.
    e.push_back({"Rocinante", "y", {}});                          // Another shard: unaffected.
    std::vector<PutResult> res;
    std::promise<Status> p;
    REQUIRE((*log)->Put("s", e, &res, [&](Status st) { p.set_value(st); }).ok());
    REQUIRE(p.get_future().get().ok());
    int ok = 0, throttled = 0;
    for (size_t i = 0; i < 50; ++i) {
      if (res[i].status.ok()) ++ok;
      else if (res[i].status.code() == StatusCode::kResourceExhausted) ++throttled;
    }
    CHECK(ok == 10);  // The bucket starts with one second's worth.
    CHECK(throttled == 40);
    CHECK(res[0].status.ok());
    CHECK(res[49].status.message().find("Rate exceeded for shard") != std::string::npos);
    CHECK(res[50].status.ok());
    // Accepted records got consecutive sequence numbers; refused ones got none.
    CHECK(res[9].sequence == 10);
  }
  SUBCASE("memory budget for unsynced bytes") {
    LogOptions o{dir, {}};
    o.max_pending_bytes = 1000;  // Room for about 8 records of 100 bytes plus overhead.
    auto log = Log::Open(o);
    REQUIRE(log.ok());
    REQUIRE((*log)->CreateStream("s", 1).ok());
    std::string data(100, 'd');
    std::vector<PutEntry> e(100, PutEntry{"k", data, {}});
    std::vector<PutResult> res;
    std::promise<Status> p;
    REQUIRE((*log)->Put("s", e, &res, [&](Status st) { p.set_value(st); }).ok());
    REQUIRE(p.get_future().get().ok());
    size_t ok = 0;
    for (auto& r : res) ok += r.status.ok();
    CHECK(ok == 1000 / (100 + 1 + 16));
    CHECK(res.back().status.code() == StatusCode::kResourceExhausted);
    // Once committed, the budget is free again: memory never grows past it, and nothing leaks.
    CHECK((*log)->pending_bytes() == 0);
    std::promise<Status> p2;
    REQUIRE((*log)->Put("s", std::span(e).subspan(0, 3), &res, [&](Status st) { p2.set_value(st); }).ok());
    REQUIRE(p2.get_future().get().ok());
    for (auto& r : res) CHECK(r.status.ok());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("write throttle refills at its rate") {
  WriteThrottle t(100, 0);
  int took = 0;
  for (int i = 0; i < 200; ++i) took += t.TryTake(10, 0);
  CHECK(took == 100);
  CHECK_FALSE(t.TryTake(10, 5000));    // 5 ms later: half a token.
  CHECK(t.TryTake(10, 10000));         // 10 ms later: one token.
  WriteThrottle bytes(0, 1000);
  CHECK(bytes.TryTake(600, 0));
  CHECK_FALSE(bytes.TryTake(600, 0));
  CHECK(bytes.TryTake(600, 200000));   // 0.2 s refills 200 bytes: 400 + 200 = 600.
  CHECK(WriteThrottle(0, 0).unlimited());
}

TEST_CASE("group commit: Puts issued together share fdatasyncs, and each is acked only after one") {
  char tmpl[] = "/tmp/sluice-streams-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  auto log = Log::Open({dir, {}});
  REQUIRE(log.ok());
  REQUIRE((*log)->CreateStream("s", 1).ok());
  auto stream = (*log)->GetStream("s");
  REQUIRE(stream.ok());
  ShardLog& shard = (*stream)->shard(0);
  constexpr int kPuts = 200;
  std::atomic<int> acked{0}, acked_before_sync{0};
  std::promise<void> all;
  for (int i = 0; i < kPuts; ++i) {
    std::string d = "r" + std::to_string(i);
    PutEntry e{"key", d, {}};
    std::vector<PutResult> res;
    REQUIRE((*log)->Put("s", {&e, 1}, &res, [&](Status st) {
                  CHECK(st.ok());
                  if (shard.fsyncs() == 0) ++acked_before_sync;
                  if (++acked == kPuts) all.set_value();
                }).ok());
  }
  all.get_future().wait();
  CHECK(acked_before_sync == 0);
  CHECK(shard.durable_end() == kPuts + 1);
  // 200 Puts made while the sync thread was busy with earlier rounds: far fewer fsyncs than Puts.
  MESSAGE("fdatasync calls for " << kPuts << " Puts: " << shard.fsyncs());
  CHECK(shard.fsyncs() >= 1);
  CHECK(shard.fsyncs() < kPuts / 2);
  log->reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("flush_interval: acks after the write; records readable once fdatasynced, within the interval or at shutdown") {
  char tmpl[] = "/tmp/sluice-streams-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  auto put = [](Log* log, const std::string& d) {
    PutEntry e{"key", d, {}};
    std::vector<PutResult> res;
    std::promise<Status> p;
    REQUIRE(log->Put("s", {&e, 1}, &res, [&](Status st) { p.set_value(st); }).ok());
    REQUIRE(p.get_future().get().ok());
  };
  {
    LogOptions o{dir, {}};
    o.flush_interval = std::chrono::hours(1);
    auto log = Log::Open(o);
    REQUIRE(log.ok());
    REQUIRE((*log)->CreateStream("s", 1).ok());
    auto stream = (*log)->GetStream("s");
    for (int i = 0; i < 10; ++i) put(log->get(), "a" + std::to_string(i));
    ShardLog& shard = (*stream)->shard(0);
    CHECK(shard.fsyncs() == 0);        // acknowledged without waiting for the disk...
    CHECK(shard.durable_end() == 1);   // ...and not readable until fdatasynced
    stream->reset();
    log->reset();  // a clean shutdown flushes
  }
  {
    LogOptions o{dir, {}};
    o.flush_interval = std::chrono::milliseconds(20);
    auto log = Log::Open(o);
    REQUIRE(log.ok());
    auto stream = (*log)->GetStream("s");
    REQUIRE(stream.ok());
    ShardLog& shard = (*stream)->shard(0);
    CHECK(shard.durable_end() == 11);  // the records written under the first log are all there
    put(log->get(), "b");
    for (int i = 0; i < 500 && shard.durable_end() < 12; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(shard.fsyncs() >= 1);         // the periodic flush came...
    CHECK(shard.durable_end() == 12);   // ...and made the record readable
  }
  {
    // Small segments: each roll fdatasyncs the full segment and makes it readable at once; the
    // open segment's tail waits for the flush (here: the shutdown).
    LogOptions o{dir, {}};
    o.shard.segment_bytes = 4096;
    o.flush_interval = std::chrono::hours(1);
    auto log = Log::Open(o);
    REQUIRE(log.ok());
    auto stream = (*log)->GetStream("s");
    REQUIRE(stream.ok());
    ShardLog& shard = (*stream)->shard(0);
    for (int i = 0; i < 100; ++i) put(log->get(), std::string(200, static_cast<char>('a' + i % 26)));
    CHECK(shard.durable_end() > 12);    // rolled segments are synced and readable
    CHECK(shard.durable_end() < 112);   // the open segment's tail is not
    CHECK(shard.fsyncs() >= 3);
    stream->reset();
  }
  {
    auto log = Log::Open({dir, {}});
    REQUIRE(log.ok());
    auto stream = (*log)->GetStream("s");
    REQUIRE(stream.ok());
    CHECK((*stream)->shard(0).durable_end() == 112);  // everything, after the shutdown's flush
  }
  std::filesystem::remove_all(dir);
}
