#include "ingest/log/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/time.h"

namespace sluice::log {
namespace {

Status WriteFileDurably(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("create " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return Status::IOError("write " + path + ": " + std::strerror(errno));
  return Status::OK();
}

// stream.json is a tiny fixed-shape control file: {"name":"x","shard_count":4,"created_ms":123}
bool ParseStreamMeta(const std::string& text, int* shards, int64_t* created) {
  auto num = [&](const char* key, int64_t* out) {
    auto p = text.find(key);
    if (p == std::string::npos) return false;
    p = text.find(':', p);
    if (p == std::string::npos) return false;
    *out = std::strtoll(text.c_str() + p + 1, nullptr, 10);
    return true;
  };
  int64_t n = 0;
  if (!num("\"shard_count\"", &n) || n < 1 || n > 1024) return false;
  *shards = static_cast<int>(n);
  if (!num("\"created_ms\"", created)) *created = 0;
  return true;
}

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

std::string Stream::ShardIdFor(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shardId-%012d", i);
  return buf;
}

Log::Log(LogOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Log>> Log::Open(LogOptions options) {
  if (options.dir.empty()) return Status::InvalidArgument("log directory is required");
  if (::mkdir(options.dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::IOError("mkdir " + options.dir + ": " + std::strerror(errno));
  std::unique_ptr<Log> log(new Log(std::move(options)));
  DIR* d = ::opendir(log->options_.dir.c_str());
  if (!d) return Status::IOError("opendir " + log->options_.dir + ": " + std::strerror(errno));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (IsValidStreamName(n)) names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    std::ifstream in(log->options_.dir + "/" + n + "/stream.json");
    if (!in) continue;  // Not a stream directory (or a CreateStream that never finished).
    std::stringstream ss;
    ss << in.rdbuf();
    int shards = 0;
    int64_t created = 0;
    if (!ParseStreamMeta(ss.str(), &shards, &created))
      return Status::Corruption(log->options_.dir + "/" + n + "/stream.json is not valid");
    SLUICE_ASSIGN_OR_RETURN(auto s, log->OpenStream(n, shards, created));
    log->streams_[n] = std::move(s);
  }
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
  }
  return s;
}

Status Log::CreateStream(const std::string& name, int shard_count) {
  if (!IsValidStreamName(name))
    return Status::InvalidArgument("stream name '" + name + "' must be 1-128 characters of [a-zA-Z0-9_.-]");
  if (shard_count < 1 || shard_count > 1024)
    return Status::InvalidArgument("shard count " + std::to_string(shard_count) + " is outside 1..1024");
  std::lock_guard lock(streams_mu_);
  if (streams_.count(name)) return Status::AlreadyExists("stream " + name + " already exists");
  std::string dir = options_.dir + "/" + name;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return Status::IOError("mkdir " + dir + ": " + std::strerror(errno));
  int64_t now = WallNow().millis();
  SLUICE_ASSIGN_OR_RETURN(auto s, OpenStream(name, shard_count, now));
  std::string meta = "{\"name\":\"" + name + "\",\"shard_count\":" + std::to_string(shard_count) +
                     ",\"created_ms\":" + std::to_string(now) + "}\n";
  SLUICE_RETURN_IF_ERROR(WriteFileDurably(dir + "/stream.json", meta));
  streams_[name] = std::move(s);
  return Status::OK();
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
  std::vector<ShardLog*> touched;
  for (size_t i = 0; i < entries.size(); ++i) {
    const PutEntry& e = entries[i];
    HashKey hk = e.explicit_hash_key ? *e.explicit_hash_key : HashPartitionKey(e.partition_key);
    int shard = stream->ShardFor(hk);
    PutResult& r = (*results)[i];
    r.shard = shard;
    auto seq = stream->shard(shard).Append(e.partition_key, e.data, now_ms);
    if (!seq.ok()) {
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
  std::vector<std::shared_ptr<Stream>> keep;
  std::vector<DurableCallback> callbacks;
  for (;;) {
    {
      std::unique_lock lock(commit_mu_);
      commit_cv_.wait(lock, [&] { return stopping_ || !callbacks_.empty() || !dirty_.empty(); });
      if (stopping_ && callbacks_.empty() && dirty_.empty()) return;
      dirty.swap(dirty_);
      keep.swap(dirty_streams_);
      callbacks.swap(callbacks_);
    }
    Status round_status;
    for (ShardLog* s : dirty) {
      Status st = s->Commit();
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
