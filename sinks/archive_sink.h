// ArchiveSink: Firehose-style archival files, published exactly once through checkpoints.
// Rows are buffered per time partition, then written as gzip-compressed JSON lines:
//   <dir>/year=YYYY/month=MM/day=DD/hour=HH/<file_prefix>-<file seq, 10 digits>.jsonl.gz
// (Hive-style partition folders, readable by Athena, Spark, DuckDB). A partition's buffer is
// sealed when it reaches `buffer_bytes` or has been open for `buffer_interval` (wall clock),
// and at Close().
//
// Two-phase publish (docs/checkpoints.md): a sealed buffer is written to
// ".<name>.inprogress" in its folder and fsynced, but stays invisible. PrepareCheckpoint() puts
// into the checkpoint batch (space `state_space`): the list of prepared files, the next file
// sequence number, the rows buffered since the previous checkpoint (as append-only chunks, so a
// buffer survives a crash without being rewritten), and deletes of the chunks of sealed buffers.
// Once that batch commits, CommitCheckpoint() renames each prepared file to its final name and
// fsyncs the folder. Recover() finishes that for files the last committed checkpoint listed,
// deletes in-progress files no committed checkpoint listed (a failed attempt; their rows are
// replayed), deletes final files numbered at or past the committed next sequence number (left
// by checkpoints that were rolled back to an older snapshot), and reloads the buffers. So every
// row reaches exactly one published file, and a reader never sees a partial file.
//
// The partition of a row is the hour (or day) of its first TIMESTAMPTZ column, so replays put
// rows in the same folders; rows with no timestamp use the wall clock.
// Thread-safety: one thread at a time (the query's worker).
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/metrics.h"
#include "core/value.h"

namespace sluice::sinks {

/// Options for one archive sink, from the sink's WITH clause.
struct ArchiveOptions {
  /// Root folder of this table's files (absolute, or relative to the working directory).
  std::string dir;
  /// "gzip" (default) or "none".
  std::string compression = "gzip";
  /// "hour" (default), "day" or "none".
  std::string partition = "hour";
  /// Flush a partition at this much buffered JSON. Unit: bytes. Default: 5 MiB (Firehose's default).
  size_t buffer_bytes = 5u << 20;
  /// Flush a partition this long after its first buffered row. Default: 60 s.
  Duration buffer_interval = std::chrono::seconds(60);
  /// Start of every file name; distinct per writer so two writers never pick the same name.
  /// Default: "part".
  std::string file_prefix = "part";
  /// State-store space (column family) for this writer's checkpointed buffers and file list;
  /// distinct per writer. Default: "sink.part".
  std::string state_space = "sink.part";
};

class ArchiveSink final : public Sink {
 public:
  /// REQUIRES: `schema` is the rows' schema. Call Recover() before the first Write().
  ArchiveSink(ArchiveOptions options, Schema schema);
  ~ArchiveSink() override;

  /// Buffers rows; seals partitions that reach buffer_bytes. Errors: IOError writing a sealed
  /// file (the rows stay buffered and the next call retries).
  Status Write(const std::vector<Row>& rows) override;
  /// Seals partitions open longer than buffer_interval. Errors: IOError.
  Status Tick(EventTime now) override;
  /// Seals every buffer; the files are published by the next (final) checkpoint. Errors: IOError.
  Status Close() override;

  /// Rows buffered and not yet in a sealed file.
  size_t buffered_rows() const override { return buffered_rows_; }
  /// True while sealed files wait for a checkpoint to publish them.
  bool WantsCheckpoint() const override { return !prepared_.empty() && prepared_.back().checkpoint == 0; }
  Status PrepareCheckpoint(uint64_t checkpoint_id, StoreBatch* batch) override;
  /// Publishes the files listed by checkpoint `checkpoint_id` or earlier (not those sealed while
  /// its commit was running). Errors: IOError (the rest stay prepared and are retried).
  Status CommitCheckpoint(uint64_t checkpoint_id) override;
  Status Recover(StateStore* store) override;

  /// Files published so far by this instance. Thread-safe (for metrics).
  uint64_t files_written() const { return files_written_.load(std::memory_order_relaxed); }
  /// Bytes of the files published so far by this instance (compressed, as on disk). Thread-safe.
  uint64_t bytes_written() const { return bytes_written_.load(std::memory_order_relaxed); }

 private:
  struct Buffer {
    std::string jsonl;
    size_t rows = 0;
    EventTime opened;
    uint64_t gen = 0;            // chunk generation of the current contents
    std::vector<uint64_t> older_gens;  // generations restored alongside `gen` (deleted on seal)
    uint64_t next_chunk = 0;
    size_t logged_bytes = 0;     // prefix of jsonl already in the store
  };
  struct Prepared {
    std::string partition, name;
    uint64_t checkpoint = 0;  // the checkpoint that lists it (0: sealed after the last prepare)
  };
  std::string PartitionOf(const Row& row, EventTime now) const;
  std::string DirOf(const std::string& partition) const;
  std::string ChunkKey(const std::string& partition, uint64_t gen, uint64_t chunk) const;
  Status Seal(const std::string& partition, Buffer* buf);

  const ArchiveOptions options_;
  const Schema schema_;
  int time_column_ = -1;
  std::map<std::string, Buffer> buffers_;
  std::vector<Prepared> prepared_;                          // sealed, not yet published
  std::vector<std::pair<std::string, uint64_t>> sealed_gens_;  // chunk generations to delete
  uint64_t next_gen_ = 1;
  size_t buffered_rows_ = 0;
  std::atomic<uint64_t> files_written_{0};
  std::atomic<uint64_t> bytes_written_{0};
  uint64_t file_seq_ = 0;
};

/// Compresses `in` as one gzip member (RFC 1952) into `out`. Errors: Internal from zlib.
Status GzipCompress(const std::string& in, std::string* out);

}  // namespace sluice::sinks
