// Server: one Sluice process. Plans a pipeline file and wires the embedded log, the HTTP port
// (Kinesis API, NDJSON ingest, table reads, /metrics, /queries, status page), the KV and archive
// sinks, and the runtime::Engine that runs every INSERT INTO (one shared scan per source).
//
// Data-dir layout: streams/ (the log), kv/ (RocksDB tables), archive/ (files sinks with relative
// paths), dead-letter/ (bad and late records).
// Thread-safety: Start/Stop from one thread; accessors are thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "core/plan.h"
#include "core/status.h"
#include "ingest/http/kinesis_api.h"
#include "runtime/engine.h"

namespace sluice::app {

/// Called on a query's worker thread with rows just written to a KV sink (used by the demo).
using RowListener = std::function<void(const SinkDef& sink, const std::vector<Row>& rows)>;

/// Server options. Not changeable after Start().
struct ServerOptions {
  /// The pipeline file's text, and a name for it in messages.
  std::string pipeline_text;
  std::string pipeline_name = "pipeline.sql";
  /// Root of all state. Created if missing. Default: "./data".
  std::string data_dir = "data";
  /// HTTP address. Default: 127.0.0.1:4567 (the port Kinesis emulators use).
  std::string host = "127.0.0.1";
  uint16_t port = 4567;
  /// Worker threads of the engine (runtime::EngineOptions::workers); 0 = one per core.
  /// Default: 0.
  int workers = 0;
  /// HTTP event-loop threads. Default: 1.
  int http_threads = 1;
  /// PEM certificate chain and private key. When both are set the port serves TLS, with ALPN
  /// choosing HTTP/2 or HTTP/1.1 (ingest/http/http_server.h). Default: plain text (h2c and HTTP/1.1).
  std::string tls_cert_file, tls_key_file;
  RowListener row_listener;
  /// Backpressure (see log::LogOptions): per-shard write limits, records/s and bytes/s (0 = none);
  /// memory budget for unsynced record bytes; disk free-space floor. Unit: as named.
  uint64_t shard_records_per_second = 0;
  uint64_t shard_bytes_per_second = 0;
  uint64_t max_pending_bytes = 256u << 20;
  uint64_t min_free_disk_bytes = 256u << 20;
  /// Kinesis API limits (records and bytes per PutRecords, bytes per record; AWS's by default).
  http::KinesisLimits kinesis_limits;
  /// Log durability (log::LogOptions::flush_interval): 0 = acknowledge PutRecords only after
  /// fsync (default); > 0 = acknowledge after the write and fsync at most this much later, so an
  /// OS crash or power loss can lose that much acknowledged data. Unit: milliseconds.
  std::chrono::milliseconds flush_interval{0};
  /// Checkpoints (docs/checkpoints.md): each query commits at least this often, and the store is
  /// snapshotted to DATA_DIR/checkpoints/chk-<unix ms> this often. Default: 10 s.
  std::chrono::milliseconds checkpoint_interval{10000};
  /// Least time between checkpoints a sink asks for (KV rows waiting to become readable).
  /// Default: 100 ms.
  std::chrono::milliseconds min_checkpoint_pause{100};
  /// Snapshots kept under DATA_DIR/checkpoints. Default: 3.
  size_t keep_checkpoints = 3;
  /// Bound of each windowed query's in-memory state cache, in (pane, key) groups for TUMBLE/HOP
  /// and sessions for SESSION; the rest is spilled to the state store
  /// (ops::WindowAggregate::EnableSpill, ops::SessionWindowAggregate::EnableSpill). Stage plans
  /// (subqueries, window joins) are not bounded. 0 = unbounded. Default: 1M.
  size_t state_cache_groups = 1000000;
  /// Checkpoint batches of at least this many bytes, in key order, are written to the state store
  /// as SST files and ingested instead of going through RocksDB's WAL and memtable
  /// (runtime::RocksStateStore::set_ingest_threshold_bytes). 0 = every batch in key order. Default: 8 MiB.
  size_t state_ingest_bytes = 8u << 20;
  /// When set, the state store is replaced by the savepoint DATA_DIR/savepoints/<name> before
  /// the queries start (`sluice run --from-savepoint NAME`).
  std::string from_savepoint;
};

/// Asks the server at host:port for savepoint `name` (POST /savepoints?name=NAME) and returns
/// the response body (JSON with the savepoint's folder). Errors: Unavailable when nothing
/// answers; InvalidArgument / Internal with the server's message.
Result<std::string> RequestSavepoint(const std::string& host, uint16_t port, const std::string& name);

class Server {
 public:
  /// Plans the pipeline, opens storage, creates missing streams, starts queries and the HTTP port.
  /// Errors: InvalidArgument with line:column for a bad pipeline; IOError for storage or a port
  /// in use; Corruption from log recovery.
  static Result<std::unique_ptr<Server>> Start(ServerOptions options);
  ~Server();

  /// Stops HTTP first (no new input), then the queries (flushing sinks), then storage. Idempotent.
  void Stop();

  /// The bound HTTP port (useful with port 0); 0 after Stop().
  uint16_t port() const;
  /// The planned pipeline. Immutable after Start().
  const Pipeline& pipeline() const;
  /// Every metric of this server (what /metrics exports).
  MetricsRegistry& metrics();
  /// A snapshot of each query runner, in INSERT order.
  std::vector<runtime::QueryStatus> QueryStatuses() const;
  /// GET /queries as JSON.
  std::string QueriesJson() const;
  /// Takes savepoint `name`: a checkpoint of every query, then a verified snapshot of the state
  /// store in DATA_DIR/savepoints/<name>. Returns its folder. Also POST /savepoints?name=NAME.
  /// Errors: InvalidArgument for a bad or taken name (letters, digits, '.', '_', '-'); the
  /// checkpoint or snapshot's error. Thread-safety: thread-safe; one savepoint at a time.
  Result<std::string> Savepoint(const std::string& name);

 private:
  struct Impl;
  Server();
  std::unique_ptr<Impl> impl_;
};

/// Parses "HOST:PORT" (or ":PORT" / "PORT"). Errors: InvalidArgument.
Status ParseListen(const std::string& text, std::string* host, uint16_t* port);

/// Parses a byte size: "5 MB", "128KiB", "1048576" (K, M, G units are binary: 1 MB = 2^20 bytes).
/// Errors: InvalidArgument for a malformed number, an unknown unit, or 2^64 bytes or more.
Result<size_t> ParseByteSize(const std::string& text);

}  // namespace sluice::app
