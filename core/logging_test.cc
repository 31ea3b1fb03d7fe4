#include "core/logging.h"

#include <doctest/doctest.h>

#include <cmath>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

// 2026-12-04T21:30:00.123Z.
const std::chrono::system_clock::time_point kT0{std::chrono::milliseconds(1796419800123LL)};

// A logger writing into `lines`, on a clock the test moves.
struct TestLogger {
  std::vector<std::string> lines;
  std::chrono::system_clock::time_point now = kT0;
  Logger logger;
  explicit TestLogger(LogOptions o = {})
      : logger([&] {
          o.clock = [this] { return now; };
          o.sink = [this](std::string_view l) { lines.emplace_back(l); };
          return o;
        }()) {}
};

constexpr LogSite kSiteA{"core/a.cc", 10};
constexpr LogSite kSiteB{"core/b.cc", 20};

}  // namespace

TEST_CASE("logfmt: fixed keys first, then fields; values quoted only when needed") {
  TestLogger t;
  t.logger.Log(kSiteA, LogLevel::kWarn, "snapshot failed",
               {{"component", "server"}, {"error", "IOError: disk full"}, {"n", 3}, {"ok", false}, {"x", 1.5}});
  REQUIRE(t.lines.size() == 1);
  CHECK(t.lines[0] ==
        "ts=2026-12-04T21:30:00.123Z level=warn msg=\"snapshot failed\" component=server "
        "error=\"IOError: disk full\" n=3 ok=false x=1.5");
}

TEST_CASE("logfmt quoting and escaping") {
  TestLogger t;
  auto line = [&](std::string_view v) {
    return t.logger.Format(kT0, LogLevel::kInfo, "m", {{"k", v}});
  };
  const std::string prefix = "ts=2026-12-04T21:30:00.123Z level=info msg=m k=";
  CHECK(line("plain") == prefix + "plain");
  CHECK(line("") == prefix + "\"\"");
  CHECK(line("a b") == prefix + "\"a b\"");
  CHECK(line("a=b") == prefix + "\"a=b\"");
  CHECK(line("say \"hi\"") == prefix + "\"say \\\"hi\\\"\"");
  CHECK(line("back\\slash") == prefix + "back\\slash");          // A backslash alone needs no quotes.
  CHECK(line("back\\ slash") == prefix + "\"back\\\\ slash\"");  // Inside quotes it is escaped.
  CHECK(line("two\nlines") == prefix + "\"two\\nlines\"");
  CHECK(line("tab\there") == prefix + "\"tab\\there\"");
  CHECK(line(std::string_view("nul\0x", 5)) == prefix + "\"nul\\u0000x\"");
  CHECK(line("bell\x07") == prefix + "\"bell\\u0007\"");
  CHECK(line("caf\xC3\xA9") == prefix + "caf\xC3\xA9");       // Valid UTF-8 as it is.
  CHECK(line("bad\xFF") == prefix + "bad\xEF\xBF\xBD");       // Invalid UTF-8 becomes U+FFFD.
  CHECK(line("\xC3") == prefix + "\xEF\xBF\xBD");             // A truncated sequence too.
  CHECK(line("\xED\xA0\x80") == prefix + "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // A surrogate.
  // Keys: bytes outside [A-Za-z0-9_.-] become '_'.
  CHECK(t.logger.Format(kT0, LogLevel::kInfo, "m", {{"a key=", "v"}}) ==
        "ts=2026-12-04T21:30:00.123Z level=info msg=m a_key_=v");
}

TEST_CASE("JSON: one object per line with the same keys; strings escaped, numbers bare") {
  TestLogger t;
  t.logger.set_format(LogFormat::kJson);
  t.logger.Log(kSiteA, LogLevel::kError, "snapshot \"x\" failed",
               {{"component", "server"},
                {"error", "a\\b\n\t\x01"},
                {"n", uint64_t{18446744073709551615ull}},
                {"neg", -7},
                {"ok", true},
                {"ratio", 0.25},
                {"nan", std::nan("")},
                {"took", 1500ms},
                {"utf8", "caf\xC3\xA9 \xFF"}});
  REQUIRE(t.lines.size() == 1);
  CHECK(t.lines[0] ==
        "{\"ts\":\"2026-12-04T21:30:00.123Z\",\"level\":\"error\",\"msg\":\"snapshot \\\"x\\\" failed\","
        "\"component\":\"server\",\"error\":\"a\\\\b\\n\\t\\u0001\",\"n\":18446744073709551615,\"neg\":-7,"
        "\"ok\":true,\"ratio\":0.25,\"nan\":\"NaN\",\"took\":\"1.5s\",\"utf8\":\"caf\xC3\xA9 \xEF\xBF\xBD\"}");
}

TEST_CASE("timestamps are UTC with milliseconds, also before 1970") {
  TestLogger t;
  CHECK(t.logger.Format(std::chrono::system_clock::time_point{}, LogLevel::kInfo, "m", {}) ==
        "ts=1970-01-01T00:00:00.000Z level=info msg=m");
  CHECK(t.logger.Format(std::chrono::system_clock::time_point{-1ms}, LogLevel::kInfo, "m", {}) ==
        "ts=1969-12-31T23:59:59.999Z level=info msg=m");
}

TEST_CASE("level filtering") {
  TestLogger t;
  CHECK_FALSE(t.logger.enabled(LogLevel::kDebug));
  CHECK(t.logger.enabled(LogLevel::kInfo));
  t.logger.Log(kSiteA, LogLevel::kDebug, "hidden");
  t.logger.Log(kSiteA, LogLevel::kInfo, "shown");
  t.logger.set_level(LogLevel::kError);
  t.logger.Log(kSiteA, LogLevel::kWarn, "hidden");
  t.logger.Log(kSiteA, LogLevel::kError, "shown");
  t.logger.set_level(LogLevel::kDebug);
  t.logger.Log(kSiteA, LogLevel::kDebug, "shown");
  t.logger.set_level(LogLevel::kOff);
  t.logger.Log(kSiteA, LogLevel::kError, "hidden");
  CHECK_FALSE(t.logger.enabled(LogLevel::kOff));
  REQUIRE(t.lines.size() == 3);
  CHECK(t.lines[0].find("level=info msg=shown") != std::string::npos);
  CHECK(t.lines[1].find("level=error msg=shown") != std::string::npos);
  CHECK(t.lines[2].find("level=debug msg=shown") != std::string::npos);
}

TEST_CASE("the macros evaluate no field when the level is off") {
  ConfigureLogging(LogFormat::kLogfmt, LogLevel::kError);
  int evaluated = 0;
  auto field = [&] {
    ++evaluated;
    return std::string("v");
  };
  SLUICE_LOG_DEBUG("off", {{"k", field()}});
  SLUICE_LOG_INFO("off", {{"k", field()}});
  SLUICE_LOG_WARN("off", {{"k", field()}});
  CHECK(evaluated == 0);
  ConfigureLogging(LogFormat::kLogfmt, LogLevel::kOff);
  SLUICE_LOG_ERROR("off", {{"k", field()}});
  SLUICE_LOG_ERROR("off, no fields");
  CHECK(evaluated == 0);
  ConfigureLogging(LogFormat::kLogfmt, LogLevel::kInfo);
}

TEST_CASE("parsing levels and formats") {
  CHECK(*ParseLogLevel("debug") == LogLevel::kDebug);
  CHECK(*ParseLogLevel("INFO") == LogLevel::kInfo);
  CHECK(*ParseLogLevel("warn") == LogLevel::kWarn);
  CHECK(*ParseLogLevel("warning") == LogLevel::kWarn);
  CHECK(*ParseLogLevel("error") == LogLevel::kError);
  CHECK(*ParseLogLevel("off") == LogLevel::kOff);
  CHECK(ParseLogLevel("verbose").status().code() == StatusCode::kInvalidArgument);
  CHECK(*ParseLogFormat("logfmt") == LogFormat::kLogfmt);
  CHECK(*ParseLogFormat("json") == LogFormat::kJson);
  CHECK_FALSE(ParseLogFormat("text").ok());
}

TEST_CASE("repeats: at most 5 lines per 10 s per site, then one 'suppressed N similar' line") {
  TestLogger t;
  for (int i = 0; i < 12; ++i) t.logger.Log(kSiteA, LogLevel::kWarn, "disk slow", {{"attempt", i}});
  t.logger.Log(kSiteB, LogLevel::kInfo, "other site");  // Its own budget.
  REQUIRE(t.lines.size() == 6);
  CHECK(t.lines[4].find("attempt=4") != std::string::npos);
  CHECK(t.lines[5].find("msg=\"other site\"") != std::string::npos);

  t.now += 9s;  // Same window: still dropped.
  t.logger.Log(kSiteA, LogLevel::kWarn, "disk slow", {{"attempt", 12}});
  CHECK(t.lines.size() == 6);

  t.now += 1s;  // Window over: the report, then the line itself.
  t.logger.Log(kSiteA, LogLevel::kWarn, "disk slow", {{"attempt", 13}});
  REQUIRE(t.lines.size() == 8);
  CHECK(t.lines[6] ==
        "ts=2026-12-04T21:30:10.123Z level=warn msg=\"suppressed 8 similar\" similar_msg=\"disk slow\" "
        "site=core/a.cc:10 attempt=12");
  CHECK(t.lines[7].find("msg=\"disk slow\" attempt=13") != std::string::npos);

  // The new window allows 5 lines again (the 13th was the first): 14-17 are written, 18-19 not.
  for (int i = 14; i < 20; ++i) t.logger.Log(kSiteA, LogLevel::kWarn, "disk slow", {{"attempt", i}});
  CHECK(t.lines.size() == 12);
  // FlushSuppressed reports now, even though the window is open.
  t.logger.FlushSuppressed();
  REQUIRE(t.lines.size() == 13);
  CHECK(t.lines[12].find("msg=\"suppressed 2 similar\"") != std::string::npos);
  CHECK(t.lines[12].find("attempt=19") != std::string::npos);
  t.logger.FlushSuppressed();
  CHECK(t.lines.size() == 13);
}

TEST_CASE("a site's pending report is written once its window ends, by a line from any site") {
  TestLogger t;
  for (int i = 0; i < 7; ++i) t.logger.Log(kSiteA, i == 6 ? LogLevel::kError : LogLevel::kWarn, "flaky");
  CHECK(t.lines.size() == 5);
  t.now += 11s;
  t.logger.Log(kSiteB, LogLevel::kInfo, "unrelated");
  REQUIRE(t.lines.size() == 7);
  // The report carries the highest level it dropped.
  CHECK(t.lines[5].find("level=error msg=\"suppressed 2 similar\" similar_msg=flaky") != std::string::npos);
  CHECK(t.lines[6].find("msg=unrelated") != std::string::npos);
}

TEST_CASE("sites that are not rate-limited, and burst 0, write every line") {
  TestLogger t;
  constexpr LogSite kFree{"core/c.cc", 1, /*rate_limited=*/false};
  for (int i = 0; i < 20; ++i) t.logger.Log(kFree, LogLevel::kInfo, "progress");
  CHECK(t.lines.size() == 20);
  TestLogger u(LogOptions{.burst = 0});
  for (int i = 0; i < 20; ++i) u.logger.Log(kSiteA, LogLevel::kInfo, "again");
  CHECK(u.lines.size() == 20);
}

TEST_CASE("concurrent lines never interleave and the suppression count adds up") {
  std::mutex mu;
  std::vector<std::string> lines;
  Logger logger(LogOptions{.burst = 5,
                           .window = std::chrono::hours(1),
                           .sink = [&](std::string_view l) {
                             std::lock_guard lock(mu);
                             lines.emplace_back(l);
                           }});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) logger.Log(kSiteA, LogLevel::kWarn, "busy", {{"i", i}});
    });
  }
  for (auto& th : threads) th.join();
  logger.FlushSuppressed();
  REQUIRE(lines.size() == 6);
  CHECK(lines[5].find("msg=\"suppressed 995 similar\"") != std::string::npos);
}

TEST_CASE("source paths are written relative to the tree") {
  const std::string here = __FILE__;  // ROOT/core/logging_test.cc
  CHECK(log_internal::RelativeSourcePath(here.c_str()) == "core/logging_test.cc");
  CHECK(log_internal::RelativeSourcePath("elsewhere/x.cc") == "elsewhere/x.cc");
}
