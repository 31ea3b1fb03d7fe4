// ShardLog: one shard's durable, ordered record log on local disk.
//
// Records get consecutive sequence numbers starting at 1. Append() adds a record to an in-memory
// pending batch; Commit() writes the pending batch with one write(2) and fdatasyncs it. Only then
// are its records "durable": visible to readers and safe to acknowledge. Segment files roll at
// ShardLogOptions::segment_bytes. The byte layout is in segment_format.h.
//
// Thread-safety: Append() is thread-safe. Commit() must be called by one thread at a time (the
// log's sync thread). Read()/Seek() are thread-safe and may run concurrently with both; each
// caller owns its LogCursor.
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

  /// Writes the pending batch (if any) and fdatasyncs it; rolls the segment when it is full.
  /// On OK every record appended before the call is durable and readable.
  /// Errors: IOError from write/fdatasync/open; the shard then refuses further appends.
  Status Commit();

  /// True when records were appended since the last Commit().
  bool HasPending() const;

  /// Sequence number the next Append() will get.
  uint64_t next_sequence() const;
  /// Every record with sequence < durable_end() is durable. Thread-safe.
  uint64_t durable_end() const { return durable_end_.load(std::memory_order_acquire); }
  /// Arrival time of the newest durable record, Unix ms; 0 when empty.
  int64_t last_arrival_ms() const { return last_arrival_ms_.load(std::memory_order_acquire); }

  /// Reads durable records starting at cursor->next_sequence, up to `max_records` records or about
  /// `max_bytes` bytes (at least one record when any is available), and advances the cursor.
  /// An empty result means the reader is at the durable end.
  /// Errors: Corruption when a stored batch fails its checks; IOError from pread.
  Status Read(LogCursor* cursor, size_t max_records, size_t max_bytes, ReadBatch* out) const;

 private:
  struct Segment;
  struct Pending;
  ShardLog(std::string dir, ShardLogOptions options);
  Status Recover(RecoveryReport* report);
  Status ScanSegment(Segment* seg, bool newest, uint64_t* expected_seq, RecoveryReport* report);
  Status StartSegment(uint64_t base_sequence);
  std::shared_ptr<Segment> FindSegment(uint64_t sequence, bool* is_last) const;
  Status Position(LogCursor* cursor) const;

  const std::string dir_;
  const ShardLogOptions options_;

  mutable std::mutex append_mu_;
  std::string pending_;             // Encoded records of the pending batch. GUARDED_BY(append_mu_)
  uint32_t pending_count_ = 0;      // GUARDED_BY(append_mu_)
  int64_t pending_first_ms_ = 0;    // GUARDED_BY(append_mu_)
  int64_t pending_last_ms_ = 0;     // GUARDED_BY(append_mu_)
  uint64_t next_sequence_ = 1;      // GUARDED_BY(append_mu_)
  Status broken_;                   // GUARDED_BY(append_mu_)

  mutable std::shared_mutex segments_mu_;
  std::vector<std::shared_ptr<Segment>> segments_;  // Sorted by base sequence. GUARDED_BY(segments_mu_)

  std::atomic<uint64_t> durable_end_{1};
  std::atomic<int64_t> last_arrival_ms_{0};
  std::string batch_;  // Commit()'s reusable write buffer; only the committing thread touches it.
};

}  // namespace sluice::log
