#include "runtime/engine.h"

#include <algorithm>
#include <map>

#include "operators/expr_eval.h"

namespace sluice::runtime {

Engine::Engine(const Pipeline* pipeline, StateStore* store, DeadLetterQueue* dlq, MetricsRegistry* metrics,
               EngineFactories factories, EngineOptions options)
    : pipeline_(pipeline),
      store_(store),
      dlq_(dlq),
      metrics_(metrics),
      factories_(std::move(factories)),
      options_(options) {}

Engine::~Engine() { Stop(); }

int Engine::ResolveWorkers(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

Status Engine::Start() {
  // Queries by source, in source order; each source's queries in INSERT order.
  std::map<int, std::vector<int>> by_source;
  for (size_t qi = 0; qi < pipeline_->queries.size(); ++qi) by_source[pipeline_->queries[qi].source].push_back(static_cast<int>(qi));
  const ScanEnv env{pipeline_, store_, dlq_, metrics_};
  for (const auto& [source_index, query_indexes] : by_source) {
    const SourceDef& def = pipeline_->sources[static_cast<size_t>(source_index)];
    auto source = factories_.source(def);
    if (!source.ok()) return Status(source.status().code(), "source " + def.name + ": " + source.status().message());
    std::vector<bool> needed(def.schema.size(), false);
    std::vector<ScanQuery> queries;
    for (int qi : query_indexes) {
      const QueryDef& q = pipeline_->queries[static_cast<size_t>(qi)];
      const std::vector<bool> used = ops::ColumnsUsed(q, def.schema.size(), def.event_time_column);
      for (size_t c = 0; c < needed.size() && c < used.size(); ++c) needed[c] = needed[c] || used[c];
      SLUICE_ASSIGN_OR_RETURN(Sink * sink, factories_.sink(qi));
      queries.push_back({qi, sink});
    }
    RecordAppender* late = factories_.late_output ? factories_.late_output(def) : nullptr;
    sources_.push_back(std::move(source).value());
    scans_.push_back(std::make_unique<SourceScan>(env, source_index, sources_.back().get(),
                                                  factories_.decoder(def, needed), std::move(queries), late,
                                                  options_.scan));
  }
  for (auto& scan : scans_) SLUICE_RETURN_IF_ERROR(scan->Restore());
  const int workers = std::min<int>(ResolveWorkers(options_.workers), static_cast<int>(scans_.size()));
  metrics_->GetGauge("sluice_engine_workers", "Worker threads of the engine that run scans", {})
      .Set(static_cast<double>(workers));
  std::vector<std::vector<SourceScan*>> assigned(static_cast<size_t>(std::max(workers, 0)));
  for (size_t i = 0; i < scans_.size(); ++i) {
    const size_t w = i % assigned.size();
    scans_[i]->set_worker(static_cast<int>(w));
    scans_[i]->SetRunning(true);
    assigned[w].push_back(scans_[i].get());
  }
  started_ = true;
  for (auto& mine : assigned) threads_.emplace_back([this, mine] { WorkerLoop(mine); });
  return Status::OK();
}

void Engine::WorkerLoop(std::vector<SourceScan*> scans) {
  std::vector<uint64_t> tokens(scans.size(), 0);  // per scan: its source's last WaitForData token
  const auto short_wait = std::min(options_.scan.poll_interval, std::chrono::milliseconds(10));
  while (!stop_.load()) {
    bool any = false;
    size_t live = scans.size();
    for (size_t i = 0; i < scans.size(); ++i) {
      if (scans[i]->failed()) continue;
      scans[i]->Step(&any);
      if (live == scans.size()) live = i;
    }
    if (any) continue;
    if (live == scans.size()) {
      std::this_thread::sleep_for(options_.scan.poll_interval);  // every scan failed; wait for Stop()
    } else {
      // With several sources, wake often enough that none waits long for another's data.
      tokens[live] = scans[live]->WaitForData(tokens[live], scans.size() == 1 ? options_.scan.poll_interval : short_wait);
    }
  }
  for (SourceScan* s : scans) s->Finish();
}

void Engine::Stop() {
  if (!started_) {
    for (auto& scan : scans_) scan->SetRunning(false);
    return;
  }
  stop_.store(true);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  started_ = false;
}

Status Engine::Checkpoint(std::chrono::milliseconds timeout) {
  for (auto& scan : scans_) SLUICE_RETURN_IF_ERROR(scan->RequestCheckpoint(timeout).status());
  return Status::OK();
}

std::vector<QueryStatus> Engine::QueryStatuses() const {
  std::vector<QueryStatus> out(pipeline_->queries.size());
  for (const auto& scan : scans_) {
    std::vector<QueryStatus> st = scan->statuses();
    for (size_t i = 0; i < st.size(); ++i) out[static_cast<size_t>(scan->queries()[i].query_index)] = std::move(st[i]);
  }
  return out;
}

}  // namespace sluice::runtime
