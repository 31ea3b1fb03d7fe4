// Log: the embedded ingest log. Streams hold shards; shards hold ordered, durable records.
//
// Layout under LogOptions::dir: one directory per stream holding `stream.json` (name, shard count,
// creation time) and one ShardLog directory per shard (`shardId-000000000000`, ...).
//
// Writes use group commit: Put() appends to shards' pending batches and registers a callback; one
// sync thread commits every dirty shard (write + fdatasync) and then runs all callbacks registered
// before that round began. Concurrent Put() calls therefore share fsyncs, and a callback never
// runs before its records are durable ("ack after fsync").
//
// Thread-safety: every public method is thread-safe. Callbacks run on the sync thread and must not
// block for long.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "ingest/log/hash_key.h"
#include "ingest/log/shard_log.h"

namespace sluice::log {

/// Log-wide options. Not changeable after Open().
struct LogOptions {
  /// Directory holding all streams (created if missing). Required.
  std::string dir;
  /// Options for every shard.
  ShardLogOptions shard;
};

/// One stream: a fixed set of shards with their hash-key ranges. Shared by readers and writers;
/// lives until the last shared_ptr goes, even after DeleteStream().
class Stream {
 public:
  const std::string& name() const { return name_; }
  int shard_count() const { return static_cast<int>(shards_.size()); }
  /// Kinesis-style id of shard `i`: "shardId-000000000000". REQUIRES: 0 <= i < shard_count().
  static std::string ShardIdFor(int i);
  /// REQUIRES: 0 <= i < shard_count().
  ShardLog& shard(int i) const { return *shards_[static_cast<size_t>(i)]; }
  const std::vector<HashKeyRange>& ranges() const { return ranges_; }
  int64_t created_ms() const { return created_ms_; }
  /// The shard whose hash-key range holds `k`.
  int ShardFor(HashKey k) const { return ShardForHashKey(ranges_, k); }

 private:
  friend class Log;
  std::string name_;
  std::string dir_;
  int64_t created_ms_ = 0;
  std::vector<HashKeyRange> ranges_;
  std::vector<std::unique_ptr<ShardLog>> shards_;
};

/// One record to put. Views are borrowed for the duration of Put().
struct PutEntry {
  std::string_view partition_key;
  std::string_view data;
  /// Overrides the MD5 of the partition key when set (Kinesis ExplicitHashKey).
  std::optional<HashKey> explicit_hash_key;
};

/// Where one put record went.
struct PutResult {
  int shard = -1;
  uint64_t sequence = 0;
  Status status;  ///< Per-record failure (the shard refuses writes), else OK.
};

/// Called once, on the sync thread, when the records of one Put() are durable (status OK) or the
/// commit failed (IOError).
using DurableCallback = std::function<void(Status)>;

class Log {
 public:
  /// Opens the log directory, recovering every stream and shard (see ShardLog::Open).
  /// Errors: IOError for unusable directories; Corruption from a shard that can't be recovered.
  static Result<std::unique_ptr<Log>> Open(LogOptions options);
  /// Commits anything pending, runs outstanding callbacks, stops the sync thread.
  ~Log();

  /// Creates a stream with `shard_count` shards split evenly over the hash-key space.
  /// Errors: InvalidArgument for a bad name (Kinesis rule: 1-128 of [a-zA-Z0-9_.-]) or a shard
  /// count outside 1..1024; AlreadyExists when the stream exists; IOError on disk failure.
  Status CreateStream(const std::string& name, int shard_count);
  /// The stream, or NotFound.
  Result<std::shared_ptr<Stream>> GetStream(std::string_view name) const;
  /// Names of all streams, sorted.
  std::vector<std::string> ListStreams() const;

  /// Appends `entries` to `stream`'s shards (per entry: explicit hash key, else MD5 of the
  /// partition key) and fills `results` in entry order. `done` runs once every appended record
  /// is durable. If no record was appended (all failed), `done` still runs, with OK.
  /// Errors (returned; `done` is then not called): NotFound for an unknown stream; Unavailable
  /// while shutting down.
  Status Put(std::string_view stream, std::span<const PutEntry> entries, std::vector<PutResult>* results,
             DurableCallback done);

  /// Blocks until a commit round newer than `seen` finishes or `timeout` passes, and returns the
  /// current round number. Readers use it to wait for new data without polling.
  uint64_t WaitForCommit(uint64_t seen, std::chrono::milliseconds timeout) const;
  /// The number of finished commit rounds.
  uint64_t commit_round() const;

 private:
  explicit Log(LogOptions options);
  Result<std::shared_ptr<Stream>> OpenStream(const std::string& name, int shard_count, int64_t created_ms);
  void SyncLoop();

  const LogOptions options_;
  mutable std::mutex streams_mu_;
  std::map<std::string, std::shared_ptr<Stream>, std::less<>> streams_;  // GUARDED_BY(streams_mu_)

  mutable std::mutex commit_mu_;
  mutable std::condition_variable commit_cv_;    // Wakes the sync thread.
  mutable std::condition_variable committed_cv_; // Wakes readers after a round.
  std::set<ShardLog*> dirty_;                     // GUARDED_BY(commit_mu_)
  std::vector<std::shared_ptr<Stream>> dirty_streams_;  // Keeps dirty shards alive. GUARDED_BY(commit_mu_)
  std::vector<DurableCallback> callbacks_;        // GUARDED_BY(commit_mu_)
  uint64_t round_ = 0;                            // GUARDED_BY(commit_mu_)
  bool stopping_ = false;                         // GUARDED_BY(commit_mu_)
  std::thread sync_thread_;
};

/// True when `name` is a valid Kinesis stream name: 1-128 characters of [a-zA-Z0-9_.-].
bool IsValidStreamName(std::string_view name);

}  // namespace sluice::log
