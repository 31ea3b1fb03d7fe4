// The golden SQL test kit behind `sluice test FILE|DIR...`: each *.sql.test file holds a
// pipeline, input events with their shard and arrival order, and the expected output rows per
// sink (or the expected planning error). The format is documented in docs/golden-tests.md.
//
// A file runs fully in-process and deterministically: no HTTP, no threads, no disk. Events are
// decoded by the runtime's JSON decoder (ingest/json_decoder.h) and fed, one record per step
// (or one `batch` per step), to one ops::QueryPipeline per query — the same per-record and
// per-watermark code the threaded runtime runs. Processing time is a simulated clock that starts
// at 0 and moves only with `advance <interval>`; it drives idle shards and emit_interval. Open
// windows fire at the end of the input only after `flush`. Sinks are modelled in memory: a kv
// sink is its final upserted table (by primary key), a files sink every row written.
//
// Thread-safety: RunGoldenFile() is reentrant; nothing is shared between calls.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace sluice::app {

/// Options of one `sluice test` run.
struct GoldenOptions {
  /// Print each file's actual results in the file's `expect` syntax (for writing new tests;
  /// check them by hand before pasting them in).
  bool print_actual = false;
};

/// The outcome of one golden file.
struct GoldenResult {
  bool passed = false;
  int checks = 0;          ///< Expectation blocks evaluated.
  std::string report;      ///< Failures with a readable diff; the actual results with print_actual.
};

/// Runs one golden file given its text; `path` names it in messages and anchors `pipeline FILE`
/// references (relative to the file's folder).
/// Errors: InvalidArgument when the file itself is malformed (unknown directive, a block that is
/// not closed, an event for a shard the source lacks, no expectations at all), with the line.
/// A failing expectation is not an error: it is `passed = false` with the diff in `report`.
Result<GoldenResult> RunGoldenText(const std::string& path, const std::string& text, const GoldenOptions& options);

/// Reads and runs `path`. Errors: as RunGoldenText, plus IOError when it can't be read.
Result<GoldenResult> RunGoldenFile(const std::string& path, const GoldenOptions& options);

/// `sluice test ARGS...`: runs every file named (and every *.sql.test under named folders,
/// sorted), prints "ok"/"FAIL" per file with diffs and a summary to stdout. Returns the process
/// exit code: 0 all passed, 1 any failure or malformed file, 2 bad usage.
int RunGoldenMain(const std::vector<std::string>& args);

}  // namespace sluice::app
