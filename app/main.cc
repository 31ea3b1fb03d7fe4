// The `sluice` binary: parses the command line (CLI11) and runs one subcommand.
//   sluice run PIPELINE.sql [--data-dir DIR] [--listen HOST:PORT] [--workers N] [--http-threads N]
//              [--shard-records-per-second N] [--shard-bytes-per-second SIZE]
//              [--memory-budget SIZE] [--disk-min-free SIZE] [--flush-interval INTERVAL]
//              [--checkpoint-interval INTERVAL] [--state-cache-groups N] [--state-ingest-size SIZE]
//              [--max-record-bytes SIZE] [--max-request-bytes SIZE] [--max-records-per-request N]
//              [--from-savepoint NAME] [--tls-cert PEM --tls-key PEM]
//              [--log-format logfmt|json] [--log-level debug|info|warn|error]
//   sluice demo [--unicorns N] [--speedup X] [--out-of-order F] [--late F] [--bad F]
//               [--duration SECONDS] [--data-dir DIR] [--listen HOST:PORT] [--workers N] [--linger]
//               [--log-format logfmt|json] [--log-level debug|info|warn|error]
//   sluice savepoint NAME [--listen HOST:PORT]   (asks a running server; docs/checkpoints.md)
//   sluice explain PIPELINE.sql
//   sluice test [--print] FILE.sql.test|DIR...   (golden SQL tests, docs/golden-tests.md)
//   sluice version                               (also `sluice --version`)
// `sluice --help` (or `sluice help`) lists the subcommands; `sluice CMD --help` lists CMD's flags,
// each with its unit and default. A flag given twice keeps its last value. Sizes are parsed by
// app::ParseByteSize ("256MiB"), intervals by ParseInterval ("10s", "500 ms"), HOST:PORT by
// app::ParseListen.
// Exit codes: 0 success, 1 runtime failure, 2 bad usage or a pipeline that does not plan.
// Log lines (core/logging.h) go to stderr; usage errors, such as a pipeline that does not plan
// with its caret, stay plain text so that they read well; stdout carries the product output.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/demo.h"
#include "app/explain.h"
#include "app/golden_test_runner.h"
#include "app/server.h"
#include "core/file_util.h"
#include "core/logging.h"
#include "core/time.h"
#include "sql/planner.h"

namespace {

constexpr const char* kVersion = "sluice 0.1.0";
/// Upper bound of --workers and --http-threads (a guard against typos, not a tuning limit).
constexpr uint64_t kMaxThreads = 1024;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

/// Checks one flag value: stores the parsed value and returns "", or returns why `text` is bad
/// (CLI11 prefixes the flag's name). Never throws.
using FlagParser = std::function<std::string(const std::string& text)>;

/// Adds flag `name` (one value, shown as `type` in --help) to `cmd`, parsed by `parse`.
CLI::Option* AddFlag(CLI::App* cmd, const std::string& name, const std::string& type, const std::string& help,
                     FlagParser parse) {
  return cmd->add_option(name, help)
      ->type_name(type)
      ->check(CLI::Validator([parse = std::move(parse)](std::string& text) { return parse(text); }, ""));
}

/// A base-10 whole number in [lo, hi] (no sign, no fraction).
template <typename T>
FlagParser WholeNumber(T* out, uint64_t lo, uint64_t hi) {
  return [out, lo, hi](const std::string& text) -> std::string {
    uint64_t n = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (ec == std::errc() && ptr == end && n >= lo && n <= hi) {
      *out = static_cast<T>(n);
      return "";
    }
    if (hi == std::numeric_limits<uint64_t>::max())
      return "expects a whole number (" + std::to_string(lo) + " or more), got '" + text + "'";
    return "expects a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got '" + text + "'";
  };
}

/// A decimal number in [lo, hi], or in (lo, hi] with `lo_open`.
FlagParser Number(double* out, double lo, double hi, bool lo_open = false) {
  return [=](const std::string& text) -> std::string {
    double d = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, d);
    if (ec == std::errc() && ptr == end && (lo_open ? d > lo : d >= lo) && d <= hi) {
      *out = d;
      return "";
    }
    char range[96];
    std::snprintf(range, sizeof range, lo_open ? "above %.15g, up to %.15g" : "from %.15g to %.15g", lo, hi);
    return std::string("expects a number ") + range + ", got '" + text + "'";
  };
}

/// "256MiB" for 256 << 20: the largest binary unit that divides `bytes` (as ParseByteSize reads it).
std::string SizeText(uint64_t bytes) {
  if (bytes == 0) return "0";
  for (auto [unit, name] : {std::pair<uint64_t, const char*>{1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}})
    if (bytes % unit == 0) return std::to_string(bytes / unit) + name;
  return std::to_string(bytes) + "B";
}

/// A byte size (app::ParseByteSize) in [lo, hi].
template <typename T>
FlagParser Size(T* out, uint64_t lo = 0, uint64_t hi = std::numeric_limits<uint64_t>::max()) {
  return [out, lo, hi](const std::string& text) -> std::string {
    auto bytes = sluice::app::ParseByteSize(text);
    if (bytes.ok() && *bytes >= lo && *bytes <= hi) {
      *out = static_cast<T>(*bytes);
      return "";
    }
    std::string range = hi == std::numeric_limits<uint64_t>::max() ? "" : " from " + SizeText(lo) + " to " + SizeText(hi);
    return "expects a size" + range + " such as 256MiB, 64KiB or 1048576 (bytes), got '" + text + "'";
  };
}

/// An interval (ParseInterval) of at least `min`, stored in milliseconds (truncated).
FlagParser Interval(std::chrono::milliseconds* out, sluice::Duration min) {
  return [out, min](const std::string& text) -> std::string {
    auto iv = sluice::ParseInterval(text);
    if (iv.ok() && *iv >= min) {
      *out = std::chrono::duration_cast<std::chrono::milliseconds>(*iv);
      return "";
    }
    const std::string least = min.count() > 0 ? " of at least " + sluice::FormatDuration(min) : "";
    return "expects an interval" + least + " such as 10s, 500ms or '1 minute', got '" + text + "'";
  };
}

/// HOST:PORT, :PORT or PORT (app::ParseListen); a missing host keeps *host.
FlagParser Listen(std::string* host, uint16_t* port) {
  return [host, port](const std::string& text) -> std::string {
    sluice::Status st = sluice::app::ParseListen(text, host, port);
    return st.ok() ? "" : st.message();
  };
}

std::string IntervalText(std::chrono::milliseconds ms) {
  return sluice::FormatDuration(std::chrono::duration_cast<sluice::Duration>(ms));
}

std::string NumberText(double d) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", d);
  return b;
}

/// What the command line asked for.
struct CommandLine {
  std::string pipeline_path;            // run, explain
  std::string savepoint_name;           // savepoint
  std::vector<std::string> test_paths;  // test
  bool test_print = false;              // test --print
  sluice::app::ServerOptions server;    // run, savepoint (--listen)
  sluice::app::DemoOptions demo;        // demo
  sluice::LogFormat log_format = sluice::LogFormat::kLogfmt;  // run, demo
  sluice::LogLevel log_level = sluice::LogLevel::kInfo;       // run, demo
};

std::string ListenText(const std::string& host, uint16_t port) { return host + ":" + std::to_string(port); }

void AddWorkers(CLI::App* cmd, int* workers) {
  AddFlag(cmd, "--workers", "N",
          "Worker threads of the engine; a worker runs whole sources (a count, 1 to " + std::to_string(kMaxThreads) +
              "). Default: the number of cores (" + std::to_string(*workers) + " here)",
          WholeNumber(workers, 1, kMaxThreads));
}

/// --log-format and --log-level (core/logging.h).
void AddLogFlags(CLI::App* cmd, CommandLine* cl) {
  AddFlag(cmd, "--log-format", "logfmt|json",
          "Shape of the log lines on stderr: logfmt (key=value pairs) or json (one object per line), with the "
          "same keys. Default: logfmt",
          [out = &cl->log_format](const std::string& text) -> std::string {
            auto f = sluice::ParseLogFormat(text);
            if (!f.ok()) return f.status().message();
            *out = *f;
            return "";
          });
  AddFlag(cmd, "--log-level", "LEVEL",
          "Least severe log lines written: debug, info, warn or error (off: none). Default: info",
          [out = &cl->log_level](const std::string& text) -> std::string {
            auto l = sluice::ParseLogLevel(text);
            if (!l.ok()) return l.status().message();
            *out = *l;
            return "";
          });
}

void AddRunFlags(CLI::App* run, CommandLine* cl) {
  sluice::app::ServerOptions& so = cl->server;
  run->add_option("PIPELINE.sql", cl->pipeline_path, "The pipeline file (PostgreSQL-dialect SQL, docs/sql.md)")
      ->type_name("FILE")
      ->required();
  run->add_option("--data-dir", so.data_dir, "Root of all state, created if missing (a folder). Default: " + so.data_dir)
      ->type_name("DIR");
  AddFlag(run, "--listen", "HOST:PORT",
          "HTTP address (HOST:PORT, :PORT or PORT; port 0 = any free port). Default: " + ListenText(so.host, so.port),
          Listen(&so.host, &so.port));
  AddWorkers(run, &so.workers);
  AddFlag(run, "--http-threads", "N",
          "HTTP event-loop threads (a count, 1 to " + std::to_string(kMaxThreads) + "). Default: " +
              std::to_string(so.http_threads),
          WholeNumber(&so.http_threads, 1, kMaxThreads));
  AddFlag(run, "--shard-records-per-second", "N",
          "Write limit of each shard, in records per second (0 = none). Default: " +
              std::to_string(so.shard_records_per_second),
          WholeNumber(&so.shard_records_per_second, 0, std::numeric_limits<uint64_t>::max()));
  AddFlag(run, "--shard-bytes-per-second", "SIZE",
          "Write limit of each shard, in bytes per second (a size such as 1MiB; 0 = none). Default: " +
              SizeText(so.shard_bytes_per_second),
          Size(&so.shard_bytes_per_second));
  AddFlag(run, "--memory-budget", "SIZE",
          "Most record bytes not yet written and fsynced; records past it are refused until the log catches up "
          "(a size such as 256MiB). Default: " + SizeText(so.max_pending_bytes),
          Size(&so.max_pending_bytes));
  AddFlag(run, "--disk-min-free", "SIZE",
          "Records are refused while the data dir's file system has less free space than this (a size). Default: " +
              SizeText(so.min_free_disk_bytes),
          Size(&so.min_free_disk_bytes));
  AddFlag(run, "--flush-interval", "INTERVAL",
          "0 = acknowledge PutRecords only after fsync; more = acknowledge after the write and fsync at most this "
          "much later, so an OS crash can lose that much acknowledged data (an interval such as 200ms). Default: " +
              IntervalText(so.flush_interval),
          Interval(&so.flush_interval, sluice::Duration(0)));
  AddFlag(run, "--checkpoint-interval", "INTERVAL",
          "Each query commits a checkpoint, and the state store is snapshotted, this often (an interval of at least "
          "1ms such as 10s, 500ms). Default: " + IntervalText(so.checkpoint_interval),
          Interval(&so.checkpoint_interval, std::chrono::milliseconds(1)));
  AddFlag(run, "--state-cache-groups", "N",
          "Window groups (TUMBLE/HOP) or sessions kept in memory per query; the rest is spilled to the state store "
          "(a count; 0 = all). Default: " + std::to_string(so.state_cache_groups),
          WholeNumber(&so.state_cache_groups, 0, std::numeric_limits<size_t>::max()));
  AddFlag(run, "--state-ingest-size", "SIZE",
          "Checkpoint batches at least this large are written as SST files and ingested (a size; 0 = every batch). "
          "Default: " + SizeText(so.state_ingest_bytes),
          Size(&so.state_ingest_bytes));
  AddFlag(run, "--max-record-bytes", "SIZE",
          "Kinesis API: most data plus partition key of one record (a size from 1B to 1GiB). Default: " +
              SizeText(so.kinesis_limits.max_record_bytes),
          Size(&so.kinesis_limits.max_record_bytes, 1, 1ull << 30));
  AddFlag(run, "--max-request-bytes", "SIZE",
          "Kinesis API: most data plus partition keys in one PutRecords (a size from 1B to 1GiB). Default: " +
              SizeText(so.kinesis_limits.max_request_data_bytes),
          Size(&so.kinesis_limits.max_request_data_bytes, 1, 1ull << 30));
  AddFlag(run, "--max-records-per-request", "N",
          "Kinesis API: most records in one PutRecords (a count, 1 to 100000). Default: " +
              std::to_string(so.kinesis_limits.max_records_per_request),
          WholeNumber(&so.kinesis_limits.max_records_per_request, 1, 100000));
  run->add_option("--from-savepoint", so.from_savepoint,
                  "Replace the state store by savepoint DATA_DIR/savepoints/NAME before the queries start "
                  "(docs/checkpoints.md). Default: none")
      ->type_name("NAME");
  CLI::Option* cert = run->add_option("--tls-cert", so.tls_cert_file,
                                      "PEM certificate chain; with --tls-key the port serves TLS, ALPN choosing "
                                      "h2 or http/1.1 (a file). Default: none (plain text)")
                          ->type_name("PEM");
  CLI::Option* key =
      run->add_option("--tls-key", so.tls_key_file, "PEM private key of --tls-cert (a file). Default: none")
          ->type_name("PEM");
  cert->needs(key);
  key->needs(cert);
  AddLogFlags(run, cl);
}

void AddDemoFlags(CLI::App* demo, CommandLine* cl) {
  sluice::app::DemoOptions* d = &cl->demo;
  AddFlag(demo, "--unicorns", "N",
          "Unicorns in the fleet (a count, 1 to 1000000). Default: " + std::to_string(d->fleet.unicorns),
          WholeNumber(&d->fleet.unicorns, 1, 1000000));
  AddFlag(demo, "--speedup", "X",
          "Simulated seconds per wall second (a factor above 0, up to 1e6). Default: " + NumberText(d->fleet.speedup),
          Number(&d->fleet.speedup, 0, 1e6, /*lo_open=*/true));
  AddFlag(demo, "--out-of-order", "F",
          "Share of records sent 1-3 simulated seconds late (a fraction, 0 to 1). Default: " +
              NumberText(d->fleet.out_of_order),
          Number(&d->fleet.out_of_order, 0, 1));
  AddFlag(demo, "--late", "F",
          "Share of records sent 75 simulated seconds late, after their window fired (a fraction, 0 to 1). "
          "Default: " + NumberText(d->fleet.late),
          Number(&d->fleet.late, 0, 1));
  AddFlag(demo, "--bad", "F",
          "Share of records sent malformed, to be dead-lettered (a fraction, 0 to 1). Default: " +
              NumberText(d->fleet.bad),
          Number(&d->fleet.bad, 0, 1));
  AddFlag(demo, "--duration", "SECONDS",
          "Wall time to run, in seconds (0 = until Ctrl-C). Default: " + NumberText(d->duration_s),
          Number(&d->duration_s, 0, 1e8));
  demo->add_option("--data-dir", d->data_dir, "Root of the demo's state, created if missing (a folder). Default: " +
                                                  d->data_dir)
      ->type_name("DIR");
  AddFlag(demo, "--listen", "HOST:PORT",
          "HTTP address (HOST:PORT, :PORT or PORT; port 0 = any free port). Default: " + ListenText(d->host, d->port),
          Listen(&d->host, &d->port));
  AddWorkers(demo, &d->workers);
  demo->add_flag("--linger", d->linger, "Keep the server up after the producer stops (with --duration), until Ctrl-C");
  AddLogFlags(demo, cl);
}

int RunServer(CommandLine& cl) {
  auto read = sluice::ReadFileToString(cl.pipeline_path);
  if (!read.ok()) {
    std::fprintf(stderr, "sluice: %s\n", read.status().message().c_str());
    return 2;
  }
  sluice::app::ServerOptions& so = cl.server;
  so.pipeline_text = std::move(*read);
  so.pipeline_name = cl.pipeline_path;
  auto server = sluice::app::Server::Start(so);
  if (!server.ok()) {
    if (server.status().code() == sluice::StatusCode::kInvalidArgument) {
      // Bad usage, such as a pipeline that does not plan: plain text, keeping the caret lines.
      std::fprintf(stderr, "sluice: %s\n", server.status().ToString().c_str());
      return 2;
    }
    SLUICE_LOG_ERROR("server did not start",
                     {{"component", "cli"}, {"pipeline", cl.pipeline_path}, {"error", server.status().ToString()}});
    return 1;
  }
  std::printf("sluice: serving %s on %s://%s:%u (data in %s)\n", cl.pipeline_path.c_str(),
              so.tls_cert_file.empty() ? "http" : "https", so.host.c_str(),
              static_cast<unsigned>((*server)->port()), so.data_dir.c_str());
  std::fflush(stdout);
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::printf("sluice: stopping\n");
  (*server)->Stop();
  sluice::DefaultLogger().FlushSuppressed();
  return 0;
}

int Explain(const std::string& path) {
  auto read = sluice::ReadFileToString(path);
  if (!read.ok()) {
    std::fprintf(stderr, "sluice: %s\n", read.status().message().c_str());
    return 2;
  }
  auto p = sluice::sql::PlanPipeline(*read);
  if (!p.ok()) {
    std::fprintf(stderr, "%s:%s\n", path.c_str(), p.status().message().c_str());
    return 2;
  }
  std::fputs(sluice::app::ExplainPipeline(*p).c_str(), stdout);
  return 0;
}

int Savepoint(const CommandLine& cl) {
  auto r = sluice::app::RequestSavepoint(cl.server.host, cl.server.port, cl.savepoint_name);
  if (!r.ok()) {
    std::fprintf(stderr, "sluice: %s\n", r.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n", r->c_str());
  return 0;
}

/// "sluice run: --workers: expects ...", then where the flags are listed.
std::string FailureMessage(const CLI::App* app, const CLI::Error& e) {
  std::string cmd = "sluice";
  for (const CLI::App* sub : app->get_subcommands()) cmd += " " + sub->get_name();
  return cmd + ": " + e.what() + "\nRun '" + cmd + " --help' for the usage.\n";
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine cl;
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  cl.server.workers = cores;
  cl.demo.workers = cores;

  CLI::App app("Sluice: a real-time stream processor in one binary.", "sluice");
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.failure_message(FailureMessage);
  app.footer(
      "'sluice COMMAND --help' lists the flags of a command, with units and defaults.\n"
      "Exit codes: 0 success, 1 runtime failure, 2 bad usage or a pipeline that does not plan.");

  CLI::App* run = app.add_subcommand(
      "run", "Serve a pipeline: Kinesis API, NDJSON ingest, tables, /metrics and /queries on one HTTP port");
  AddRunFlags(run, &cl);

  CLI::App* demo = app.add_subcommand(
      "demo", "Run the Wild Rydes pipeline with a simulated unicorn fleet, printing each per-minute row");
  AddDemoFlags(demo, &cl);

  CLI::App* savepoint =
      app.add_subcommand("savepoint", "Ask a running server for a savepoint (docs/checkpoints.md)");
  savepoint->add_option("NAME", cl.savepoint_name, "The savepoint's name (letters, digits, '.', '_', '-')")
      ->required();
  AddFlag(savepoint, "--listen", "HOST:PORT",
          "Address of the running server (HOST:PORT, :PORT or PORT). Default: " +
              ListenText(cl.server.host, cl.server.port),
          Listen(&cl.server.host, &cl.server.port));

  CLI::App* explain =
      app.add_subcommand("explain", "Plan a pipeline and print its sources, scans and operators (docs/sql.md)");
  explain->add_option("PIPELINE.sql", cl.pipeline_path, "The pipeline file")->type_name("FILE")->required();

  CLI::App* test = app.add_subcommand("test", "Run golden SQL test files (docs/golden-tests.md)");
  test->add_flag("--print", cl.test_print, "Also print each file's actual results in the file's `expect` syntax");
  test->add_option("PATH", cl.test_paths, "Test files, and folders whose *.sql.test files run (sorted)")
      ->type_name("FILE.sql.test|DIR")
      ->required();

  CLI::App* version = app.add_subcommand("version", "Print the version");

  if (argc < 2) {
    std::fputs(app.help().c_str(), stderr);
    return 2;
  }
  // `sluice help [CMD]` is `sluice [CMD] --help`.
  std::vector<const char*> args(argv, argv + argc);
  if (std::string(args[1]) == "help") {
    args.erase(args.begin() + 1);
    args.push_back("--help");
  }
  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    if (app.get_subcommands().empty() && args[1][0] != '-') {
      std::fprintf(stderr, "sluice: unknown command '%s'\nRun 'sluice --help' for the commands.\n", args[1]);
      return 2;
    }
    // Help and --version exit 0; every usage error (its message printed by FailureMessage) exits 2.
    return app.exit(e) == static_cast<int>(CLI::ExitCodes::Success) ? 0 : 2;
  }

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  if (version->parsed()) {
    std::printf("%s\n", kVersion);
    return 0;
  }
  if (test->parsed()) {
    std::vector<std::string> golden_args;
    if (cl.test_print) golden_args.push_back("--print");
    golden_args.insert(golden_args.end(), cl.test_paths.begin(), cl.test_paths.end());
    return sluice::app::RunGoldenMain(golden_args);
  }
  if (explain->parsed()) return Explain(cl.pipeline_path);
  if (savepoint->parsed()) return Savepoint(cl);
  if (demo->parsed() || run->parsed()) sluice::ConfigureLogging(cl.log_format, cl.log_level);
  if (demo->parsed()) return sluice::app::RunDemo(cl.demo, g_stop);
  if (run->parsed()) return RunServer(cl);
  return 2;  // Not reached: require_subcommand(1).
}
