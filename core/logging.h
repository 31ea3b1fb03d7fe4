// Logging: one line per event, with structured key/value fields, in logfmt (the default) or JSON.
//
//   ts=2026-12-04T21:30:00.123Z level=warn msg="snapshot failed" component=server error="IOError: disk full"
//   {"ts":"2026-12-04T21:30:00.123Z","level":"warn","msg":"snapshot failed","component":"server","error":"..."}
//
// Call sites use the SLUICE_LOG_* macros:
//
//   SLUICE_LOG_WARN("snapshot failed", {{"component", "server"}, {"error", st.ToString()}});
//   SLUICE_LOG_INFO("listening", {{"component", "http"}, {"port", port}});
//   SLUICE_LOG_DEBUG("tick");
//
// The message is a fixed text (a literal, not a printf format); whatever varies goes in fields.
// When the level is off, the macro costs a call to DefaultLogger() and one relaxed atomic load,
// and evaluates no field.
//
// Repeats are rate-limited per call site (file and line): at most LogOptions::burst lines per
// LogOptions::window. Lines past the limit are counted, not written; the first line from that
// site after the window ends (or FlushSuppressed(), or any later line once the window is over)
// first writes `msg="suppressed N similar" similar_msg="..." site=FILE:LINE` at the dropped
// lines' highest level, with the last dropped line's fields.
//
// The process has one default Logger (DefaultLogger(), configured by ConfigureLogging() from
// `--log-format` and `--log-level`), writing to stderr through spdlog's thread-safe stderr sink.
// Tests build their own Logger with an injected clock and sink.
//
// Thread-safety: every function and method here is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice {

/// Severity of a log line, in increasing order. kOff, as a minimum level, writes nothing.
enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

/// The shape of each line.
enum class LogFormat {
  kLogfmt,  ///< `key=value` pairs separated by spaces (https://brandur.org/logfmt).
  kJson,    ///< One JSON object per line (RFC 8259), with the same keys in the same order.
};

/// "debug", "info", "warn", "error" or "off".
std::string_view LogLevelName(LogLevel level);

/// Parses "debug", "info", "warn" (or "warning"), "error" or "off" (ASCII case-insensitive).
/// Errors: InvalidArgument naming the accepted values.
Result<LogLevel> ParseLogLevel(std::string_view text);

/// Parses "logfmt" or "json". Errors: InvalidArgument naming the accepted values.
Result<LogFormat> ParseLogFormat(std::string_view text);

/// One key/value pair of a log line. The value is rendered to text when the field is built:
/// strings as they are, integers in base 10, doubles in the shortest form that reads back
/// exactly, bools as true/false. Numbers and bools are bare in JSON; strings are JSON strings.
/// The key is borrowed: it must outlive the Log() call (a string literal does). Keys should be
/// `[A-Za-z0-9_.-]+`; in logfmt any other byte is written as '_'. The keys ts, level and msg are
/// taken by the line itself; a field that uses one is written after them all the same.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(std::string_view k, std::string&& v) : key(k), value(std::move(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(v != nullptr ? v : "") {}
  LogField(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), bare_in_json(true) {}
  template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>)
  LogField(std::string_view k, T v) : key(k), value(std::to_string(v)), bare_in_json(true) {}
  /// NaN and infinities are written as the strings "NaN", "+Inf", "-Inf" (quoted in JSON).
  LogField(std::string_view k, double v);
  /// A duration is written in seconds with a unit suffix ("1.5s"), as a string.
  template <typename Rep, typename Period>
  LogField(std::string_view k, std::chrono::duration<Rep, Period> d)
      : LogField(k, std::chrono::duration<double>(d).count(), /*seconds_suffix=*/true) {}

  std::string_view key;
  std::string value;
  bool bare_in_json = false;  ///< Number or bool: not quoted in JSON.

 private:
  LogField(std::string_view k, double seconds, bool seconds_suffix);
};

/// Where a line comes from: the unit of rate limiting. Built by the SLUICE_LOG_* macros.
struct LogSite {
  const char* file;  ///< __FILE__; written relative to the source tree. Static storage.
  int line;          ///< __LINE__.
  /// False exempts the site from rate limiting (progress lines, which throttle themselves).
  bool rate_limited = true;
};

/// How a Logger writes.
struct LogOptions {
  LogFormat format = LogFormat::kLogfmt;
  /// Lines below this level are dropped before their fields are built. Can change at runtime
  /// (Logger::set_level). Default: info.
  LogLevel level = LogLevel::kInfo;
  /// Most lines one call site writes per `window`; the rest are counted and reported as
  /// "suppressed N similar". 0 = no limit. Default: 5.
  int burst = 5;
  /// Length of the rate-limit window. Default: 10 s.
  std::chrono::milliseconds window{10'000};
  /// Wall clock for `ts` and for the rate-limit windows. Default: std::chrono::system_clock.
  std::function<std::chrono::system_clock::time_point()> clock;
  /// Receives each finished line, without the trailing newline, under the logger's lock (so
  /// never concurrently). Default: stderr, one write and flush per line.
  std::function<void(std::string_view line)> sink;
};

/// A line formatter, level filter and per-site rate limiter in front of one sink.
/// Thread-safety: thread-safe; lines from concurrent threads never interleave.
class Logger {
 public:
  explicit Logger(LogOptions options = {});
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  /// True when a line at `level` would be written (ignoring rate limits). One relaxed load.
  bool enabled(LogLevel level) const {
    return static_cast<int>(level) >= level_.load(std::memory_order_relaxed) && level != LogLevel::kOff;
  }
  /// Changes the minimum level. Lines already being written are unaffected.
  void set_level(LogLevel level) { level_.store(static_cast<int>(level), std::memory_order_relaxed); }
  /// The minimum level written (set by LogOptions::level or set_level). One relaxed load.
  LogLevel level() const { return static_cast<LogLevel>(level_.load(std::memory_order_relaxed)); }
  /// Changes the line format.
  void set_format(LogFormat format);

  /// Writes one line at `level` with `msg` and `fields` (in that order), unless the level is off
  /// or `site` is over its rate limit. `msg` and the fields are copied before returning.
  void Log(const LogSite& site, LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {}) {
    LogImpl(site, level, msg, fields.begin(), fields.size());
  }
  /// As above, with fields built at run time.
  void Log(const LogSite& site, LogLevel level, std::string_view msg, const std::vector<LogField>& fields) {
    LogImpl(site, level, msg, fields.data(), fields.size());
  }

  /// Writes the "suppressed N similar" line of every site that dropped lines and has not
  /// reported them yet, even if its window is still open. Call at shutdown.
  void FlushSuppressed();

  /// Formats one line without writing it or rate-limiting it (for tests and tools).
  std::string Format(std::chrono::system_clock::time_point ts, LogLevel level, std::string_view msg,
                     const std::vector<LogField>& fields) const {
    return FormatImpl(ts, level, msg, fields.data(), fields.size());
  }

 private:
  struct SiteState {
    std::chrono::system_clock::time_point window_start;
    int written = 0;           // Lines written in the current window.
    uint64_t suppressed = 0;   // Lines dropped since the last report.
    LogLevel suppressed_level = LogLevel::kDebug;
    std::string last_msg;
    struct OwnedField {
      std::string key, value;
      bool bare_in_json;
    };
    std::vector<OwnedField> last_fields;
  };
  using SiteKey = std::pair<const char*, int>;

  std::string FormatImpl(std::chrono::system_clock::time_point ts, LogLevel level, std::string_view msg,
                         const LogField* fields, size_t n) const;
  void LogImpl(const LogSite& site, LogLevel level, std::string_view msg, const LogField* fields, size_t n);
  // REQUIRES: mu_ held.
  void WriteLocked(std::chrono::system_clock::time_point ts, LogLevel level, std::string_view msg,
                   const LogField* fields, size_t n);
  void ReportSuppressedLocked(const SiteKey& key, SiteState& s, std::chrono::system_clock::time_point now);
  void ReportExpiredLocked(std::chrono::system_clock::time_point now);

  std::atomic<int> level_;
  std::atomic<LogFormat> format_;
  const int burst_;
  const std::chrono::milliseconds window_;
  std::function<std::chrono::system_clock::time_point()> clock_;
  std::function<void(std::string_view)> sink_;

  std::mutex mu_;
  std::map<SiteKey, SiteState> sites_;  // GUARDED_BY(mu_). One entry per call site that logged.
  size_t sites_pending_ = 0;            // GUARDED_BY(mu_). Sites with suppressed > 0.
  std::string line_;                    // GUARDED_BY(mu_). Reused buffer.
};

/// The process-wide logger used by the SLUICE_LOG_* macros: logfmt, level info, stderr, until
/// ConfigureLogging changes it. Never destroyed (usable from static destructors and threads
/// still running at exit).
Logger& DefaultLogger();

/// Sets the default logger's format and level (from `--log-format` and `--log-level`).
void ConfigureLogging(LogFormat format, LogLevel level);

namespace log_internal {
/// Path of `file` relative to the source tree (the part after the folder holding core/).
std::string_view RelativeSourcePath(const char* file);
/// Held by the default stderr sink while it writes a line, and by a terminal progress bar
/// (core/progress.h) while it draws, so that the two never land on one line.
std::mutex& StderrMutex();
/// Sets the function the stderr sink calls before each line, owned by `owner`. A terminal
/// progress bar registers here to erase itself. The hook runs with StderrMutex() held (and the
/// logger's lock); it must not log or take a lock that is held while taking StderrMutex().
void SetBeforeStderrLineHook(const void* owner, std::function<void()> hook);
/// Removes the hook if `owner` set it; waits for a running call of it to return.
void ClearBeforeStderrLineHook(const void* owner);
}  // namespace log_internal

}  // namespace sluice

/// SLUICE_LOG(level, msg [, {{key, value}, ...}]): logs through DefaultLogger(). The fields are
/// evaluated only when `level` is enabled.
#define SLUICE_LOG(level, msg, ...)                                                              \
  do {                                                                                           \
    if (::sluice::DefaultLogger().enabled(level)) {                                              \
      static constexpr ::sluice::LogSite sluice_log_site_{__FILE__, __LINE__};                   \
      ::sluice::DefaultLogger().Log(sluice_log_site_, level, msg __VA_OPT__(, ) __VA_ARGS__);    \
    }                                                                                            \
  } while (0)

#define SLUICE_LOG_DEBUG(msg, ...) SLUICE_LOG(::sluice::LogLevel::kDebug, msg __VA_OPT__(, ) __VA_ARGS__)
#define SLUICE_LOG_INFO(msg, ...) SLUICE_LOG(::sluice::LogLevel::kInfo, msg __VA_OPT__(, ) __VA_ARGS__)
#define SLUICE_LOG_WARN(msg, ...) SLUICE_LOG(::sluice::LogLevel::kWarn, msg __VA_OPT__(, ) __VA_ARGS__)
#define SLUICE_LOG_ERROR(msg, ...) SLUICE_LOG(::sluice::LogLevel::kError, msg __VA_OPT__(, ) __VA_ARGS__)
