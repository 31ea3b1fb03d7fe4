// The `sluice` binary.
//   sluice run PIPELINE.sql [--data-dir DIR] [--listen HOST:PORT] [--http-threads N]
//              [--shard-records-per-second N] [--shard-bytes-per-second SIZE]
//              [--memory-budget SIZE] [--disk-min-free SIZE] [--flush-interval INTERVAL]
//   sluice demo [--unicorns N] [--speedup X] [--out-of-order F] [--late F] [--bad F] [--duration SECONDS]
//               [--data-dir DIR] [--listen HOST:PORT] [--linger]
//              [--checkpoint-interval INTERVAL] [--state-cache-groups N] [--from-savepoint NAME] [--tls-cert PEM --tls-key PEM]
//   sluice savepoint NAME [--listen HOST:PORT]   (asks a running server; docs/checkpoints.md)
//   sluice explain PIPELINE.sql
//   sluice test [--print] FILE.sql.test|DIR...   (golden SQL tests, docs/golden-tests.md)
//   sluice version
// Exit codes: 0 success, 1 runtime failure, 2 bad usage or a pipeline that does not plan.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/demo.h"
#include "core/file_util.h"
#include "app/explain.h"
#include "app/golden_test_runner.h"
#include "app/server.h"
#include "sql/planner.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

void Usage(std::FILE* f) {
  std::fprintf(f,
               "usage:\n"
               "  sluice run PIPELINE.sql [--data-dir DIR] [--listen HOST:PORT] [--http-threads N]\n"
               "             [--shard-records-per-second N] [--shard-bytes-per-second SIZE]\n"
               "             [--memory-budget SIZE (default 256MiB)] [--disk-min-free SIZE (default 256MiB)]\n"
               "  sluice demo [--unicorns N] [--speedup X] [--out-of-order F] [--late F] [--bad F] [--duration SECONDS]\n"
               "              [--data-dir DIR] [--listen HOST:PORT] [--linger]\n"
               "             [--checkpoint-interval INTERVAL (default 10s)] [--from-savepoint NAME]\n"
               "             [--max-record-bytes SIZE (1MiB)] [--max-request-bytes SIZE (5MiB)] [--max-records-per-request N (500)]\n"
               "             [--flush-interval INTERVAL (default 0: ack after fsync; >0 trades durability for latency)]\n"
               "             [--state-cache-groups N (window groups or sessions kept in memory per query, default 1000000; 0 = all)]\n"
               "             [--state-ingest-size SIZE (checkpoints this large are ingested as SST files, default 8MiB)]\n"
               "             [--tls-cert PEM --tls-key PEM]   (TLS with ALPN: h2 and http/1.1)\n"
               "  sluice savepoint NAME [--listen HOST:PORT]\n"
               "  sluice explain PIPELINE.sql\n"
               "  sluice test [--print] FILE.sql.test|DIR...\n"
               "  sluice version\n");
}


// Strict number parsing for flags: the whole text must be a number.
bool ParseDouble(const std::string& s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    Usage(stdout);
    return 0;
  }
  if (cmd == "version" || cmd == "--version") {
    std::printf("sluice 0.1.0\n");
    return 0;
  }
  if (cmd == "test") return sluice::app::RunGoldenMain(std::vector<std::string>(argv + 2, argv + argc));
  std::string positional;
  sluice::app::ServerOptions so;
  sluice::app::DemoOptions demo;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sluice: %s needs a value\n", a.c_str());
        return false;
      }
      *out = argv[++i];
      return true;
    };
    std::string v;
    double d = 0;
    if (a == "--data-dir") {
      if (!value(&v)) return 2;
      so.data_dir = demo.data_dir = v;
    } else if (a == "--listen") {
      if (!value(&v)) return 2;
      auto st = sluice::app::ParseListen(v, &so.host, &so.port);
      if (!st.ok()) {
        std::fprintf(stderr, "sluice: %s\n", st.message().c_str());
        return 2;
      }
      demo.host = so.host;
      demo.port = so.port;
    } else if (a == "--http-threads" || a == "--unicorns" || a == "--speedup" || a == "--out-of-order" ||
               a == "--late" || a == "--bad" || a == "--duration" || a == "--shard-records-per-second") {
      if (!value(&v)) return 2;
      if (!ParseDouble(v, &d) || d < 0) {
        std::fprintf(stderr, "sluice: %s expects a non-negative number, got '%s'\n", a.c_str(), v.c_str());
        return 2;
      }
      if (a == "--http-threads") so.http_threads = std::max(1, static_cast<int>(d));
      if (a == "--unicorns") demo.fleet.unicorns = std::max(1, static_cast<int>(d));
      if (a == "--speedup") demo.fleet.speedup = d > 0 ? d : 1;
      if (a == "--out-of-order") demo.fleet.out_of_order = std::min(d, 1.0);
      if (a == "--late") demo.fleet.late = std::min(d, 1.0);
      if (a == "--bad") demo.fleet.bad = std::min(d, 1.0);
      if (a == "--duration") demo.duration_s = d;
      if (a == "--shard-records-per-second") so.shard_records_per_second = static_cast<uint64_t>(d);
    } else if (a == "--max-records-per-request") {
      if (!value(&v)) return 2;
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1 || n > 100000) {
        std::fprintf(stderr, "sluice: --max-records-per-request expects 1..100000 (AWS: 500), got '%s'\n", v.c_str());
        return 2;
      }
      so.kinesis_limits.max_records_per_request = static_cast<size_t>(n);
    } else if (a == "--max-record-bytes" || a == "--max-request-bytes") {
      if (!value(&v)) return 2;
      auto bytes = sluice::app::ParseByteSize(v);
      if (!bytes.ok() || *bytes < 1 || *bytes > (1ull << 30)) {
        std::fprintf(stderr, "sluice: %s expects a size from 1 byte to 1GiB such as '1MiB', got '%s'\n", a.c_str(), v.c_str());
        return 2;
      }
      if (a == "--max-record-bytes") so.kinesis_limits.max_record_bytes = *bytes;
      else so.kinesis_limits.max_request_data_bytes = *bytes;
    } else if (a == "--shard-bytes-per-second" || a == "--memory-budget" || a == "--disk-min-free" ||
               a == "--state-ingest-size") {
      if (!value(&v)) return 2;
      auto bytes = sluice::app::ParseByteSize(v);
      if (!bytes.ok()) {
        std::fprintf(stderr, "sluice: %s: %s\n", a.c_str(), bytes.status().message().c_str());
        return 2;
      }
      if (a == "--shard-bytes-per-second") so.shard_bytes_per_second = *bytes;
      if (a == "--memory-budget") so.max_pending_bytes = *bytes;
      if (a == "--disk-min-free") so.min_free_disk_bytes = *bytes;
      if (a == "--state-ingest-size") so.state_ingest_bytes = *bytes;
    } else if (a == "--checkpoint-interval") {
      if (!value(&v)) return 2;
      auto iv = sluice::ParseInterval(v);
      if (!iv.ok() || iv->count() < 1000) {
        std::fprintf(stderr, "sluice: --checkpoint-interval expects an interval of at least 1 ms such as '10 seconds', got '%s'\n",
                     v.c_str());
        return 2;
      }
      so.checkpoint_interval = std::chrono::milliseconds(iv->count() / 1000);
    } else if (a == "--flush-interval") {
      if (!value(&v)) return 2;
      auto iv = sluice::ParseInterval(v);
      if (!iv.ok() || iv->count() < 0) {
        std::fprintf(stderr, "sluice: --flush-interval expects an interval such as '200ms' ('0s' = ack after fsync, the default), got '%s'\n",
                     v.c_str());
        return 2;
      }
      so.flush_interval = std::chrono::milliseconds(iv->count() / 1000);
    } else if (a == "--state-cache-groups") {
      if (!value(&v)) return 2;
      char* end = nullptr;
      errno = 0;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || v[0] == '-' || *end != '\0' || errno == ERANGE) {
        std::fprintf(stderr, "sluice: --state-cache-groups expects a whole number of groups (0 = unbounded), got '%s'\n",
                     v.c_str());
        return 2;
      }
      so.state_cache_groups = static_cast<size_t>(n);
    } else if (a == "--tls-cert") {
      if (!value(&v)) return 2;
      so.tls_cert_file = v;
    } else if (a == "--tls-key") {
      if (!value(&v)) return 2;
      so.tls_key_file = v;
    } else if (a == "--from-savepoint") {
      if (!value(&v)) return 2;
      so.from_savepoint = v;
    } else if (a == "--linger") {
      demo.linger = true;
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "sluice: unknown option %s\n", a.c_str());
      Usage(stderr);
      return 2;
    } else if (positional.empty()) {
      positional = a;
    } else {
      std::fprintf(stderr, "sluice: unexpected argument %s\n", a.c_str());
      return 2;
    }
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);

  if (cmd == "demo") return sluice::app::RunDemo(demo, g_stop);
  if (cmd == "savepoint") {
    if (positional.empty()) {
      std::fprintf(stderr, "sluice savepoint: which name?\n");
      return 2;
    }
    auto r = sluice::app::RequestSavepoint(so.host, so.port, positional);
    if (!r.ok()) {
      std::fprintf(stderr, "sluice: %s\n", r.status().ToString().c_str());
      return 1;
    }
    std::printf("%s\n", r->c_str());
    return 0;
  }

  if (cmd == "run" || cmd == "explain") {
    if (positional.empty()) {
      std::fprintf(stderr, "sluice %s: which pipeline file?\n", cmd.c_str());
      Usage(stderr);
      return 2;
    }
    auto read = sluice::ReadFileToString(positional);
    if (!read.ok()) {
      std::fprintf(stderr, "sluice: %s\n", read.status().message().c_str());
      return 2;
    }
    std::string text = std::move(*read);
    if (cmd == "explain") {
      auto p = sluice::sql::PlanPipeline(text);
      if (!p.ok()) {
        std::fprintf(stderr, "%s:%s\n", positional.c_str(), p.status().message().c_str());
        return 2;
      }
      std::fputs(sluice::app::ExplainPipeline(*p).c_str(), stdout);
      return 0;
    }
    so.pipeline_text = std::move(text);
    so.pipeline_name = positional;
    auto server = sluice::app::Server::Start(so);
    if (!server.ok()) {
      std::fprintf(stderr, "sluice: %s\n", server.status().ToString().c_str());
      return server.status().code() == sluice::StatusCode::kInvalidArgument ? 2 : 1;
    }
    std::printf("sluice: serving %s on %s://%s:%u (data in %s)\n", positional.c_str(),
                so.tls_cert_file.empty() ? "http" : "https", so.host.c_str(),
                static_cast<unsigned>((*server)->port()), so.data_dir.c_str());
    std::fflush(stdout);
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::printf("sluice: stopping\n");
    (*server)->Stop();
    return 0;
  }
  std::fprintf(stderr, "sluice: unknown command %s\n", cmd.c_str());
  Usage(stderr);
  return 2;
}
