// ShardLog: one shard's durable, ordered record log on local disk.
//
// Records get consecutive sequence numbers starting at 1. Append() adds a record to an in-memory
// pending batch; Commit() writes the pending batch with one write(2) and fdatasyncs it. Only then
// are its records "durable": visible to readers and safe to acknowledge. Segment files roll at
// ShardLogOptions::segment_bytes. The byte layout is in segment_format.h.
//
// Arrival times are non-decreasing within a shard: Append() raises an arrival time that is older
// than the previous record's (the wall clock can step back, and concurrent Put() calls can reach
// the shard out of order) to the previous one. SequenceAtTimestamp() relies on it, and still
// copes with older data that broke the rule by using a running maximum.
//
// Retention is by whole segments: Trim() deletes the oldest sealed segments (never the one being
// written). A reader positioned before the oldest retained record continues at the oldest.
//
// Thread-safety: Append() is thread-safe. Commit() must be called by one thread at a time (the
// log's sync thread). Read(), SequenceAtTimestamp(), Trim() and the accessors are thread-safe and
// may run concurrently with both; each caller owns its LogCursor.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sluice::log {

/// Options for one shard. Not changeable after Open().
struct ShardLogOptions {
  /// A segment is closed and a new one started once it holds at least this much.
  /// Trade-off: larger segments mean fewer files but coarser retention. Unit: bytes. Default: 64 MiB.
  uint64_t segment_bytes = 64u << 20;
  /// The sparse index keeps one entry per this many bytes of segment, so a seek reads at most
  /// about this much before reaching its record. Unit: bytes. Default: 64 KiB.
  uint64_t index_interval_bytes = 64u << 10;
  /// Commit() writes what is pending as batches of at most this size (a record larger than this
  /// gets a batch of its own). Trade-off: a reader copies whole batches, so smaller batches mean
  /// less copying for short reads, but one more 44-byte header each. Capped at kMaxBatchBytes.
  /// Unit: bytes. Default: 1 MiB.
  uint64_t max_batch_bytes = 1u << 20;
};

/// A record read back. The views point into the ReadBatch that holds it.
struct RecordView {
  uint64_t sequence = 0;
  int64_t arrival_ms = 0;
  std::string_view partition_key;
  std::string_view data;
};

/// Records returned by one Read(), in sequence order, and the bytes they point into.
/// Reuse one ReadBatch across calls to avoid allocation; Read() clears it first.
struct ReadBatch {
  std::string buffer;
  std::vector<RecordView> records;
};

/// A reader's position: the next sequence number to return. Plain value; copy freely.
/// Set `next_sequence` and leave the rest to Read(); it caches where that record lives.
struct LogCursor {
  uint64_t next_sequence = 1;
  // Cached file position of the batch holding next_sequence; valid when `positioned`.
  bool positioned = false;
  uint64_t segment_base = 0;
  uint64_t offset = 0;
};

/// What Open() found on disk.
struct RecoveryReport {
  uint64_t segments = 0;
  uint64_t batches = 0;
  uint64_t records = 0;
  /// Bytes cut from the newest segment's torn or corrupt tail.
  uint64_t truncated_bytes = 0;
};

class ShardLog {
 public:
  /// Opens (creating if needed) the shard directory `dir` and recovers it: every batch is checked
  /// (magic, version, length, CRC32C, sequence continuity). A bad tail of the newest segment is
  /// truncated and counted in `report->truncated_bytes`.
  /// Errors: Corruption when a batch other than the newest segment's tail is bad (the message names
  /// the file and offset; nothing is skipped); IOError when the directory or a file can't be used.
  static Result<std::unique_ptr<ShardLog>> Open(const std::string& dir, ShardLogOptions options,
                                                RecoveryReport* report);
  ~ShardLog();
  ShardLog(const ShardLog&) = delete;
  ShardLog& operator=(const ShardLog&) = delete;

  /// Adds one record to the pending batch and returns its sequence number. Not durable until a
  /// Commit() that starts after this call returns OK. REQUIRES: key and data within the API limits.
  /// Errors: IOError when an earlier Commit() failed (the shard stops taking writes until reopened).
  Result<uint64_t> Append(std::string_view partition_key, std::string_view data, int64_t arrival_ms);

  /// Writes the pending batch (if any) and, with `sync` (the default), fdatasyncs it; rolls the
  /// segment when it is full (fdatasyncing the old one first if it has unsynced writes). On OK
  /// with `sync`, every record appended before the call is durable and readable. With `sync`
  /// false the records are written (they survive a process crash, being in the page cache, but
  /// not an OS crash or power loss) and become readable (durable_end(), readers) only at the next
  /// Sync(): no reader ever sees a record that an OS crash could take back and whose sequence
  /// number could then go to another record (LogOptions::flush_interval).
  /// Errors: IOError from write/fdatasync/open; the shard then refuses further appends.
  /// `taken_bytes` (optional) receives the encoded size of the records this call took from the
  /// pending batch (record bytes: lengths, key, data, arrival), whether or not it then succeeded.
  Status Commit(uint64_t* taken_bytes = nullptr, bool sync = true);

  /// fdatasyncs what Commit(…, false) wrote and left unsynced (nothing to do otherwise), then makes
  /// those records readable. Must not run concurrently with Commit() (the same committing thread
  /// calls both).
  /// Errors: IOError from fdatasync; the shard then refuses further appends.
  Status Sync();

  /// fdatasync calls on segment files so far (tests and metrics). Thread-safe.
  uint64_t fsyncs() const { return fsyncs_.load(std::memory_order_relaxed); }

  /// True when records were appended since the last Commit().
  bool HasPending() const;

  /// Sequence number the next Append() will get.
  uint64_t next_sequence() const;
  /// Every record with sequence < durable_end() is durable. Thread-safe.
  uint64_t durable_end() const { return durable_end_.load(std::memory_order_acquire); }
  /// Arrival time of the newest durable record, Unix ms; 0 when empty.
  int64_t last_arrival_ms() const { return last_arrival_ms_.load(std::memory_order_acquire); }

  /// Sequence number of the oldest retained record (the trim horizon). Equals durable_end() when
  /// the shard holds no record. Thread-safe.
  uint64_t first_sequence() const;
  /// Bytes of durable segment data the shard holds (all segments). Thread-safe.
  uint64_t size_bytes() const;

  /// Reads durable records starting at cursor->next_sequence, up to `max_records` records or about
  /// `max_bytes` bytes (at least one record when any is available), and advances the cursor.
  /// A cursor before the oldest retained record moves to it first (TRIM_HORIZON semantics).
  /// An empty result means the reader is at the durable end.
  /// Errors: Corruption when a stored batch fails its checks; IOError from pread.
  Status Read(LogCursor* cursor, size_t max_records, size_t max_bytes, ReadBatch* out) const;

  /// The sequence number of the first durable record whose arrival time is >= `arrival_ms`
  /// (Unix ms), or durable_end() when there is none yet. Records before the trim horizon are not
  /// considered. Cost: a scan of the per-segment maxima, a binary search of one segment's sparse
  /// index, then reading at most about ShardLogOptions::index_interval_bytes plus one batch.
  /// Used for Kinesis AT_TIMESTAMP iterators.
  /// Errors: Corruption when a stored batch fails its checks; IOError from pread.
  Result<uint64_t> SequenceAtTimestamp(int64_t arrival_ms) const;

  /// What one Trim() removed.
  struct TrimResult {
    uint64_t segments = 0;
    uint64_t bytes = 0;
    uint64_t records = 0;
  };
  /// Deletes whole sealed segments, oldest first, while the oldest one's newest record arrived
  /// before `cutoff_ms` (Unix ms; 0 disables the age rule) or the shard holds more than
  /// `max_bytes` (0 disables the size rule). The segment being written is never deleted, so the
  /// sequence continues after a restart. Readers that hold a deleted segment open finish reading
  /// it (the file is unlinked; its descriptor lives until the last reader lets go).
  /// Errors: IOError when a file can't be unlinked (segments before it are already gone).
  Result<TrimResult> Trim(int64_t cutoff_ms, uint64_t max_bytes);
  /// Segments Trim() has deleted since the shard was opened. Thread-safe.
  uint64_t trimmed_segments() const { return trimmed_segments_.load(std::memory_order_relaxed); }

 private:
  struct Segment;
  struct Pending;
  ShardLog(std::string dir, ShardLogOptions options);
  Status Recover(RecoveryReport* report);
  Status ScanSegment(Segment* seg, bool newest, uint64_t* expected_seq, RecoveryReport* report);
  Status StartSegment(uint64_t base_sequence);
  std::shared_ptr<Segment> FindSegment(uint64_t sequence, bool* is_last) const;
  Status Position(LogCursor* cursor) const;
  Result<uint64_t> FirstAtOrAfter(const std::shared_ptr<Segment>& seg, uint64_t offset, int64_t arrival_ms) const;

  const std::string dir_;
  const ShardLogOptions options_;

  mutable std::mutex append_mu_;
  std::string pending_;             // Encoded records of the pending batch. GUARDED_BY(append_mu_)
  uint32_t pending_count_ = 0;      // GUARDED_BY(append_mu_)
  uint64_t next_sequence_ = 1;      // GUARDED_BY(append_mu_)
  int64_t last_appended_ms_ = 0;    // Floor for the next arrival time. GUARDED_BY(append_mu_)
  Status broken_;                   // GUARDED_BY(append_mu_)

  mutable std::shared_mutex segments_mu_;
  std::vector<std::shared_ptr<Segment>> segments_;  // Sorted by base sequence. GUARDED_BY(segments_mu_)

  std::atomic<uint64_t> durable_end_{1};
  std::atomic<uint64_t> fsyncs_{0};
  // Commit(…, false) writes not yet fdatasynced, all in the last segment, kept unpublished (not
  // in durable_end_, durable_bytes or the index) until Sync(). Committing thread only.
  bool unsynced_ = false;
  struct Unsynced {
    uint64_t first_sequence;
    uint64_t offset;  // In the segment.
    int64_t max_arrival_ms;
  };
  std::vector<Unsynced> unsynced_batches_;
  std::atomic<uint64_t> trimmed_segments_{0};
  uint64_t unsynced_bytes_end_ = 0, unsynced_seq_end_ = 0;
  int64_t unsynced_last_ms_ = 0;
  void PublishUnsynced(Segment* seg);  // after the fdatasync that covers them
  std::atomic<int64_t> last_arrival_ms_{0};
  // Commit()'s reusable buffers; only the committing thread touches them.
  struct Framed {
    uint64_t first_sequence;
    uint64_t offset;  // In batch_.
    int64_t max_arrival_ms;
  };
  std::string records_;         // The records taken from pending_.
  std::string batch_;           // The framed batches, written with one write(2).
  std::vector<Framed> framed_;  // One per batch in batch_.
};

}  // namespace sluice::log
