#include "core/progress.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/logging.h"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

// A progress reporter on a clock the test moves, writing into `lines` (plain mode) or `out`
// (terminal mode).
struct Fixture {
  std::vector<std::string> lines;
  std::string out;
  std::chrono::steady_clock::time_point now{};
  Logger logger{LogOptions{.clock = [] { return std::chrono::system_clock::time_point{}; },
                           .sink = [this](std::string_view l) { lines.emplace_back(l); }}};

  ProgressOptions Options(ProgressMode mode, uint64_t total) {
    return ProgressOptions{.task = "restore checkpoint",
                           .total = total,
                           .unit = "files",
                           .mode = mode,
                           .clock = [this] { return now; },
                           .terminal_write = [this](std::string_view s) { out += s; },
                           .logger = &logger};
  }
};

const std::string kTs = "ts=1970-01-01T00:00:00.000Z level=info msg=progress ";

}  // namespace

TEST_CASE("plain mode: a line at most every 5 s, then a final line") {
  Fixture f;
  {
    Progress p(f.Options(ProgressMode::kPlain, 100));
    f.now += 1s;
    p.Update(10);  // Too soon: nothing.
    CHECK(f.lines.empty());
    f.now += 4s;
    p.Update(40);  // 5 s in.
    REQUIRE(f.lines.size() == 1);
    CHECK(f.lines[0] == kTs + "task=\"restore checkpoint\" done=40 total=100 unit=files percent=40 rate=8 "
                              "elapsed=5s eta=7.5s");
    f.now += 1s;
    p.Add(5);
    p.Add(5);
    CHECK(f.lines.size() == 1);
    f.now += 4s;
    p.Add(30);  // 10 s, 80 done.
    REQUIRE(f.lines.size() == 2);
    CHECK(f.lines[1] == kTs + "task=\"restore checkpoint\" done=80 total=100 unit=files percent=80 rate=8 "
                              "elapsed=10s eta=2.5s");
    f.now += 500ms;
    p.Update(100);
    p.Finish();
    p.Update(100);  // After Finish: nothing.
  }  // The destructor does not write a second final line.
  REQUIRE(f.lines.size() == 3);
  CHECK(f.lines[2] == kTs + "task=\"restore checkpoint\" done=100 total=100 unit=files percent=100 rate=9.5 "
                            "elapsed=10.5s finished=true");
}

TEST_CASE("plain mode: an unknown total has no percent or ETA; the destructor finishes") {
  Fixture f;
  {
    Progress p(f.Options(ProgressMode::kPlain, 0));
    f.now += 2s;
    p.Update(7);
  }
  REQUIRE(f.lines.size() == 1);
  CHECK(f.lines[0] == kTs + "task=\"restore checkpoint\" done=7 unit=files rate=3.5 elapsed=2s finished=true");
}

TEST_CASE("plain mode: lines are not rate-limited by the logger, and respect its level") {
  Fixture f;
  Progress p(f.Options(ProgressMode::kPlain, 1000));
  for (int i = 1; i <= 10; ++i) {
    f.now += 5s;
    p.Update(i);
  }
  CHECK(f.lines.size() == 10);  // More than the logger's 5 per 10 s per site.
  f.logger.set_level(LogLevel::kWarn);
  f.now += 5s;
  p.Update(11);
  CHECK(f.lines.size() == 10);
}

TEST_CASE("terminal mode: a bar rewritten in place, throttled, ended by a newline") {
  Fixture f;
  Progress p(f.Options(ProgressMode::kTerminal, 10));
  p.Update(0);  // The first update draws at once.
  CHECK(f.out == "\rrestore checkpoint [------------------------]  0/10 files  0%  0.0 files/s  ETA ?\x1b[K");
  f.out.clear();
  f.now += 50ms;
  p.Update(1);  // Under 100 ms since the last draw.
  CHECK(f.out.empty());
  f.now += 50ms;
  p.Update(5);
  CHECK(f.out == "\rrestore checkpoint [############------------]  5/10 files  50%  50.0 files/s  ETA 0s\x1b[K");
  f.out.clear();
  p.ClearLine();
  CHECK(f.out == "\r\x1b[K");
  f.out.clear();
  p.ClearLine();  // Nothing drawn: nothing to erase.
  CHECK(f.out.empty());
  p.Update(6);  // Redrawn at once after an erase.
  CHECK_FALSE(f.out.empty());
  f.out.clear();
  f.now += 900ms;
  p.Update(10);  // 900 ms after the last draw: drawn.
  CHECK_FALSE(f.out.empty());
  f.out.clear();
  p.Finish();
  CHECK(f.out == "\rrestore checkpoint [########################]  10/10 files  100%  10.0 files/s  1s\x1b[K\n");
  CHECK(f.lines.empty());  // Nothing went through the logger.
}

TEST_CASE("the bar's text") {
  CHECK(Progress::FormatBar("replay s1", 2500, 0, "records", 2s) == "replay s1  2500 records  1250.0 records/s  2s");
  CHECK(Progress::FormatBar("t", 1, 4, "", 150s) == "t [######------------------]  1/4  25%  0.0/s  ETA 7m30s");
}

TEST_CASE("terminal mode: a line from the default logger erases the bar first; the next update redraws it") {
  Fixture f;
  Progress p(f.Options(ProgressMode::kTerminal, 10));
  p.Update(1);
  REQUIRE_FALSE(f.out.empty());
  f.out.clear();
  // Goes to the real stderr; what matters is the erase written through the bar's writer first.
  SLUICE_LOG_WARN("progress_test: a line in the middle of a bar (expected in the test output)");
  CHECK(f.out == "\r\x1b[K");
  f.out.clear();
  p.Update(2);
  CHECK(f.out.find("2/10 files") != std::string::npos);
  f.out.clear();
  p.Finish();
  SLUICE_LOG_WARN("progress_test: a line after the bar finished (expected in the test output)");
  CHECK(f.out.find("\n") != std::string::npos);
  CHECK(f.out.find("\x1b[K\n") == f.out.size() - 4);  // Nothing erased after the final newline.
}
