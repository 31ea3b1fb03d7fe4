#include "runtime/engine.h"

#include <algorithm>
#include <map>

#include "operators/expr_eval.h"
#include "operators/key_groups.h"

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
  const int workers = ResolveWorkers(options_.workers);
  workers_ = workers;
  for (const auto& [source_index, query_indexes] : by_source) {
    const SourceDef& def = pipeline_->sources[static_cast<size_t>(source_index)];
    auto source = factories_.source(def);
    if (!source.ok()) return Status(source.status().code(), "source " + def.name + ": " + source.status().message());
    std::vector<bool> needed(def.schema.size(), false);
    std::vector<ScanQuery> queries;
    // A scan whose windowed queries all keep one key group (stage plans) would only send every
    // row to worker 0: it runs on one worker instead, unless a query with key groups needs all.
    bool one_group = false, keyed = false;
    for (int qi : query_indexes) {
      const QueryDef& q = pipeline_->queries[static_cast<size_t>(qi)];
      const bool windowed = q.stages || q.window.kind != WindowKind::kNone;
      if (windowed && ops::DefaultKeyGroups(q) == 1) one_group = true;
      if (windowed && ops::DefaultKeyGroups(q) > 1) keyed = true;
    }
    const int parallelism = one_group && !keyed ? 1 : workers;
    for (int qi : query_indexes) {
      const QueryDef& q = pipeline_->queries[static_cast<size_t>(qi)];
      const std::vector<bool> used = ops::ColumnsUsed(q, def.schema.size(), def.event_time_column);
      for (size_t c = 0; c < needed.size() && c < used.size(); ++c) needed[c] = needed[c] || used[c];
      SLUICE_ASSIGN_OR_RETURN(Sink * sink, factories_.sink(qi));
      queries.push_back({qi, sink});
    }
    RecordAppender* late = factories_.late_output ? factories_.late_output(def) : nullptr;
    sources_.push_back(std::move(source).value());
    auto make_decoder = [this, &def, needed] { return factories_.decoder(def, needed); };
    scans_.push_back(std::make_unique<SourceScan>(env, source_index, sources_.back().get(), make_decoder,
                                                  std::move(queries), late, options_.scan, parallelism));
  }
  for (auto& scan : scans_) SLUICE_RETURN_IF_ERROR(scan->Restore());
  metrics_->GetGauge("sluice_engine_workers", "Worker threads of the engine that run scans", {})
      .Set(static_cast<double>(scans_.empty() ? 0 : workers));
  for (auto& scan : scans_) {
    scan->set_worker(0);
    scan->SetRunning(true);
  }
  started_ = true;
  if (scans_.empty()) return Status::OK();
  for (int w = 0; w < workers; ++w) threads_.emplace_back([this, w] { WorkerLoop(w); });
  return Status::OK();
}

void Engine::WorkerLoop(int worker) {
  // Worker w runs subtask w of every scan.
  std::vector<uint64_t> tokens(scans_.size(), 0);  // per scan: its source's last WaitForData token
  // With several workers or sources, wake often enough that none waits long for another's rows.
  const auto short_wait = std::min(options_.scan.poll_interval, std::chrono::milliseconds(5));
  const bool alone = workers_ == 1 && scans_.size() == 1;
  while (!stop_.load()) {
    bool any = false, live = false, work = false;
    size_t reader = scans_.size();
    for (size_t i = 0; i < scans_.size(); ++i) {
      SourceScan& scan = *scans_[i];
      if (scan.failed()) continue;
      live = true;
      scan.Step(worker, &any);
      work = work || scan.HasWork(worker);
      if (reader == scans_.size() && scan.ReadsSplits(worker)) reader = i;
    }
    if (any) continue;
    if (work) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));  // another worker is behind
    } else if (!live || reader == scans_.size()) {
      std::this_thread::sleep_for(live ? short_wait : options_.scan.poll_interval);
    } else {
      tokens[reader] = scans_[reader]->WaitForData(tokens[reader], alone ? options_.scan.poll_interval : short_wait);
    }
  }
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
  // Every worker has stopped: each scan delivers what is queued and takes its final checkpoint.
  for (auto& scan : scans_) scan->Finish();
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

std::vector<CheckpointEvent> Engine::CheckpointHistory() const {
  std::vector<CheckpointEvent> out;
  for (const auto& scan : scans_) {
    auto h = scan->checkpoint_history();
    out.insert(out.end(), std::make_move_iterator(h.begin()), std::make_move_iterator(h.end()));
  }
  std::stable_sort(out.begin(), out.end(), [](const CheckpointEvent& a, const CheckpointEvent& b) { return a.at > b.at; });
  return out;
}

}  // namespace sluice::runtime
