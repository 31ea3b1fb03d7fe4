#include "ingest/log/shard_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "core/crc32c.h"
#include "ingest/log/segment_format.h"

namespace sluice::log {
namespace {

void PutU32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void PutU64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t GetU32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
uint64_t GetU64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }

void AppendU32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }
void AppendU64(std::string* s, uint64_t v) { s->append(reinterpret_cast<const char*>(&v), 8); }

Status Errno(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + std::strerror(errno));
}

std::string SegmentName(uint64_t base) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020" PRIu64 ".seg", base);
  return buf;
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open dir", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::OK() : Errno("fsync dir", dir);
}

Status PreadFull(int fd, char* buf, size_t n, uint64_t off, const std::string& path) {
  while (n > 0) {
    ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("pread", path);
    }
    if (r == 0) return Status::Corruption("short read in " + path);
    buf += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return Status::OK();
}

// Checks a batch header; `avail` is how many bytes the file has from the header on.
// Returns an empty string when good, else why not.
std::string CheckHeader(const char* h, uint64_t avail) {
  if (GetU32(h) != kBatchMagic) return "bad magic";
  if (static_cast<uint8_t>(h[4]) != kBatchVersion) return "unknown version";
  uint32_t len = GetU32(h + 12);
  if (len < kBatchHeaderSize || len > kMaxBatchBytes) return "bad length";
  if (len > avail) return "batch runs past end of file";
  if (GetU32(h + 16) == 0) return "empty batch";
  return "";
}

// Parses the records of a CRC-checked batch at `b` (whole batch, `len` bytes).
// Calls fn(seq, arrival_ms, key, data). Returns false when a record overruns the batch.
template <typename Fn>
bool ForEachRecord(const char* b, uint32_t len, Fn&& fn) {
  uint32_t count = GetU32(b + 16);
  uint64_t seq = GetU64(b + 20);
  const char* p = b + kBatchHeaderSize;
  const char* end = b + len;
  for (uint32_t i = 0; i < count; ++i, ++seq) {
    if (end - p < 4) return false;
    uint32_t kl = GetU32(p);
    p += 4;
    if (static_cast<uint64_t>(end - p) < static_cast<uint64_t>(kl) + 4) return false;
    std::string_view key(p, kl);
    p += kl;
    uint32_t dl = GetU32(p);
    p += 4;
    if (static_cast<uint64_t>(end - p) < static_cast<uint64_t>(dl) + 8) return false;
    std::string_view data(p, dl);
    p += dl;
    int64_t ms = static_cast<int64_t>(GetU64(p));
    p += 8;
    fn(seq, ms, key, data);
  }
  return p == end;
}

}  // namespace

struct ShardLog::Segment {
  uint64_t base = 0;
  std::string path;
  int fd = -1;
  std::atomic<uint64_t> durable_bytes{0};
  bool sealed = false;  // GUARDED_BY(ShardLog::segments_mu_)
  // Sparse index: (first sequence of a batch, its offset), ascending. GUARDED_BY(segments_mu_).
  std::vector<std::pair<uint64_t, uint64_t>> index;
  uint64_t last_indexed_offset = 0;
  ~Segment() {
    if (fd >= 0) ::close(fd);
  }
};

ShardLog::ShardLog(std::string dir, ShardLogOptions options) : dir_(std::move(dir)), options_(options) {}
ShardLog::~ShardLog() = default;

Result<std::unique_ptr<ShardLog>> ShardLog::Open(const std::string& dir, ShardLogOptions options,
                                                 RecoveryReport* report) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return Errno("mkdir", dir);
  std::unique_ptr<ShardLog> log(new ShardLog(dir, options));
  RecoveryReport local;
  SLUICE_RETURN_IF_ERROR(log->Recover(report ? report : &local));
  return log;
}

Status ShardLog::Recover(RecoveryReport* report) {
  DIR* d = ::opendir(dir_.c_str());
  if (!d) return Errno("opendir", dir_);
  std::vector<uint64_t> bases;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() == 24 && n.compare(20, 4, ".seg") == 0 &&
        std::all_of(n.begin(), n.begin() + 20, [](char c) { return c >= '0' && c <= '9'; })) {
      bases.push_back(std::strtoull(n.c_str(), nullptr, 10));
    }
  }
  ::closedir(d);
  std::sort(bases.begin(), bases.end());
  uint64_t expected = bases.empty() ? 1 : bases.front();
  for (size_t i = 0; i < bases.size(); ++i) {
    auto seg = std::make_shared<Segment>();
    seg->base = bases[i];
    seg->path = dir_ + "/" + SegmentName(bases[i]);
    bool newest = i + 1 == bases.size();
    seg->fd = ::open(seg->path.c_str(), (newest ? O_RDWR | O_APPEND : O_RDONLY) | O_CLOEXEC);
    if (seg->fd < 0) return Errno("open", seg->path);
    if (seg->base != expected)
      return Status::Corruption(seg->path + ": starts at sequence " + std::to_string(seg->base) + ", expected " +
                                std::to_string(expected) + " (a segment is missing)");
    SLUICE_RETURN_IF_ERROR(ScanSegment(seg.get(), newest, &expected, report));
    seg->sealed = !newest;
    segments_.push_back(std::move(seg));
    report->segments++;
  }
  next_sequence_ = expected;
  durable_end_.store(expected, std::memory_order_release);
  if (segments_.empty()) return StartSegment(expected);
  return Status::OK();
}

Status ShardLog::ScanSegment(Segment* seg, bool newest, uint64_t* expected, RecoveryReport* report) {
  struct stat st;
  if (::fstat(seg->fd, &st) != 0) return Errno("fstat", seg->path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t off = 0;
  std::string buf;
  std::string why;
  while (off < size) {
    if (size - off < kBatchHeaderSize) {
      why = "partial batch header";
      break;
    }
    char h[kBatchHeaderSize];
    SLUICE_RETURN_IF_ERROR(PreadFull(seg->fd, h, kBatchHeaderSize, off, seg->path));
    why = CheckHeader(h, size - off);
    if (!why.empty()) break;
    uint32_t len = GetU32(h + 12);
    buf.resize(len);
    SLUICE_RETURN_IF_ERROR(PreadFull(seg->fd, buf.data(), len, off, seg->path));
    if (crc32c::Value(buf.data() + kBatchCrcStart, len - kBatchCrcStart) != GetU32(buf.data() + kBatchCrcOffset)) {
      why = "CRC mismatch";
      break;
    }
    uint64_t first = GetU64(h + 20);
    if (first != *expected) {
      why = "sequence " + std::to_string(first) + " where " + std::to_string(*expected) + " was expected";
      break;
    }
    int64_t last_ms = 0;
    if (!ForEachRecord(buf.data(), len, [&](uint64_t, int64_t ms, std::string_view, std::string_view) {
          last_ms = ms;
        })) {
      why = "record overruns its batch";
      break;
    }
    if (seg->index.empty() || off - seg->last_indexed_offset >= options_.index_interval_bytes) {
      seg->index.emplace_back(first, off);
      seg->last_indexed_offset = off;
    }
    uint32_t count = GetU32(h + 16);
    *expected += count;
    report->batches++;
    report->records += count;
    last_arrival_ms_.store(last_ms, std::memory_order_relaxed);
    off += len;
  }
  if (off < size) {
    if (!newest)
      return Status::Corruption(seg->path + ": bad batch at offset " + std::to_string(off) + " (" + why +
                                ") in a sealed segment; refusing to skip it");
    if (::ftruncate(seg->fd, static_cast<off_t>(off)) != 0) return Errno("ftruncate", seg->path);
    if (::fdatasync(seg->fd) != 0) return Errno("fdatasync", seg->path);
    std::fprintf(stderr, "sluice: log %s: truncated %" PRIu64 " bytes of torn tail at offset %" PRIu64 " (%s)\n",
                 seg->path.c_str(), size - off, off, why.c_str());
    report->truncated_bytes += size - off;
  }
  seg->durable_bytes.store(off, std::memory_order_release);
  return Status::OK();
}

Status ShardLog::StartSegment(uint64_t base) {
  auto seg = std::make_shared<Segment>();
  seg->base = base;
  seg->path = dir_ + "/" + SegmentName(base);
  seg->fd = ::open(seg->path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (seg->fd < 0) return Errno("create", seg->path);
  SLUICE_RETURN_IF_ERROR(FsyncDir(dir_));
  std::unique_lock lock(segments_mu_);
  if (!segments_.empty()) segments_.back()->sealed = true;
  segments_.push_back(std::move(seg));
  return Status::OK();
}

Result<uint64_t> ShardLog::Append(std::string_view key, std::string_view data, int64_t arrival_ms) {
  std::lock_guard lock(append_mu_);
  if (!broken_.ok()) return broken_;
  AppendU32(&pending_, static_cast<uint32_t>(key.size()));
  pending_.append(key);
  AppendU32(&pending_, static_cast<uint32_t>(data.size()));
  pending_.append(data);
  AppendU64(&pending_, static_cast<uint64_t>(arrival_ms));
  if (pending_count_ == 0) pending_first_ms_ = arrival_ms;
  pending_last_ms_ = arrival_ms;
  ++pending_count_;
  return next_sequence_++;
}

bool ShardLog::HasPending() const {
  std::lock_guard lock(append_mu_);
  return pending_count_ > 0;
}

uint64_t ShardLog::next_sequence() const {
  std::lock_guard lock(append_mu_);
  return next_sequence_;
}

Status ShardLog::Commit() {
  uint32_t count;
  uint64_t first;
  int64_t first_ms, last_ms;
  batch_.resize(kBatchHeaderSize);
  {
    std::lock_guard lock(append_mu_);
    if (!broken_.ok()) return broken_;
    if (pending_count_ == 0) return Status::OK();
    count = pending_count_;
    first = next_sequence_ - count;
    first_ms = pending_first_ms_;
    last_ms = pending_last_ms_;
    batch_.append(pending_);
    pending_.clear();
    pending_count_ = 0;
  }
  char* h = batch_.data();
  PutU32(h, kBatchMagic);
  h[4] = static_cast<char>(kBatchVersion);
  h[5] = 0;
  h[6] = h[7] = 0;
  PutU32(h + 12, static_cast<uint32_t>(batch_.size()));
  PutU32(h + 16, count);
  PutU64(h + 20, first);
  PutU64(h + 28, static_cast<uint64_t>(first_ms));
  PutU64(h + 36, static_cast<uint64_t>(last_ms));
  PutU32(h + 8, crc32c::Value(batch_.data() + kBatchCrcStart, batch_.size() - kBatchCrcStart));

  auto fail = [&](Status st) {
    std::lock_guard lock(append_mu_);
    broken_ = st;
    return st;
  };
  std::shared_ptr<Segment> seg;
  {
    std::shared_lock lock(segments_mu_);
    seg = segments_.back();
  }
  uint64_t size = seg->durable_bytes.load(std::memory_order_relaxed);
  if (size > 0 && size + batch_.size() > options_.segment_bytes) {
    Status st = StartSegment(first);
    if (!st.ok()) return fail(st);
    std::shared_lock lock(segments_mu_);
    seg = segments_.back();
    size = 0;
  }
  const char* p = batch_.data();
  size_t left = batch_.size();
  while (left > 0) {
    ssize_t w = ::write(seg->fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      Status st = Errno("write", seg->path);
      if (::ftruncate(seg->fd, static_cast<off_t>(size)) != 0) { /* reported through `st` */ }
      return fail(st);
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::fdatasync(seg->fd) != 0) return fail(Errno("fdatasync", seg->path));
  {
    std::unique_lock lock(segments_mu_);
    if (seg->index.empty() || size - seg->last_indexed_offset >= options_.index_interval_bytes) {
      seg->index.emplace_back(first, size);
      seg->last_indexed_offset = size;
    }
  }
  seg->durable_bytes.store(size + batch_.size(), std::memory_order_release);
  last_arrival_ms_.store(last_ms, std::memory_order_release);
  durable_end_.store(first + count, std::memory_order_release);
  return Status::OK();
}

std::shared_ptr<ShardLog::Segment> ShardLog::FindSegment(uint64_t sequence, bool* is_last) const {
  std::shared_lock lock(segments_mu_);
  auto it = std::upper_bound(segments_.begin(), segments_.end(), sequence,
                             [](uint64_t s, const std::shared_ptr<Segment>& seg) { return s < seg->base; });
  if (it == segments_.begin()) return nullptr;
  --it;
  *is_last = (it + 1 == segments_.end());
  return *it;
}

Status ShardLog::Position(LogCursor* c) const {
  bool last = false;
  auto seg = FindSegment(c->next_sequence, &last);
  if (!seg) {
    std::shared_lock lock(segments_mu_);
    if (segments_.empty()) return Status::Internal("shard has no segment");
    // Before the oldest retained record: start at the oldest.
    c->next_sequence = segments_.front()->base;
    seg = segments_.front();
  }
  uint64_t off = 0;
  {
    std::shared_lock lock(segments_mu_);
    auto it = std::upper_bound(seg->index.begin(), seg->index.end(), c->next_sequence,
                               [](uint64_t s, const std::pair<uint64_t, uint64_t>& e) { return s < e.first; });
    if (it != seg->index.begin()) off = std::prev(it)->second;
  }
  c->segment_base = seg->base;
  c->offset = off;
  c->positioned = true;
  return Status::OK();
}

Status ShardLog::Read(LogCursor* c, size_t max_records, size_t max_bytes, ReadBatch* out) const {
  out->buffer.clear();
  out->records.clear();
  if (max_records == 0) return Status::OK();
  const uint64_t end_seq = durable_end();
  if (c->next_sequence >= end_seq) return Status::OK();
  if (!c->positioned) SLUICE_RETURN_IF_ERROR(Position(c));
  // Pass 1: copy whole batches into the buffer. Pass 2 (below) makes views, since the buffer may
  // move while it grows.
  std::vector<std::pair<size_t, uint32_t>> batches;  // (buffer offset, length)
  uint64_t want_seq = c->next_sequence;
  size_t records = 0;
  while (records < max_records && out->buffer.size() < max_bytes && want_seq < end_seq) {
    bool last = false;
    auto seg = FindSegment(c->segment_base, &last);
    if (!seg || seg->base != c->segment_base) {
      c->positioned = false;
      SLUICE_RETURN_IF_ERROR(Position(c));
      continue;
    }
    uint64_t durable = seg->durable_bytes.load(std::memory_order_acquire);
    if (c->offset >= durable) {
      if (last) break;
      // Move to the next segment.
      bool dummy;
      auto next = FindSegment(want_seq, &dummy);
      if (!next || next->base == seg->base) break;
      c->segment_base = next->base;
      c->offset = 0;
      continue;
    }
    char h[kBatchHeaderSize];
    SLUICE_RETURN_IF_ERROR(PreadFull(seg->fd, h, kBatchHeaderSize, c->offset, seg->path));
    std::string why = CheckHeader(h, durable - c->offset);
    if (!why.empty())
      return Status::Corruption(seg->path + ": " + why + " at offset " + std::to_string(c->offset));
    uint32_t len = GetU32(h + 12);
    uint32_t count = GetU32(h + 16);
    uint64_t first = GetU64(h + 20);
    if (first + count <= want_seq) {  // Entirely before the wanted record: skip it.
      c->offset += len;
      continue;
    }
    size_t at = out->buffer.size();
    out->buffer.resize(at + len);
    SLUICE_RETURN_IF_ERROR(PreadFull(seg->fd, out->buffer.data() + at, len, c->offset, seg->path));
    const char* b = out->buffer.data() + at;
    if (crc32c::Value(b + kBatchCrcStart, len - kBatchCrcStart) != GetU32(b + kBatchCrcOffset))
      return Status::Corruption(seg->path + ": CRC mismatch at offset " + std::to_string(c->offset));
    batches.emplace_back(at, len);
    uint64_t take_from = std::max(first, want_seq);
    uint64_t take = std::min<uint64_t>(first + count - take_from, max_records - records);
    records += take;
    want_seq = take_from + take;
    if (want_seq == first + count) c->offset += len;  // Batch fully consumed.
  }
  // Pass 2: views.
  uint64_t from = c->next_sequence;
  out->records.reserve(records);
  for (auto [at, len] : batches) {
    const char* b = out->buffer.data() + at;
    bool ok = ForEachRecord(b, len, [&](uint64_t seq, int64_t ms, std::string_view k, std::string_view d) {
      if (seq >= from && seq < want_seq) out->records.push_back({seq, ms, k, d});
    });
    if (!ok) return Status::Corruption(dir_ + ": record overruns its batch");
  }
  c->next_sequence = want_seq;
  return Status::OK();
}

}  // namespace sluice::log
