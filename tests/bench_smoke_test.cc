// Smoke test of `sluice-bench` (bench/nexmark/nexmark_bench.h, bench/wildrydes/wildrydes_bench.h):
// every Nexmark query that has a query file runs on all three tiers with a small number of events,
// and the output row counts must agree between tiers and, for q0/q1/q2/q11, with counts computed
// here independently from the generator; each run reports both CPU figures (whole process with
// the generator, and query only) consistently. Speed is never asserted. Also runs
// `sluice-bench wildrydes` and `sluice-bench generator` briefly, and checks that the production
// `sluice` binary has no `bench` subcommand any more.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "examples/nexmark/generator.h"

namespace {

constexpr int64_t kEvents = 20000;

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

CommandResult RunCommand(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// The integer after "field": in the first line of `out` that contains `marker`, or -1.
int64_t JsonInt(const std::string& out, const std::string& marker, const std::string& field) {
  size_t at = out.find(marker);
  if (at == std::string::npos) return -1;
  size_t line_end = out.find('\n', at);
  std::string line = out.substr(at, line_end == std::string::npos ? std::string::npos : line_end - at);
  size_t f = line.find("\"" + field + "\":");
  if (f == std::string::npos) return -1;
  return std::strtoll(line.c_str() + f + field.size() + 3, nullptr, 10);
}

// The number after "field": in the first line of `out` that contains `marker`, or -1.
double JsonNum(const std::string& out, const std::string& marker, const std::string& field) {
  size_t at = out.find(marker);
  if (at == std::string::npos) return -1;
  size_t line_end = out.find('\n', at);
  std::string line = out.substr(at, line_end == std::string::npos ? std::string::npos : line_end - at);
  size_t f = line.find("\"" + field + "\":");
  if (f == std::string::npos) return -1;
  return std::strtod(line.c_str() + f + field.size() + 3, nullptr);
}

const std::string kBench = SLUICE_BENCH_BINARY;

// Expected output rows of q0, q1, q2 and q11 over the first kEvents generated events.
std::map<std::string, int64_t> IndependentCounts() {
  sluice::nexmark::Generator gen;
  sluice::nexmark::Event e;
  int64_t bids = 0, q2 = 0;
  std::map<int64_t, std::vector<int64_t>> bid_times;  // bidder -> dateTime ms
  for (int64_t i = 0; i < kEvents; ++i) {
    gen.Next(&e);
    if (e.type != sluice::nexmark::EventType::kBid) continue;
    ++bids;
    if (e.bid.auction % 123 == 0) ++q2;
    bid_times[e.bid.bidder].push_back(e.bid.date_time_ms);
  }
  int64_t sessions = 0;
  for (auto& [bidder, times] : bid_times) {
    std::sort(times.begin(), times.end());
    ++sessions;
    for (size_t i = 1; i < times.size(); ++i)
      if (times[i] - times[i - 1] >= 10'000) ++sessions;  // gap of 10 s
  }
  return {{"q0", bids}, {"q1", bids}, {"q2", q2}, {"q11", sessions}};
}

}  // namespace

TEST_CASE("sluice-bench nexmark: every available query gives the same, correct row count on t1, t2 and t3") {
  const auto expected = IndependentCounts();
  CHECK(expected.at("q0") > 0);
  CHECK(expected.at("q2") > 0);
  int ran = 0;
  for (std::string q : {"q0", "q1", "q2", "q5", "q7", "q8", "q11"}) {
    CAPTURE(q);
    CommandResult r = RunCommand(kBench + " nexmark --query " + q +
                                 " --tier all --events " + std::to_string(kEvents));
    CAPTURE(r.out);
    if (r.exit_code == 3) {
      MESSAGE(q << " not available yet");
      CHECK(r.out.find("not available yet") != std::string::npos);
      continue;
    }
    REQUIRE(r.exit_code == 0);
    ++ran;
    const int64_t t1 = JsonInt(r.out, "\"tier\":\"t1\"", "output_rows");
    const int64_t t2 = JsonInt(r.out, "\"tier\":\"t2\"", "output_rows");
    const int64_t t3 = JsonInt(r.out, "\"tier\":\"t3\"", "output_rows");
    CHECK(t1 >= 0);
    CHECK(t1 == t2);
    CHECK(t1 == t3);
    CHECK(JsonInt(r.out, "\"tier\":\"t1\"", "events") == kEvents);
    CHECK(JsonInt(r.out, "\"tier\":\"t3\"", "bad_records") == 0);
    for (const char* tier : {"\"tier\":\"t1\"", "\"tier\":\"t2\"", "\"tier\":\"t3\""}) {
      CAPTURE(tier);
      CHECK(JsonInt(r.out, tier, "late_rows") == 0);
      // Both figures: the whole process (generator included) costs at least the query part.
      const double whole = JsonNum(r.out, tier, "whole_cpu_s"), query = JsonNum(r.out, tier, "query_cpu_s");
      CHECK(query > 0);
      CHECK(whole >= query);
      CHECK(JsonNum(r.out, tier, "whole_events_per_cpu_s") > 0);
      CHECK(JsonNum(r.out, tier, "whole_events_per_cpu_s") <= JsonNum(r.out, tier, "query_events_per_cpu_s"));
      CHECK(JsonNum(r.out, tier, "peak_rss_mib") > 0);
    }
    CHECK(r.out.find("whole process") != std::string::npos);  // the human line names both figures
    CHECK(r.out.find("query only") != std::string::npos);
    auto it = expected.find(q);
    if (it != expected.end()) CHECK(t1 == it->second);
  }
  CHECK(ran >= 4);  // q0, q1, q2 and q11 exist at least in bench/nexmark/queries
}

TEST_CASE("sluice-bench nexmark: a missing query is reported as not available") {
  CommandResult r = RunCommand(kBench + " nexmark --query q99 --events 100");
  CHECK(r.exit_code == 3);
  CHECK(r.out.find("not available yet") != std::string::npos);
  CHECK(RunCommand(kBench + " nexmark --tier t9").exit_code == 2);
  CHECK(RunCommand(kBench).exit_code == 2);
  // t3 starts `sluice` by path; a wrong path is an error of the run, not a crash.
  CommandResult bad = RunCommand(kBench + " nexmark --query q0 --tier t3 --events 100 --sluice /nonexistent/sluice");
  CHECK(bad.exit_code == 1);
  CHECK(bad.out.find("/nonexistent/sluice") != std::string::npos);
  // The production binary no longer carries the benchmarks.
  CHECK(RunCommand(std::string(SLUICE_BINARY) + " bench nexmark --query q0").exit_code == 2);
}

TEST_CASE("sluice-bench generator reports the generator's own speed") {
  CommandResult r = RunCommand(kBench + " generator --events 200000 --runs 1");
  CAPTURE(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(JsonInt(r.out, "\"bench\":\"generator\"", "events") == 200000);
  CHECK(JsonNum(r.out, "\"bench\":\"generator\"", "events_per_cpu_s") > 0);
}

TEST_CASE("sluice-bench wildrydes runs both phases and measures window latency") {
  CommandResult r = RunCommand(kBench +
                               " wildrydes --duration 3 --rate 4000 --connections 2 --unicorns 50 --warmup 0.5");
  CAPTURE(r.out);
  REQUIRE(r.exit_code == 0);
  CHECK(JsonInt(r.out, "\"phase\":\"peak\"", "records") > 0);
  CHECK(JsonInt(r.out, "\"phase\":\"latency\"", "records") == 12000);
  CHECK(JsonInt(r.out, "\"phase\":\"latency\"", "samples") > 0);
  CHECK(JsonInt(r.out, "\"phase\":\"latency\"", "windows") > 0);
}

TEST_CASE("sluice-bench nexmark --workers: t1 through the engine reads every event once, with 1 or 2 workers") {
  // The bench's 3 splits are generator instances k = 0, 1, 2 of stride 3, each making its third
  // of the events (in its own arrival order, so not quite the whole generator's first events).
  std::map<std::string, int64_t> expected{{"q0", 0}, {"q2", 0}};
  for (int k = 0; k < 3; ++k) {
    sluice::nexmark::GeneratorOptions o;
    o.first_event = k;
    o.stride = 3;
    sluice::nexmark::Generator gen(o);
    sluice::nexmark::Event e;
    for (int64_t i = 0; i < kEvents / 3 + (k < kEvents % 3 ? 1 : 0); ++i) {
      gen.Next(&e);
      if (e.type != sluice::nexmark::EventType::kBid) continue;
      ++expected["q0"];
      if (e.bid.auction % 123 == 0) ++expected["q2"];
    }
  }
  CHECK(expected["q2"] > 0);
  for (const char* workers : {"1", "2"}) {
    CAPTURE(workers);
    // q0 emits every bid, and q2 every bid of an auction that is a multiple of 123: each output
    // row count checks that the splits made every event exactly once between them.
    for (const char* q : {"q0", "q2"}) {
      CommandResult r = RunCommand(kBench + " nexmark --query " + q + " --events " + std::to_string(kEvents) +
                                   " --workers " + workers + " --splits 3");
      CAPTURE(r.out);
      REQUIRE(r.exit_code == 0);
      CHECK(r.out.find(std::string("(engine, ") + workers + " workers, 3 splits)") != std::string::npos);
      CHECK(JsonInt(r.out, "\"tier\":\"t1\"", "events") == kEvents);
      CHECK(JsonInt(r.out, "\"tier\":\"t1\"", "events_read") == kEvents);  // one stream of every event
      CHECK(JsonInt(r.out, "\"tier\":\"t1\"", "output_rows") == expected.at(q));
      CHECK(JsonInt(r.out, "\"tier\":\"t1\"", "workers") == std::stoi(workers));
      CHECK(JsonNum(r.out, "\"tier\":\"t1\"", "whole_events_per_cpu_s") > 0);
    }
  }
}

TEST_CASE("sluice-bench wildrydes --in-process: both queries see every status, the same with 1 and 2 workers") {
  int64_t rows[2] = {0, 0};
  for (int w = 1; w <= 2; ++w) {
    CommandResult r = RunCommand(kBench + " wildrydes --in-process --events 50000 --unicorns 50 --workers " +
                                 std::to_string(w));
    CAPTURE(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK(JsonInt(r.out, "\"phase\":\"in-process\"", "records") == 50000);
    CHECK(JsonInt(r.out, "\"phase\":\"in-process\"", "workers") == w);
    CHECK(JsonInt(r.out, "\"phase\":\"in-process\"", "late_rows") == 0);
    CHECK(JsonInt(r.out, "\"phase\":\"in-process\"", "bad_records") == 0);
    // The per-unicorn query is grouped by Name, the partition key: each shard's unicorns stay on
    // the worker reading it (tests/e2e_test.cc checks its own count). Only the fleet query,
    // grouped by the window alone, sends rows to the worker owning the minute: at most each
    // status once, and none with one worker.
    const int64_t exchanged = JsonInt(r.out, "\"phase\":\"in-process\"", "rows_exchanged");
    if (w == 1) CHECK(exchanged == 0);
    else CHECK((exchanged > 0 && exchanged <= 50000));
    rows[w - 1] = JsonInt(r.out, "\"phase\":\"in-process\"", "output_rows");
  }
  // The archive query emits every status; the per-minute query one row per unicorn per closed
  // minute. Each shard gets the unicorns whose names hash into its range and 1,000 statuses for
  // each (1,000 s), and a generated shard read to its end stops holding the watermark (as a
  // closed shard), so the watermark reaches 1,000 s minus the 5 s delay, which closes 16
  // minutes for each of the 50 unicorns, and the fleet query one row per closed minute.
  CHECK(rows[0] == 50000 + 16 * 50 + 16);
  CHECK(rows[1] == rows[0]);
}
