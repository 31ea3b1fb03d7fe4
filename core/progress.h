// Progress: how far a long task is (restoring a checkpoint or savepoint, replaying a stream from
// TRIM_HORIZON, a `sluice test` run), shown on stderr.
//
// On a terminal (isatty(stderr)) it draws one line that it rewrites in place with '\r', at most
// ~10 times a second:
//
//   restore checkpoint [##########--------------]  412/1000 files  41%  83.1 files/s  ETA 7s
//
// Otherwise it writes a plain logfmt line through the logger at most every few seconds, plus a
// final one from Finish():
//
//   ts=... level=info msg=progress task="restore checkpoint" done=412 total=1000 unit=files
//     percent=41.2 rate=83.1 elapsed=4.96s eta=7.07s
//   ts=... level=info msg=progress task="restore checkpoint" done=1000 total=1000 unit=files
//     percent=100 rate=84.4 elapsed=11.85s finished=true
//
// A total of 0 means unknown: no bar, percent or ETA, only the count and rate.
//
// Usage:
//   Progress progress({.task = "restore checkpoint", .total = files.size(), .unit = "files"});
//   for (...) { ...; progress.Add(1); }
//   progress.Finish();
//
// Thread-safety: every method is thread-safe (workers may call Add() concurrently). While a
// terminal bar is drawn, lines from the default logger first erase it; the next update redraws
// it. One terminal bar at a time: a second one replaces the first's hook.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace sluice {

class Logger;

/// Where a Progress writes.
enum class ProgressMode {
  kAuto,      ///< kTerminal when stderr is a terminal (isatty), else kPlain.
  kTerminal,  ///< A bar rewritten in place with '\r'.
  kPlain,     ///< logfmt lines through the logger.
};

/// What a Progress reports and how often.
struct ProgressOptions {
  /// What is being done, in the logs' words ("restore checkpoint", "replay unicorn_telemetry").
  std::string task;
  /// Units of work in all (0 = unknown). Can change later with Progress::SetTotal.
  uint64_t total = 0;
  /// Name of a unit of work, plural ("files", "records", "bytes"). Default: none.
  std::string unit;
  ProgressMode mode = ProgressMode::kAuto;
  /// Least time between two redraws of the terminal bar. Default: 100 ms.
  std::chrono::milliseconds terminal_interval{100};
  /// Least time between two plain lines (the final line is always written). Default: 5 s.
  std::chrono::milliseconds plain_interval{5000};
  /// Clock for rates, ETA and throttling. Default: std::chrono::steady_clock.
  std::function<std::chrono::steady_clock::time_point()> clock;
  /// Terminal mode: receives each piece of output (starting with '\r'). Default: stderr.
  std::function<void(std::string_view)> terminal_write;
  /// Plain mode: the logger for the lines. Borrowed; must outlive the Progress.
  /// Default: DefaultLogger().
  Logger* logger = nullptr;
};

/// Reports the progress of one task. See the file comment.
class Progress {
 public:
  explicit Progress(ProgressOptions options);
  /// Calls Finish() unless it was called.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// Sets the units done so far (absolute). Redraws or writes a line when its interval has passed.
  void Update(uint64_t done);
  /// Adds `n` units done.
  void Add(uint64_t n = 1);
  /// Changes the total (0 = unknown).
  void SetTotal(uint64_t total);
  /// Writes the final state: the bar and a newline, or the final plain line (finished=true).
  /// Later calls of any method do nothing.
  void Finish();
  /// Terminal mode: erases the bar (until the next redraw) so that other output can be written
  /// to the terminal, such as `sluice test`'s result lines on stdout. Plain mode: nothing.
  void ClearLine();

  /// The terminal bar for a state, without the leading '\r' (exposed for tests).
  static std::string FormatBar(std::string_view task, uint64_t done, uint64_t total, std::string_view unit,
                               std::chrono::duration<double> elapsed);

 private:
  // REQUIRES: mu_ held.
  void UpdateLocked(uint64_t done);
  void ReportLocked(bool final);
  // Writes `s` under log_internal::StderrMutex() and records whether the bar is now drawn.
  void WriteTerminal(std::string_view s, bool drawn);
  void WriteTerminalLocked(std::string_view s, bool drawn);  // REQUIRES: log_internal::StderrMutex() held
  // REQUIRES: log_internal::StderrMutex() held.
  void ClearLineStderrLocked();

  const ProgressOptions options_;
  bool terminal_ = false;
  std::function<std::chrono::steady_clock::time_point()> clock_;
  std::chrono::steady_clock::time_point start_;

  std::mutex mu_;
  uint64_t done_ = 0;                               // GUARDED_BY(mu_)
  uint64_t total_ = 0;                              // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point last_report_;  // GUARDED_BY(mu_)
  /// The bar is on screen. Written under log_internal::StderrMutex(); read under either lock.
  std::atomic<bool> drawn_{false};
  bool finished_ = false;                           // GUARDED_BY(mu_)
};

}  // namespace sluice
