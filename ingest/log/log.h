// Log: the embedded ingest log. Streams hold shards; shards hold ordered, durable records.
//
// Layout under LogOptions::dir: one directory per stream holding `stream.json` (name, creation
// time, retention, capacity mode and the shard topology: every shard's hash-key range, parents and
// whether it is closed; docs/formats/stream-meta.md) and one ShardLog directory per shard
// (`shardId-000000000000`, ...). A deleted stream's directory is first renamed to
// `<name>~deleted-<ms>-<n>` (not a valid stream name, so Open() never loads it) and removed when
// the last reader drops its shared_ptr<Stream>; Open() removes any such leftovers.
//
// Retention: the sync thread calls EnforceRetention() at most once per
// LogOptions::retention_check_interval. It deletes whole sealed segments whose newest record is
// older than the stream's retention period, and the oldest sealed segments of a shard above
// LogOptions::retention_bytes_per_shard.
//
// Resharding (SplitShard, MergeShards, UpdateShardCount) closes open shards and creates children
// with new ids, as Kinesis does. It holds the stream's reshard lock exclusively while it takes the
// closing shards' end sequence numbers, writes stream.json atomically and swaps in the new
// topology; Put() holds it shared while it routes and appends, so no record reaches a closed
// shard and no record reaches a child before the topology naming it is durable.
//
// Writes use group commit: Put() appends to shards' pending batches and registers a callback; one
// sync thread commits every dirty shard (write + fdatasync) and then runs all callbacks registered
// before that round began. Concurrent Put() calls therefore share fsyncs, and a callback never
// runs before its records are durable ("ack after fsync"). With LogOptions::flush_interval > 0
// a round only writes, and the fdatasyncs follow at most flush_interval later (see there).
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
#include <shared_mutex>
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
  /// Durability versus latency. 0 (the default) acknowledges a Put only after its records are
  /// written and fdatasynced ("ack after fsync"). A positive interval acknowledges once the
  /// records are written to the segment file (the page cache) and fdatasyncs every shard written
  /// since the last flush at most this long afterwards, as Kafka's log.flush.interval.ms does.
  /// Records become readable (GetRecords, queries) only once fdatasynced, so no reader or
  /// checkpoint ever depends on a record an OS crash could take back.
  /// Trade-off: acknowledgements no longer wait for the disk (lower latency, more throughput on
  /// slow disks), and a process crash (even SIGKILL) still loses nothing, but an operating-system
  /// crash or power loss can lose up to this much of acknowledged records, and their sequence
  /// numbers are then given to later records. Reads lag writes by up to this. Unit: milliseconds.
  std::chrono::milliseconds flush_interval{0};

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

/// One shard as the stream's topology records it. A shard is open (takes new records) until a
/// reshard closes it; a closed shard keeps its records (readable until retention removes them)
/// and never takes another. Plain value; the ShardLog and WriteThrottle are shared by copies.
/// Source: AWS Kinesis Data Streams API Reference, Shard (ParentShardId, AdjacentParentShardId,
/// HashKeyRange, SequenceNumberRange).
struct ShardInfo {
  /// The number in the shard id: `shardId-<index, 12 digits>`. Equals the shard's position in
  /// StreamTopology::shards.
  int index = 0;
  /// Inclusive hash-key range. Ranges of open shards tile [0, 2^128 - 1]; a closed shard keeps the
  /// range it had.
  HashKeyRange range;
  /// Index of the shard this one was split from, or the first of the two merged into it (Kinesis
  /// ParentShardId); -1 for a shard created with the stream.
  int parent = -1;
  /// Index of the second shard merged into this one (Kinesis AdjacentParentShardId); -1 if none.
  int adjacent_parent = -1;
  /// 0 while open. Once closed: one past the shard's last sequence number (its next sequence
  /// number when it closed), so it is at least 1; every record with a smaller sequence number is
  /// or will be durable, no other record will ever be written. Kinesis EndingSequenceNumber is
  /// end_sequence - 1 ("0" for a shard closed before it got any record).
  uint64_t end_sequence = 0;
  /// When the shard was created and closed, Unix ms (closed_ms is 0 while open). Used by
  /// ListShards' ShardFilter.
  int64_t created_ms = 0;
  int64_t closed_ms = 0;
  std::shared_ptr<ShardLog> log;
  std::shared_ptr<WriteThrottle> throttle;

  bool open() const { return end_sequence == 0; }
};

/// An immutable snapshot of a stream's shards. A reshard builds a new one; holders of an old one
/// keep a consistent (if stale) view. Thread-safety: immutable, safe to share.
struct StreamTopology {
  /// Changes (increases) with every reshard; survives restarts. 0 for a never-resharded stream.
  uint64_t version = 0;
  /// Every shard the stream has, open and closed, by index (shard id order).
  std::vector<ShardInfo> shards;
  /// The open shards' ranges sorted by start, contiguous over the whole hash-key space, and the
  /// shard index of each (same order). Puts route with these.
  std::vector<HashKeyRange> open_ranges;
  std::vector<int> open_shards;
};

/// One stream: its shards (open and closed) with their hash-key ranges and lineage. Shared by
/// readers and writers; lives until the last shared_ptr goes, even after DeleteStream(): a reader
/// holding one keeps reading the records it had, and the directory is removed when it lets go.
/// Shards are never removed from a live Stream, so `shard(i)` stays valid as long as the Stream.
/// Thread-safety: all accessors are thread-safe; the topology changes only through Log's
/// SplitShard(), MergeShards() and UpdateShardCount().
class Stream {
 public:
  Stream() = default;
  /// Removes the stream's directory if the stream was deleted.
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  const std::string& name() const { return name_; }
  /// The current topology snapshot (never null once the stream is open).
  std::shared_ptr<const StreamTopology> topology() const;
  /// Every shard the stream has, open and closed (shard ids run 0..shard_count()-1).
  int shard_count() const { return static_cast<int>(topology()->shards.size()); }
  /// Shards that take new records.
  int open_shard_count() const { return static_cast<int>(topology()->open_shards.size()); }
  /// Kinesis-style id of shard `i`: "shardId-000000000000". REQUIRES: 0 <= i.
  static std::string ShardIdFor(int i);
  /// The records of shard `i`, open or closed. REQUIRES: 0 <= i < shard_count().
  ShardLog& shard(int i) const { return *topology()->shards[static_cast<size_t>(i)].log; }
  int64_t created_ms() const { return created_ms_; }
  /// The open shard whose hash-key range holds `k`.
  int ShardFor(HashKey k) const;
  /// Index of the shard with Kinesis id `shard_id` ("shardId-000000000003", or the bare number
  /// "3" as some clients send), or -1 when the stream has no such shard.
  int ShardIndex(std::string_view shard_id) const;
  /// Retention period. Unit: hours. Changed by Log::SetRetentionHours().
  int retention_hours() const { return retention_hours_.load(std::memory_order_relaxed); }
  StreamMode mode() const { return mode_; }
  /// True once Log::DeleteStream() removed the stream.
  bool deleted() const { return deleted_.load(std::memory_order_acquire); }
  /// StreamTopology::version of the current topology, without taking a lock.
  uint64_t topology_version() const { return topology_version_.load(std::memory_order_acquire); }

 private:
  friend class Log;
  std::string name_;
  std::string dir_;
  int64_t created_ms_ = 0;
  StreamMode mode_ = StreamMode::kProvisioned;
  std::atomic<int> retention_hours_{kDefaultRetentionHours};
  std::atomic<bool> deleted_{false};
  std::atomic<uint64_t> topology_version_{0};
  std::string trash_dir_;  // Set (before the log drops its reference) by DeleteStream().
  // Put() routes and appends under a shared lock; a reshard closes shards and swaps the topology
  // under the exclusive lock, so no record reaches a shard after its end_sequence was taken.
  mutable std::shared_mutex reshard_mu_;
  mutable std::mutex topology_mu_;                 // Guards the pointer below (brief copies).
  std::shared_ptr<const StreamTopology> topology_;  // GUARDED_BY(topology_mu_); written under reshard_mu_ too.
};

/// What one reshard did: the shards it closed and the shards it created (in id order; with
/// UpdateShardCount some of them may be short-lived shards that were closed at once).
struct ReshardResult {
  int open_shards_before = 0;
  int open_shards_after = 0;
  std::vector<int> closed;
  std::vector<int> created;
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
  /// Splits open shard `shard_id` of `stream` at `new_starting_hash_key`: the shard closes and two
  /// children open, [start, key - 1] and [key, end], both with ParentShardId = the shard. New
  /// records go to the children from the moment this returns; the topology (stream.json) is
  /// durable before any record reaches a child.
  /// Errors: NotFound for an unknown stream or shard; AlreadyExists when the shard is closed
  /// (Kinesis: ResourceInUseException); InvalidArgument unless start + 1 < key < end (Kinesis'
  /// rule); ResourceExhausted when the stream would pass kMaxShardsPerStream open shards or
  /// kMaxShardIdsPerStream shards in all (Kinesis: LimitExceededException); IOError on disk
  /// failure (nothing changed then).
  /// Source: AWS Kinesis Data Streams API Reference, SplitShard.
  Status SplitShard(std::string_view stream, std::string_view shard_id, HashKey new_starting_hash_key,
                    ReshardResult* result = nullptr);
  /// Merges two open shards whose ranges are adjacent (in either order) into one child covering
  /// both, with ParentShardId = `shard_id` and AdjacentParentShardId = `adjacent_shard_id`.
  /// Errors: NotFound for an unknown stream or shard; AlreadyExists when either is closed;
  /// InvalidArgument when they are the same shard or not adjacent; ResourceExhausted past
  /// kMaxShardIdsPerStream; IOError on disk failure.
  /// Source: AWS Kinesis Data Streams API Reference, MergeShards.
  Status MergeShards(std::string_view stream, std::string_view shard_id, std::string_view adjacent_shard_id,
                     ReshardResult* result = nullptr);
  /// Rescales `stream` to `target` open shards with the uniform ranges CreateStream gives that
  /// many shards (UNIFORM_SCALING), by splits and then merges, as Kinesis does:
  ///  1. every open shard that a target boundary falls inside closes, and its children are the
  ///     pieces between the boundaries (each child: ParentShardId = that shard);
  ///  2. each target range made of several pieces becomes one shard by merging the pieces left to
  ///     right: piece 1 + piece 2 -> m1 (ParentShardId = piece 1, AdjacentParentShardId =
  ///     piece 2), m1 + piece 3 -> m2, ...; the last merge is the target shard.
  /// Shards that already match a target range stay open untouched. Pieces and partial merges
  /// that are not final close at once with no records (Kinesis' "short-lived shards"), so every
  /// child has at most two parents and reading parents before children keeps per-key order.
  /// Equal to the current count with matching ranges: no change.
  /// Errors: NotFound for an unknown stream; InvalidArgument for an ON_DEMAND stream;
  /// ResourceExhausted when `target` is above twice or below half (rounded up) the open shard
  /// count, above kMaxShardsPerStream, or the shards would pass kMaxShardIdsPerStream;
  /// IOError on disk failure.
  /// Source: AWS Kinesis Data Streams API Reference, UpdateShardCount.
  Status UpdateShardCount(std::string_view stream, int target, ReshardResult* result = nullptr);

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
  struct StreamMeta;
  struct ReshardPlan;
  static bool ParseStreamMeta(const std::string& text, StreamMeta* meta);
  Result<std::shared_ptr<Stream>> OpenStream(const std::string& name, const StreamMeta& meta);
  Status WriteStreamMeta(const Stream& stream, int retention_hours, const StreamTopology& topology) const;
  // Validates and applies a plan made from the current topology (see log.cc). REQUIRES: meta_mu_.
  Status ApplyReshard(const std::shared_ptr<Stream>& stream, const ReshardPlan& plan, ReshardResult* result);
  // Makes the sync thread run a round soon (wakes WaitForCommit() callers, commits pending records).
  void Poke();
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

/// Most open shards one stream may have. CreateStream() and the reshards refuse more.
inline constexpr int kMaxShardsPerStream = 1024;
/// Most shards, open and closed, one stream may have: closed shards stay (their records readable)
/// until the stream is deleted, so this bounds stream.json and the shard directories.
inline constexpr int kMaxShardIdsPerStream = 10000;

}  // namespace sluice::log
