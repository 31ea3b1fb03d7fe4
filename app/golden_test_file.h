// The golden test file format (*.sql.test), parsed: the pipeline, the input script and the
// expectations. docs/golden-tests.md is the reference; in short:
//
//   # comment                    (outside blocks, lines starting with '#' and blank lines are skipped)
//   pipeline                     SQL until a line "----"   (or: pipeline PATH, relative to the file)
//   events                       until "----": one directive per line:
//     [SOURCE:]SHARD JSON          an event payload for shard SHARD (0-based) of SOURCE
//     advance INTERVAL             move the simulated processing clock ('10 seconds', '1m')
//     batch / end batch            events in between form one step (one watermark update)
//     flush                        fire every open window (end of input)
//   expect SINK | expect sink SINK   header "col | col" then rows "v | v", until "----"
//   expect error                 the first lines of the planning error, until "----"
//   expect late | expect bad     payloads sent to the late / decode side outputs, until "----"
//   expect explain               lines that must appear, in order, in `sluice explain`, until "----"
//   tolerance X                  relative tolerance for FLOAT8 comparisons (default 1e-12)
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace sluice::app {

/// One line of an `events` block.
struct GoldenStep {
  enum class Kind { kEvent, kAdvance, kBatchBegin, kBatchEnd, kFlush };
  Kind kind = Kind::kEvent;
  std::string source;   ///< kEvent: the source name, or empty for the pipeline's only source.
  int shard = 0;        ///< kEvent: 0-based shard (split) index.
  std::string payload;  ///< kEvent: the record's bytes (JSON text).
  Duration advance{0};  ///< kAdvance: how far the processing clock moves.
  int line = 0;         ///< 1-based line in the test file.
};

/// One `expect …` block.
struct GoldenExpectation {
  enum class Kind { kSink, kError, kLate, kBad, kExplain };
  Kind kind = Kind::kSink;
  std::string sink;                ///< kSink: the sink table's name.
  std::vector<std::string> lines;  ///< The block's lines (comments and blanks dropped, except for kError).
  int line = 0;                    ///< Line of the `expect` directive.
};

/// A parsed golden file.
struct GoldenFile {
  std::string pipeline;       ///< SQL text.
  int pipeline_line = 0;      ///< File line of the pipeline's first line (0 when read from PATH).
  std::string pipeline_path;  ///< Set when the pipeline came from `pipeline PATH`.
  std::vector<GoldenStep> steps;
  std::vector<GoldenExpectation> expectations;
  double tolerance = 1e-12;
};

/// Parses `text`; `path` locates `pipeline PATH` files and names the file in messages.
/// Errors: InvalidArgument "PATH:LINE: message" for an unknown directive, a block without its
/// closing "----", a malformed event or advance line, a second pipeline, no pipeline, or a
/// `pipeline PATH` that can't be read.
Result<GoldenFile> ParseGoldenFile(const std::string& path, const std::string& text);

}  // namespace sluice::app
