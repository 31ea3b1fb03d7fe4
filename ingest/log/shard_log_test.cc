#include "ingest/log/shard_log.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "ingest/log/segment_format.h"

using namespace sluice;
using namespace sluice::log;
namespace fs = std::filesystem;

namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/sluice-log-XXXXXX";
  char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  return d;
}

std::string Data(uint64_t i) { return "record-" + std::to_string(i) + std::string(i % 7, 'x'); }

void AppendN(ShardLog* log, uint64_t from, uint64_t n, uint64_t per_batch) {
  for (uint64_t i = from; i < from + n; ++i) {
    auto seq = log->Append("key" + std::to_string(i % 5), Data(i), 1000 + static_cast<int64_t>(i));
    REQUIRE(seq.ok());
    CHECK(*seq == i);
    if ((i - from + 1) % per_batch == 0) REQUIRE(log->Commit().ok());
  }
  REQUIRE(log->Commit().ok());
}

std::vector<std::string> ReadAll(ShardLog* log, uint64_t from = 1, size_t max = 7) {
  std::vector<std::string> out;
  LogCursor c;
  c.next_sequence = from;
  ReadBatch b;
  for (;;) {
    REQUIRE(log->Read(&c, max, 1 << 20, &b).ok());
    if (b.records.empty()) break;
    for (auto& r : b.records) {
      CHECK(r.sequence == from + out.size());
      out.emplace_back(r.data);
    }
  }
  return out;
}

std::string OnlySegment(const std::string& dir) {
  std::string path;
  for (auto& e : fs::directory_iterator(dir)) path = e.path();
  return path;
}

}  // namespace

TEST_CASE("append, commit and read back in order; uncommitted records are invisible") {
  auto dir = TempDir();
  auto log = ShardLog::Open(dir, {}, nullptr);
  REQUIRE(log.ok());
  AppendN(log->get(), 1, 100, 10);
  auto got = ReadAll(log->get());
  REQUIRE(got.size() == 100);
  CHECK(got[41] == Data(42));
  REQUIRE((*log)->Append("k", "pending", 5).ok());
  CHECK((*log)->durable_end() == 101);
  CHECK(ReadAll(log->get()).size() == 100);
  REQUIRE((*log)->Commit().ok());
  CHECK(ReadAll(log->get()).size() == 101);
  // Reading from the middle, including mid-batch.
  auto tail = ReadAll(log->get(), 55, 3);
  REQUIRE(tail.size() == 47);
  CHECK(tail[0] == Data(55));
  fs::remove_all(dir);
}

TEST_CASE("restart keeps every committed record and continues the sequence") {
  auto dir = TempDir();
  {
    auto log = ShardLog::Open(dir, {}, nullptr);
    REQUIRE(log.ok());
    AppendN(log->get(), 1, 50, 7);
  }
  RecoveryReport rep;
  auto log = ShardLog::Open(dir, {}, &rep);
  REQUIRE(log.ok());
  CHECK(rep.records == 50);
  CHECK(rep.truncated_bytes == 0);
  CHECK((*log)->next_sequence() == 51);
  AppendN(log->get(), 51, 10, 10);
  CHECK(ReadAll(log->get()).size() == 60);
  fs::remove_all(dir);
}

TEST_CASE("a torn tail after a crash is truncated at the last good batch") {
  auto dir = TempDir();
  uint64_t good_size;
  {
    auto log = ShardLog::Open(dir, {}, nullptr);
    REQUIRE(log.ok());
    AppendN(log->get(), 1, 30, 10);
    good_size = fs::file_size(OnlySegment(dir));
    AppendN(log->get(), 31, 10, 10);
  }
  std::string seg = OnlySegment(dir);
  uint64_t full = fs::file_size(seg);
  SUBCASE("half a batch") { fs::resize_file(seg, good_size + (full - good_size) / 2); }
  SUBCASE("a few header bytes") { fs::resize_file(seg, good_size + 5); }
  SUBCASE("flipped byte in the last batch") {
    int fd = ::open(seg.c_str(), O_RDWR);
    char c;
    REQUIRE(::pread(fd, &c, 1, static_cast<off_t>(full - 3)) == 1);
    c ^= 0x40;
    REQUIRE(::pwrite(fd, &c, 1, static_cast<off_t>(full - 3)) == 1);
    ::close(fd);
  }
  RecoveryReport rep;
  auto log = ShardLog::Open(dir, {}, &rep);
  REQUIRE(log.ok());
  CHECK(rep.records == 30);
  CHECK(rep.truncated_bytes > 0);
  CHECK(fs::file_size(seg) == good_size);
  CHECK((*log)->next_sequence() == 31);
  CHECK(ReadAll(log->get()).size() == 30);
  fs::remove_all(dir);
}

TEST_CASE("segments roll; corruption inside a sealed segment is reported, not skipped") {
  auto dir = TempDir();
  ShardLogOptions opt;
  opt.segment_bytes = 2000;
  opt.index_interval_bytes = 300;
  {
    auto log = ShardLog::Open(dir, opt, nullptr);
    REQUIRE(log.ok());
    AppendN(log->get(), 1, 400, 9);
    auto all = ReadAll(log->get(), 1, 13);
    REQUIRE(all.size() == 400);
    CHECK(all[399] == Data(400));
    CHECK(ReadAll(log->get(), 377, 5).front() == Data(377));
  }
  std::vector<std::string> segs;
  for (auto& e : fs::directory_iterator(dir)) segs.push_back(e.path());
  std::sort(segs.begin(), segs.end());
  REQUIRE(segs.size() > 3);
  {
    RecoveryReport rep;
    auto log = ShardLog::Open(dir, opt, &rep);
    REQUIRE(log.ok());
    CHECK(rep.records == 400);
    CHECK(rep.segments == segs.size());
  }
  int fd = ::open(segs[1].c_str(), O_RDWR);
  char c = 0x55;
  REQUIRE(::pwrite(fd, &c, 1, kBatchHeaderSize + 3) == 1);
  ::close(fd);
  auto log = ShardLog::Open(dir, opt, nullptr);
  REQUIRE_FALSE(log.ok());
  CHECK(log.status().code() == StatusCode::kCorruption);
  CHECK(log.status().message().find(segs[1]) != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("AT_TIMESTAMP lookup: first record at or after a time, across segments and after reopen") {
  auto dir = TempDir();
  ShardLogOptions opt;
  opt.segment_bytes = 2000;
  opt.index_interval_bytes = 300;
  auto check = [](ShardLog* log) {
    // Record i arrived at 1000 + i ms (AppendN), so the answer for t is t - 1000 within range.
    for (int64_t t : {1001, 1002, 1050, 1137, 1250, 1399, 1400}) {
      auto seq = log->SequenceAtTimestamp(t);
      REQUIRE(seq.ok());
      CHECK(*seq == static_cast<uint64_t>(t - 1000));
    }
    CHECK(*log->SequenceAtTimestamp(0) == 1);
    CHECK(*log->SequenceAtTimestamp(-5) == 1);
    CHECK(*log->SequenceAtTimestamp(1401) == 401);  // Nothing that new yet: the durable end.
    CHECK(*log->SequenceAtTimestamp(1LL << 50) == 401);
  };
  {
    auto log = ShardLog::Open(dir, opt, nullptr);
    REQUIRE(log.ok());
    AppendN(log->get(), 1, 400, 9);
    check(log->get());
  }
  auto log = ShardLog::Open(dir, opt, nullptr);  // The index is rebuilt by recovery.
  REQUIRE(log.ok());
  check(log->get());
  // An arrival time older than the previous record's is raised to it, so times never go back.
  REQUIRE((*log)->Append("k", "late clock", 700).ok());
  REQUIRE((*log)->Commit().ok());
  LogCursor c;
  c.next_sequence = 401;
  ReadBatch b;
  REQUIRE((*log)->Read(&c, 10, 1 << 20, &b).ok());
  REQUIRE(b.records.size() == 1);
  CHECK(b.records[0].arrival_ms == 1400);
  CHECK(*(*log)->SequenceAtTimestamp(1400) == 400);
  CHECK(*(*log)->SequenceAtTimestamp(1401) == 402);
  // Uncommitted records are not found.
  REQUIRE((*log)->Append("k", "pending", 5000).ok());
  CHECK(*(*log)->SequenceAtTimestamp(5000) == 402);
  fs::remove_all(dir);
}

TEST_CASE("Trim deletes whole sealed segments by age or size; readers move to the oldest record") {
  auto dir = TempDir();
  ShardLogOptions opt;
  opt.segment_bytes = 2000;
  opt.index_interval_bytes = 300;
  auto log = ShardLog::Open(dir, opt, nullptr);
  REQUIRE(log.ok());
  AppendN(log->get(), 1, 400, 9);
  const size_t files_before = static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
  REQUIRE(files_before > 4);
  CHECK((*log)->first_sequence() == 1);
  // A reader positioned inside the first segment, mid-way.
  LogCursor reader;
  reader.next_sequence = 3;
  ReadBatch b;
  REQUIRE((*log)->Read(&reader, 2, 1 << 20, &b).ok());
  REQUIRE(b.records.size() == 2);

  SUBCASE("nothing is old enough") {
    auto r = (*log)->Trim(1000, 0);
    REQUIRE(r.ok());
    CHECK(r->segments == 0);
    CHECK((*log)->first_sequence() == 1);
  }
  SUBCASE("by age") {
    // Records up to sequence 120 arrived before 1121: segments whose newest record is older go.
    auto r = (*log)->Trim(1121, 0);
    REQUIRE(r.ok());
    CHECK(r->segments >= 1);
    const uint64_t first = (*log)->first_sequence();
    CHECK(first > 1);
    CHECK(first <= 121);
    CHECK(r->records == first - 1);
    CHECK(static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator())) ==
          files_before - r->segments);
    // The reader's segment is gone: it continues at the oldest retained record.
    REQUIRE((*log)->Read(&reader, 1, 1 << 20, &b).ok());
    REQUIRE(b.records.size() == 1);
    CHECK(b.records[0].sequence == first);
    auto rest = ReadAll(log->get(), first);
    CHECK(rest.size() == 400 - first + 1);
    // A fresh cursor at 1 starts at the trim horizon too.
    LogCursor fresh;
    REQUIRE((*log)->Read(&fresh, 1, 1 << 20, &b).ok());
    CHECK(b.records[0].sequence == first);
    // Timestamp lookups never return a trimmed record.
    CHECK(*(*log)->SequenceAtTimestamp(0) == first);
  }
  SUBCASE("everything is expired: the segment being written stays") {
    auto r = (*log)->Trim(1LL << 50, 0);
    REQUIRE(r.ok());
    CHECK(static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator())) == 1);
    CHECK((*log)->durable_end() == 401);
    CHECK((*log)->first_sequence() == 1 + r->records);
  }
  SUBCASE("by size") {
    auto r = (*log)->Trim(0, 4000);
    REQUIRE(r.ok());
    CHECK(r->segments > 0);
    CHECK((*log)->size_bytes() <= 4000);
    CHECK((*log)->size_bytes() + r->bytes > 4000);  // It stopped as soon as the shard fit.
  }
  // Whatever was trimmed, a restart recovers the rest and continues the sequence.
  const uint64_t first = (*log)->first_sequence();
  log->reset();
  RecoveryReport rep;
  auto again = ShardLog::Open(dir, opt, &rep);
  REQUIRE(again.ok());
  CHECK((*again)->first_sequence() == first);
  CHECK(rep.records == 400 - first + 1);
  CHECK((*again)->next_sequence() == 401);
  fs::remove_all(dir);
}

TEST_CASE("one commit of many records is framed as batches of at most max_batch_bytes") {
  auto dir = TempDir();
  ShardLogOptions opt;
  opt.max_batch_bytes = 300;
  opt.index_interval_bytes = 100;
  {
    auto log = ShardLog::Open(dir, opt, nullptr);
    REQUIRE(log.ok());
    for (int i = 1; i <= 60; ++i) REQUIRE((*log)->Append("k", Data(static_cast<uint64_t>(i)), 1000 + i).ok());
    // A record bigger than the limit gets a batch of its own.
    REQUIRE((*log)->Append("big", std::string(1000, 'B'), 2000).ok());
    REQUIRE((*log)->Append("k", Data(62), 2001).ok());
    REQUIRE((*log)->Commit().ok());
    CHECK((*log)->durable_end() == 63);
    auto all = ReadAll(log->get(), 1, 5);
    REQUIRE(all.size() == 62);
    CHECK(all[60] == std::string(1000, 'B'));
    CHECK(all[61] == Data(62));
    CHECK(*(*log)->SequenceAtTimestamp(1030) == 30);
    CHECK(*(*log)->SequenceAtTimestamp(2000) == 61);
    // Reading one record copies one small batch, not the whole commit.
    LogCursor c;
    c.next_sequence = 20;
    ReadBatch b;
    REQUIRE((*log)->Read(&c, 1, 1 << 20, &b).ok());
    CHECK(b.buffer.size() <= 300);
  }
  RecoveryReport rep;
  auto log = ShardLog::Open(dir, opt, &rep);
  REQUIRE(log.ok());
  CHECK(rep.records == 62);
  CHECK(rep.batches > 62 * 30 / 300);  // Each batch holds at most ~300 bytes of ~30-byte records.
  CHECK(ReadAll(log->get()).size() == 62);
  fs::remove_all(dir);
}
