#include "bench/wildrydes/wildrydes_bench.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "app/server.h"
#include "bench/bench_http.h"
#include "bench/engine_run.h"
#include "bench/proc_stats.h"
#include "core/base64.h"
#include "examples/wildrydes/producer.h"
#include "ingest/json_decoder.h"
#include "ingest/log/hash_key.h"
#include "sql/planner.h"
#include "wildrydes_pipeline.h"

namespace sluice::bench {
namespace {

using app::RowListener;
using app::Server;
using app::ServerOptions;

using SteadyClock = std::chrono::steady_clock;

struct Options {
  double duration_s = 20;
  double rate = 0;  // 0: 70% of the measured peak
  int connections = 4;
  int unicorns = 1000;
  double warmup_s = 2;
  bool full_windows = false;
  int workers = 0;  // engine workers (0: one per core)
  bool in_process = false;
  int64_t events = 4'000'000;  // --in-process: statuses generated
};

std::string Replace(std::string s, const std::string& from, const std::string& to, bool* found) {
  auto p = s.find(from);
  if (p == std::string::npos) {
    *found = false;
    return s;
  }
  return s.replace(p, from.size(), to);
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sluice-bench-wr-XXXXXX";
    if (mkdtemp(tmpl)) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// Builds a PutRecords body of `n` statuses, status i at `time_ms(i)`.
template <typename TimeFn>
std::string MakeBody(const std::vector<std::string>& names, uint64_t first, int n, TimeFn time_ms) {
  std::string body = "{\"StreamName\":\"unicorn_telemetry\",\"Records\":[";
  wildrydes::UnicornStatus s;
  for (int k = 0; k < n; ++k) {
    const uint64_t i = first + static_cast<uint64_t>(k);
    s.name = names[i % names.size()];
    s.status_time_ms = time_ms(i);
    s.latitude = 40.7 + static_cast<double>(i % 1000) * 1e-5;
    s.longitude = -73.9 - static_cast<double>(i % 777) * 1e-5;
    s.distance = static_cast<double>(i % 200) / 10.0;
    s.magic_points = static_cast<int>(1 + i % 200);
    s.health_points = static_cast<int>(1 + (i * 7) % 200);
    if (k) body += ',';
    body += "{\"PartitionKey\":";
    AppendJsonString(s.name, &body);
    body += ",\"Data\":\"";
    Base64Encode(s.ToJson(), &body);
    body += "\"}";
  }
  return body + "]}";
}

struct Phase {
  TempDir dir;
  std::unique_ptr<Server> server;
  std::string base;
};

Status StartServer(const std::string& pipeline, int workers, RowListener listener, Phase* p) {
  if (p->dir.path.empty()) return Status::IOError("mkdtemp failed");
  ServerOptions so;
  so.pipeline_text = pipeline;
  so.pipeline_name = "wildrydes-bench.sql";
  so.data_dir = p->dir.path + "/data";
  so.host = "127.0.0.1";
  so.port = 0;
  so.row_listener = std::move(listener);
  so.workers = workers;
  SLUICE_ASSIGN_OR_RETURN(p->server, Server::Start(so));
  p->base = "http://127.0.0.1:" + std::to_string(p->server->port());
  return Status::OK();
}

int64_t RecordsIn(Server& s) {
  int64_t n = 0;
  for (const auto& q : s.QueryStatuses()) n += static_cast<int64_t>(q.records_in);
  return n;
}

Status WaitConsumed(Server& s, int64_t expected) {
  int64_t last = -1;
  auto progress = SteadyClock::now();
  while (RecordsIn(s) < expected) {
    int64_t now = RecordsIn(s);
    if (now != last) {
      last = now;
      progress = SteadyClock::now();
    } else if (SteadyClock::now() - progress > std::chrono::seconds(60)) {
      return Status::Internal("queries stopped at " + std::to_string(now) + " of " + std::to_string(expected));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return Status::OK();
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string Fixed(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}


// ---- --in-process: the pipeline on runtime::Engine, statuses generated inside its shards ----

// Shard k of S makes the statuses of the unicorns whose name (the partition key, as the
// workshop's producer sends it) hashes into the shard's hash-key range, as the log would route
// them: one status per unicorn per simulated second, in time order, as workshop JSON
// (UnicornStatus::ToJson()); values from a per-record splitmix64, so runs repeat. A record's
// view is valid until the next Read(), as promised.
class StatusSplit : public SourceSplit {
 public:
  StatusSplit(int k, HashKeyRange range, std::vector<std::string> names, int64_t quota,
              std::atomic<int64_t>* handed_out, std::atomic<int>* done)
      : id_("shardId-" + std::to_string(100000000000 + k).substr(1)), range_(range), quota_(quota),
        handed_out_(handed_out), done_(done), names_(std::move(names)) {}
  const std::string& id() const override { return id_; }
  std::optional<HashKeyRange> hash_key_range() const override { return range_; }
  Status Seek(uint64_t position) override {
    made_ = static_cast<int64_t>(position) - 1;  // statuses are a function of their number
    return Status::OK();
  }
  Status Read(size_t max_records, std::vector<SourceRecord>* out) override {
    out->clear();
    json_.clear();
    ends_.clear();
    while (out->size() < max_records && made_ < quota_ && !names_.empty()) {
      const int64_t n = made_++;
      uint64_t z = static_cast<uint64_t>(n) * 0x9E3779B97F4A7C15ULL + 0x6A09E667F3BCC908ULL;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      z ^= z >> 31;
      wildrydes::UnicornStatus st;
      st.name = names_[static_cast<size_t>(n) % names_.size()];
      st.status_time_ms = kStartMs + n / static_cast<int64_t>(names_.size()) * 1000;
      st.latitude = 40.0 + static_cast<double>(z & 0xFFFF) / 65536.0;
      st.longitude = -74.0 + static_cast<double>((z >> 16) & 0xFFFF) / 65536.0;
      st.distance = static_cast<double>((z >> 32) & 0x3FF) / 10.0;
      st.magic_points = static_cast<int>((z >> 42) % 150) + 1;
      st.health_points = static_cast<int>((z >> 50) % 150) + 1;
      json_ += st.ToJson();
      ends_.push_back(json_.size());
      SourceRecord r;
      r.position = static_cast<uint64_t>(n) + 1;
      r.key = names_[static_cast<size_t>(n) % names_.size()];
      out->push_back(r);
    }
    size_t begin = 0;
    for (size_t i = 0; i < out->size(); ++i) {  // views into json_, now that it no longer grows
      (*out)[i].data = std::string_view(json_).substr(begin, ends_[i] - begin);
      begin = ends_[i];
    }
    handed_out_->fetch_add(static_cast<int64_t>(out->size()));
    if ((made_ >= quota_ || names_.empty()) && !counted_) {
      counted_ = true;
      done_->fetch_add(1);
    }
    return Status::OK();
  }
  bool finished() const override { return made_ >= quota_ || names_.empty(); }

 private:
  static constexpr int64_t kStartMs = 1767225600000;  // 2026-01-01T00:00:00Z
  const std::string id_;
  const HashKeyRange range_;
  const int64_t quota_;
  std::atomic<int64_t>* handed_out_;
  std::atomic<int>* done_;
  std::vector<std::string> names_;
  std::string json_;
  std::vector<size_t> ends_;
  int64_t made_ = 0;
  bool counted_ = false;
};

class StatusSource : public FiniteSource {
 public:
  StatusSource(int shards, int unicorns, int64_t events) : shards_(shards), unicorns_(unicorns), events_(events) {}
  std::vector<std::unique_ptr<SourceSplit>> OpenSplits() override {
    // Each unicorn to the shard whose range holds the MD5 of its name; the events shared among
    // the shards in proportion to their unicorns, so every unicorn reports equally often.
    const std::vector<log::HashKeyRange> ranges = log::EvenHashKeyRanges(shards_);
    std::vector<std::vector<std::string>> names(static_cast<size_t>(shards_));
    for (int j = 0; j < unicorns_; ++j) {
      std::string name = wildrydes::Fleet::NameOf(j);
      names[static_cast<size_t>(log::ShardForHashKey(ranges, HashPartitionKey(name)))].push_back(std::move(name));
    }
    int last = 0;  // the last shard with unicorns takes the rounding remainder
    for (int k = 0; k < shards_; ++k) {
      if (!names[static_cast<size_t>(k)].empty()) last = k;
    }
    std::vector<std::unique_ptr<SourceSplit>> out;
    int64_t given = 0;
    for (int k = 0; k < shards_; ++k) {
      const size_t n = names[static_cast<size_t>(k)].size();
      int64_t quota = events_ * static_cast<int64_t>(n) / std::max(unicorns_, 1);
      if (k == last) quota = events_ - given;
      given += quota;
      out.push_back(std::make_unique<StatusSplit>(k, ranges[static_cast<size_t>(k)], std::move(names[static_cast<size_t>(k)]),
                                                  quota, &handed_out_, &done_));
    }
    return out;
  }
  uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds timeout) override {
    if (done_.load() == shards_) std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(5)));
    return seen + 1;
  }
  int64_t total() const override { return done_.load() == shards_ ? handed_out_.load() : -1; }

 private:
  const int shards_, unicorns_;
  const int64_t events_;
  std::atomic<int64_t> handed_out_{0};
  std::atomic<int> done_{0};
};

// Both Wild Rydes queries over o.events generated statuses, on the engine with o.workers.
int RunInProcessBench(const Options& o) {
  auto planned = sql::PlanPipeline(wildrydes::kPipelineSql);
  if (!planned.ok()) {
    std::fprintf(stderr, "sluice-bench wildrydes: %s\n", planned.status().ToString().c_str());
    return 1;
  }
  const Pipeline& p = *planned;
  const int workers = o.workers > 0 ? o.workers : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const double cpu0 = SelfCpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  EngineRunOptions eo;
  eo.workers = workers;
  auto r = RunOnEngine(
      p, eo,
      [&](const SourceDef& def) -> std::unique_ptr<FiniteSource> {
        return std::make_unique<StatusSource>(def.shards, o.unicorns, o.events);
      },
      [&](const SourceDef& def, const std::vector<bool>& needed) -> std::unique_ptr<RowDecoder> {
        auto d = std::make_unique<ingest::JsonDecoder>(def.schema, def.event_time_column);
        d->SetNeededColumns(needed);
        return d;
      });
  if (!r.ok()) {
    std::fprintf(stderr, "sluice-bench wildrydes: %s\n", r.status().ToString().c_str());
    return 1;
  }
  const double whole_cpu = SelfCpuSeconds() - cpu0;
  const double whole_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double per_s = static_cast<double>(r->records) / r->wall_s;
  const double per_cpu = static_cast<double>(r->records) / whole_cpu;
  std::printf("wildrydes in-process, %d workers: %lld statuses (%d unicorns, %zu shards) in %.3f s -> %.0f records/s; "
              "%.3f CPU-s -> %.0f records/CPU-s (generating and JSON included); %lld rows out, %lld late, %lld bad; "
              "%lld rows exchanged between workers; peak RSS %.1f MiB\n",
              workers, static_cast<long long>(r->records), o.unicorns, static_cast<size_t>(p.sources[0].shards), r->wall_s,
              per_s, whole_cpu, per_cpu, static_cast<long long>(r->output_rows), static_cast<long long>(r->late_rows),
              static_cast<long long>(r->bad_records), static_cast<long long>(r->rows_exchanged),
              static_cast<double>(SelfPeakRssKib()) / 1024.0);
  std::printf("{\"bench\":\"wildrydes\",\"phase\":\"in-process\",\"workers\":%d,\"records\":%lld,\"wall_s\":%.4f,"
              "\"records_per_s\":%.0f,\"cpu_s\":%.4f,\"records_per_cpu_s\":%.0f,\"whole_wall_s\":%.4f,"
              "\"output_rows\":%lld,\"late_rows\":%lld,\"bad_records\":%lld,\"rows_exchanged\":%lld,\"unicorns\":%d,"
              "\"peak_rss_mib\":%.1f}\n",
              workers, static_cast<long long>(r->records), r->wall_s, per_s, whole_cpu, per_cpu, whole_wall,
              static_cast<long long>(r->output_rows), static_cast<long long>(r->late_rows),
              static_cast<long long>(r->bad_records), static_cast<long long>(r->rows_exchanged), o.unicorns, static_cast<double>(SelfPeakRssKib()) / 1024.0);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int RunWildRydesBenchMain(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--full-windows") {
      o.full_windows = true;
      continue;
    }
    if (a == "--in-process") {
      o.in_process = true;
      continue;
    }
    if (i + 1 >= args.size()) {
      std::fprintf(stderr, "sluice-bench wildrydes: %s needs a value\n", a.c_str());
      return 2;
    }
    char* end = nullptr;
    const std::string& v = args[++i];
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || d < 0) {
      std::fprintf(stderr, "sluice-bench wildrydes: %s expects a non-negative number, got '%s'\n", a.c_str(), v.c_str());
      return 2;
    }
    if (a == "--duration" && d > 0) o.duration_s = d;
    else if (a == "--rate") o.rate = d;
    else if (a == "--connections" && d >= 1) o.connections = static_cast<int>(d);
    else if (a == "--unicorns" && d >= 1) o.unicorns = static_cast<int>(d);
    else if (a == "--warmup") o.warmup_s = d;
    else if (a == "--workers" && d >= 1) o.workers = static_cast<int>(d);
    else if (a == "--events" && d >= 1) o.events = static_cast<int64_t>(d);
    else {
      std::fprintf(stderr, "sluice-bench wildrydes: unknown option or bad value: %s %s\n", a.c_str(), v.c_str());
      return 2;
    }
  }
  if (o.in_process) return RunInProcessBench(o);
  InitBenchHttp();
  std::string pipeline = wildrydes::kPipelineSql;
  Duration delay = std::chrono::seconds(5);
  int64_t window_ms = 60000;
  std::string variant = "as shipped: 1 minute windows, 5 s watermark delay";
  if (!o.full_windows) {
    bool found = true;
    pipeline = Replace(pipeline, "INTERVAL '1 minute'", "INTERVAL '200 milliseconds'", &found);
    pipeline = Replace(pipeline, "watermark_delay = '5 seconds'", "watermark_delay = '500 milliseconds'", &found);
    if (!found) {
      std::fprintf(stderr, "sluice-bench wildrydes: the shipped pipeline changed; cannot shorten its window "
                           "(use --full-windows)\n");
      return 1;
    }
    delay = std::chrono::milliseconds(500);
    window_ms = 200;
    variant = "200 ms windows, 500 ms watermark delay";
  }
  std::vector<std::string> names;
  for (int i = 0; i < o.unicorns; ++i) names.push_back(wildrydes::Fleet::NameOf(i));
  const int per_call = 500;

  // ---- phase 1: peak ----
  double peak = 0;
  {
    Phase p;
    Status st = StartServer(pipeline, o.workers, nullptr, &p);
    if (!st.ok()) {
      std::fprintf(stderr, "sluice-bench wildrydes: %s\n", st.ToString().c_str());
      return 1;
    }
    std::atomic<uint64_t> next{0};
    std::atomic<int64_t> acked{0};
    std::atomic<bool> failed{false};
    const double cpu0 = SelfCpuSeconds();
    const auto t0 = SteadyClock::now();
    const auto end = t0 + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(o.duration_s));
    std::vector<std::thread> threads;
    for (int c = 0; c < o.connections; ++c) {
      threads.emplace_back([&] {
        BenchHttp http(p.base);
        while (SteadyClock::now() < end && !failed) {
          const uint64_t first = next.fetch_add(per_call);
          const int64_t now_ms = WallNow().millis();
          std::string body = MakeBody(names, first, per_call, [&](uint64_t) { return now_ms; });
          auto r = http.PutRecords(body);
          if (!r.ok()) {
            std::fprintf(stderr, "sluice-bench wildrydes: %s\n", r.status().ToString().c_str());
            failed = true;
            return;
          }
          acked += per_call - *r;
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed) return 1;
    const auto sent = SteadyClock::now();
    const int64_t queries = static_cast<int64_t>(p.server->QueryStatuses().size());
    st = WaitConsumed(*p.server, acked * queries);
    if (!st.ok()) {
      std::fprintf(stderr, "sluice-bench wildrydes: %s\n", st.ToString().c_str());
      return 1;
    }
    const double wall = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    const double cpu = SelfCpuSeconds() - cpu0;
    peak = static_cast<double>(acked) / wall;
    const double ingest = static_cast<double>(acked) / std::chrono::duration<double>(sent - t0).count();
    const std::string load = LoadAverage();
    std::printf("wildrydes peak: %lld records in %.2f s -> %.0f records/s consumed by both queries (%.0f/s acknowledged); "
                "process CPU %.2f s (server and client); %s; load %s\n",
                static_cast<long long>(acked.load()), wall, peak, ingest, cpu, variant.c_str(), load.c_str());
    std::printf("{\"bench\":\"wildrydes\",\"phase\":\"peak\",\"records\":%lld,\"wall_s\":%.3f,\"records_per_s\":%.0f,"
                "\"ack_records_per_s\":%.0f,\"cpu_s\":%.3f,\"connections\":%d,\"unicorns\":%d,\"workers\":%d,"
                "\"variant\":\"%s\",\"load\":\"%s\"}\n",
                static_cast<long long>(acked.load()), wall, peak, ingest, cpu, o.connections, o.unicorns, o.workers,
                variant.c_str(), load.c_str());
    std::fflush(stdout);
    p.server->Stop();
  }

  // ---- phase 2: latency at a fixed rate, open loop ----
  const double rate = o.rate > 0 ? o.rate : 0.7 * peak;
  if (rate < 1) {
    std::fprintf(stderr, "sluice-bench wildrydes: rate too low\n");
    return 1;
  }
  std::mutex mu;
  std::vector<double> latencies_ms;                       // per window row
  std::map<std::pair<int64_t, std::string>, EventTime> readable;  // (window_end ms, name) -> when
  std::set<int64_t> windows;
  int64_t rows_seen = 0;
  const int64_t wall0_ms = WallNow().millis() + 200;  // event time of record 0 (just after the server is up)
  const int64_t count_from_ms = wall0_ms + static_cast<int64_t>(o.warmup_s * 1000);
  // Windows that end later than this may not close before the schedule ends (no later event).
  const int64_t count_to_ms = wall0_ms + static_cast<int64_t>(o.duration_s * 1000) -
                              std::chrono::duration_cast<std::chrono::milliseconds>(delay).count() - 250;
  RowListener listener = [&](const SinkDef& sink, const std::vector<Row>& rows) {
    const int we = sink.schema.IndexOf("window_end");
    const int name_col = sink.schema.IndexOf("name");
    if (we < 0) return;
    const EventTime now = WallNow();
    std::lock_guard lock(mu);
    for (const Row& r : rows) {
      const Value& v = r[static_cast<size_t>(we)];
      if (v.type() != DataType::kTimestamp) continue;
      ++rows_seen;
      const int64_t end_ms = v.as_time().millis();
      if (end_ms < count_from_ms || end_ms > count_to_ms) continue;
      windows.insert(end_ms);
      if (name_col >= 0 && r[static_cast<size_t>(name_col)].type() == DataType::kText)
        readable.emplace(std::make_pair(end_ms, r[static_cast<size_t>(name_col)].as_text()), now);
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - v.as_time() - delay).count());
    }
  };
  Phase p;
  Status st = StartServer(pipeline, o.workers, listener, &p);
  if (!st.ok()) {
    std::fprintf(stderr, "sluice-bench wildrydes: %s\n", st.ToString().c_str());
    return 1;
  }
  // Map the wall-clock event time of record 0 onto the steady clock.
  const auto t0 = SteadyClock::now() + std::chrono::milliseconds(wall0_ms - WallNow().millis());
  const uint64_t total = static_cast<uint64_t>(rate * o.duration_s);
  const uint64_t calls = (total + per_call - 1) / per_call;
  std::atomic<bool> failed{false};
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> behind_ms_max{0};
  const double cpu0 = SelfCpuSeconds();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      BenchHttp http(p.base);
      for (uint64_t k = static_cast<uint64_t>(c); k < calls && !failed; k += static_cast<uint64_t>(o.connections)) {
        const uint64_t first = k * per_call;
        const int n = static_cast<int>(std::min<uint64_t>(per_call, total - first));
        const double last_s = static_cast<double>(first + static_cast<uint64_t>(n) - 1) / rate;
        const auto when = t0 + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(last_s));
        std::this_thread::sleep_until(when);
        const int64_t behind = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - when).count();
        int64_t prev = behind_ms_max.load();
        while (behind > prev && !behind_ms_max.compare_exchange_weak(prev, behind)) {}
        std::string body = MakeBody(names, first, n, [&](uint64_t i) {
          return wall0_ms + static_cast<int64_t>(static_cast<double>(i) * 1000.0 / rate);
        });
        auto r = http.PutRecords(body);
        if (!r.ok()) {
          std::fprintf(stderr, "sluice-bench wildrydes: %s\n", r.status().ToString().c_str());
          failed = true;
          return;
        }
        acked += n - *r;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed) return 1;
  const int64_t queries = static_cast<int64_t>(p.server->QueryStatuses().size());
  st = WaitConsumed(*p.server, acked * queries);
  // Give the last counted windows time to be written (they close as the schedule's tail arrives).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double cpu = SelfCpuSeconds() - cpu0;
  p.server->Stop();
  if (!st.ok()) {
    std::fprintf(stderr, "sluice-bench wildrydes: %s\n", st.ToString().c_str());
    return 1;
  }
  std::vector<double> lat;
  int64_t rows = 0;
  size_t nwindows = 0;
  {
    std::lock_guard lock(mu);
    lat = latencies_ms;
    rows = rows_seen;
    nwindows = windows.size();
  }
  // Per event (what the issue asks for): from the event's scheduled send time (= its event time)
  // to its window's row being readable, minus the watermark delay.
  std::vector<double> ev;
  int64_t missing = 0;
  {
    std::lock_guard lock(mu);
    const int64_t delay_us = delay.count();
    for (uint64_t i = 0; i < total; ++i) {
      const int64_t t_ms = wall0_ms + static_cast<int64_t>(static_cast<double>(i) * 1000.0 / rate);
      const int64_t end_ms = t_ms / window_ms * window_ms + window_ms;
      if (end_ms < count_from_ms || end_ms > count_to_ms) continue;
      auto it = readable.find({end_ms, names[i % names.size()]});
      if (it == readable.end()) {
        ++missing;
        continue;
      }
      ev.push_back(static_cast<double>(it->second.micros - t_ms * 1000 - delay_us) / 1000.0);
    }
  }
  const double p50 = Percentile(ev, 0.5), p99 = Percentile(ev, 0.99), p999 = Percentile(ev, 0.999);
  const double mx = ev.empty() ? 0 : *std::max_element(ev.begin(), ev.end());
  const double w50 = Percentile(lat, 0.5), w99 = Percentile(lat, 0.99);
  const double wmx = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
  const std::string load = LoadAverage();
  std::printf("wildrydes latency at %.0f records/s (%.0f%% of peak) for %.1f s: per event (scheduled send -> its window's "
              "row readable, minus the watermark delay; %zu events) p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms; "
              "per window row (readable - window_end - delay; %zu rows of %zu windows, %lld written) p50 %.1f ms, p99 %.1f ms, "
              "max %.1f ms; %lld events without a row; sender at most %lld ms behind schedule; process CPU %.2f s; %s; load %s\n",
              rate, peak > 0 ? 100.0 * rate / peak : 0, o.duration_s, ev.size(), p50, p99, p999, mx, lat.size(), nwindows,
              static_cast<long long>(rows), w50, w99, wmx, static_cast<long long>(missing),
              static_cast<long long>(behind_ms_max.load()), cpu, variant.c_str(), load.c_str());
  std::printf("{\"bench\":\"wildrydes\",\"phase\":\"latency\",\"rate\":%.0f,\"peak\":%.0f,\"records\":%lld,"
              "\"samples\":%zu,\"windows\":%zu,\"rows\":%lld,\"p50_ms\":%s,\"p99_ms\":%s,\"p999_ms\":%s,\"max_ms\":%s,"
              "\"window_rows\":%zu,\"window_p50_ms\":%s,\"window_p99_ms\":%s,\"window_max_ms\":%s,\"missing\":%lld,"
              "\"window_ms\":%lld,\"sender_behind_ms_max\":%lld,\"cpu_s\":%.3f,\"variant\":\"%s\",\"load\":\"%s\"}\n",
              rate, peak, static_cast<long long>(acked.load()), ev.size(), nwindows, static_cast<long long>(rows),
              Fixed(p50, 1).c_str(), Fixed(p99, 1).c_str(), Fixed(p999, 1).c_str(), Fixed(mx, 1).c_str(), lat.size(),
              Fixed(w50, 1).c_str(), Fixed(w99, 1).c_str(), Fixed(wmx, 1).c_str(), static_cast<long long>(missing),
              static_cast<long long>(window_ms), static_cast<long long>(behind_ms_max.load()), cpu, variant.c_str(), load.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace sluice::bench
