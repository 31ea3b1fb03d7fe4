// ArchiveSink: Firehose-style archival files. Rows are buffered per time partition, then written
// as gzip-compressed JSON lines:
//   <dir>/year=YYYY/month=MM/day=DD/hour=HH/<file_prefix>-<unix_ms>-<n>.jsonl.gz
// (Hive-style partition folders, readable by Athena, Spark, DuckDB). A partition's buffer is
// flushed when it reaches `buffer_bytes` or has been open for `buffer_interval` (wall clock),
// whichever comes first, and at Close(). Each file is written as ".part-….inprogress", fsynced,
// renamed to its final name, and the directory fsynced, so a reader never sees a partial file.
//
// The partition of a row is the hour (or day) of its first TIMESTAMPTZ column, so replays put
// rows in the same folders; rows with no timestamp use the wall clock.
// Thread-safety: one thread at a time (the query's worker).
#pragma once

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
};

class ArchiveSink final : public Sink {
 public:
  /// REQUIRES: `schema` is the rows' schema.
  ArchiveSink(ArchiveOptions options, Schema schema);
  ~ArchiveSink() override;

  /// Buffers rows; flushes partitions that reach buffer_bytes. Errors: IOError from a flush (the
  /// rows stay buffered and the next call retries).
  Status Write(const std::vector<Row>& rows) override;
  /// Flushes partitions open longer than buffer_interval. Errors: IOError.
  Status Tick(EventTime now) override;
  /// Flushes everything. Errors: IOError.
  Status Close() override;

  /// Rows buffered and not yet in a published file.
  size_t buffered_rows() const override { return buffered_rows_; }
  /// Files published so far by this instance.
  uint64_t files_written() const { return files_written_; }

 private:
  struct Buffer {
    std::string jsonl;
    size_t rows = 0;
    EventTime opened;
  };
  std::string PartitionOf(const Row& row, EventTime now) const;
  Status FlushPartition(const std::string& partition, Buffer* buf);

  const ArchiveOptions options_;
  const Schema schema_;
  int time_column_ = -1;
  std::map<std::string, Buffer> buffers_;
  size_t buffered_rows_ = 0;
  uint64_t files_written_ = 0;
  uint64_t file_counter_ = 0;
};

/// Compresses `in` as one gzip member (RFC 1952) into `out`. Errors: Internal from zlib.
Status GzipCompress(const std::string& in, std::string* out);

}  // namespace sluice::sinks
