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

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/logging.h"
#include "core/time.h"
#include "ingest/log/segment_format.h"
#include "ingest/log/stream_meta_format.h"

namespace sluice::log {
namespace {

// stream.json's layout (versions 1 and 2) is in stream_meta_format.h.

bool ReadI64(const nlohmann::json& j, const char* key, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return false;
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = it->get<int64_t>();
  return true;
}

bool ReadHashKey(const nlohmann::json& j, const char* key, HashKey* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return false;
  auto k = ParseHashKey(it->get_ref<const std::string&>());
  if (!k) return false;
  *out = *k;
  return true;
}

// Rebuilds the open-shard routing table. Returns false unless the open ranges tile the space.
bool IndexOpenShards(StreamTopology* t) {
  t->open_ranges.clear();
  t->open_shards.clear();
  std::vector<int> open;
  for (const ShardInfo& s : t->shards)
    if (s.open()) open.push_back(s.index);
  std::sort(open.begin(), open.end(), [&](int a, int b) {
    return t->shards[static_cast<size_t>(a)].range.start < t->shards[static_cast<size_t>(b)].range.start;
  });
  HashKey next = 0;
  bool done = false;
  for (int i : open) {
    const HashKeyRange& r = t->shards[static_cast<size_t>(i)].range;
    if (done || r.start != next || r.end < r.start) return false;
    t->open_ranges.push_back(r);
    t->open_shards.push_back(i);
    if (r.end == ~static_cast<HashKey>(0)) done = true;
    else next = r.end + 1;
  }
  return done;
}

std::string ShardNotFoundMessage(std::string_view shard, std::string_view stream) {
  return "Could not find shard " + std::string(shard) + " in stream " + std::string(stream) +
         " under account 000000000000.";
}

constexpr std::string_view kTrashMarker = "~deleted-";

}  // namespace

// What stream.json holds; the shards' logs are opened by OpenStream().
struct Log::StreamMeta {
  int64_t created_ms = 0;
  int retention_hours = kDefaultRetentionHours;
  StreamMode mode = StreamMode::kProvisioned;
  StreamTopology topology;  // Without logs and throttles.
};

// Parses stream.json (version 1 or 2). Returns false for anything malformed.
bool Log::ParseStreamMeta(const std::string& text, StreamMeta* meta) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return false;
  int64_t n = 0;
  int64_t version = 1;
  if (j.contains("format_version") && (!ReadI64(j, "format_version", &version) || version < 1 ||
                                       version > kStreamMetaVersion))
    return false;
  if (!ReadI64(j, "created_ms", &meta->created_ms)) meta->created_ms = 0;
  if (j.contains("retention_hours")) {
    if (!ReadI64(j, "retention_hours", &n) || n < kMinRetentionHours || n > kMaxRetentionHours) return false;
    meta->retention_hours = static_cast<int>(n);
  }
  auto mode = j.find("mode");
  meta->mode = mode != j.end() && mode->is_string() && mode->get_ref<const std::string&>() == "ON_DEMAND"
                   ? StreamMode::kOnDemand
                   : StreamMode::kProvisioned;
  StreamTopology& t = meta->topology;
  t.shards.clear();
  if (version == 1) {
    if (!ReadI64(j, "shard_count", &n) || n < 1 || n > kMaxShardsPerStream) return false;
    auto ranges = EvenHashKeyRanges(static_cast<int>(n));
    for (int i = 0; i < static_cast<int>(n); ++i) {
      ShardInfo s;
      s.index = i;
      s.range = ranges[static_cast<size_t>(i)];
      s.created_ms = meta->created_ms;
      t.shards.push_back(std::move(s));
    }
    t.version = 0;
    return IndexOpenShards(&t);
  }
  int64_t tv = 0;
  if (!ReadI64(j, "topology_version", &tv) || tv < 0) return false;
  t.version = static_cast<uint64_t>(tv);
  auto shards = j.find("shards");
  if (shards == j.end() || !shards->is_array() || shards->empty() || shards->size() > kMaxShardIdsPerStream)
    return false;
  for (const nlohmann::json& e : *shards) {
    if (!e.is_object()) return false;
    ShardInfo s;
    int64_t id = 0, parent = -1, adjacent = -1, end = 0;
    if (!ReadI64(e, "id", &id) || id != static_cast<int64_t>(t.shards.size())) return false;
    if (!ReadHashKey(e, "start", &s.range.start) || !ReadHashKey(e, "end", &s.range.end) || s.range.end < s.range.start)
      return false;
    if (!ReadI64(e, "parent", &parent) || !ReadI64(e, "adjacent_parent", &adjacent) ||
        !ReadI64(e, "end_sequence", &end) || !ReadI64(e, "created_ms", &s.created_ms) ||
        !ReadI64(e, "closed_ms", &s.closed_ms))
      return false;
    if (parent < -1 || parent >= id || adjacent < -1 || adjacent >= id || end < 0) return false;
    s.index = static_cast<int>(id);
    s.parent = static_cast<int>(parent);
    s.adjacent_parent = static_cast<int>(adjacent);
    s.end_sequence = static_cast<uint64_t>(end);
    t.shards.push_back(std::move(s));
  }
  return IndexOpenShards(&t) && static_cast<int>(t.open_shards.size()) <= kMaxShardsPerStream;
}

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

std::shared_ptr<const StreamTopology> Stream::topology() const {
  std::lock_guard lock(topology_mu_);
  return topology_;
}

int Stream::ShardFor(HashKey k) const {
  auto t = topology();
  return t->open_shards[static_cast<size_t>(ShardForHashKey(t->open_ranges, k))];
}

Stream::~Stream() {
  if (trash_dir_.empty()) return;
  {
    std::lock_guard lock(topology_mu_);
    topology_.reset();  // Close every segment before removing the files.
  }
  std::error_code ec;
  std::filesystem::remove_all(trash_dir_, ec);
  if (ec) {
    SLUICE_LOG_WARN("removing a deleted stream's files failed",
                    {{"component", "log"}, {"path", trash_dir_}, {"error", ec.message()}});
  }
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
    SLUICE_ASSIGN_OR_RETURN(auto s, log->OpenStream(n, meta));
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

Result<std::shared_ptr<Stream>> Log::OpenStream(const std::string& name, const StreamMeta& meta) {
  auto s = std::make_shared<Stream>();
  s->name_ = name;
  s->dir_ = options_.dir + "/" + name;
  s->created_ms_ = meta.created_ms;
  s->mode_ = meta.mode;
  s->retention_hours_.store(meta.retention_hours);
  auto t = std::make_shared<StreamTopology>(meta.topology);
  for (ShardInfo& info : t->shards) {
    RecoveryReport report;
    SLUICE_ASSIGN_OR_RETURN(auto shard,
                            ShardLog::Open(s->dir_ + "/" + Stream::ShardIdFor(info.index), options_.shard, &report));
    // Records pending when the shard closed may have been lost in a crash (they were never
    // acknowledged): the shard then ends where its durable records end.
    if (!info.open()) info.end_sequence = std::min(info.end_sequence, shard->next_sequence());
    info.log = std::move(shard);
    info.throttle =
        std::make_shared<WriteThrottle>(options_.shard_records_per_second, options_.shard_bytes_per_second);
  }
  s->topology_version_.store(t->version, std::memory_order_release);
  s->topology_ = std::move(t);
  return s;
}

Status Log::WriteStreamMeta(const Stream& s, int retention_hours, const StreamTopology& t) const {
  nlohmann::json shards = nlohmann::json::array();
  for (const ShardInfo& info : t.shards)
    shards.push_back({{"id", info.index},
                      {"start", HashKeyToString(info.range.start)},
                      {"end", HashKeyToString(info.range.end)},
                      {"parent", info.parent},
                      {"adjacent_parent", info.adjacent_parent},
                      {"end_sequence", info.end_sequence},
                      {"created_ms", info.created_ms},
                      {"closed_ms", info.closed_ms}});
  nlohmann::json meta = {{"format_version", kStreamMetaVersion},
                         {"name", s.name_},
                         {"shard_count", t.shards.size()},
                         {"created_ms", s.created_ms_},
                         {"retention_hours", retention_hours},
                         {"mode", StreamModeName(s.mode_)},
                         {"topology_version", t.version},
                         {"shards", std::move(shards)}};
  return WriteFileAtomically(s.dir_ + "/stream.json", meta.dump() + "\n");
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
  StreamMeta meta;
  meta.created_ms = WallNow().millis();
  meta.mode = mode;
  auto ranges = EvenHashKeyRanges(shard_count);
  for (int i = 0; i < shard_count; ++i) {
    ShardInfo info;
    info.index = i;
    info.range = ranges[static_cast<size_t>(i)];
    info.created_ms = meta.created_ms;
    meta.topology.shards.push_back(std::move(info));
  }
  IndexOpenShards(&meta.topology);
  SLUICE_ASSIGN_OR_RETURN(auto s, OpenStream(name, meta));
  SLUICE_RETURN_IF_ERROR(WriteStreamMeta(*s, kDefaultRetentionHours, *s->topology()));
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
  if (!synced.ok()) {
    SLUICE_LOG_WARN("delete stream: sync failed", {{"component", "log"}, {"stream", s->name_}, {"error", synced.ToString()}});
  }
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
  SLUICE_RETURN_IF_ERROR(WriteStreamMeta(*s, hours, *s->topology()));
  s->retention_hours_.store(hours, std::memory_order_relaxed);
  return Status::OK();
}

// A reshard, planned against the current topology: the open shards to close and the shards to
// create. Child k gets index (current shard count + k); a parent index may name an earlier child.
struct Log::ReshardPlan {
  struct Child {
    HashKeyRange range;
    int parent = -1;
    int adjacent_parent = -1;
    bool short_lived = false;  // Closed at once, with no record (an UpdateShardCount intermediate).
  };
  std::vector<int> close;
  std::vector<Child> children;
};

void Log::Poke() {
  {
    std::lock_guard lock(commit_mu_);
    if (stopping_) return;
    callbacks_.push_back(nullptr);  // An empty callback still makes the sync thread run a round.
  }
  commit_cv_.notify_one();
}

Status Log::ApplyReshard(const std::shared_ptr<Stream>& s, const ReshardPlan& plan, ReshardResult* result) {
  std::shared_ptr<const StreamTopology> current = s->topology();
  const size_t base = current->shards.size();
  const int open_before = static_cast<int>(current->open_shards.size());
  if (result) {
    *result = ReshardResult{};
    result->open_shards_before = result->open_shards_after = open_before;
  }
  if (plan.children.empty() && plan.close.empty()) return Status::OK();
  if (base + plan.children.size() > static_cast<size_t>(kMaxShardIdsPerStream))
    return Status::ResourceExhausted("This request would exceed the limit of " + std::to_string(kMaxShardIdsPerStream) +
                                     " shards (open and closed) for stream " + s->name() + " under account " +
                                     "000000000000. Closed shards are kept until the stream is deleted.");
  int open_after = open_before - static_cast<int>(plan.close.size());
  for (const auto& c : plan.children) open_after += c.short_lived ? 0 : 1;
  if (open_after > kMaxShardsPerStream)
    return Status::ResourceExhausted("This request would exceed the shard limit for the account 000000000000. "
                                     "Current limit of shards per stream is " + std::to_string(kMaxShardsPerStream) +
                                     ". Number of additional shards that would have resulted from this request: " +
                                     std::to_string(open_after - open_before) + ".");
  // Open the children first, outside the reshard lock. A directory left by a reshard that failed
  // before its stream.json was written can only hold an empty shard; start it afresh anyway.
  std::vector<std::shared_ptr<ShardLog>> logs;
  for (size_t k = 0; k < plan.children.size(); ++k) {
    const std::string dir = s->dir_ + "/" + Stream::ShardIdFor(static_cast<int>(base + k));
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) return Status::IOError("remove " + dir + ": " + ec.message());
    SLUICE_ASSIGN_OR_RETURN(auto shard, ShardLog::Open(dir, options_.shard, nullptr));
    logs.push_back(std::move(shard));
  }
  std::unique_lock reshard_lock(s->reshard_mu_);  // No Put() appends while we close shards.
  auto next = std::make_shared<StreamTopology>(*current);
  const int64_t now = WallNow().millis();
  for (int c : plan.close) {
    ShardInfo& info = next->shards[static_cast<size_t>(c)];
    info.end_sequence = info.log->next_sequence();
    info.closed_ms = now;
  }
  for (size_t k = 0; k < plan.children.size(); ++k) {
    const auto& c = plan.children[k];
    ShardInfo info;
    info.index = static_cast<int>(base + k);
    info.range = c.range;
    info.parent = c.parent;
    info.adjacent_parent = c.adjacent_parent;
    info.created_ms = now;
    if (c.short_lived) {
      info.end_sequence = 1;
      info.closed_ms = now;
    }
    info.log = std::move(logs[k]);
    info.throttle = std::make_shared<WriteThrottle>(options_.shard_records_per_second, options_.shard_bytes_per_second);
    next->shards.push_back(std::move(info));
  }
  next->version = current->version + 1;
  if (!IndexOpenShards(next.get()))
    return Status::Internal("reshard of stream " + s->name() + " would leave a gap or overlap in the hash-key space");
  // Durable before any record can reach a child (Put() waits for the lock).
  SLUICE_RETURN_IF_ERROR(WriteStreamMeta(*s, s->retention_hours(), *next));
  if (result) {
    result->open_shards_after = static_cast<int>(next->open_shards.size());
    result->closed = plan.close;
    for (size_t k = 0; k < plan.children.size(); ++k) result->created.push_back(static_cast<int>(base + k));
  }
  const uint64_t version = next->version;
  {
    std::lock_guard lock(s->topology_mu_);
    s->topology_ = std::move(next);
  }
  s->topology_version_.store(version, std::memory_order_release);
  reshard_lock.unlock();
  Poke();  // Commit the closed shards' last records soon and wake readers waiting for data.
  return Status::OK();
}

namespace {

// The AWS message for a closed shard named in a reshard.
std::string NotEligible(std::string_view shard, std::string_view stream) {
  return "Shard " + std::string(shard) + " in stream " + std::string(stream) +
         " under account 000000000000 has already been merged or split, and thus is not eligible for merging or "
         "splitting.";
}

}  // namespace

Status Log::SplitShard(std::string_view stream, std::string_view shard_id, HashKey key, ReshardResult* result) {
  std::lock_guard meta_lock(meta_mu_);
  SLUICE_ASSIGN_OR_RETURN(auto s, GetStream(stream));
  auto t = s->topology();
  const int i = s->ShardIndex(shard_id);
  if (i < 0) return Status::NotFound(ShardNotFoundMessage(shard_id, stream));
  const ShardInfo& p = t->shards[static_cast<size_t>(i)];
  const std::string id = Stream::ShardIdFor(i);
  if (!p.open()) return Status::AlreadyExists(NotEligible(id, stream));
  // Kinesis' rule: StartingHashKey + 1 < NewStartingHashKey < EndingHashKey.
  if (key <= p.range.start || key - p.range.start < 2 || key >= p.range.end)
    return Status::InvalidArgument("NewStartingHashKey " + HashKeyToString(key) + " used in SplitShard() on shard " +
                                   id + " in stream " + std::string(stream) +
                                   " under account 000000000000 is not both greater than one plus the shard's "
                                   "StartingHashKey " + HashKeyToString(p.range.start) +
                                   " and less than the shard's EndingHashKey " + HashKeyToString(p.range.end) + ".");
  ReshardPlan plan;
  plan.close = {i};
  plan.children.push_back({{p.range.start, key - 1}, i, -1, false});
  plan.children.push_back({{key, p.range.end}, i, -1, false});
  return ApplyReshard(s, plan, result);
}

Status Log::MergeShards(std::string_view stream, std::string_view shard_id, std::string_view adjacent_id,
                        ReshardResult* result) {
  std::lock_guard meta_lock(meta_mu_);
  SLUICE_ASSIGN_OR_RETURN(auto s, GetStream(stream));
  auto t = s->topology();
  const int a = s->ShardIndex(shard_id);
  if (a < 0) return Status::NotFound(ShardNotFoundMessage(shard_id, stream));
  const int b = s->ShardIndex(adjacent_id);
  if (b < 0) return Status::NotFound(ShardNotFoundMessage(adjacent_id, stream));
  const ShardInfo& sa = t->shards[static_cast<size_t>(a)];
  const ShardInfo& sb = t->shards[static_cast<size_t>(b)];
  if (!sa.open()) return Status::AlreadyExists(NotEligible(Stream::ShardIdFor(a), stream));
  if (!sb.open()) return Status::AlreadyExists(NotEligible(Stream::ShardIdFor(b), stream));
  const HashKey max = ~static_cast<HashKey>(0);
  const bool adjacent = a != b && ((sa.range.end != max && sa.range.end + 1 == sb.range.start) ||
                                   (sb.range.end != max && sb.range.end + 1 == sa.range.start));
  if (!adjacent)
    return Status::InvalidArgument("Shards " + Stream::ShardIdFor(a) + " and " + Stream::ShardIdFor(b) +
                                   " in stream " + std::string(stream) +
                                   " under account 000000000000 are not an adjacent pair of shards eligible for "
                                   "merging");
  ReshardPlan plan;
  plan.close = {a, b};
  plan.children.push_back(
      {{std::min(sa.range.start, sb.range.start), std::max(sa.range.end, sb.range.end)}, a, b, false});
  return ApplyReshard(s, plan, result);
}

Status Log::UpdateShardCount(std::string_view stream, int target, ReshardResult* result) {
  std::lock_guard meta_lock(meta_mu_);
  SLUICE_ASSIGN_OR_RETURN(auto s, GetStream(stream));
  if (s->mode() == StreamMode::kOnDemand)
    return Status::InvalidArgument("UpdateShardCount is not supported for stream " + std::string(stream) +
                                   " under account 000000000000 because it is in ON_DEMAND mode.");
  auto t = s->topology();
  const int open = static_cast<int>(t->open_shards.size());
  if (target < 1) return Status::InvalidArgument("TargetShardCount must be at least 1.");
  if (target > 2 * open || 2 * target < open || target > kMaxShardsPerStream) {
    std::string why = target > kMaxShardsPerStream
                          ? "above the limit of " + std::to_string(kMaxShardsPerStream) + " shards per stream"
                      : target > 2 * open ? "more than double the current open shard count"
                                          : "below half the current open shard count";
    return Status::ResourceExhausted("UpdateShardCount to " + std::to_string(target) + " shards for stream " +
                                     std::string(stream) + " under account 000000000000 is " + why +
                                     " (current open shard count: " + std::to_string(open) + ").");
  }
  const std::vector<HashKeyRange> targets = EvenHashKeyRanges(target);
  const int base = static_cast<int>(t->shards.size());
  ReshardPlan plan;
  // A piece of the hash-key space after step 1: an open shard or a split child (by index).
  struct Piece {
    HashKeyRange range;
    int index;
    bool is_child;
  };
  std::vector<Piece> pieces;
  // Step 1: split every open shard that a target boundary falls inside.
  size_t ti = 0;
  for (size_t k = 0; k < t->open_shards.size(); ++k) {
    const int idx = t->open_shards[k];
    const HashKeyRange r = t->open_ranges[k];
    std::vector<HashKey> cuts;
    while (ti < targets.size() && targets[ti].start <= r.end) {
      if (targets[ti].start > r.start) cuts.push_back(targets[ti].start);
      ++ti;
    }
    if (cuts.empty()) {
      pieces.push_back({r, idx, false});
      continue;
    }
    plan.close.push_back(idx);
    HashKey from = r.start;
    cuts.push_back(0);  // Sentinel: the last piece ends at r.end.
    for (size_t c = 0; c < cuts.size(); ++c) {
      const HashKey to = c + 1 < cuts.size() ? cuts[c] - 1 : r.end;
      pieces.push_back({{from, to}, base + static_cast<int>(plan.children.size()), true});
      plan.children.push_back({{from, to}, idx, -1, false});
      from = to + 1;  // Unused after the last piece.
    }
  }
  // Step 2: merge the pieces of each target range, left to right.
  auto close_piece = [&](const Piece& p) {
    if (p.is_child) plan.children[static_cast<size_t>(p.index - base)].short_lived = true;
    else plan.close.push_back(p.index);
  };
  size_t pi = 0;
  for (const HashKeyRange& tr : targets) {
    Piece acc = pieces[pi++];
    while (pi < pieces.size() && pieces[pi].range.start <= tr.end) {
      const Piece& next = pieces[pi++];
      close_piece(acc);
      close_piece(next);
      const int idx = base + static_cast<int>(plan.children.size());
      plan.children.push_back({{acc.range.start, next.range.end}, acc.index, next.index, false});
      acc = {{acc.range.start, next.range.end}, idx, true};
    }
  }
  return ApplyReshard(s, plan, result);
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
    auto topology = s->topology();
    for (const ShardInfo& info : topology->shards) {
      auto r = info.log->Trim(cutoff, options_.retention_bytes_per_shard);
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
  // Shared: a reshard can't close a shard between routing a record to it and appending it.
  std::shared_lock reshard_lock(stream->reshard_mu_);
  const StreamTopology& topology = *stream->topology_;  // Stable while reshard_mu_ is held.
  for (size_t i = 0; i < entries.size(); ++i) {
    const PutEntry& e = entries[i];
    HashKey hk = e.explicit_hash_key ? *e.explicit_hash_key : HashPartitionKey(e.partition_key);
    const int shard = topology.open_shards[static_cast<size_t>(ShardForHashKey(topology.open_ranges, hk))];
    const ShardInfo& info = topology.shards[static_cast<size_t>(shard)];
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
    if (!info.throttle->TryTake(e.partition_key.size() + e.data.size(), now_us)) {
      pending_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      r.status = Status::ResourceExhausted("Rate exceeded for shard " + Stream::ShardIdFor(shard) + " in stream " +
                                           stream->name() + " under account 000000000000.");
      continue;
    }
    auto seq = info.log->Append(e.partition_key, e.data, now_ms);
    if (!seq.ok()) {
      pending_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      r.status = seq.status();
      continue;
    }
    r.sequence = *seq;
    ShardLog* s = info.log.get();
    if (touched.empty() || touched.back() != s) touched.push_back(s);
  }
  reshard_lock.unlock();
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
  // flush_interval > 0: shards written but not yet fdatasynced, and their streams (kept alive).
  const bool ack_after_fsync = options_.flush_interval.count() <= 0;
  std::set<ShardLog*> unsynced;
  std::vector<std::shared_ptr<Stream>> unsynced_keep;
  auto next_flush = std::chrono::steady_clock::time_point::max();
  auto flush = [&] {
    shards.assign(unsynced.begin(), unsynced.end());
    statuses.assign(shards.size(), Status::OK());
    commit_pool_->ParallelFor(shards.size(), [&](size_t i) { statuses[i] = shards[i]->Sync(); });
    for (const Status& st : statuses) {
      if (!st.ok()) SLUICE_LOG_ERROR("log flush failed", {{"component", "log"}, {"error", st.ToString()}});
    }
    if (!shards.empty()) {  // the flushed records just became readable: wake readers
      {
        std::lock_guard lock(commit_mu_);
        ++round_;
      }
      committed_cv_.notify_all();
    }
    unsynced.clear();
    unsynced_keep.clear();
    next_flush = std::chrono::steady_clock::time_point::max();
  };
  for (;;) {
    bool stop = false;
    {
      std::unique_lock lock(commit_mu_);
      auto ready = [&] { return stopping_ || !callbacks_.empty() || !dirty_.empty(); };
      auto wake = next_flush;
      if (interval.count() > 0) wake = std::min(wake, next_retention);
      if (wake == std::chrono::steady_clock::time_point::max()) commit_cv_.wait(lock, ready);
      else commit_cv_.wait_until(lock, wake, ready);
      stop = stopping_ && callbacks_.empty() && dirty_.empty();
      dirty.swap(dirty_);
      keep.swap(dirty_streams_);
      callbacks.swap(callbacks_);
    }
    if (stop) {
      flush();  // a clean shutdown leaves nothing unsynced
      return;
    }
    if (!unsynced.empty() && std::chrono::steady_clock::now() >= next_flush) flush();
    if (interval.count() > 0 && std::chrono::steady_clock::now() >= next_retention) {
      auto r = EnforceRetention(WallNow().millis());
      if (!r.ok()) SLUICE_LOG_ERROR("log retention failed", {{"component", "log"}, {"error", r.status().ToString()}});
      next_retention = std::chrono::steady_clock::now() + interval;
    }
    if (dirty.empty() && callbacks.empty()) continue;  // Woken only for retention or a flush.
    Status round_status;
    shards.assign(dirty.begin(), dirty.end());
    statuses.assign(shards.size(), Status::OK());
    taken.assign(shards.size(), 0);
    commit_pool_->ParallelFor(shards.size(),
                              [&](size_t i) { statuses[i] = shards[i]->Commit(&taken[i], ack_after_fsync); });
    uint64_t taken_total = 0;
    for (uint64_t t : taken) taken_total += t;
    pending_bytes_.fetch_sub(taken_total, std::memory_order_relaxed);
    CheckDisk();
    for (const Status& st : statuses) {
      if (!st.ok()) {
        SLUICE_LOG_ERROR("log commit failed", {{"component", "log"}, {"error", st.ToString()}});
        if (round_status.ok()) round_status = st;
      }
    }
    if (!ack_after_fsync && !shards.empty()) {
      if (unsynced.empty()) next_flush = std::chrono::steady_clock::now() + options_.flush_interval;
      unsynced.insert(shards.begin(), shards.end());
      for (auto& st : keep) {  // one entry per Put in `keep`; a few streams in unsynced_keep
        if (std::find(unsynced_keep.begin(), unsynced_keep.end(), st) == unsynced_keep.end()) unsynced_keep.push_back(st);
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
