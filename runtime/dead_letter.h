// DeadLetterQueue: where records that can't be processed go, with the reason, so nothing
// accepted is lost silently. One JSON-lines file per source under the dead-letter directory:
//   {"source":"unicorn_telemetry","shard":"shardId-000000000001","sequence_number":"42",
//    "reason":"field \"MagicPoints\": expected BIGINT, got \"many\"","data":"<payload as text>",
//    "at":"2026-11-21T10:00:00.000Z"}
// Each entry is also counted in sluice_bad_records_total{stage, source}.
// Decode failures are the same for every query reading a source, so a "decode" entry is written
// once: readers go through a shard in sequence order, and an entry at or below the highest
// sequence number already written for that (source, shard) is a repeat and is dropped. (After a
// restart, a replaying query may write an entry again; exactly-once dead-letters come with
// checkpoints.) "late" entries are per query and always written.
// Thread-safety: Write() is thread-safe.
#pragma once

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "core/metrics.h"
#include "core/status.h"

namespace sluice::runtime {

class DeadLetterQueue {
 public:
  /// Files go under `dir` (created on first write). `metrics` must outlive this object.
  DeadLetterQueue(std::string dir, MetricsRegistry* metrics);
  ~DeadLetterQueue();

  /// Appends one entry. `stage` is "decode" or "late". Errors: IOError when the file can't be
  /// written (the entry is still counted).
  Status Write(std::string_view stage, const std::string& source, const std::string& shard, uint64_t position,
               std::string_view reason, std::string_view data);

  /// Path of the file for `source`.
  std::string PathFor(const std::string& source) const { return dir_ + "/" + source + ".jsonl"; }

 private:
  const std::string dir_;
  MetricsRegistry* metrics_;
  std::mutex mu_;
  std::map<std::string, std::FILE*> files_;  // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, uint64_t> decode_high_;  // (source, shard) -> seq. GUARDED_BY(mu_)
};

}  // namespace sluice::runtime
