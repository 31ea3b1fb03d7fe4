// The `sluice` command line (app/main.cc): every subcommand is listed, each flag's help names its
// default once, bad usage exits 2 with a message naming the flag (never a crash), and the command
// lines the scripts and tests use still parse. Runs the real binary.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

using namespace sluice::testing;

namespace {

struct CommandResult {
  int exit_code = -1;  ///< -1 when killed by a signal (a crash).
  std::string out;     ///< stdout and stderr.
};

// Runs `sluice ARGS` through the shell, with stderr folded into stdout.
CommandResult Sluice(const std::string& args) {
  CommandResult r;
  FILE* p = popen((std::string(SLUICE_BINARY) + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// The entries of a --help "Options:" list, one string per flag (its continuation lines joined).
std::vector<std::string> HelpEntries(const std::string& help) {
  std::vector<std::string> entries;
  std::istringstream in(help);
  std::string line;
  bool in_options = false;
  while (std::getline(in, line)) {
    if (line == "Options:") {
      in_options = true;
    } else if (!in_options || line.empty()) {
      in_options = in_options && !line.empty();
    } else if (line.rfind("  -", 0) == 0) {
      entries.push_back(line);
    } else if (!entries.empty()) {
      entries.back() += line;
    }
  }
  return entries;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

const std::string kPipeline = std::string(SLUICE_SOURCE_DIR) + "/examples/wildrydes/pipeline.sql";

}  // namespace

TEST_CASE("sluice --help lists every subcommand; each has its own --help") {
  CommandResult r = Sluice("--help");
  CAPTURE(r.out);
  CHECK(r.exit_code == 0);
  for (const char* cmd : {"run", "demo", "savepoint", "explain", "test", "version"}) {
    CAPTURE(cmd);
    CHECK(r.out.find(std::string("\n  ") + cmd + " ") != std::string::npos);
    CommandResult sub = Sluice(std::string(cmd) + " --help");
    CHECK(sub.exit_code == 0);
    CHECK(sub.out.find(std::string("Usage: sluice ") + cmd) != std::string::npos);
  }
  CHECK(Sluice("help run").out == Sluice("run --help").out);
  CHECK(Sluice("").exit_code == 2);
  CommandResult v = Sluice("version");
  CHECK(v.exit_code == 0);
  CHECK(v.out == "sluice 0.1.0\n");
  CHECK(Sluice("--version").out == v.out);
}

TEST_CASE("each flag of run and demo states its default exactly once") {
  for (const char* cmd : {"run", "demo"}) {
    std::vector<std::string> entries = HelpEntries(Sluice(std::string(cmd) + " --help").out);
    CHECK(entries.size() >= 10);
    for (const std::string& e : entries) {
      CAPTURE(e);
      const bool valueless = e.find("--help") != std::string::npos || e.find("--linger") != std::string::npos;
      CHECK(Count(e, "Default:") == (valueless ? 0u : 1u));
    }
  }
  CommandResult run = Sluice("run --help");
  CHECK(run.out.find("--workers N") != std::string::npos);
  CHECK(run.out.find("Default: 10s") != std::string::npos);
  CHECK(run.out.find("Default: 256MiB") != std::string::npos);
}

TEST_CASE("bad usage exits 2 with a message naming the problem") {
  const std::string run = "run " + kPipeline + " --listen 127.0.0.1:0 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"run", "PIPELINE.sql is required"},
      {"run x.sql --workers 0", "--workers: expects a whole number from 1 to 1024, got '0'"},
      {run + "--workers -3", "--workers"},
      {run + "--workers 99999999999999999999999", "--workers"},
      {run + "--http-threads two", "--http-threads"},
      {run + "--memory-budget banana", "--memory-budget: expects a size"},
      {run + "--memory-budget 99999999999999999999999GiB", "--memory-budget"},
      {run + "--max-record-bytes 2GiB", "--max-record-bytes: expects a size from 1B to 1GiB"},
      {run + "--max-records-per-request 0", "--max-records-per-request"},
      {run + "--flush-interval banana", "--flush-interval: expects an interval"},
      {run + "--checkpoint-interval 0s", "--checkpoint-interval: expects an interval of at least 1ms"},
      {run + "--state-cache-groups -1", "--state-cache-groups"},
      {run + "--tls-cert cert.pem", "--tls-cert requires --tls-key"},
      {"run " + kPipeline + " --listen :99999", "--listen: port out of range"},
      {"run " + kPipeline + " --listen", "--listen"},
      {run + "--no-such-flag", "--no-such-flag"},
      {run + "second.sql", "second.sql"},
      {"run /nonexistent/pipeline.sql", "/nonexistent/pipeline.sql"},
      {run + "--log-format xml", "--log-format: expects a log format: logfmt or json; got 'xml'"},
      {run + "--log-level loud", "--log-level: expects a log level: debug, info, warn, error or off; got 'loud'"},
      {"demo --log-format", "--log-format"},
      {"demo --log-level verbose", "--log-level: expects a log level"},
      {"demo --late 1.5", "--late: expects a number from 0 to 1"},
      {"demo --speedup 0", "--speedup"},
      {"demo --duration inf", "--duration"},
      {"demo --unicorns 2.5", "--unicorns"},
      {"demo --workers 0", "--workers"},
      {"savepoint", "NAME is required"},
      {"explain", "PIPELINE.sql is required"},
      {"test", "PATH is required"},
      {"test " + std::string(SLUICE_SOURCE_DIR) + "/tests/golden --no-such-flag", "--no-such-flag"},
      {"no-such-command", "unknown command 'no-such-command'"},
      {"bench nexmark", "unknown command 'bench'"},
  };
  for (const auto& [args, message] : cases) {
    CommandResult r = Sluice(args);
    CAPTURE(args);
    CAPTURE(r.out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.find(message) != std::string::npos);
  }
}

TEST_CASE("test takes several paths and --print anywhere") {
  const std::string golden = std::string(SLUICE_SOURCE_DIR) + "/tests/golden/";
  CommandResult r = Sluice("test " + golden + "hop_basic.sql.test --print " + golden + "tumble_basic.sql.test");
  CAPTURE(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("golden: 2 passed, 0 failed") != std::string::npos);
  CHECK(r.out.find("# actual results of") != std::string::npos);
}

TEST_CASE("explain plans a pipeline file") {
  CommandResult r = Sluice("explain " + kPipeline);
  CAPTURE(r.out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("query q1_unicorn_minutes") != std::string::npos);
  // The per-minute query is keyed by Name, the source's partition key: each worker reads the
  // shards that hold its key groups, and rows are not exchanged.
  CHECK(r.out.find("partition key: Name") != std::string::npos);
  CHECK(r.out.find("exchange: partition key (GROUP BY holds \"Name\", the source's partition_key: state in 128 key groups") !=
        std::string::npos);
  CHECK(r.out.find("worker w reads the shards whose hash-key ranges hold its key groups") != std::string::npos);
  CHECK(r.out.find("watermark alignment:") != std::string::npos);
}

TEST_CASE("run accepts the new --workers flag with the others, in both --flag value and --flag=value forms") {
  TempDir dir;
  SluiceProcessOptions o;
  o.args = {"--workers", "1", "--checkpoint-interval", "1 second", "--memory-budget=64MiB", "--http-threads", "2",
            "--workers=2"};
  SluiceProcess p(kPipeline, dir.path() + "/data", o);
  CHECK(HttpGet(p.url() + "/queries").status == 200);
}

TEST_CASE("run logs a failed start as one line, in logfmt by default and in JSON with --log-format json") {
  const std::string run = "run " + kPipeline + " --data-dir /dev/null/sluice --listen 127.0.0.1:0";
  CommandResult logfmt = Sluice(run);
  CAPTURE(logfmt.out);
  CHECK(logfmt.exit_code == 1);
  CHECK(logfmt.out.rfind("ts=", 0) == 0);
  CHECK(logfmt.out.find(" level=error msg=\"server did not start\" component=cli ") != std::string::npos);
  CHECK(logfmt.out.find("error=\"IOError: create data dir /dev/null/sluice") != std::string::npos);
  CHECK(Count(logfmt.out, "\n") == 1);

  CommandResult json = Sluice(run + " --log-format json --log-level warn");
  CAPTURE(json.out);
  CHECK(json.exit_code == 1);
  CHECK(json.out.rfind("{\"ts\":\"", 0) == 0);
  CHECK(json.out.find("\"level\":\"error\",\"msg\":\"server did not start\",\"component\":\"cli\"") !=
        std::string::npos);
  CHECK(json.out.ends_with("}\n"));

  CommandResult quiet = Sluice(run + " --log-level off");
  CHECK(quiet.exit_code == 1);
  CHECK(quiet.out.empty());
}

TEST_CASE("test reports progress on stderr, apart from the results on stdout") {
  const std::string golden = std::string(SLUICE_SOURCE_DIR) + "/tests/golden/";
  // stderr only (stdout dropped): not a terminal, so one final logfmt line.
  FILE* p = popen((std::string(SLUICE_BINARY) + " test " + golden + "hop_basic.sql.test " + golden +
                   "tumble_basic.sql.test 2>&1 >/dev/null")
                      .c_str(),
                  "r");
  REQUIRE(p != nullptr);
  std::string err;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) err.append(buf, n);
  CHECK(pclose(p) == 0);
  CAPTURE(err);
  CHECK(Count(err, "\n") == 1);
  CHECK(err.find("level=info msg=progress task=\"sluice test\" done=2 total=2 unit=files percent=100 ") !=
        std::string::npos);
  CHECK(err.find(" finished=true") != std::string::npos);
}
