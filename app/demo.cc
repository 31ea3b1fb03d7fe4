#include "app/demo.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "app/server.h"
#include "core/logging.h"
#include "examples/wildrydes/producer.h"
#include "wildrydes_pipeline.h"

namespace sluice::app {
namespace {

// The sum of every series of counter family `name` (0 when there is none).
uint64_t CounterSum(const MetricsRegistry& metrics, const std::string& name) {
  uint64_t sum = 0;
  metrics.ForEach([&](const std::string& family, const std::string&, MetricsRegistry::Type type,
                      const std::vector<MetricsRegistry::Series>& series) {
    if (family != name || type != MetricsRegistry::Type::kCounter) return;
    for (const auto& s : series) sum += s.counter != nullptr ? s.counter->value() : 0;
  });
  return sum;
}

std::string Short(const Value& v, DataType t) {
  if (v.is_null()) return "-";
  if (t == DataType::kTimestamp) return FormatTimestamp(v.as_time()).substr(11, 5);
  if (t == DataType::kFloat64) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v.as_float());
    return b;
  }
  return v.ToString();
}

}  // namespace

int RunDemo(const DemoOptions& o, const std::atomic<bool>& stop) {
  std::mutex print_mu;
  bool header_printed = false;
  uint64_t rows_seen = 0;
  ServerOptions so;
  so.pipeline_text = wildrydes::kPipelineSql;
  so.pipeline_name = "examples/wildrydes/pipeline.sql";
  so.data_dir = o.data_dir;
  so.host = o.host;
  so.port = o.port;
  so.workers = o.workers;
  so.row_listener = [&](const SinkDef& sink, const std::vector<Row>& rows) {
    std::lock_guard lock(print_mu);
    if (!header_printed) {
      header_printed = true;
      std::printf("\n");
      for (const auto& c : sink.schema.columns()) std::printf(" %11s", c.name.substr(0, 11).c_str());
      std::printf("\n");
    }
    for (const Row& r : rows) {

      for (size_t i = 0; i < r.size() && i < sink.schema.size(); ++i)
        std::printf(" %11s", Short(r[i], sink.schema[i].type).substr(0, 11).c_str());
      std::printf("\n");
    }
    rows_seen += rows.size();
    std::fflush(stdout);
  };
  auto server = Server::Start(so);
  if (!server.ok()) {
    SLUICE_LOG_ERROR("server did not start", {{"component", "demo"}, {"error", server.status().ToString()}});
    return 1;
  }
  const std::string base = "http://" + o.host + ":" + std::to_string((*server)->port());
  std::string archive = std::filesystem::absolute(o.data_dir + "/archive/unicorns").lexically_normal().string();
  std::printf(
      "Sluice Wild Rydes demo\n"
      "  pipeline:  examples/wildrydes/pipeline.sql (1-minute tumbling windows, 5 s watermark delay)\n"
      "  fleet:     %d unicorns, %.0fx simulated time (a minute closes every %.1f s), %.0f%% out of order\n"
      "  status:    %s/  (live page: streams, queries, tables, checkpoints)\n"
      "  Kinesis:   POST %s/  (PutRecords, stream unicorn_telemetry)\n"
      "  metrics:   %s/metrics  (Grafana dashboards: examples/grafana, docs/monitoring.md)\n"
      "  queries:   %s/queries   (watermarks, late counts)\n"
      "  table:     curl '%s/tables/unicorn_minutes?prefix=Shadowfax'\n"
      "  archive:   %s/year=*/month=*/day=*/hour=*/*.jsonl.gz  (zcat to read; files publish every 60 s)\n"
      "  rejects:   %s/dead-letter/unicorn_telemetry.jsonl  (malformed and late records, with the reason)\n"
      "Per-minute rows appear below as each window closes. Ctrl-C stops.\n",
      o.fleet.unicorns, o.fleet.speedup, 60.0 / o.fleet.speedup, o.fleet.out_of_order * 100, base.c_str(), base.c_str(), base.c_str(), base.c_str(),
      base.c_str(), archive.c_str(),
      std::filesystem::absolute(o.data_dir).lexically_normal().string().c_str());
  std::fflush(stdout);

  wildrydes::ProducerOptions po = o.fleet;
  po.endpoint = base + "/";
  std::atomic<bool> producer_stop{false};
  wildrydes::ProducerStats stats;
  Status producer_status;
  std::thread producer([&] { producer_status = wildrydes::RunProducer(po, producer_stop, &stats); });

  const auto start = std::chrono::steady_clock::now();
  auto deadline = o.duration_s > 0 ? start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                 std::chrono::duration<double>(o.duration_s))
                                    : std::chrono::steady_clock::time_point::max();
  auto last_report = start;
  while (!stop.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto now = std::chrono::steady_clock::now();
    if (now - last_report >= std::chrono::seconds(15)) {
      last_report = now;
      std::lock_guard lock(print_mu);
      double secs = std::chrono::duration<double>(now - start).count();
      std::printf("-- %.0f s: %llu records ingested (%.0f/s), %llu rows emitted\n", secs,
                  static_cast<unsigned long long>(stats.records_acked), stats.records_acked / secs,
                  static_cast<unsigned long long>(rows_seen));
      std::fflush(stdout);
    }
  }
  producer_stop.store(true);
  producer.join();
  if (o.linger) {
    std::printf("Producer stopped; server still up at %s until Ctrl-C.\n", base.c_str());
    std::fflush(stdout);
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Every ingested record is read and decoded once, however many queries read the stream
  // (runtime/source_scan.h): wait briefly for the queries to catch up, then show both counts.
  uint64_t ingested = 0, decoded = 0;
  for (int i = 0; i < 100; ++i) {
    ingested = CounterSum((*server)->metrics(), "sluice_records_ingested_total");
    decoded = CounterSum((*server)->metrics(), "sluice_source_records_decoded_total");
    if (decoded >= ingested) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  (*server)->Stop();
  std::printf("Records decoded: %llu, records ingested: %llu (each record is decoded once for all %zu queries).\n",
              static_cast<unsigned long long>(decoded), static_cast<unsigned long long>(ingested),
              (*server)->pipeline().queries.size());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\nDemo finished: %llu records ingested in %.1f s (%.0f records/s), %llu failed; %llu rows emitted.\n"
              "State is kept in %s; run again to continue, or delete it to start fresh.\n",
              static_cast<unsigned long long>(stats.records_acked), secs, stats.records_acked / secs,
              static_cast<unsigned long long>(stats.records_failed), static_cast<unsigned long long>(rows_seen),
              o.data_dir.c_str());
  DefaultLogger().FlushSuppressed();
  if (!producer_status.ok()) {
    SLUICE_LOG_ERROR("producer failed", {{"component", "demo"}, {"error", producer_status.ToString()}});
    return 1;
  }
  return 0;
}

}  // namespace sluice::app
