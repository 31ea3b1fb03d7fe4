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
#include "core/logging.h"
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

// One sparse-index entry: a batch start. `max_before_ms` is the largest arrival time of any record
// of the same segment before this batch (0 for the first), so it never decreases along the index
// and AT_TIMESTAMP lookups can binary-search it even over data whose arrival times step back.
struct IndexEntry {
  uint64_t first_sequence = 0;
  uint64_t offset = 0;
  int64_t max_before_ms = 0;
};

struct ShardLog::Segment {
  uint64_t base = 0;
  std::string path;
  int fd = -1;
  std::atomic<uint64_t> durable_bytes{0};
  uint64_t written_bytes = 0;  // bytes written, synced or not (committing thread; = durable_bytes when synced)
  bool sealed = false;  // GUARDED_BY(ShardLog::segments_mu_)
  // Sparse index, ascending. GUARDED_BY(segments_mu_).
  std::vector<IndexEntry> index;
  uint64_t last_indexed_offset = 0;
  // Largest arrival time of a durable record in this segment; 0 when empty. GUARDED_BY(segments_mu_).
  int64_t max_arrival_ms = 0;
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
    int64_t last_ms = 0, batch_max_ms = 0;
    if (!ForEachRecord(buf.data(), len, [&](uint64_t, int64_t ms, std::string_view, std::string_view) {
          last_ms = ms;
          batch_max_ms = std::max(batch_max_ms, ms);
        })) {
      why = "record overruns its batch";
      break;
    }
    if (seg->index.empty() || off - seg->last_indexed_offset >= options_.index_interval_bytes) {
      seg->index.push_back({first, off, seg->max_arrival_ms});
      seg->last_indexed_offset = off;
    }
    seg->max_arrival_ms = std::max(seg->max_arrival_ms, batch_max_ms);
    last_appended_ms_ = std::max(last_appended_ms_, batch_max_ms);
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
    SLUICE_LOG_WARN("truncated a torn tail", {{"component", "log"},
                                              {"path", seg->path},
                                              {"bytes", size - off},
                                              {"offset", off},
                                              {"reason", why}});
    report->truncated_bytes += size - off;
  }
  seg->durable_bytes.store(off, std::memory_order_release);
  seg->written_bytes = off;
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
  // Keep arrival times non-decreasing within the shard (see the class comment).
  arrival_ms = std::max(arrival_ms, last_appended_ms_);
  last_appended_ms_ = arrival_ms;
  AppendU32(&pending_, static_cast<uint32_t>(key.size()));
  pending_.append(key);
  AppendU32(&pending_, static_cast<uint32_t>(data.size()));
  pending_.append(data);
  AppendU64(&pending_, static_cast<uint64_t>(arrival_ms));
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

void ShardLog::PublishUnsynced(Segment* seg) {
  if (unsynced_batches_.empty()) return;
  {
    std::unique_lock lock(segments_mu_);
    for (const Unsynced& u : unsynced_batches_) {
      if (seg->index.empty() || u.offset - seg->last_indexed_offset >= options_.index_interval_bytes) {
        seg->index.push_back({u.first_sequence, u.offset, seg->max_arrival_ms});
        seg->last_indexed_offset = u.offset;
      }
      seg->max_arrival_ms = std::max(seg->max_arrival_ms, u.max_arrival_ms);
    }
  }
  seg->durable_bytes.store(unsynced_bytes_end_, std::memory_order_release);
  last_arrival_ms_.store(unsynced_last_ms_, std::memory_order_release);
  durable_end_.store(unsynced_seq_end_, std::memory_order_release);
  unsynced_batches_.clear();
}

Status ShardLog::Sync() {
  {
    std::lock_guard lock(append_mu_);
    if (!broken_.ok()) return broken_;
  }
  if (!unsynced_) return Status::OK();
  std::shared_ptr<Segment> seg;
  {
    std::shared_lock lock(segments_mu_);
    seg = segments_.back();
  }
  if (::fdatasync(seg->fd) != 0) {
    Status st = Errno("fdatasync", seg->path);
    std::lock_guard lock(append_mu_);
    broken_ = st;
    return st;
  }
  fsyncs_.fetch_add(1, std::memory_order_relaxed);
  unsynced_ = false;
  PublishUnsynced(seg.get());
  return Status::OK();
}

Status ShardLog::Commit(uint64_t* taken_bytes, bool sync) {
  if (taken_bytes) *taken_bytes = 0;
  uint32_t count;
  uint64_t first;
  {
    std::lock_guard lock(append_mu_);
    if (!broken_.ok()) return broken_;
    if (pending_count_ == 0) return Status::OK();
    count = pending_count_;
    first = next_sequence_ - count;
    records_.swap(pending_);
    pending_.clear();
    pending_count_ = 0;
  }
  if (taken_bytes) *taken_bytes = records_.size();
  // Frame the records as batches of at most max_batch_bytes (a bigger record gets a batch of its
  // own), so no batch outgrows what readers accept and a reader never copies much more than it
  // asked for. All of them go out with one write(2) and one fdatasync.
  const uint64_t limit = std::min<uint64_t>(options_.max_batch_bytes, kMaxBatchBytes);
  batch_.clear();
  framed_.clear();
  int64_t last_ms = 0;
  uint64_t seq = first;
  for (size_t p = 0; p < records_.size();) {
    const size_t start = batch_.size();
    batch_.resize(start + kBatchHeaderSize);
    uint32_t n = 0;
    int64_t first_ms = 0, max_ms = 0;
    while (p < records_.size()) {
      const char* r = records_.data() + p;
      const uint32_t kl = GetU32(r);
      const uint32_t dl = GetU32(r + 4 + kl);
      const size_t size = kRecordOverhead + kl + dl;
      if (n > 0 && batch_.size() - start + size > limit) break;
      const int64_t ms = static_cast<int64_t>(GetU64(r + 8 + kl + dl));
      if (n == 0) first_ms = ms;
      last_ms = ms;
      max_ms = std::max(max_ms, ms);
      batch_.append(r, size);
      p += size;
      ++n;
    }
    char* h = batch_.data() + start;
    const size_t len = batch_.size() - start;
    PutU32(h, kBatchMagic);
    h[4] = static_cast<char>(kBatchVersion);
    h[5] = 0;
    h[6] = h[7] = 0;
    PutU32(h + 12, static_cast<uint32_t>(len));
    PutU32(h + 16, n);
    PutU64(h + 20, seq);
    PutU64(h + 28, static_cast<uint64_t>(first_ms));
    PutU64(h + 36, static_cast<uint64_t>(last_ms));
    PutU32(h + 8, crc32c::Value(h + kBatchCrcStart, len - kBatchCrcStart));
    framed_.push_back({seq, start, max_ms});
    seq += n;
  }

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
  uint64_t size = seg->written_bytes;
  if (size > 0 && size + batch_.size() > options_.segment_bytes) {
    if (unsynced_) {  // the old segment's tail must be durable (and readable) before it is sealed
      if (::fdatasync(seg->fd) != 0) return fail(Errno("fdatasync", seg->path));
      fsyncs_.fetch_add(1, std::memory_order_relaxed);
      unsynced_ = false;
      PublishUnsynced(seg.get());
    }
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
  seg->written_bytes = size + batch_.size();
  if (!sync) {
    // Written, not synced: readers see these records only after Sync() (see Commit()'s comment).
    for (const Framed& f : framed_) unsynced_batches_.push_back({f.first_sequence, size + f.offset, f.max_arrival_ms});
    unsynced_bytes_end_ = seg->written_bytes;
    unsynced_seq_end_ = first + count;
    unsynced_last_ms_ = last_ms;
    unsynced_ = true;
    return Status::OK();
  }
  if (::fdatasync(seg->fd) != 0) return fail(Errno("fdatasync", seg->path));
  fsyncs_.fetch_add(1, std::memory_order_relaxed);
  if (unsynced_) {  // earlier unsynced writes to this segment are covered by this fdatasync
    unsynced_ = false;
    PublishUnsynced(seg.get());
  }
  {
    std::unique_lock lock(segments_mu_);
    for (const Framed& f : framed_) {
      const uint64_t off = size + f.offset;
      if (seg->index.empty() || off - seg->last_indexed_offset >= options_.index_interval_bytes) {
        seg->index.push_back({f.first_sequence, off, seg->max_arrival_ms});
        seg->last_indexed_offset = off;
      }
      seg->max_arrival_ms = std::max(seg->max_arrival_ms, f.max_arrival_ms);
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
                               [](uint64_t s, const IndexEntry& e) { return s < e.first_sequence; });
    if (it != seg->index.begin()) off = std::prev(it)->offset;
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
      // The cached segment was trimmed. Return what we have; else re-find the wanted record.
      if (!batches.empty()) break;
      c->next_sequence = want_seq;
      c->positioned = false;
      SLUICE_RETURN_IF_ERROR(Position(c));
      want_seq = c->next_sequence;
      if (want_seq >= end_seq) break;
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

uint64_t ShardLog::first_sequence() const {
  std::shared_lock lock(segments_mu_);
  return segments_.empty() ? durable_end() : segments_.front()->base;
}

uint64_t ShardLog::size_bytes() const {
  std::shared_lock lock(segments_mu_);
  uint64_t total = 0;
  for (const auto& seg : segments_) total += seg->durable_bytes.load(std::memory_order_acquire);
  return total;
}

Result<uint64_t> ShardLog::FirstAtOrAfter(const std::shared_ptr<Segment>& seg, uint64_t off,
                                          int64_t arrival_ms) const {
  const uint64_t durable = seg->durable_bytes.load(std::memory_order_acquire);
  std::string buf;
  while (off < durable) {
    char h[kBatchHeaderSize];
    SLUICE_RETURN_IF_ERROR(PreadFull(seg->fd, h, kBatchHeaderSize, off, seg->path));
    std::string why = CheckHeader(h, durable - off);
    if (!why.empty()) return Status::Corruption(seg->path + ": " + why + " at offset " + std::to_string(off));
    const uint32_t len = GetU32(h + 12);
    // The header's arrival times can't rule a batch out (data written before arrival times were
    // kept non-decreasing may be unordered inside a batch), so look at the records. The sparse
    // index bounds this scan to about index_interval_bytes.
    buf.resize(len);
    SLUICE_RETURN_IF_ERROR(PreadFull(seg->fd, buf.data(), len, off, seg->path));
    if (crc32c::Value(buf.data() + kBatchCrcStart, len - kBatchCrcStart) != GetU32(buf.data() + kBatchCrcOffset))
      return Status::Corruption(seg->path + ": CRC mismatch at offset " + std::to_string(off));
    uint64_t found = 0;
    bool ok = ForEachRecord(buf.data(), len, [&](uint64_t seq, int64_t ms, std::string_view, std::string_view) {
      if (found == 0 && ms >= arrival_ms) found = seq;
    });
    if (!ok) return Status::Corruption(seg->path + ": record overruns its batch at offset " + std::to_string(off));
    if (found != 0) return found;
    off += len;
  }
  return uint64_t{0};
}

Result<uint64_t> ShardLog::SequenceAtTimestamp(int64_t arrival_ms) const {
  const uint64_t end = durable_end();
  std::vector<std::shared_ptr<Segment>> candidates;
  std::vector<uint64_t> start_offsets;
  {
    std::shared_lock lock(segments_mu_);
    for (const auto& seg : segments_) {
      if (seg->max_arrival_ms < arrival_ms) continue;  // Every record in it is older.
      // The last index entry whose preceding records are all older than `arrival_ms`.
      auto it = std::partition_point(seg->index.begin(), seg->index.end(),
                                     [&](const IndexEntry& e) { return e.max_before_ms < arrival_ms; });
      candidates.push_back(seg);
      start_offsets.push_back(it == seg->index.begin() ? 0 : std::prev(it)->offset);
    }
  }
  // Normally the first candidate holds the answer; later ones only matter when a commit raced us.
  for (size_t i = 0; i < candidates.size(); ++i) {
    SLUICE_ASSIGN_OR_RETURN(uint64_t seq, FirstAtOrAfter(candidates[i], start_offsets[i], arrival_ms));
    if (seq != 0) return seq;
  }
  return end;
}

Result<ShardLog::TrimResult> ShardLog::Trim(int64_t cutoff_ms, uint64_t max_bytes) {
  TrimResult result;
  std::vector<std::shared_ptr<Segment>> victims;
  {
    std::unique_lock lock(segments_mu_);
    uint64_t total = 0;
    for (const auto& seg : segments_) total += seg->durable_bytes.load(std::memory_order_acquire);
    while (segments_.size() > 1 && segments_.front()->sealed) {
      const Segment& oldest = *segments_.front();
      const bool expired = cutoff_ms > 0 && oldest.max_arrival_ms < cutoff_ms;
      const bool too_big = max_bytes > 0 && total > max_bytes;
      if (!expired && !too_big) break;
      const uint64_t bytes = oldest.durable_bytes.load(std::memory_order_acquire);
      total -= bytes;
      result.segments++;
      result.bytes += bytes;
      result.records += segments_[1]->base - oldest.base;
      victims.push_back(segments_.front());
      segments_.erase(segments_.begin());
    }
  }
  if (victims.empty()) return result;
  // Oldest first, so a crash in between leaves a contiguous set of segments.
  for (const auto& v : victims) {
    if (::unlink(v->path.c_str()) != 0 && errno != ENOENT) return Errno("unlink", v->path);
    trimmed_segments_.fetch_add(1, std::memory_order_relaxed);
  }
  SLUICE_RETURN_IF_ERROR(FsyncDir(dir_));
  return result;
}

}  // namespace sluice::log
