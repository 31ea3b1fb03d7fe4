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
