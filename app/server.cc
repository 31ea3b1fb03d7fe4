#include "app/server.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "app/build_info.h"
#include "app/prometheus_exporter.h"
#include "app/status_page.h"
#include "core/logging.h"
#include "ingest/http/http_client.h"
#include "ingest/http/http_server.h"
#include "ingest/http/kinesis_api.h"
#include "ingest/http/ndjson_api.h"
#include "ingest/json_decoder.h"
#include "ingest/log/log.h"
#include "ingest/kafka/kafka_source.h"
#include "ingest/log_source.h"
#include "operators/expr_eval.h"
#include "runtime/checkpoint_record.h"
#include "runtime/dead_letter.h"
#include "runtime/engine.h"
#include "runtime/rocks_state_store.h"
#include "runtime/snapshots.h"
#include "sinks/archive_sink.h"
#include "sinks/kv_table.h"
#include "sinks/metrics_sink.h"
#include "sql/planner.h"

namespace sluice::app {
namespace {

// Appends late records to a stream of the embedded log (SourceDef::late_output), waiting until
// they are durable.
class LogAppender final : public RecordAppender {
 public:
  LogAppender(log::Log* log, std::string stream) : log_(log), stream_(std::move(stream)) {}
  Status Append(const std::vector<std::pair<std::string, std::string>>& records) override {
    std::vector<log::PutEntry> entries;
    entries.reserve(records.size());
    for (const auto& [key, data] : records) entries.push_back({key, data, std::nullopt});
    std::vector<log::PutResult> results;
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> durable = done->get_future();
    SLUICE_RETURN_IF_ERROR(log_->Put(stream_, entries, &results, [done](Status st) { done->set_value(st); }));
    SLUICE_RETURN_IF_ERROR(durable.get());
    for (const auto& r : results) SLUICE_RETURN_IF_ERROR(r.status);
    return Status::OK();
  }

 private:
  log::Log* log_;
  std::string stream_;
};

// Forwards writes to a KV table and tells the listener (the demo's terminal view).
class ListeningSink final : public Sink {
 public:
  ListeningSink(Sink* inner, const SinkDef* def, RowListener listener)
      : inner_(inner), def_(def), listener_(std::move(listener)) {}
  Status Write(const std::vector<Row>& rows) override {
    Status st = inner_->Write(rows);
    if (st.ok() && listener_) listener_(*def_, rows);
    return st;
  }
  Status Tick(EventTime now) override { return inner_->Tick(now); }
  Status Close() override { return inner_->Close(); }
  size_t buffered_rows() const override { return inner_->buffered_rows(); }
  bool WantsCheckpoint() const override { return inner_->WantsCheckpoint(); }
  Status PrepareCheckpoint(uint64_t id, StoreBatch* batch) override { return inner_->PrepareCheckpoint(id, batch); }
  Status CommitCheckpoint(uint64_t id) override { return inner_->CommitCheckpoint(id); }
  Status Recover(StateStore* store) override { return inner_->Recover(store); }

 private:
  Sink* inner_;
  const SinkDef* def_;
  RowListener listener_;
};

http::HttpResponse Json(int status, std::string body) {
  http::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http::HttpResponse JsonError(int status, const std::string& msg) {
  std::string b = "{\"error\":";
  AppendJsonString(msg, &b);
  b += "}";
  return Json(status, std::move(b));
}

std::string OptionOr(const std::map<std::string, std::string>& m, const std::string& k, const std::string& d) {
  auto it = m.find(k);
  return it == m.end() ? d : it->second;
}

// Checks every query's checkpoint record in `kv` (their CRCs). Errors: Corruption naming the first bad one.
Status VerifyCheckpointRecords(runtime::RocksStateStore* kv) {
  return kv->Scan("sluice.meta", "checkpoint/", [](std::string_view key, std::string_view value, bool*) {
    auto r = runtime::DecodeCheckpointRecord(value);
    if (!r.ok()) return Status::Corruption(std::string(key) + ": " + r.status().message());
    return Status::OK();
  });
}

// Opens DATA_DIR/kv, the state store: from savepoint `savepoint` when set; otherwise the live
// store, falling back to the newest snapshot that verifies when the live one cannot be opened
// or holds a corrupt checkpoint record (runtime/snapshots.h).
Result<std::unique_ptr<runtime::RocksStateStore>> OpenStateStore(const std::string& dd, const std::string& savepoint) {
  const std::string live = dd + "/kv";
  if (!savepoint.empty()) {
    const std::string dir = dd + "/savepoints/" + savepoint;
    if (!std::filesystem::exists(dir)) return Status::NotFound("no savepoint " + savepoint + " in " + dd + "/savepoints");
    SLUICE_RETURN_IF_ERROR(runtime::VerifySnapshot(dir, "restore savepoint " + savepoint));
    SLUICE_RETURN_IF_ERROR(runtime::RestoreSnapshot(dir, live));
    SLUICE_LOG_INFO("state restored from a savepoint", {{"component", "server"}, {"savepoint", dir}});
  }
  auto opened = runtime::RocksStateStore::Open(live);
  Status problem = opened.ok() ? VerifyCheckpointRecords(opened->get()) : opened.status();
  if (problem.ok()) return opened;
  if (!opened.ok() && opened.status().message().find("lock") != std::string::npos) return opened.status();
  SLUICE_LOG_WARN("state store does not open cleanly; trying the snapshots",
                  {{"component", "server"}, {"store", live}, {"error", problem.ToString()}, {"snapshots", dd + "/checkpoints"}});
  if (opened.ok()) opened->reset();
  for (const std::string& snap : runtime::ListSnapshots(dd + "/checkpoints")) {
    Status v = runtime::VerifySnapshot(snap, "restore snapshot " + std::filesystem::path(snap).filename().string());
    if (!v.ok()) {
      SLUICE_LOG_WARN("skipping a damaged snapshot", {{"component", "server"}, {"snapshot", snap}, {"error", v.ToString()}});
      continue;
    }
    SLUICE_RETURN_IF_ERROR(runtime::RestoreSnapshot(snap, live));
    auto again = runtime::RocksStateStore::Open(live);
    if (again.ok() && VerifyCheckpointRecords(again->get()).ok()) {
      SLUICE_LOG_WARN("state restored from a snapshot; queries replay from there", {{"component", "server"}, {"snapshot", snap}});
      return again;
    }
    SLUICE_LOG_WARN("snapshot does not open cleanly either", {{"component", "server"}, {"snapshot", snap}});
  }
  return Status::Corruption("state store " + live + ": " + problem.ToString() + ", and no snapshot could replace it");
}

}  // namespace

Status ParseListen(const std::string& text, std::string* host, uint16_t* port) {
  std::string h = *host, p = text;
  auto colon = text.rfind(':');
  if (colon != std::string::npos) {
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return Status::InvalidArgument("bad listen address '" + text + "': expected HOST:PORT");
  unsigned long v = std::stoul(p);
  if (v > 65535) return Status::InvalidArgument("port out of range in '" + text + "'");
  if (!h.empty()) *host = h;
  *port = static_cast<uint16_t>(v);
  return Status::OK();
}

Result<size_t> ParseByteSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  double n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + i, n);
  if (i == 0 || ec != std::errc() || end != text.data() + i) return Status::InvalidArgument("bad size '" + text + "'");
  std::string unit;
  for (; i < text.size(); ++i)
    if (text[i] != ' ') unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
  double mult = 1;
  if (unit.empty() || unit == "b" || unit == "bytes") mult = 1;
  else if (unit == "kb" || unit == "kib" || unit == "k") mult = 1024;
  else if (unit == "mb" || unit == "mib" || unit == "m") mult = 1024.0 * 1024;
  else if (unit == "gb" || unit == "gib" || unit == "g") mult = 1024.0 * 1024 * 1024;
  else return Status::InvalidArgument("bad size unit in '" + text + "'");
  // Below 2^64: converting a larger double to size_t is undefined behaviour.
  if (!(n * mult < 18446744073709551616.0)) return Status::InvalidArgument("size too large: '" + text + "'");
  return static_cast<size_t>(n * mult);
}

struct Server::Impl {
  ServerOptions options;
  Pipeline pipeline;
  MetricsRegistry metrics;
  std::unique_ptr<log::Log> log;
  std::unique_ptr<runtime::RocksStateStore> kv;
  std::unique_ptr<sinks::KvTables> tables;  // the KV sinks' tables, in kv
  std::unique_ptr<runtime::DeadLetterQueue> dlq;
  std::vector<std::unique_ptr<Sink>> owned_sinks;
  std::map<std::string, std::unique_ptr<LogAppender>> late_outputs;  // by stream name
  std::unique_ptr<runtime::Engine> engine;  // every query; destroyed before the sinks
  std::unique_ptr<http::KinesisApi> kinesis;
  std::unique_ptr<http::NdjsonApi> ndjson;
  std::unique_ptr<http::HttpServer> http;
  std::mutex stop_mu;
  bool stopped = false;
  // Periodic snapshots of the state store (runtime/snapshots.h).
  runtime::SnapshotCrcCache crc_cache;
  std::thread snapshot_thread;
  std::mutex snapshot_mu;
  std::condition_variable snapshot_cv;
  bool snapshot_stop = false;  // GUARDED_BY(snapshot_mu)
  std::mutex savepoint_mu;     // one savepoint at a time
  std::thread savepoint_thread;
  Counter* snapshots_total = nullptr;
  Counter* snapshot_failures = nullptr;
  Gauge* snapshot_seconds = nullptr;
  std::vector<std::pair<std::string, sinks::ArchiveSink*>> archives;  // (sink name, sink), of owned_sinks
  std::mutex scrape_mu;  // one CollectScrapeMetrics() at a time

  void SnapshotLoop();
  Result<std::string> Savepoint(const std::string& name);

  void Route(const http::HttpRequest& req, http::Responder respond);
  void Tables(const http::HttpRequest& req, const std::string& name, const http::Responder& respond);
  std::vector<runtime::QueryStatus> QueryStatuses() const;
  std::string QueriesJson() const;
  // GET /streams, /tables and /checkpoints, for the status page (docs/monitoring.md).
  std::string StreamsJson() const;
  std::string TablesJson() const;
  std::string CheckpointsJson() const;
  // Sets the metrics read at scrape time: log sizes and retention, the data dir's file system,
  // KV tables and archives (figures other modules keep as plain atomics).
  void CollectScrapeMetrics();
};

namespace {

// Continuation tokens of GET /tables/{t}: the last key returned, in lowercase hex.
std::string HexEncode(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}
std::optional<std::string> HexDecode(std::string_view s) {
  if (s.size() % 2 != 0 || s.size() > 4096) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = digit(s[i]), lo = digit(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// Raises a counter kept elsewhere as a plain total to `total`. Totals only grow, except when a
// stream is deleted and created again: its shards' totals restart at 0, and the counter then
// stays put until they pass it (the series of a deleted stream are not removed).
void SetTotal(Counter& c, uint64_t total) {
  const uint64_t v = c.value();
  if (total > v) c.Inc(total - v);
}

}  // namespace

Server::Server() : impl_(std::make_unique<Impl>()) {}
Server::~Server() { Stop(); }

Result<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  std::unique_ptr<Server> server(new Server());
  Impl& m = *server->impl_;
  m.options = std::move(options);
  auto planned = sql::PlanPipeline(m.options.pipeline_text);
  if (!planned.ok()) return Status::InvalidArgument(m.options.pipeline_name + ":" + planned.status().message());
  m.pipeline = std::move(planned).value();

  std::error_code ec;
  std::filesystem::create_directories(m.options.data_dir, ec);
  if (ec) return Status::IOError("create data dir " + m.options.data_dir + ": " + ec.message());
  const std::string& dd = m.options.data_dir;
  log::LogOptions lo;
  lo.dir = dd + "/streams";
  lo.shard_records_per_second = m.options.shard_records_per_second;
  lo.shard_bytes_per_second = m.options.shard_bytes_per_second;
  lo.max_pending_bytes = m.options.max_pending_bytes;
  lo.min_free_disk_bytes = m.options.min_free_disk_bytes;
  lo.flush_interval = m.options.flush_interval;
  SLUICE_ASSIGN_OR_RETURN(m.log, log::Log::Open(lo));
  SLUICE_ASSIGN_OR_RETURN(m.kv, OpenStateStore(dd, m.options.from_savepoint));
  m.kv->set_ingest_threshold_bytes(m.options.state_ingest_bytes);
  m.kv->set_metrics(&m.metrics);
  m.tables = std::make_unique<sinks::KvTables>(m.kv.get());
  m.dlq = std::make_unique<runtime::DeadLetterQueue>(dd + "/dead-letter", &m.metrics);

  for (const SourceDef& s : m.pipeline.sources) {
    if (s.connector == "kafka") continue;  // read from the topic; nothing in the log
    auto existing = m.log->GetStream(s.name);
    if (!existing.ok()) {
      SLUICE_RETURN_IF_ERROR(m.log->CreateStream(s.name, s.shards));
    } else if ((*existing)->open_shard_count() != s.shards) {
      SLUICE_LOG_WARN("stream has a different shard count than the pipeline asks for; keeping it",
                      {{"component", "server"}, {"stream", s.name}, {"open_shards", (*existing)->open_shard_count()},
                       {"pipeline_shards", s.shards}});
    }
  }
  // Late-data side outputs: streams of the log, created with one shard when missing.
  for (const SourceDef& s : m.pipeline.sources) {
    if (s.late_output.empty() || m.late_outputs.count(s.late_output)) continue;
    if (!m.log->GetStream(s.late_output).ok()) SLUICE_RETURN_IF_ERROR(m.log->CreateStream(s.late_output, 1));
    m.late_outputs[s.late_output] = std::make_unique<LogAppender>(m.log.get(), s.late_output);
  }
  // KV tables are shared (RocksDB is thread-safe); each query writes through its own staging
  // writer, committed with its checkpoints. Files sinks get one writer per query.
  std::map<int, sinks::KvTable*> kv_tables;
  for (size_t i = 0; i < m.pipeline.sinks.size(); ++i) {
    const SinkDef& d = m.pipeline.sinks[i];
    if (d.connector == "kv") {
      SLUICE_ASSIGN_OR_RETURN(auto* t, m.tables->Open(d.name, d.schema, d.primary_key));
      kv_tables[static_cast<int>(i)] = t;
    }
  }
  runtime::EngineFactories f;
  Impl* impl = &m;
  f.source = [impl](const SourceDef& src) -> Result<std::unique_ptr<Source>> {
    if (src.connector == "kafka") {
      // One consumer per source, shared by every query that reads it (runtime/source_scan.h).
      ingest::KafkaSourceOptions ko;
      ko.bootstrap_servers = src.options.at("bootstrap_servers");
      ko.topic = src.options.at("topic");
      ko.group_id = OptionOr(src.options, "group_id", "sluice-" + src.name);
      // The planner normalized it to "0,2,3".
      const std::string listed = OptionOr(src.options, "partitions", "");
      for (std::string_view rest = listed; !rest.empty();) {
        const size_t comma = rest.find(',');
        int partition = 0;
        const std::string_view item = rest.substr(0, comma);
        if (std::from_chars(item.data(), item.data() + item.size(), partition).ec != std::errc())
          return Status::InvalidArgument("bad partition '" + std::string(item) + "'");
        ko.partitions.push_back(partition);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
      SLUICE_ASSIGN_OR_RETURN(auto kafka, ingest::KafkaSource::Open(ko));
      return std::unique_ptr<Source>(std::move(kafka));
    }
    SLUICE_ASSIGN_OR_RETURN(auto stream, impl->log->GetStream(src.name));
    return std::unique_ptr<Source>(std::make_unique<ingest::LogSource>(impl->log.get(), stream));
  };
  f.decoder = [impl](const SourceDef& src, const std::vector<bool>& needed) -> std::unique_ptr<RowDecoder> {
    auto decoder = std::make_unique<ingest::JsonDecoder>(src.schema, src.event_time_column);
    // Decode only the columns some query of the source reads (the others stay NULL).
    decoder->SetNeededColumns(needed);
    return decoder;
  };
  f.sink = [impl, kv_tables](int qi) -> Result<Sink*> {
    const QueryDef& q = impl->pipeline.queries[static_cast<size_t>(qi)];
    const SinkDef& sd = impl->pipeline.sinks[static_cast<size_t>(q.sink)];
    const std::string& dd = impl->options.data_dir;
    if (sd.connector == "kv") {
      impl->owned_sinks.push_back(std::make_unique<sinks::KvTableWriter>(kv_tables.at(q.sink)));
      Sink* sink = impl->owned_sinks.back().get();
      if (impl->options.row_listener) {
        impl->owned_sinks.push_back(std::make_unique<ListeningSink>(sink, &sd, impl->options.row_listener));
        sink = impl->owned_sinks.back().get();
      }
      return sink;
    }
    if (sd.connector == "files") {
      sinks::ArchiveOptions ao;
      std::string path = OptionOr(sd.options, "path", "archive/" + sd.name);
      ao.dir = !path.empty() && path[0] == '/' ? path : dd + "/" + path;
      ao.compression = OptionOr(sd.options, "compression", "gzip");
      ao.partition = OptionOr(sd.options, "partition", "hour");
      ao.file_prefix = q.name;
      ao.state_space = "sink." + q.name;
      if (sd.options.count("buffer_size")) {
        SLUICE_ASSIGN_OR_RETURN(ao.buffer_bytes, ParseByteSize(sd.options.at("buffer_size")));
      }
      if (sd.options.count("buffer_interval")) {
        SLUICE_ASSIGN_OR_RETURN(ao.buffer_interval, ParseInterval(sd.options.at("buffer_interval")));
      }
      auto archive = std::make_unique<sinks::ArchiveSink>(ao, sd.schema);
      impl->archives.emplace_back(sd.name, archive.get());
      impl->owned_sinks.push_back(std::move(archive));
      return impl->owned_sinks.back().get();
    }
    if (sd.connector == "metrics") {
      impl->owned_sinks.push_back(std::make_unique<sinks::MetricsSink>(sd.name, sd.schema, &impl->metrics));
      return impl->owned_sinks.back().get();
    }
    return Status::InvalidArgument("sink " + sd.name + ": connector '" + sd.connector + "' is not supported");
  };
  f.late_output = [impl](const SourceDef& src) -> RecordAppender* {
    auto it = impl->late_outputs.find(src.late_output);
    return src.late_output.empty() || it == impl->late_outputs.end() ? nullptr : it->second.get();
  };
  runtime::EngineOptions eo;
  eo.workers = m.options.workers;
  eo.scan.checkpoint_interval = m.options.checkpoint_interval;
  eo.scan.min_checkpoint_pause = m.options.min_checkpoint_pause;
  eo.scan.state_cache_groups = m.options.state_cache_groups;
  m.engine = std::make_unique<runtime::Engine>(&m.pipeline, m.kv.get(), m.dlq.get(), &m.metrics, std::move(f), eo);
  if (Status st = m.engine->Start(); !st.ok()) {
    m.engine.reset();
    return st;
  }
  m.snapshots_total = &m.metrics.GetCounter("sluice_snapshots_total", "State-store snapshots taken (DATA_DIR/checkpoints)", {});
  m.snapshot_failures = &m.metrics.GetCounter("sluice_snapshot_failures_total", "State-store snapshots that failed", {});
  m.snapshot_seconds = &m.metrics.GetGauge("sluice_snapshot_duration_seconds", "Time the last state-store snapshot took", {});
  m.snapshot_thread = std::thread([impl = &m] { impl->SnapshotLoop(); });
  m.metrics.GetGauge("sluice_build_info", "1, with the version and git commit Sluice was built from as labels",
                     {{"version", SLUICE_VERSION}, {"commit", SLUICE_COMMIT}})
      .Set(1);

  m.kinesis = std::make_unique<http::KinesisApi>(m.log.get(), &m.metrics, m.options.kinesis_limits);
  m.ndjson = std::make_unique<http::NdjsonApi>(m.log.get(), &m.metrics, m.kinesis.get());
  http::HttpServerOptions ho;
  ho.host = m.options.host;
  ho.port = m.options.port;
  ho.threads = m.options.http_threads;
  ho.tls_cert_file = m.options.tls_cert_file;
  ho.tls_key_file = m.options.tls_key_file;
  // Room for the largest PutRecords the limits allow: base64 (4/3) plus JSON around it.
  ho.max_body_bytes = std::max(ho.max_body_bytes, m.options.kinesis_limits.max_request_data_bytes / 3 * 4 + (4u << 20));
  SLUICE_ASSIGN_OR_RETURN(m.http, http::HttpServer::Start(ho, [impl](const http::HttpRequest& req, http::Responder r) {
                            impl->Route(req, std::move(r));
                          }));
  return server;
}

void Server::Stop() {
  Impl& m = *impl_;
  std::lock_guard lock(m.stop_mu);
  if (m.stopped) return;
  m.stopped = true;
  if (m.http) m.http->Stop();
  {
    std::lock_guard l(m.snapshot_mu);
    m.snapshot_stop = true;
  }
  m.snapshot_cv.notify_all();
  if (m.snapshot_thread.joinable()) m.snapshot_thread.join();
  if (m.savepoint_thread.joinable()) m.savepoint_thread.join();
  if (m.engine) m.engine->Stop();
  m.engine.reset();
  m.http.reset();
  m.owned_sinks.clear();
  m.log.reset();
  m.tables.reset();
  m.kv.reset();
}

void Server::Impl::SnapshotLoop() {
  const std::string root = options.data_dir + "/checkpoints";
  std::unique_lock lock(snapshot_mu);
  while (!snapshot_cv.wait_for(lock, options.checkpoint_interval, [this] { return snapshot_stop; })) {
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    Status st = runtime::TakeSnapshot(kv.get(), root + "/chk-" + std::to_string(WallNow().millis()), &crc_cache);
    if (st.ok()) st = runtime::PruneSnapshots(root, std::max<size_t>(options.keep_checkpoints, 1));
    if (st.ok()) {
      snapshots_total->Inc();
      snapshot_seconds->Set(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    } else {
      snapshot_failures->Inc();
      SLUICE_LOG_ERROR("snapshot failed", {{"component", "server"}, {"error", st.ToString()}});
    }
    lock.lock();
  }
}

Result<std::string> Server::Savepoint(const std::string& name) { return impl_->Savepoint(name); }

Result<std::string> Server::Impl::Savepoint(const std::string& name) {
  if (name.empty() || name.size() > 100 || name[0] == '.' ||
      !std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }))
    return Status::InvalidArgument("savepoint name '" + name + "': use letters, digits, '.', '_' and '-'");
  std::lock_guard lock(savepoint_mu);
  const std::string dir = options.data_dir + "/savepoints/" + name;
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) return Status::InvalidArgument("savepoint " + name + " already exists: " + dir);
  if (engine) SLUICE_RETURN_IF_ERROR(engine->Checkpoint(std::chrono::seconds(60)));
  SLUICE_RETURN_IF_ERROR(runtime::TakeSnapshot(kv.get(), dir, &crc_cache));
  SLUICE_RETURN_IF_ERROR(runtime::VerifySnapshot(dir));
  return dir;
}

Result<std::string> RequestSavepoint(const std::string& host, uint16_t port, const std::string& name) {
  // One blocking HTTP/1.1 POST over a plain socket (ingest/http/http_client.h); a savepoint may
  // take a while (a checkpoint plus a verified copy), hence the 120 s receive timeout.
  http::HttpClient client(host, port, std::chrono::seconds(120));
  auto r = client.Send("POST", "/savepoints?name=" + http::UrlEncode(name), {}, "", /*keep_alive=*/false);
  if (!r.ok())
    return Status::Unavailable("no Sluice server at " + host + ":" + std::to_string(port) + ": " + r.status().message());
  if (r->status == 400) return Status::InvalidArgument(r->body);
  if (r->status != 200) return Status::Internal("HTTP " + std::to_string(r->status) + ": " + r->body);
  return std::move(r->body);
}

uint16_t Server::port() const { return impl_->http ? impl_->http->port() : 0; }
const Pipeline& Server::pipeline() const { return impl_->pipeline; }
MetricsRegistry& Server::metrics() { return impl_->metrics; }

std::vector<runtime::QueryStatus> Server::QueryStatuses() const { return impl_->QueryStatuses(); }
std::string Server::QueriesJson() const { return impl_->QueriesJson(); }

std::vector<runtime::QueryStatus> Server::Impl::QueryStatuses() const {
  return engine ? engine->QueryStatuses() : std::vector<runtime::QueryStatus>();
}

std::string Server::Impl::QueriesJson() const {
  std::string b = "[";
  EventTime now = WallNow();
  bool first = true;
  for (const auto& s : QueryStatuses()) {
    if (!first) b += ',';
    first = false;
    b += "{\"name\":";
    AppendJsonString(s.name, &b);
    b += ",\"source\":";
    AppendJsonString(s.source, &b);
    b += ",\"sink\":";
    AppendJsonString(s.sink, &b);
    b += ",\"state\":";
    AppendJsonString(s.state, &b);
    b += ",\"worker\":" + std::to_string(s.worker) + ",\"workers\":" + std::to_string(s.workers) +
         ",\"key_groups\":" + std::to_string(s.key_groups) + ",\"exchange\":";
    AppendJsonString(s.exchange, &b);
    b += ",\"idle_timeout\":";
    AppendJsonString(FormatDuration(s.idle_timeout), &b);
    bool have_wm = s.watermark != EventTime::Min();
    b += ",\"watermark\":" + (have_wm ? "\"" + FormatTimestamp(s.watermark) + "\"" : std::string("null"));
    if (have_wm) {
      char lag[32];
      std::snprintf(lag, sizeof lag, "%.3f", std::chrono::duration<double>(now - s.watermark).count());
      b += ",\"watermark_lag_seconds\":" + std::string(lag);
    }
    b += ",\"held_back_by\":";
    if (s.holding_split.empty()) b += "null";
    else AppendJsonString(s.holding_split, &b);
    b += ",\"open_windows\":" + std::to_string(s.open_windows) + ",\"state_groups\":" + std::to_string(s.state_groups) +
         ",\"spilled_groups\":" + std::to_string(s.spilled_groups) +
         ",\"state_evictions\":" + std::to_string(s.state_evictions) + ",\"state_reads\":" + std::to_string(s.state_reads) + ",\"records_in\":" + std::to_string(s.records_in) +
         ",\"bad_records\":" + std::to_string(s.bad_records) + ",\"late_records\":" + std::to_string(s.late_records) +
         ",\"late_by_disposition\":{\"dead_letter\":" + std::to_string(s.late_dead_letter) +
         ",\"late_output\":" + std::to_string(s.late_side_output) + "}" +
         ",\"rows_emitted\":" + std::to_string(s.rows_emitted) +
         ",\"rows_exchanged\":" + std::to_string(s.rows_exchanged) + ",\"shards\":[";
    for (size_t i = 0; i < s.splits.size(); ++i) {
      const auto& sp = s.splits[i];
      if (i) b += ',';
      b += "{\"shard\":\"" + sp.id + "\",\"max_event_time\":" +
           (sp.max_event_time == EventTime::Min() ? std::string("null") : "\"" + FormatTimestamp(sp.max_event_time) + "\"") +
           ",\"idle\":" + (sp.idle ? "true" : "false") + ",\"next_sequence_number\":\"" +
           std::to_string(sp.next_position) + "\"}";
    }
    b += "],\"pending_reason\":";
    if (s.pending_reason.empty()) b += "null";
    else AppendJsonString(s.pending_reason, &b);
    b += ",\"last_error\":";
    if (s.last_error.empty()) b += "null";
    else AppendJsonString(s.last_error, &b);
    b += "}";
  }
  return b + "]";
}

std::string Server::Impl::StreamsJson() const {
  std::string b = "{\"streams\":[";
  bool first = true;
  for (const std::string& name : log->ListStreams()) {
    auto stream = log->GetStream(name);
    if (!stream.ok()) continue;  // deleted in between
    if (!first) b += ',';
    first = false;
    b += "{\"name\":";
    AppendJsonString(name, &b);
    b += ",\"retention_hours\":" + std::to_string((*stream)->retention_hours()) + ",\"shards\":[";
    auto topology = (*stream)->topology();
    for (size_t i = 0; i < topology->shards.size(); ++i) {
      const log::ShardInfo& info = topology->shards[i];
      const std::string id = log::Stream::ShardIdFor(info.index);
      const MetricLabels l{{"stream", name}, {"shard", id}};
      const uint64_t records = metrics.CounterValue("sluice_records_ingested_total", l);
      const uint64_t bytes = metrics.CounterValue("sluice_ingested_bytes_total", l);
      if (i) b += ',';
      b += "{\"shard_id\":\"" + id + "\",\"open\":" + (info.open() ? "true" : "false") +
           ",\"records_ingested\":" + std::to_string(records) + ",\"bytes_ingested\":" + std::to_string(bytes) +
           ",\"size_bytes\":" + std::to_string(info.log->size_bytes()) + ",\"next_sequence_number\":\"" +
           std::to_string(info.log->durable_end()) + "\"}";
    }
    b += "]}";
  }
  return b + "]}";
}

std::string Server::Impl::TablesJson() const {
  std::string b = "{\"tables\":[";
  bool first = true;
  for (sinks::KvTable* t : tables ? tables->tables() : std::vector<sinks::KvTable*>()) {
    if (!first) b += ',';
    first = false;
    b += "{\"name\":";
    AppendJsonString(t->name(), &b);
    b += ",\"primary_key\":[";
    const auto pk = t->primary_key_names();
    for (size_t i = 0; i < pk.size(); ++i) {
      if (i) b += ',';
      AppendJsonString(pk[i], &b);
    }
    b += "],\"columns\":[";
    for (size_t i = 0; i < t->schema().size(); ++i) {
      if (i) b += ',';
      b += "{\"name\":";
      AppendJsonString(t->schema()[i].name, &b);
      b += ",\"type\":";
      AppendJsonString(DataTypeName(t->schema()[i].type), &b);
      b += "}";
    }
    b += "],\"row_count\":" + std::to_string(kv->EstimateKeys(t->space())) +
         ",\"rows_written\":" + std::to_string(t->rows_written()) + ",\"latest\":[";
    const auto latest = t->LatestRows();
    for (size_t i = 0; i < latest.size(); ++i) {
      if (i) b += ',';
      b += latest[i];  // JSON objects (RowToJson)
    }
    b += "]}";
  }
  return b + "]}";
}

std::string Server::Impl::CheckpointsJson() const {
  std::string b = "{\"checkpoints\":[";
  size_t n = 0;
  for (const auto& e : engine ? engine->CheckpointHistory() : std::vector<runtime::CheckpointEvent>()) {
    for (const std::string& q : e.queries) {
      if (n == 100) break;
      if (n++) b += ',';
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%.6f", e.seconds);
      b += "{\"id\":" + std::to_string(e.id) + ",\"query\":";
      AppendJsonString(q, &b);
      b += ",\"source\":";
      AppendJsonString(e.source, &b);
      b += ",\"at\":\"" + FormatTimestamp(e.at) + "\",\"duration_seconds\":" + seconds +
           ",\"bytes\":" + std::to_string(e.bytes) + ",\"ok\":" + (e.error.empty() ? "true" : "false") + ",\"error\":";
      if (e.error.empty()) b += "null";
      else AppendJsonString(e.error, &b);
      b += "}";
    }
  }
  return b + "]}";
}

void Server::Impl::CollectScrapeMetrics() {
  std::lock_guard lock(scrape_mu);
  for (const std::string& name : log->ListStreams()) {
    auto stream = log->GetStream(name);
    if (!stream.ok()) continue;
    auto topology = (*stream)->topology();
    for (const log::ShardInfo& info : topology->shards) {
      const MetricLabels l{{"stream", name}, {"shard", log::Stream::ShardIdFor(info.index)}};
      metrics.GetGauge("sluice_log_size_bytes", "Bytes of durable segment data a shard holds", l)
          .Set(static_cast<double>(info.log->size_bytes()));
      SetTotal(metrics.GetCounter("sluice_log_retention_deleted_segments_total",
                                  "Segments deleted by retention (age or size) since the server started", l),
               info.log->trimmed_segments());
    }
  }
  struct statvfs fs {};
  if (::statvfs(options.data_dir.c_str(), &fs) == 0) {
    metrics.GetGauge("sluice_filesystem_avail_bytes", "Bytes available to Sluice on the data directory's file system")
        .Set(static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize));
    metrics.GetGauge("sluice_filesystem_size_bytes", "Size of the data directory's file system in bytes")
        .Set(static_cast<double>(fs.f_blocks) * static_cast<double>(fs.f_frsize));
  }
  for (sinks::KvTable* t : tables ? tables->tables() : std::vector<sinks::KvTable*>()) {
    const MetricLabels l{{"table", t->name()}};
    SetTotal(metrics.GetCounter("sluice_kv_rows_written_total", "Rows upserted into a KV table (committed)", l),
             t->rows_written());
    metrics.GetGauge("sluice_kv_rows", "Rows of a KV table (RocksDB's estimate)", l)
        .Set(static_cast<double>(kv->EstimateKeys(t->space())));
  }
  for (const auto& [name, sink] : archives) {
    const MetricLabels l{{"sink", name}};
    SetTotal(metrics.GetCounter("sluice_archive_files_total", "Archive files published", l), sink->files_written());
    SetTotal(metrics.GetCounter("sluice_archive_bytes_total", "Bytes of the archive files published (compressed)", l),
             sink->bytes_written());
  }
}

void Server::Impl::Tables(const http::HttpRequest& req, const std::string& name, const http::Responder& respond) {
  sinks::KvTable* t = tables ? tables->table(name) : nullptr;
  if (!t) return respond(JsonError(404, "table " + name + " not found"));
  auto p = http::ParseQueryString(req.query);
  if (p.count("key")) {
    auto g = t->Get(p["key"]);
    if (!g.ok()) return respond(JsonError(500, g.status().message()));
    if (!g->has_value()) return respond(JsonError(404, "no row with key '" + p["key"] + "'"));
    return respond(Json(200, **g));
  }
  size_t limit = 1000;
  if (p.count("limit")) {
    const std::string& l = p["limit"];
    if (l.empty() || l.size() > 7 || !std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return respond(JsonError(400, "limit must be a number up to 9999999"));
    limit = std::stoul(l);
  }
  // A continuation token is the hex of the last key returned; the next page starts just after it.
  std::string start = p["start"];
  if (p.count("next_token")) {
    auto last = HexDecode(p["next_token"]);
    if (!last) return respond(JsonError(400, "next_token is not a token this table API returned"));
    start = *last + '\0';  // the smallest key after it
  }
  if (limit == 0) return respond(JsonError(400, "limit must be at least 1"));
  // One row more than asked tells whether another page follows.
  auto rows = t->Scan(p["prefix"], start, p["end"], limit + 1);
  if (!rows.ok()) return respond(JsonError(500, rows.status().message()));
  const bool more = rows->size() > limit;
  if (more) rows->resize(limit);
  std::string b = "{\"table\":";
  AppendJsonString(name, &b);
  b += ",\"rows\":[";
  for (size_t i = 0; i < rows->size(); ++i) {
    if (i) b += ',';
    b += (*rows)[i].second;
  }
  b += "],\"count\":" + std::to_string(rows->size());
  if (more) b += ",\"next_token\":\"" + HexEncode(rows->back().first) + "\"";
  respond(Json(200, b + "}"));
}

void Server::Impl::Route(const http::HttpRequest& req, http::Responder respond) {
  const std::string_view path = req.path;
  if (path == "/" && req.method == "POST") return kinesis->Handle(req, std::move(respond));
  if (path == "/" && req.method == "GET") {
    http::HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(StatusPageHtml());
    return respond(std::move(r));
  }
  if (path == "/metrics") {
    CollectScrapeMetrics();
    http::HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = RenderPrometheus(metrics);
    return respond(std::move(r));
  }
  if (path == "/queries") return respond(Json(200, QueriesJson()));
  if (path == "/streams") return respond(Json(200, StreamsJson()));
  if (path == "/tables") return respond(Json(200, TablesJson()));
  if (path == "/checkpoints") return respond(Json(200, CheckpointsJson()));
  if (path == "/savepoints") {
    if (req.method != "POST") return respond(JsonError(405, "use POST /savepoints?name=NAME"));
    auto params = http::ParseQueryString(req.query);
    std::string name = params["name"];
    // Checkpoints take a moment: answer from a helper thread, never from the event loop.
    std::unique_lock lock(savepoint_mu, std::try_to_lock);
    if (!lock.owns_lock()) return respond(JsonError(409, "a savepoint is already in progress"));
    if (savepoint_thread.joinable()) savepoint_thread.join();
    savepoint_thread = std::thread([this, name, respond = std::move(respond)] {
      auto r = Savepoint(name);
      if (!r.ok()) {
        respond(JsonError(r.status().code() == StatusCode::kInvalidArgument ? 400 : 500, r.status().ToString()));
        return;
      }
      std::string b = "{\"name\":";
      AppendJsonString(name, &b);
      b += ",\"path\":";
      AppendJsonString(*r, &b);
      b += "}";
      respond(Json(200, std::move(b)));
    });
    return;
  }
  constexpr std::string_view kStreams = "/streams/", kTables = "/tables/";
  if (path.substr(0, kStreams.size()) == kStreams) {
    std::string_view rest = path.substr(kStreams.size());
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && rest.substr(slash) == "/records")
      return ndjson->Handle(req, http::PercentDecode(rest.substr(0, slash)), std::move(respond));
    return respond(JsonError(404, "expected /streams/{name}/records"));
  }
  if (path.substr(0, kTables.size()) == kTables) {
    if (req.method != "GET") return respond(JsonError(405, "use GET"));
    return Tables(req, http::PercentDecode(path.substr(kTables.size())), respond);
  }
  respond(JsonError(404, "no route for " + std::string(req.method) + " " + std::string(path)));
}

}  // namespace sluice::app
