// Engine: runs every query of a pipeline on a fixed pool of worker threads.
//
// The engine groups the queries by the source they read. Each source is read by one shared scan
// (runtime/source_scan.h): its splits are read once and each batch is decoded once, with the
// union of the columns its queries use, however many queries read it. Each scan is owned by one
// worker, which runs its steps (read → decode → every query's operators → sinks → checkpoint);
// scans are spread over the workers round-robin in source order. No locks are taken on the
// per-record path: a worker touches only the scans it owns.
//
//   http → ingest/log ──► worker: SourceScan (read, decode once) ─┬─► query operators → sink
//                                                                  └─► query operators → sink
//                          checkpoints: one atomic StateStore commit per scan and barrier
//
// app/ supplies the factories: sources (the embedded log, Kafka), decoders (JSON) and sinks
// (KV tables, archive files), so runtime/ depends only on core/ and operators/.
//
// Not yet (docs/architecture.md): a source's splits are not spread over several workers, and
// keyed state is not split into key groups, so one source's queries use one core.
//
// Thread-safety: Start/Stop from one controlling thread; Checkpoint and QueryStatuses from any
// thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "core/connector.h"
#include "core/metrics.h"
#include "core/plan.h"
#include "core/state_store.h"
#include "runtime/dead_letter.h"
#include "runtime/source_scan.h"

namespace sluice::runtime {

/// Engine tuning. Not changeable after Start().
struct EngineOptions {
  /// Worker threads. Each runs the scans of whole sources; more workers than sources leave the
  /// extra ones unstarted. 0 = one per core (std::thread::hardware_concurrency()). Default: 0.
  int workers = 0;
  /// Per-scan tuning (batch size, poll interval, checkpoint intervals, state cache bound).
  ScanOptions scan;
};

/// What app/ plugs into the engine. Each factory is called from Start() only.
struct EngineFactories {
  /// Opens source `def` (called once per source that some query reads). Errors are returned by
  /// Start() with the source's name.
  std::function<Result<std::unique_ptr<Source>>(const SourceDef& def)> source;
  /// A decoder of `def`'s records that fills at least the columns marked in `needed_columns`
  /// (indexed by source column; the union over the queries of the scan).
  std::function<std::unique_ptr<RowDecoder>(const SourceDef& def, const std::vector<bool>& needed_columns)> decoder;
  /// The sink of query `query_index` (Pipeline::queries). The sink outlives the engine and is
  /// used only by the query's worker. Errors are returned by Start().
  std::function<Result<Sink*>(int query_index)> sink;
  /// The late-data side output of `def` (SourceDef::late_output), or nullptr for the dead-letter
  /// queue. May be empty (always the dead-letter queue). The appender outlives the engine.
  std::function<RecordAppender*(const SourceDef& def)> late_output;
};

class Engine {
 public:
  /// `pipeline`, `store`, `dlq` and `metrics` must outlive the engine.
  Engine(const Pipeline* pipeline, StateStore* store, DeadLetterQueue* dlq, MetricsRegistry* metrics,
         EngineFactories factories, EngineOptions options = {});
  /// Stops the engine (Stop()).
  ~Engine();

  /// Builds a scan per source, restores every query's last committed checkpoint and starts the
  /// workers. Errors: what a factory returned (prefixed with the source's name); the restore's
  /// errors (SourceScan::Restore: Corruption, InvalidArgument for a changed query, IOError).
  /// On error nothing is left running. Call once.
  Status Start();
  /// Stops the workers after their current step; each scan seals its sinks and takes a final
  /// checkpoint. Idempotent.
  void Stop();
  /// Checkpoints every running scan and waits until each has committed or `timeout` passes (per
  /// scan). Errors: Unavailable on timeout or when a scan is not running; a commit's error.
  Status Checkpoint(std::chrono::milliseconds timeout);
  /// A snapshot of every query, in Pipeline::queries order.
  std::vector<QueryStatus> QueryStatuses() const;
  /// Worker threads running (after Start()).
  int workers() const { return static_cast<int>(threads_.size()); }
  /// Workers that `options.workers` asks for: the value itself, or one per core for 0.
  static int ResolveWorkers(int requested);

 private:
  void WorkerLoop(std::vector<SourceScan*> scans);

  const Pipeline* pipeline_;
  StateStore* store_;
  DeadLetterQueue* dlq_;
  MetricsRegistry* metrics_;
  EngineFactories factories_;
  const EngineOptions options_;
  std::vector<std::unique_ptr<Source>> sources_;
  std::vector<std::unique_ptr<SourceScan>> scans_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  bool started_ = false;
};

}  // namespace sluice::runtime
