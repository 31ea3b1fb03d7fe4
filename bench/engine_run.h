// RunOnEngine: a benchmark's in-process run of a whole pipeline on runtime::Engine — the
// product's workers, shared scans, key-group exchange and checkpoints (RocksDB in a temporary
// folder) — with the caller's sources and decoders and sinks that count rows. Used by
// `sluice-bench nexmark --workers N` and `sluice-bench wildrydes --in-process`, so that both
// measure the engine's own step loop rather than a copy of it.
//
// Thread-safety: one call at a time per process (it reads process-wide CPU time).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/plan.h"
#include "core/status.h"

namespace sluice::bench {

/// A finite in-process source: RunOnEngine stops once every query of the source has read
/// `total()` records. Implementations are thread-safe as Source requires.
class FiniteSource : public Source {
 public:
  /// Records the source will have handed out in all when every split is done, or -1 while not
  /// yet known (then RunOnEngine keeps waiting).
  virtual int64_t total() const = 0;
};

/// How RunOnEngine runs the pipeline: the engine's worker count, batch size and checkpoint
/// interval. Plain data; copy freely.
struct EngineRunOptions {
  int workers = 1;              ///< runtime::EngineOptions::workers (>= 1).
  size_t batch_records = 1024;  ///< Records per split per step.
  double checkpoint_interval_s = 10;  ///< 0 = no periodic checkpoints (one final one).
};

/// What one RunOnEngine call measured: wall and CPU time over the read, and the counts the
/// engine reported at its end. Plain data.
struct EngineRunResult {
  /// From Engine::Start() until every query has read every record. Unit: seconds. (Then,
  /// untimed, the run waits until the output rows settle and stops the engine.)
  double wall_s = 0;
  double cpu_s = 0;             ///< This process's user+system CPU over the same span. Unit: seconds.
  int64_t records = 0;          ///< Records the sources handed out (sum of total()).
  int64_t output_rows = 0;      ///< Rows every query emitted, counted and dropped.
  int64_t late_rows = 0;        ///< Late records the queries counted (QueryStatus::late_records).
  int64_t bad_records = 0;      ///< Records the decoders refused (QueryStatus::bad_records).
  int64_t rows_exchanged = 0;   ///< Rows sent between workers (QueryStatus::rows_exchanged).
  int64_t checkpoints = 0;      ///< The largest committed checkpoint id of a query.
};

/// Runs `pipeline` until every query has read all its source's records, then stops the engine
/// (final checkpoint). `make_source(def)` is called once per source and `make_decoder(def,
/// needed columns)` once per source and worker.
/// Errors: a factory's or Engine::Start()'s error; Internal when a query fails (with its
/// reason); IOError when no temporary folder can be made.
Result<EngineRunResult> RunOnEngine(const Pipeline& pipeline, const EngineRunOptions& options,
                                    const std::function<std::unique_ptr<FiniteSource>(const SourceDef&)>& make_source,
                                    const std::function<std::unique_ptr<RowDecoder>(const SourceDef&, const std::vector<bool>&)>& make_decoder);

}  // namespace sluice::bench
