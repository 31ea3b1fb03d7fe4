#include "core/logging.h"

#include <time.h>

#include <cmath>
#include <cstring>
#include <span>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace sluice {
namespace {

// Appends `s` to `out` with every invalid UTF-8 sequence replaced by U+FFFD, calling
// `escape(c, out)` for each ASCII byte (which appends it, escaped as needed).
template <typename Escape>
void AppendUtf8(std::string_view s, std::string* out, Escape escape) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      escape(static_cast<char>(c), out);
      ++i;
      continue;
    }
    // Length and lowest valid second byte of a multi-byte sequence (RFC 3629, section 4).
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;  // No UTF-16 surrogates.
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool valid = len > 0 && i + len <= n && p[i + 1] >= lo && p[i + 1] <= hi;
    for (size_t k = 2; valid && k < len; ++k) valid = p[i + k] >= 0x80 && p[i + k] <= 0xBF;
    if (valid) {
      out->append(s.data() + i, len);
      i += len;
    } else {
      out->append("\xEF\xBF\xBD");
      ++i;
    }
  }
}

void AppendHexEscape(char c, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto u = static_cast<unsigned char>(c);
  out->append("\\u00");
  out->push_back(kHex[u >> 4]);
  out->push_back(kHex[u & 0xF]);
}

// Backslash escapes shared by logfmt's quoted values and JSON strings.
void AppendEscapedAscii(char c, std::string* out) {
  switch (c) {
    case '"': out->append("\\\""); return;
    case '\\': out->append("\\\\"); return;
    case '\n': out->append("\\n"); return;
    case '\r': out->append("\\r"); return;
    case '\t': out->append("\\t"); return;
    default:
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
        AppendHexEscape(c, out);
      } else {
        out->push_back(c);
      }
  }
}

// A logfmt value needs quotes when it is empty or holds a space, '=', '"', a control byte or
// DEL (go-logfmt's rule; a backslash alone does not need them). Invalid UTF-8 is replaced
// either way, so it needs none.
bool LogfmtNeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || c == '=' || c == '"' || u == 0x7F) return true;
  }
  return false;
}

void AppendLogfmtKey(std::string_view key, std::string* out) {
  if (key.empty()) {
    out->push_back('_');
    return;
  }
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    out->push_back(ok ? c : '_');
  }
}

void AppendLogfmtValue(std::string_view v, std::string* out) {
  if (!LogfmtNeedsQuotes(v)) {
    AppendUtf8(v, out, [](char c, std::string* o) { o->push_back(c); });
    return;
  }
  out->push_back('"');
  AppendUtf8(v, out, AppendEscapedAscii);
  out->push_back('"');
}

// A JSON string, as core/value.h AppendJsonString, but with invalid UTF-8 replaced (a log line
// must stay valid JSON whatever bytes a field holds).
void AppendJsonUtf8(std::string_view v, std::string* out) {
  out->push_back('"');
  AppendUtf8(v, out, AppendEscapedAscii);
  out->push_back('"');
}

// "2026-12-04T21:30:00.123Z" (UTC, milliseconds).
void AppendTimestamp(std::chrono::system_clock::time_point ts, std::string* out) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ts.time_since_epoch()).count();
  const auto secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const int milli = static_cast<int>(ms - static_cast<int64_t>(secs) * 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  fmt::format_to(std::back_inserter(*out), "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
}

std::string FormatDouble(double v, std::string_view suffix) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // fmt's "{}" is the shortest text that reads back as the same double.
  return fmt::format("{}{}", v, suffix);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::function<void()> g_before_stderr_line;  // GUARDED_BY(log_internal::StderrMutex())
const void* g_hook_owner = nullptr;          // GUARDED_BY(log_internal::StderrMutex())

// The default sink: spdlog's stderr sink (a process-wide console mutex, one fwrite and fflush per
// line), with the pattern "%v" so the line is exactly ours.
std::function<void(std::string_view)> StderrSink() {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%v", spdlog::pattern_time_type::utc, "\n"));
  return [sink](std::string_view line) {
    std::lock_guard lock(log_internal::StderrMutex());
    if (g_before_stderr_line) g_before_stderr_line();
    spdlog::details::log_msg msg(spdlog::string_view_t(), spdlog::level::info,
                                 spdlog::string_view_t(line.data(), line.size()));
    sink->log(msg);
  };
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "off";
}

Result<LogLevel> ParseLogLevel(std::string_view text) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError, LogLevel::kOff}) {
    if (EqualsIgnoreCase(text, LogLevelName(l))) return l;
  }
  if (EqualsIgnoreCase(text, "warning")) return LogLevel::kWarn;
  return Status::InvalidArgument("expects a log level: debug, info, warn, error or off; got '" + std::string(text) +
                                 "'");
}

Result<LogFormat> ParseLogFormat(std::string_view text) {
  if (EqualsIgnoreCase(text, "logfmt")) return LogFormat::kLogfmt;
  if (EqualsIgnoreCase(text, "json")) return LogFormat::kJson;
  return Status::InvalidArgument("expects a log format: logfmt or json; got '" + std::string(text) + "'");
}

LogField::LogField(std::string_view k, double v) : key(k), value(FormatDouble(v, "")), bare_in_json(std::isfinite(v)) {}

LogField::LogField(std::string_view k, double seconds, bool seconds_suffix)
    : key(k), value(FormatDouble(seconds, seconds_suffix ? "s" : "")), bare_in_json(!seconds_suffix && std::isfinite(seconds)) {}

Logger::Logger(LogOptions o)
    : level_(static_cast<int>(o.level)),
      format_(o.format),
      burst_(o.burst),
      window_(o.window),
      clock_(o.clock ? std::move(o.clock) : [] { return std::chrono::system_clock::now(); }),
      sink_(o.sink ? std::move(o.sink) : StderrSink()) {}

Logger::~Logger() = default;

void Logger::set_format(LogFormat format) { format_.store(format, std::memory_order_relaxed); }

std::string Logger::FormatImpl(std::chrono::system_clock::time_point ts, LogLevel level, std::string_view msg,
                               const LogField* fields, size_t n) const {
  std::string out;
  if (format_.load(std::memory_order_relaxed) == LogFormat::kJson) {
    out.append("{\"ts\":\"");
    AppendTimestamp(ts, &out);
    out.append("\",\"level\":\"");
    out.append(LogLevelName(level));
    out.append("\",\"msg\":");
    AppendJsonUtf8(msg, &out);
    for (const LogField& f : std::span(fields, n)) {
      out.push_back(',');
      AppendJsonUtf8(f.key, &out);
      out.push_back(':');
      if (f.bare_in_json) {
        out.append(f.value);
      } else {
        AppendJsonUtf8(f.value, &out);
      }
    }
    out.push_back('}');
    return out;
  }
  out.append("ts=");
  AppendTimestamp(ts, &out);
  out.append(" level=");
  out.append(LogLevelName(level));
  out.append(" msg=");
  AppendLogfmtValue(msg, &out);
  for (const LogField& f : std::span(fields, n)) {
    out.push_back(' ');
    AppendLogfmtKey(f.key, &out);
    out.push_back('=');
    AppendLogfmtValue(f.value, &out);
  }
  return out;
}

void Logger::WriteLocked(std::chrono::system_clock::time_point ts, LogLevel level, std::string_view msg,
                         const LogField* fields, size_t n) {
  line_ = FormatImpl(ts, level, msg, fields, n);
  sink_(line_);
}

void Logger::ReportSuppressedLocked(const SiteKey& key, SiteState& s, std::chrono::system_clock::time_point now) {
  if (s.suppressed == 0) return;
  const std::string msg = "suppressed " + std::to_string(s.suppressed) + " similar";
  std::vector<LogField> fields;
  fields.reserve(s.last_fields.size() + 2);
  fields.emplace_back("similar_msg", s.last_msg);
  const std::string site = std::string(log_internal::RelativeSourcePath(key.first)) + ":" + std::to_string(key.second);
  fields.emplace_back("site", site);
  for (const auto& f : s.last_fields) {
    LogField lf(f.key, f.value);
    lf.bare_in_json = f.bare_in_json;
    fields.push_back(std::move(lf));
  }
  WriteLocked(now, s.suppressed_level, msg, fields.data(), fields.size());
  s.suppressed = 0;
  s.suppressed_level = LogLevel::kDebug;
  s.last_fields.clear();
  --sites_pending_;
}

void Logger::ReportExpiredLocked(std::chrono::system_clock::time_point now) {
  if (sites_pending_ == 0) return;
  for (auto& [key, s] : sites_) {
    if (s.suppressed > 0 && (now - s.window_start >= window_ || now < s.window_start)) {
      ReportSuppressedLocked(key, s, now);
      // The report opens the site's next window, so that a site that keeps repeating writes one
      // report and `burst` lines per window, not a burst right after each report.
      s.window_start = now;
      s.written = 0;
    }
  }
}

void Logger::LogImpl(const LogSite& site, LogLevel level, std::string_view msg, const LogField* fields, size_t n) {
  if (!enabled(level)) return;
  std::lock_guard lock(mu_);
  const auto now = clock_();
  ReportExpiredLocked(now);
  if (site.rate_limited && burst_ > 0) {
    SiteState& s = sites_[SiteKey(site.file, site.line)];
    if (s.written == 0 && s.suppressed == 0) {
      s.window_start = now;  // A new site, or one whose window ended without drops.
    } else if (now - s.window_start >= window_ || now < s.window_start) {
      s.window_start = now;
      s.written = 0;
    }
    if (s.written >= burst_) {
      if (s.suppressed++ == 0) ++sites_pending_;
      if (level > s.suppressed_level) s.suppressed_level = level;
      s.last_msg.assign(msg);
      s.last_fields.clear();
      for (const LogField& f : std::span(fields, n)) s.last_fields.push_back({std::string(f.key), f.value, f.bare_in_json});
      return;
    }
    ++s.written;
  }
  WriteLocked(now, level, msg, fields, n);
}

void Logger::FlushSuppressed() {
  std::lock_guard lock(mu_);
  if (sites_pending_ == 0) return;
  const auto now = clock_();
  for (auto& [key, s] : sites_) ReportSuppressedLocked(key, s, now);
}

Logger& DefaultLogger() {
  static Logger* logger = new Logger();  // Never destroyed: see the header.
  return *logger;
}

void ConfigureLogging(LogFormat format, LogLevel level) {
  DefaultLogger().set_format(format);
  DefaultLogger().set_level(level);
}

namespace log_internal {

std::string_view RelativeSourcePath(const char* file) {
  // This file is ROOT/core/logging.cc; strip ROOT/ from files under the same root.
  static constexpr std::string_view kSelf = __FILE__;
  static constexpr std::string_view kSuffix = "core/logging.cc";
  std::string_view f(file);
  if (kSelf.size() >= kSuffix.size() && kSelf.ends_with(kSuffix)) {
    const std::string_view root = kSelf.substr(0, kSelf.size() - kSuffix.size());
    if (!root.empty() && f.starts_with(root)) f.remove_prefix(root.size());
  }
  return f;
}

std::mutex& StderrMutex() {
  static std::mutex* mu = new std::mutex();  // Never destroyed, like DefaultLogger().
  return *mu;
}

void SetBeforeStderrLineHook(const void* owner, std::function<void()> hook) {
  std::lock_guard lock(StderrMutex());
  g_hook_owner = owner;
  g_before_stderr_line = std::move(hook);
}

void ClearBeforeStderrLineHook(const void* owner) {
  std::lock_guard lock(StderrMutex());
  if (g_hook_owner != owner) return;
  g_hook_owner = nullptr;
  g_before_stderr_line = nullptr;
}

}  // namespace log_internal

}  // namespace sluice
