// Log: the embedded ingest log. Streams hold shards; shards hold ordered, durable records.
//
// Layout under LogOptions::dir: one directory per stream holding `stream.json` (name, shard count,
// creation time, retention, capacity mode) and one ShardLog directory per shard
// (`shardId-000000000000`, ...). A deleted stream's directory is first renamed to
// `<name>~deleted-<ms>-<n>` (not a valid stream name, so Open() never loads it) and removed when
// the last reader drops its shared_ptr<Stream>; Open() removes any such leftovers.
//
// Retention: the sync thread calls EnforceRetention() at most once per
// LogOptions::retention_check_interval. It deletes whole sealed segments whose newest record is
// older than the stream's retention period, and the oldest sealed segments of a shard above
// LogOptions::retention_bytes_per_shard.
//
// Writes use group commit: Put() appends to shards' pending batches and registers a callback; one
// sync thread commits every dirty shard (write + fdatasync) and then runs all callbacks registered
// before that round began. Concurrent Put() calls therefore share fsyncs, and a callback never
// runs before its records are durable ("ack after fsync").
//
// Thread-safety: every public method is thread-safe. Callbacks run on the sync thread and must not
// block for long.
#pragma once

#include <atomic>
#include <chrono>
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
#include "ingest/log/commit_pool.h"
#include "ingest/log/hash_key.h"
#include "ingest/log/write_throttle.h"
#include "ingest/log/shard_log.h"

namespace sluice::log {

/// Log-wide options. Not changeable after Open().
struct LogOptions {
  /// Directory holding all streams (created if missing). Required.
  std::string dir;
  /// Options for every shard.
  ShardLogOptions shard;
  /// Size cap per shard: once a shard holds more than this, its oldest sealed segments are
  /// deleted (at the next retention check) even if they are younger than the stream's retention
  /// period. Trade-off: bounds disk use, but a slow reader can lose records it has not read yet
  /// (it continues at the oldest retained record). Works in whole segments, so a shard may hold
  /// up to one segment (ShardLogOptions::segment_bytes) more than this.
  /// Unit: bytes. Default: 0 (unlimited; only the retention period applies).
  uint64_t retention_bytes_per_shard = 0;
  /// How often the sync thread enforces retention (age and size). Trade-off: a shorter interval
  /// frees disk sooner but lists every shard's segments more often. 0 disables the automatic
  /// check (EnforceRetention() can still be called). Unit: milliseconds. Default: 60 s.
  std::chrono::milliseconds retention_check_interval{60000};
  /// Threads that write and fdatasync the dirty shards of one group-commit round in parallel, so
  /// a round costs about one fsync rather than one per shard. Trade-off: more threads overlap
  /// more fsyncs (lower acknowledgement latency with many shards) but sit idle between rounds.
  /// Unit: threads (0 = commit shards one after another on the sync thread). Default: 3.
  int commit_threads = 3;

  // Backpressure, Kinesis style: a record over a limit fails alone, with
  // ProvisionedThroughputExceededException on the API, and the caller retries it later.
  /// Per-shard write limit in records per second (Kinesis' default quota is 1,000). Trade-off: caps
  /// a hot shard so others keep their share. Unit: records/s. Default: 0 (unlimited).
  uint64_t shard_records_per_second = 0;
  /// Per-shard write limit in payload bytes (data plus partition key) per second (Kinesis: 1 MiB).
  /// Unit: bytes/s. Default: 0 (unlimited).
  uint64_t shard_bytes_per_second = 0;
  /// Memory budget: the most record bytes appended but not yet written and fsynced, over all
  /// shards. Records past it are refused until the sync thread catches up, so memory stays bounded
  /// however fast clients send. Trade-off: a larger budget absorbs bursts; a smaller one bounds
  /// memory tighter. Unit: bytes. Default: 256 MiB.
  uint64_t max_pending_bytes = 256u << 20;
  /// Disk budget: refuse records while the log's file system has less free space than this
  /// (checked about once a second). Unit: bytes. Default: 256 MiB.
  uint64_t min_free_disk_bytes = 256u << 20;
};

/// Retention limits, as Kinesis Data Streams sets them. Unit: hours.
/// Source: AWS Kinesis Data Streams API Reference, IncreaseStreamRetentionPeriod.
inline constexpr int kMinRetentionHours = 24;
inline constexpr int kMaxRetentionHours = 8760;
inline constexpr int kDefaultRetentionHours = 24;

/// A stream's capacity mode (Kinesis StreamModeDetails). Sluice does not meter throughput; the mode
/// is recorded and reported.
enum class StreamMode { kProvisioned, kOnDemand };

/// "PROVISIONED" or "ON_DEMAND".
const char* StreamModeName(StreamMode mode);

/// How SetRetentionHours() may move the retention period (Kinesis has one call for each way).
enum class RetentionChange { kIncrease, kDecrease };

/// One stream: a fixed set of shards with their hash-key ranges. Shared by readers and writers;
/// lives until the last shared_ptr goes, even after DeleteStream(): a reader holding one keeps
/// reading the records it had, and the directory is removed when it lets go.
/// Thread-safety: all accessors are thread-safe.
class Stream {
 public:
  Stream() = default;
  /// Removes the stream's directory if the stream was deleted.
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

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
  /// Index of the shard with Kinesis id `shard_id` ("shardId-000000000003", or the bare number
  /// "3" as some clients send), or -1 when the stream has no such shard.
  int ShardIndex(std::string_view shard_id) const;
  /// Retention period. Unit: hours. Changed by Log::SetRetentionHours().
  int retention_hours() const { return retention_hours_.load(std::memory_order_relaxed); }
  StreamMode mode() const { return mode_; }
  /// True once Log::DeleteStream() removed the stream.
  bool deleted() const { return deleted_.load(std::memory_order_acquire); }

 private:
  friend class Log;
  std::string name_;
  std::string dir_;
  int64_t created_ms_ = 0;
  StreamMode mode_ = StreamMode::kProvisioned;
  std::atomic<int> retention_hours_{kDefaultRetentionHours};
  std::atomic<bool> deleted_{false};
  std::string trash_dir_;  // Set (before the log drops its reference) by DeleteStream().
  std::vector<HashKeyRange> ranges_;
  std::vector<std::unique_ptr<ShardLog>> shards_;
  std::vector<std::unique_ptr<WriteThrottle>> throttles_;  // One per shard.
};

/// What one EnforceRetention() removed, summed over all shards.
struct RetentionReport {
  uint64_t segments = 0;
  uint64_t bytes = 0;
  uint64_t records = 0;
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
  /// Per-record failure, else OK: ResourceExhausted over a shard limit or the memory/disk budget
  /// (retry later); IOError when the shard refuses writes after a disk error.
  Status status;
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

  /// Creates a stream with `shard_count` shards split evenly over the hash-key space, the default
  /// retention (24 hours) and capacity mode `mode`.
  /// Errors: InvalidArgument for a bad name (Kinesis rule: 1-128 of [a-zA-Z0-9_.-]) or a shard
  /// count outside 1..kMaxShardsPerStream; AlreadyExists when the stream exists; IOError on disk
  /// failure.
  Status CreateStream(const std::string& name, int shard_count, StreamMode mode = StreamMode::kProvisioned);
  /// Deletes a stream: it disappears from GetStream()/ListStreams() at once, and a new stream of
  /// the same name may be created right away. Readers holding a shared_ptr<Stream> keep working
  /// until they drop it; its files are removed then (see the file comment).
  /// Errors: NotFound for an unknown stream; IOError when the directory can't be renamed (the
  /// stream then stays).
  Status DeleteStream(std::string_view name);
  /// The stream, or NotFound.
  Result<std::shared_ptr<Stream>> GetStream(std::string_view name) const;
  /// Names of all streams, sorted.
  std::vector<std::string> ListStreams() const;
  /// Sets a stream's retention period and stores it in stream.json before returning.
  /// Errors: NotFound for an unknown stream; InvalidArgument when `hours` is outside
  /// kMinRetentionHours..kMaxRetentionHours, or is shorter than the current period for
  /// kIncrease, or longer for kDecrease (equal is accepted either way); IOError on disk failure.
  Status SetRetentionHours(std::string_view name, int hours, RetentionChange change);
  /// Deletes expired segments of every stream now; `now_ms` is the wall clock (Unix ms), a
  /// parameter so tests can move time. The sync thread calls this periodically (LogOptions).
  /// Errors: the first IOError from a shard (the other shards are still trimmed).
  Result<RetentionReport> EnforceRetention(int64_t now_ms);

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
  /// Record bytes appended and not yet committed (what the memory budget limits). Thread-safe.
  uint64_t pending_bytes() const { return pending_bytes_.load(std::memory_order_relaxed); }
  /// The number of finished commit rounds.
  uint64_t commit_round() const;

 private:
  explicit Log(LogOptions options);
  Result<std::shared_ptr<Stream>> OpenStream(const std::string& name, int shard_count, int64_t created_ms);
  Status WriteStreamMeta(const Stream& stream, int retention_hours) const;
  void SyncLoop();
  void CheckDisk();  // Sync thread: refreshes disk_low_ at most once a second.

  const LogOptions options_;
  // Serializes control-plane changes (create, delete, retention) so stream.json writes never race
  // a delete or re-create of the same name. Lock order: meta_mu_ before streams_mu_.
  std::mutex meta_mu_;
  uint64_t trash_counter_ = 0;  // GUARDED_BY(meta_mu_)
  std::mutex retention_mu_;     // One EnforceRetention() at a time.
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
  std::unique_ptr<CommitPool> commit_pool_;  // Used only by the sync thread.
  std::atomic<uint64_t> pending_bytes_{0};     // Appended, not yet committed (memory budget).
  std::atomic<bool> disk_low_{false};          // Free space under min_free_disk_bytes.
  std::chrono::steady_clock::time_point next_disk_check_;  // Sync thread only.
  std::thread sync_thread_;
};

/// True when `name` is a valid Kinesis stream name: 1-128 characters of [a-zA-Z0-9_.-].
bool IsValidStreamName(std::string_view name);

/// Most shards one stream may have. CreateStream() refuses more.
inline constexpr int kMaxShardsPerStream = 1024;

}  // namespace sluice::log
