#include "bench/engine_run.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "bench/proc_stats.h"
#include "core/metrics.h"
#include "runtime/dead_letter.h"
#include "runtime/engine.h"
#include "runtime/rocks_state_store.h"

namespace sluice::bench {

namespace {

// Counts the rows a query emits (the engine serializes a query's Write calls).
class CountingSink : public Sink {
 public:
  Status Write(const std::vector<Row>& rows) override {
    rows_ += static_cast<int64_t>(rows.size());
    return Status::OK();
  }
  Status Tick(EventTime) override { return Status::OK(); }
  Status Close() override { return Status::OK(); }
  int64_t rows() const { return rows_; }

 private:
  int64_t rows_ = 0;
};

}  // namespace

Result<EngineRunResult> RunOnEngine(const Pipeline& pipeline, const EngineRunOptions& options,
                                    const std::function<std::unique_ptr<FiniteSource>(const SourceDef&)>& make_source,
                                    const std::function<std::unique_ptr<RowDecoder>(const SourceDef&, const std::vector<bool>&)>& make_decoder) {
  char tmpl[] = "/tmp/sluice-bench-engine-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Status::IOError("mkdtemp failed");
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{tmpl};
  SLUICE_ASSIGN_OR_RETURN(auto store, runtime::RocksStateStore::Open(cleanup.dir + "/kv"));
  MetricsRegistry metrics;
  runtime::DeadLetterQueue dlq(cleanup.dir + "/dlq", &metrics);
  std::map<std::string, FiniteSource*> sources;
  std::vector<std::unique_ptr<CountingSink>> sinks;
  runtime::EngineFactories f;
  f.source = [&](const SourceDef& def) -> Result<std::unique_ptr<Source>> {
    std::unique_ptr<FiniteSource> s = make_source(def);
    if (!s) return Status::InvalidArgument("no in-process source for " + def.name);
    sources[def.name] = s.get();
    return std::unique_ptr<Source>(std::move(s));
  };
  f.decoder = [&](const SourceDef& def, const std::vector<bool>& needed) { return make_decoder(def, needed); };
  f.sink = [&](int) -> Result<Sink*> {
    sinks.push_back(std::make_unique<CountingSink>());
    return sinks.back().get();
  };
  runtime::EngineOptions eo;
  eo.workers = options.workers;
  eo.scan.batch_records = options.batch_records;
  eo.scan.poll_interval = std::chrono::milliseconds(5);
  eo.scan.checkpoint_interval =
      options.checkpoint_interval_s > 0
          ? std::chrono::milliseconds(static_cast<int64_t>(options.checkpoint_interval_s * 1000))
          : std::chrono::milliseconds(int64_t{1} << 40);
  EngineRunResult r;
  const auto wall0 = std::chrono::steady_clock::now();
  const double cpu0 = SelfCpuSeconds();
  {
    runtime::Engine engine(&pipeline, store.get(), &dlq, &metrics, f, eo);
    SLUICE_RETURN_IF_ERROR(engine.Start());
    for (bool all = false; !all;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      all = true;
      for (const runtime::QueryStatus& qs : engine.QueryStatuses()) {
        if (qs.state == "failed") return Status::Internal("query " + qs.name + " failed: " + qs.last_error);
        auto it = sources.find(qs.source);
        uint64_t read = 0;
        for (const runtime::SplitStatus& sp : qs.splits) read += sp.next_position - 1;
        all = all && it != sources.end() && it->second->total() >= 0 &&
              static_cast<int64_t>(read) == it->second->total();
      }
    }
    // Timed up to here. Then, untimed, windows that the shards' ends release (a finished shard
    // stops holding the watermark, on every worker) fire: wait until the rows settle, so that the
    // output count does not depend on scheduling.
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    r.cpu_s = SelfCpuSeconds() - cpu0;
    for (uint64_t last = UINT64_MAX, stable = 0; stable < 5;) {
      uint64_t emitted = 0;
      for (const runtime::QueryStatus& qs : engine.QueryStatuses()) emitted += qs.rows_emitted;
      stable = emitted == last ? stable + 1 : 0;
      last = emitted;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    engine.Stop();  // the final checkpoint
    for (const runtime::QueryStatus& qs : engine.QueryStatuses()) {
      r.late_rows += static_cast<int64_t>(qs.late_records);
      r.bad_records += static_cast<int64_t>(qs.bad_records);
      r.rows_exchanged += static_cast<int64_t>(qs.rows_exchanged);
      r.checkpoints = std::max<int64_t>(r.checkpoints, static_cast<int64_t>(qs.checkpoint_id));
    }
    for (const auto& [name, s] : sources) r.records += s->total();  // the engine owns the sources
  }
  for (const auto& k : sinks) r.output_rows += k->rows();
  return r;
}

}  // namespace sluice::bench
