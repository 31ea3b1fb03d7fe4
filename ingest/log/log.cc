#include "ingest/log/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/file_util.h"
#include "core/time.h"
#include "ingest/log/segment_format.h"

namespace sluice::log {
namespace {

// stream.json is a tiny fixed-shape control file, written by WriteStreamMeta():
// {"name":"x","shard_count":4,"created_ms":123,"retention_hours":24,"mode":"PROVISIONED"}
// Files written before retention and mode existed lack them; they get the defaults.
struct StreamMeta {
  int shards = 0;
  int64_t created_ms = 0;
  int retention_hours = kDefaultRetentionHours;
  StreamMode mode = StreamMode::kProvisioned;
};

bool ParseStreamMeta(const std::string& text, StreamMeta* meta) {
  auto num = [&](const char* key, int64_t* out) {
    auto p = text.find(key);
    if (p == std::string::npos) return false;
    p = text.find(':', p);
    if (p == std::string::npos) return false;
    *out = std::strtoll(text.c_str() + p + 1, nullptr, 10);
    return true;
  };
  int64_t n = 0;
  if (!num("\"shard_count\"", &n) || n < 1 || n > kMaxShardsPerStream) return false;
  meta->shards = static_cast<int>(n);
  if (!num("\"created_ms\"", &meta->created_ms)) meta->created_ms = 0;
  if (num("\"retention_hours\"", &n)) {
    if (n < kMinRetentionHours || n > kMaxRetentionHours) return false;
    meta->retention_hours = static_cast<int>(n);
  }
  meta->mode = text.find("\"ON_DEMAND\"") != std::string::npos ? StreamMode::kOnDemand : StreamMode::kProvisioned;
  return true;
}

constexpr std::string_view kTrashMarker = "~deleted-";

}  // namespace

bool IsValidStreamName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) return false;
  }
  return name != "." && name != "..";
}

const char* StreamModeName(StreamMode mode) {
  return mode == StreamMode::kOnDemand ? "ON_DEMAND" : "PROVISIONED";
}

std::string Stream::ShardIdFor(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shardId-%012d", i);
  return buf;
}

int Stream::ShardIndex(std::string_view id) const {
  constexpr std::string_view kPrefix = "shardId-";
  if (id.substr(0, kPrefix.size()) == kPrefix) id.remove_prefix(kPrefix.size());
  if (id.empty() || id.size() > 12) return -1;
  int64_t n = 0;
  for (char c : id) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n < shard_count() ? static_cast<int>(n) : -1;
}

Stream::~Stream() {
  if (trash_dir_.empty()) return;
  shards_.clear();  // Close every segment before removing the files.
  std::error_code ec;
  std::filesystem::remove_all(trash_dir_, ec);
  if (ec) std::fprintf(stderr, "sluice: removing deleted stream %s: %s\n", trash_dir_.c_str(), ec.message().c_str());
}

Log::Log(LogOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Log>> Log::Open(LogOptions options) {
  if (options.dir.empty()) return Status::InvalidArgument("log directory is required");
  if (::mkdir(options.dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::IOError("mkdir " + options.dir + ": " + std::strerror(errno));
  std::unique_ptr<Log> log(new Log(std::move(options)));
  DIR* d = ::opendir(log->options_.dir.c_str());
  if (!d) return Status::IOError("opendir " + log->options_.dir + ": " + std::strerror(errno));
  std::vector<std::string> names, trash;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (IsValidStreamName(n)) names.push_back(n);
    else if (n.find(kTrashMarker) != std::string::npos) trash.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : trash) {  // Deleted streams whose removal a crash or shutdown interrupted.
    std::error_code ec;
    std::filesystem::remove_all(log->options_.dir + "/" + n, ec);
  }
  for (const auto& n : names) {
    std::ifstream in(log->options_.dir + "/" + n + "/stream.json");
    if (!in) continue;  // Not a stream directory (or a CreateStream that never finished).
    std::stringstream ss;
    ss << in.rdbuf();
    StreamMeta meta;
    if (!ParseStreamMeta(ss.str(), &meta))
      return Status::Corruption(log->options_.dir + "/" + n + "/stream.json is not valid");
    SLUICE_ASSIGN_OR_RETURN(auto s, log->OpenStream(n, meta.shards, meta.created_ms));
    s->retention_hours_.store(meta.retention_hours);
    s->mode_ = meta.mode;
    log->streams_[n] = std::move(s);
  }
  log->commit_pool_ = std::make_unique<CommitPool>(std::max(0, log->options_.commit_threads));
  log->sync_thread_ = std::thread([l = log.get()] { l->SyncLoop(); });
  return log;
}

Log::~Log() {
  {
    std::lock_guard lock(commit_mu_);
    stopping_ = true;
  }
  commit_cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
}

Result<std::shared_ptr<Stream>> Log::OpenStream(const std::string& name, int shard_count, int64_t created_ms) {
  auto s = std::make_shared<Stream>();
  s->name_ = name;
  s->dir_ = options_.dir + "/" + name;
  s->created_ms_ = created_ms;
  s->ranges_ = EvenHashKeyRanges(shard_count);
  for (int i = 0; i < shard_count; ++i) {
    RecoveryReport report;
    SLUICE_ASSIGN_OR_RETURN(auto shard, ShardLog::Open(s->dir_ + "/" + Stream::ShardIdFor(i), options_.shard, &report));
    s->shards_.push_back(std::move(shard));
    s->throttles_.push_back(
        std::make_unique<WriteThrottle>(options_.shard_records_per_second, options_.shard_bytes_per_second));
  }
  return s;
}

Status Log::WriteStreamMeta(const Stream& s, int retention_hours) const {
  std::string meta = "{\"name\":\"" + s.name_ + "\",\"shard_count\":" + std::to_string(s.shard_count()) +
                     ",\"created_ms\":" + std::to_string(s.created_ms_) +
                     ",\"retention_hours\":" + std::to_string(retention_hours) + ",\"mode\":\"" +
                     StreamModeName(s.mode_) + "\"}\n";
  return WriteFileAtomically(s.dir_ + "/stream.json", meta);
}

Status Log::CreateStream(const std::string& name, int shard_count, StreamMode mode) {
  if (!IsValidStreamName(name))
    return Status::InvalidArgument("stream name '" + name + "' must be 1-128 characters of [a-zA-Z0-9_.-]");
  if (shard_count < 1 || shard_count > kMaxShardsPerStream)
    return Status::InvalidArgument("shard count " + std::to_string(shard_count) + " is outside 1.." +
                                   std::to_string(kMaxShardsPerStream));
  std::lock_guard meta_lock(meta_mu_);
  {
    std::lock_guard lock(streams_mu_);
    if (streams_.count(name)) return Status::AlreadyExists("stream " + name + " already exists");
  }
  std::string dir = options_.dir + "/" + name;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::IOError("mkdir " + dir + ": " + std::strerror(errno));
  int64_t now = WallNow().millis();
  SLUICE_ASSIGN_OR_RETURN(auto s, OpenStream(name, shard_count, now));
  s->mode_ = mode;
  SLUICE_RETURN_IF_ERROR(WriteStreamMeta(*s, kDefaultRetentionHours));
  std::lock_guard lock(streams_mu_);
  streams_[name] = std::move(s);
  return Status::OK();
}

Status Log::DeleteStream(std::string_view name) {
  std::lock_guard meta_lock(meta_mu_);
  std::shared_ptr<Stream> s;
  {
    std::lock_guard lock(streams_mu_);
    auto it = streams_.find(name);
    if (it == streams_.end()) return Status::NotFound("stream " + std::string(name) + " not found");
    s = it->second;
  }
  std::string trash = s->dir_ + std::string(kTrashMarker) + std::to_string(WallNow().millis()) + "-" +
                      std::to_string(++trash_counter_);
  if (::rename(s->dir_.c_str(), trash.c_str()) != 0)
    return Status::IOError("rename " + s->dir_ + " to " + trash + ": " + std::strerror(errno));
  Status synced = FsyncDir(options_.dir);
  s->trash_dir_ = trash;
  s->deleted_.store(true, std::memory_order_release);
  {
    std::lock_guard lock(streams_mu_);
    streams_.erase(streams_.find(name));
  }
  if (!synced.ok()) std::fprintf(stderr, "sluice: delete stream %s: %s\n", s->name_.c_str(), synced.ToString().c_str());
  return Status::OK();  // `s` may be the last reference: the files go now, else with the last reader.
}

Status Log::SetRetentionHours(std::string_view name, int hours, RetentionChange change) {
  std::lock_guard meta_lock(meta_mu_);
  SLUICE_ASSIGN_OR_RETURN(auto s, GetStream(name));
  const int current = s->retention_hours();
  if (hours < kMinRetentionHours)
    return Status::InvalidArgument("Minimum allowed retention period is " + std::to_string(kMinRetentionHours) +
                                   " hours. Requested retention period (" + std::to_string(hours) +
                                   " hours) is too short.");
  if (hours > kMaxRetentionHours)
    return Status::InvalidArgument("Maximum allowed retention period is " + std::to_string(kMaxRetentionHours) +
                                   " hours. Requested retention period (" + std::to_string(hours) +
                                   " hours) is too long.");
  if (change == RetentionChange::kIncrease && hours < current)
    return Status::InvalidArgument("Requested retention period (" + std::to_string(hours) + " hours) for stream " +
                                   s->name_ + " can not be shorter than existing retention period (" +
                                   std::to_string(current) + " hours). Use DecreaseRetentionPeriod API.");
  if (change == RetentionChange::kDecrease && hours > current)
    return Status::InvalidArgument("Requested retention period (" + std::to_string(hours) + " hours) for stream " +
                                   s->name_ + " can not be longer than existing retention period (" +
                                   std::to_string(current) + " hours). Use IncreaseRetentionPeriod API.");
  if (hours == current) return Status::OK();
  SLUICE_RETURN_IF_ERROR(WriteStreamMeta(*s, hours));
  s->retention_hours_.store(hours, std::memory_order_relaxed);
  return Status::OK();
}

Result<RetentionReport> Log::EnforceRetention(int64_t now_ms) {
  std::lock_guard retention_lock(retention_mu_);
  std::vector<std::shared_ptr<Stream>> streams;
  {
    std::lock_guard lock(streams_mu_);
    for (const auto& [n, s] : streams_) streams.push_back(s);
  }
  RetentionReport report;
  Status first_error;
  for (const auto& s : streams) {
    const int64_t cutoff = now_ms - static_cast<int64_t>(s->retention_hours()) * 3600 * 1000;
    for (int i = 0; i < s->shard_count(); ++i) {
      auto r = s->shard(i).Trim(cutoff, options_.retention_bytes_per_shard);
      if (!r.ok()) {
        if (first_error.ok()) first_error = r.status();
        continue;
      }
      report.segments += r->segments;
      report.bytes += r->bytes;
      report.records += r->records;
    }
  }
  if (!first_error.ok()) return first_error;
  return report;
}

Result<std::shared_ptr<Stream>> Log::GetStream(std::string_view name) const {
  std::lock_guard lock(streams_mu_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return Status::NotFound("stream " + std::string(name) + " not found");
  return it->second;
}

std::vector<std::string> Log::ListStreams() const {
  std::lock_guard lock(streams_mu_);
  std::vector<std::string> out;
  for (const auto& [n, s] : streams_) out.push_back(n);
  return out;
}

Status Log::Put(std::string_view stream_name, std::span<const PutEntry> entries, std::vector<PutResult>* results,
                DurableCallback done) {
  SLUICE_ASSIGN_OR_RETURN(auto stream, GetStream(stream_name));
  results->assign(entries.size(), PutResult{});
  const int64_t now_ms = WallNow().millis();
  const int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::vector<ShardLog*> touched;
  for (size_t i = 0; i < entries.size(); ++i) {
    const PutEntry& e = entries[i];
    HashKey hk = e.explicit_hash_key ? *e.explicit_hash_key : HashPartitionKey(e.partition_key);
    int shard = stream->ShardFor(hk);
    PutResult& r = (*results)[i];
    r.shard = shard;
    // Backpressure: over a budget or a shard limit, this record fails alone and may be retried.
    const uint64_t bytes = e.partition_key.size() + e.data.size() + kRecordOverhead;
    if (disk_low_.load(std::memory_order_relaxed)) {
      r.status = Status::ResourceExhausted("the log's disk is nearly full (under " +
                                           std::to_string(options_.min_free_disk_bytes) + " bytes free)");
      continue;
    }
    // Reserve before appending, so the sync thread never subtracts bytes not yet counted.
    if (pending_bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes > options_.max_pending_bytes) {
      pending_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      r.status = Status::ResourceExhausted("the log's memory budget for unsynced records is full");
      continue;
    }
    if (!stream->throttles_[static_cast<size_t>(shard)]->TryTake(e.partition_key.size() + e.data.size(), now_us)) {
      pending_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      r.status = Status::ResourceExhausted("Rate exceeded for shard " + Stream::ShardIdFor(shard) + " in stream " +
                                           stream->name() + " under account 000000000000.");
      continue;
    }
    auto seq = stream->shard(shard).Append(e.partition_key, e.data, now_ms);
    if (!seq.ok()) {
      pending_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      r.status = seq.status();
      continue;
    }
    r.sequence = *seq;
    ShardLog* s = &stream->shard(shard);
    if (touched.empty() || touched.back() != s) touched.push_back(s);
  }
  {
    std::lock_guard lock(commit_mu_);
    if (stopping_) return Status::Unavailable("log is shutting down");
    if (!touched.empty()) {
      dirty_.insert(touched.begin(), touched.end());
      dirty_streams_.push_back(stream);
    }
    callbacks_.push_back(std::move(done));
  }
  commit_cv_.notify_one();
  return Status::OK();
}

void Log::SyncLoop() {
  std::set<ShardLog*> dirty;
  std::vector<ShardLog*> shards;
  std::vector<Status> statuses;
  std::vector<uint64_t> taken;
  std::vector<std::shared_ptr<Stream>> keep;
  std::vector<DurableCallback> callbacks;
  const auto interval = options_.retention_check_interval;
  auto next_retention = std::chrono::steady_clock::now() + interval;
  for (;;) {
    {
      std::unique_lock lock(commit_mu_);
      auto ready = [&] { return stopping_ || !callbacks_.empty() || !dirty_.empty(); };
      if (interval.count() > 0) commit_cv_.wait_until(lock, next_retention, ready);
      else commit_cv_.wait(lock, ready);
      if (stopping_ && callbacks_.empty() && dirty_.empty()) return;
      dirty.swap(dirty_);
      keep.swap(dirty_streams_);
      callbacks.swap(callbacks_);
    }
    if (interval.count() > 0 && std::chrono::steady_clock::now() >= next_retention) {
      auto r = EnforceRetention(WallNow().millis());
      if (!r.ok()) std::fprintf(stderr, "sluice: log retention: %s\n", r.status().ToString().c_str());
      next_retention = std::chrono::steady_clock::now() + interval;
    }
    if (dirty.empty() && callbacks.empty()) continue;  // Woken only for retention.
    Status round_status;
    shards.assign(dirty.begin(), dirty.end());
    statuses.assign(shards.size(), Status::OK());
    taken.assign(shards.size(), 0);
    commit_pool_->ParallelFor(shards.size(), [&](size_t i) { statuses[i] = shards[i]->Commit(&taken[i]); });
    uint64_t taken_total = 0;
    for (uint64_t t : taken) taken_total += t;
    pending_bytes_.fetch_sub(taken_total, std::memory_order_relaxed);
    CheckDisk();
    for (const Status& st : statuses) {
      if (!st.ok()) {
        std::fprintf(stderr, "sluice: log commit failed: %s\n", st.ToString().c_str());
        if (round_status.ok()) round_status = st;
      }
    }
    {
      std::lock_guard lock(commit_mu_);
      ++round_;
    }
    committed_cv_.notify_all();
    for (auto& cb : callbacks)
      if (cb) cb(round_status);
    dirty.clear();
    keep.clear();
    callbacks.clear();
  }
}

void Log::CheckDisk() {
  auto now = std::chrono::steady_clock::now();
  if (now < next_disk_check_) return;
  next_disk_check_ = now + std::chrono::seconds(1);
  struct statvfs v;
  if (::statvfs(options_.dir.c_str(), &v) != 0) return;  // Unknown: keep the last verdict.
  const uint64_t free_bytes = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
  disk_low_.store(free_bytes < options_.min_free_disk_bytes, std::memory_order_relaxed);
}

uint64_t Log::WaitForCommit(uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(commit_mu_);
  committed_cv_.wait_for(lock, timeout, [&] { return round_ > seen || stopping_; });
  return round_;
}

uint64_t Log::commit_round() const {
  std::lock_guard lock(commit_mu_);
  return round_;
}

}  // namespace sluice::log
