// Engine: runs every query of a pipeline on a fixed pool of worker threads.
//
// The engine groups the queries by the source they read. Each source is read by one shared scan
// (runtime/source_scan.h): its splits are read once and each batch is decoded once, with the
// union of the columns its queries use, however many queries read it. Every scan runs on every
// worker: worker w runs the scan's subtask w, which reads the splits i with i mod workers == w
// and holds the key groups of each windowed query that Flink's assignment gives worker w; rows
// go to the worker of their key group over single-producer, single-consumer queues. No locks
// are taken on the per-record path.
//
//   http → ingest/log ──► worker w: read, decode once ─► route by key group ─┐
//                                                                             ├─► worker v: operators → sink
//                          checkpoints: aligned barriers; one atomic StateStore commit per scan
//
// app/ supplies the factories: sources (the embedded log, Kafka), decoders (JSON) and sinks
// (KV tables, archive files), so runtime/ depends only on core/ and operators/.
//
// Not yet (docs/architecture.md): the exchange is not skipped when the GROUP BY includes the
// source's partition key (rows still go to the worker of their key group).
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
  /// Worker threads. Each runs one subtask of every scan (its share of the splits and of the key
  /// groups); a scan whose windowed queries all keep one key group (stage plans: subqueries,
  /// window joins) and none has more runs on worker 0 alone, since every row would go there.
  /// 0 = one per core (std::thread::hardware_concurrency()). Default: 0.
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
  /// Stops the workers after their current step; then each scan delivers the rows still queued
  /// between workers, seals its sinks and takes a final checkpoint. Idempotent.
  void Stop();
  /// Checkpoints every running scan and waits until each has committed or `timeout` passes (per
  /// scan). Errors: Unavailable on timeout or when a scan is not running; a commit's error.
  Status Checkpoint(std::chrono::milliseconds timeout);
  /// A snapshot of every query, in Pipeline::queries order.
  std::vector<QueryStatus> QueryStatuses() const;
  /// Every scan's last checkpoints (committed and failed), newest first. Thread-safe.
  std::vector<CheckpointEvent> CheckpointHistory() const;
  /// Worker threads running (after Start()).
  int workers() const { return static_cast<int>(threads_.size()); }
  /// Workers that `options.workers` asks for: the value itself, or one per core for 0.
  static int ResolveWorkers(int requested);

 private:
  void WorkerLoop(int worker);

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
  int workers_ = 1;  // subtasks per scan (ResolveWorkers(options_.workers)), set by Start()
  bool started_ = false;
};

}  // namespace sluice::runtime
