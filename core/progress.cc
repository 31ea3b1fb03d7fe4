#include "core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include <fmt/format.h>

#include "core/logging.h"

namespace sluice {
namespace {

constexpr int kBarWidth = 24;
/// Erase from the cursor to the end of the line (ECMA-48 EL).
constexpr std::string_view kEraseLine = "\x1b[K";

/// "7s", "4m05s", "2h03m".
std::string ShortDuration(double secs) {
  if (!std::isfinite(secs) || secs < 0) return "?";
  const auto s = static_cast<uint64_t>(std::llround(secs));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
}

/// 1 decimal place, no trailing ".0" beyond that ("83.1", "100").
double Round1(double v) { return std::round(v * 10) / 10; }

}  // namespace

std::string Progress::FormatBar(std::string_view task, uint64_t done, uint64_t total, std::string_view unit,
                                std::chrono::duration<double> elapsed) {
  const double secs = elapsed.count();
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  const std::string unit_sp = unit.empty() ? "" : " " + std::string(unit);
  std::string out(task);
  if (total > 0) {
    const double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const int filled = static_cast<int>(frac * kBarWidth);
    out += " [" + std::string(filled, '#') + std::string(kBarWidth - filled, '-') + "]";
    out += fmt::format("  {}/{}{}  {}%", done, total, unit_sp, static_cast<int>(frac * 100));
  } else {
    out += fmt::format("  {}{}", done, unit_sp);
  }
  out += fmt::format("  {:.1f}{}/s", rate, unit.empty() ? "" : " " + std::string(unit));
  if (total > 0 && done < total) {
    out += "  ETA " + (rate > 0 ? ShortDuration(static_cast<double>(total - done) / rate) : std::string("?"));
  } else {
    out += "  " + ShortDuration(secs);
  }
  return out;
}

Progress::Progress(ProgressOptions options)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : [] { return std::chrono::steady_clock::now(); }),
      start_(clock_()),
      total_(options_.total),
      last_report_(start_) {
  terminal_ = options_.mode == ProgressMode::kTerminal ||
              (options_.mode == ProgressMode::kAuto && ::isatty(STDERR_FILENO) == 1);
  if (terminal_) log_internal::SetBeforeStderrLineHook(this, [this] { ClearLineStderrLocked(); });
}

Progress::~Progress() {
  Finish();
  if (terminal_) log_internal::ClearBeforeStderrLineHook(this);
}

void Progress::WriteTerminal(std::string_view s, bool drawn) {
  std::lock_guard lock(log_internal::StderrMutex());
  WriteTerminalLocked(s, drawn);
}

void Progress::WriteTerminalLocked(std::string_view s, bool drawn) {
  if (options_.terminal_write) {
    options_.terminal_write(s);
  } else {
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  }
  drawn_.store(drawn, std::memory_order_relaxed);
}

void Progress::ReportLocked(bool final) {
  const auto now = clock_();
  last_report_ = now;
  const std::chrono::duration<double> elapsed = now - start_;
  if (terminal_) {
    std::string s = "\r" + FormatBar(options_.task, done_, total_, options_.unit, elapsed);
    s += kEraseLine;
    if (final) s += "\n";
    WriteTerminal(s, /*drawn=*/!final);
    return;
  }
  Logger& logger = options_.logger != nullptr ? *options_.logger : DefaultLogger();
  if (!logger.enabled(LogLevel::kInfo)) return;
  const double secs = elapsed.count();
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0;
  std::vector<LogField> fields;
  fields.reserve(10);
  fields.emplace_back("task", options_.task);
  fields.emplace_back("done", done_);
  if (total_ > 0) fields.emplace_back("total", total_);
  if (!options_.unit.empty()) fields.emplace_back("unit", options_.unit);
  if (total_ > 0) fields.emplace_back("percent", Round1(100.0 * static_cast<double>(done_) / static_cast<double>(total_)));
  fields.emplace_back("rate", Round1(rate));
  fields.emplace_back("elapsed", std::chrono::duration<double>(std::round(secs * 100) / 100));
  if (!final && total_ > 0 && done_ < total_ && rate > 0) {
    fields.emplace_back("eta", std::chrono::duration<double>(
                                   std::round(static_cast<double>(total_ - done_) / rate * 100) / 100));
  }
  if (final) fields.emplace_back("finished", true);
  static constexpr LogSite kSite{__FILE__, __LINE__, /*rate_limited=*/false};
  logger.Log(kSite, LogLevel::kInfo, "progress", fields);
}

void Progress::Update(uint64_t done) {
  std::lock_guard lock(mu_);
  UpdateLocked(done);
}

void Progress::Add(uint64_t n) {
  std::lock_guard lock(mu_);
  UpdateLocked(done_ + n);
}

void Progress::UpdateLocked(uint64_t done) {
  if (finished_) return;
  done_ = done;
  const auto interval = terminal_ ? options_.terminal_interval : options_.plain_interval;
  if (clock_() - last_report_ >= interval || (terminal_ && !drawn_.load(std::memory_order_relaxed))) {
    ReportLocked(false);
  }
}

void Progress::SetTotal(uint64_t total) {
  std::lock_guard lock(mu_);
  total_ = total;
}

void Progress::Finish() {
  std::lock_guard lock(mu_);
  if (finished_) return;
  finished_ = true;
  ReportLocked(true);
}

void Progress::ClearLine() {
  if (!terminal_) return;
  std::lock_guard lock(log_internal::StderrMutex());
  ClearLineStderrLocked();
}

void Progress::ClearLineStderrLocked() {
  if (!drawn_.load(std::memory_order_relaxed)) return;
  WriteTerminalLocked("\r" + std::string(kEraseLine), false);
}

}  // namespace sluice
