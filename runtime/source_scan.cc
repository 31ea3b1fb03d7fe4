#include "runtime/source_scan.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <exception>
#include <set>
#include <thread>

#include "core/crash_point.h"
#include "core/logging.h"
#include "core/progress.h"
#include "operators/expr_eval.h"
#include "operators/key_groups.h"
#include "runtime/checkpoint_record.h"

namespace sluice::runtime {

struct SourceScan::Split {
  std::unique_ptr<SourceSplit> reader;
  std::atomic<uint64_t> next_position{1};  // written by the owning subtask
  std::vector<SourceRecord> records;
  std::atomic<bool> finished{false};       // a closed shard read to its end
  bool holds = true;                       // owner: the "holds the watermark" state last sent
  std::atomic<uint64_t> to_ack{0};         // a committed position for OnCheckpointCommitted() (0: none)
  // Watermark alignment (ScanOptions::max_watermark_drift), written by the owning subtask: the
  // newest event time read (micros), and whether the split still has a backlog: kUnpolled until
  // the first read, kBacklog after a read that returned records, kCaughtUp after an empty one.
  enum Backlog : int { kUnpolled, kBacklog, kCaughtUp };
  std::atomic<int64_t> newest_micros{INT64_MIN};
  std::atomic<int> backlog{kUnpolled};
  // Per subtask g, written by g after each AdvanceTime(): the newest event time of this split
  // that g's windows had taken in (its own reads, or the batch messages it has handled), so what
  // g's watermark was computed from. Alignment waits on these, not on newest_micros, so that no
  // subtask gets rows while its watermark lags far behind what was read (for instance, before it
  // has heard of every split, which holds it at the minimum): whether a row is late then does
  // not depend on how the subtasks were scheduled.
  std::unique_ptr<std::atomic<int64_t>[]> known;
  int owner = 0;  // the subtask that reads and decodes the split (SourceScan::SplitOwner)
  // The reader's lag (SourceSplit::lag()), registered by the owner on first report.
  Gauge* behind_latest = nullptr;
  Gauge* lag_records = nullptr;
  std::atomic<int64_t> lag_now{-1};  // the owner's last SplitLag::records (-1: not reported yet)
  explicit Split(std::unique_ptr<SourceSplit> r, int subtasks)
      : reader(std::move(r)), known(new std::atomic<int64_t>[static_cast<size_t>(subtasks)]), subtasks_(subtasks) {
    ResetAlignment();
  }
  void ResetAlignment() {
    newest_micros.store(INT64_MIN);
    backlog.store(kUnpolled);
    for (int g = 0; g < subtasks_; ++g) known[static_cast<size_t>(g)].store(INT64_MIN);
  }
  void Took(int subtask, EventTime t) {
    if (t == EventTime::Min()) return;
    std::atomic<int64_t>& k = known[static_cast<size_t>(subtask)];
    if (t.micros > k.load(std::memory_order_relaxed)) k.store(t.micros, std::memory_order_release);
  }
  int64_t least_known() const {
    int64_t m = INT64_MAX;
    for (int g = 0; g < subtasks_; ++g) m = std::min(m, known[static_cast<size_t>(g)].load(std::memory_order_acquire));
    return m;
  }

 private:
  const int subtasks_;
};

// Per-shard watermark gauges, {query, shard} (the MetricsRegistry owns them).
struct SourceScan::SplitGauges {
  Gauge* max_event_time = nullptr;
  Gauge* holding = nullptr;
  Gauge* idle = nullptr;
};

struct SourceScan::Query {
  Query(const Pipeline& p, const ScanQuery& spec)
      : index(spec.query_index),
        def(p.queries[static_cast<size_t>(spec.query_index)]),
        sink(spec.sink),
        state_space("state." + def.name),
        fingerprint(StateFingerprint(p, def)),
        windowed(def.stages || def.window.kind == WindowKind::kTumble || def.window.kind == WindowKind::kHop ||
                 def.window.kind == WindowKind::kSession),
        pk_key(ops::PartitionKeyGroupKey(p.sources[static_cast<size_t>(def.source)], def)) {
    const SourceDef& src = p.sources[static_cast<size_t>(def.source)];
    const std::vector<bool> used = ops::ColumnsUsed(def, src.schema.size(), src.event_time_column);
    for (size_t c = 0; c < used.size(); ++c)
      if (used[c]) used_columns.push_back(c);
  }
  const int index;
  const QueryDef& def;
  Sink* const sink;
  std::mutex sink_mu;  // the sink is shared by the subtasks: one Write (a batch) at a time
  const std::string state_space;
  std::string fingerprint;  // of the state as restored (see Restore())
  const bool windowed;
  int pk_key;  // ops::PartitionKeyGroupKey(): key groups placed by the partition key, or -1
  std::vector<size_t> used_columns;  // the source columns the query reads (ops::ColumnsUsed)
  uint32_t key_groups = 1;  // K of the query's state (from its checkpoint, or the default)
  // Per split: the position this query's checkpoint saved. Records before it were processed by
  // the query before the restart (the scan may seek lower for another query), so it skips them.
  std::vector<uint64_t> resume_at;
  std::vector<SplitGauges> split_gauges;  // parallel to splits_
  Counter* records_in = nullptr;
  Counter* bad_records = nullptr;
  Counter* late_dead_letter = nullptr;   // ... sent to the dead-letter queue
  Counter* late_side_output = nullptr;   // ... sent to the source's late_output stream
  Counter* rows_emitted = nullptr;
  Counter* rows_exchanged = nullptr;
  Counter* state_evictions = nullptr;
  Counter* state_reads = nullptr;
  Counter* checkpoints = nullptr;
  Counter* checkpoint_failures = nullptr;
  Histogram* checkpoint_seconds = nullptr;
  Gauge* checkpoint_bytes = nullptr;
  Gauge* checkpoint_age = nullptr;
  Gauge* watermark_lag = nullptr;
  Gauge* watermark = nullptr;
  Gauge* open_windows = nullptr;
  Gauge* state_groups = nullptr;
  Gauge* spilled_groups = nullptr;
  Gauge* state_keys = nullptr;   // the state store's estimate for the query's state space
  Gauge* state_bytes = nullptr;
  Gauge* running = nullptr;      // 1 running, 0 stopped or failed
  Gauge* checkpoint_last_success = nullptr;
};

// What one subtask sends another: the rows of a batch that belong to the receiver's key groups
// (and the batch's largest event time, which is the split's progress), a split's change of
// "holds the watermark", or a barrier.
struct SourceScan::Message {
  enum class Kind : uint8_t { kRows, kSplitState, kBarrier };
  Kind kind = Kind::kRows;
  uint32_t split = 0;
  bool holds = true;       // kSplitState
  uint64_t barrier = 0;    // kBarrier
  EventTime max_event_time = EventTime::Min();  // kRows
  struct Part {
    uint32_t query = 0;               // index in queries_
    size_t n = 0;                     // producer, while building: rows[0, n) are this batch's
    std::vector<Row> rows;            // passed WHERE
    std::vector<uint32_t> groups;     // each row's key group
    std::vector<uint64_t> positions;  // each row's record position (for late records)
    std::string data;                 // the records' bytes, back to back (for late records)
    std::vector<uint32_t> data_end;   // where each row's bytes end in `data`
  };
  std::vector<Part> parts;  // kRows
  size_t used_parts = 0;    // producer, while building: parts[0, used_parts) are this batch's
};

struct SourceScan::Subtask {
  int index = 0;
  std::unique_ptr<RowDecoder> decoder;
  std::vector<std::unique_ptr<ops::QueryPipeline>> dataflow;  // per query (queries_ order)
  std::vector<uint64_t> seen_evictions, seen_reads;           // the current dataflow's counts added
  std::vector<std::deque<Message>> pending;                   // per destination: waiting for room
  enum class Phase { kRunning, kAligning, kAligned } phase = Phase::kRunning;
  uint64_t barrier = 0;            // the barrier being aligned, or the last one
  std::vector<bool> barrier_from;  // per subtask: its barrier has arrived
  std::atomic<bool> over_bound{false};   // a pipeline is over its state cache bound
  std::atomic<bool> state_error{false};  // a pipeline failed to read spilled state
  std::string last_error;
  // Step buffers, kept between steps (the decoder's rows keep their buffers).
  std::vector<Row> rows, sub_rows, out, local_rows;
  std::vector<size_t> row_index, sub_index;
  std::vector<uint64_t> local_positions;
  std::vector<uint32_t> groups, local_groups;
  std::vector<DecodeError> errors;
  std::vector<ops::LateRow> late;
  std::vector<Message> outgoing;  // per destination, for the batch being read
  std::vector<std::pair<std::string, std::string>> late_batch;
  Gauge* inbox_depth = nullptr;  // sluice_exchange_queue_messages{source, worker}
  std::chrono::steady_clock::time_point last_lag{};  // when the splits' lag was last read
};

namespace {

}  // namespace

SourceScan::SourceScan(const ScanEnv& env, int source_index, Source* source, DecoderFactory decoders,
                       std::vector<ScanQuery> queries, RecordAppender* late_output, ScanOptions options,
                       int parallelism)
    : env_(env),
      source_def_(env.pipeline->sources[static_cast<size_t>(source_index)]),
      source_(source),
      decoders_(std::move(decoders)),
      queries_spec_(std::move(queries)),
      late_output_(late_output),
      options_(options),
      parallelism_(std::max(parallelism, 1)) {
  MetricLabels s{{"source", source_def_.name}};
  records_read_ = &env_.metrics->GetCounter("sluice_source_records_read_total",
                                            "Records read from a source's splits (once, for every query that reads it)", s);
  records_decoded_ = &env_.metrics->GetCounter("sluice_source_records_decoded_total",
                                               "Records decoded from a source (each record once, for every query that reads it)", s);
  source_bad_records_ = &env_.metrics->GetCounter("sluice_source_bad_records_total",
                                                  "Records of a source that could not be decoded (sent to the dead-letter queue)", s);
  for (const ScanQuery& spec : queries_spec_) {
    auto q = std::make_unique<Query>(*env_.pipeline, spec);
    const std::string& sink_name = env_.pipeline->sinks[static_cast<size_t>(q->def.sink)].name;
    AttachQueryMetrics(env_.metrics, sink_name, q.get());
    QueryStatus st;
    st.name = q->def.name;
    st.source = source_def_.name;
    st.sink = sink_name;
    st.idle_timeout = source_def_.idle_timeout;
    st.state = "starting";
    st.workers = parallelism_;
    st.exchange = !q->windowed                          ? "none"
                  : ops::DefaultKeyGroups(q->def) == 1 ? "single worker"
                  : parallelism_ == 1                  ? "none"
                  : q->pk_key >= 0                     ? "partition key"
                                                       : "key group";
    status_.push_back(std::move(st));
    align_ = align_ || q->windowed;
    queries_.push_back(std::move(q));
  }
  parts_.assign(static_cast<size_t>(parallelism_), std::vector<QueryStatus>(queries_.size()));
  for (int w = 0; w < parallelism_; ++w) {
    auto t = std::make_unique<Subtask>();
    t->index = w;
    t->decoder = decoders_();
    t->pending.resize(static_cast<size_t>(parallelism_));
    t->outgoing.resize(static_cast<size_t>(parallelism_));
    t->inbox_depth = &env_.metrics->GetGauge(
        "sluice_exchange_queue_messages",
        "Messages (row batches and barriers) waiting in a worker's exchange inbox from the scan's other workers",
        {{"source", source_def_.name}, {"worker", std::to_string(w)}});
    subtasks_.push_back(std::move(t));
  }
  for (int from = 0; from < parallelism_; ++from) {
    for (int to = 0; to < parallelism_; ++to) {
      channels_.push_back(from == to ? nullptr : std::make_unique<Channel>(std::max<size_t>(options_.exchange_queue_messages, 1)));
      returns_.push_back(from == to ? nullptr : std::make_unique<Channel>(std::max<size_t>(options_.exchange_queue_messages, 1)));
    }
  }
}

SourceScan::~SourceScan() {
  if (in_flight_.result.valid()) in_flight_.result.wait();
}

bool SourceScan::Exchanged(const Query& q) const { return parallelism_ > 1 && q.windowed; }

void SourceScan::AttachQueryMetrics(MetricsRegistry* metrics, const std::string& sink_name, Query* q) {
  MetricLabels l{{"query", q->def.name}};
  q->records_in = &metrics->GetCounter("sluice_query_records_in_total", "Records read by a query", l);
  q->bad_records = &metrics->GetCounter("sluice_query_bad_records_total", "Records a query could not decode", l);
  // Late records by where they went (QueryStatus::late_records is their sum).
  const char* kLateHelp = "Records that arrived after their window closed, by where they went";
  q->late_dead_letter = &metrics->GetCounter("sluice_late_records_total", kLateHelp,
                                             {{"query", q->def.name}, {"disposition", "dead_letter"}});
  q->late_side_output = &metrics->GetCounter("sluice_late_records_total", kLateHelp,
                                             {{"query", q->def.name}, {"disposition", "late_output"}});
  q->rows_emitted = &metrics->GetCounter("sluice_sink_rows_total", "Rows emitted to a sink", {{"sink", sink_name}, {"query", q->def.name}});
  q->rows_exchanged = &metrics->GetCounter("sluice_exchange_rows_total",
                                           "Rows sent to another worker because it owns their key group", l);
  q->watermark_lag = &metrics->GetGauge("sluice_watermark_lag_seconds", "Wall clock minus the query's watermark", l);
  q->watermark = &metrics->GetGauge("sluice_watermark_timestamp_seconds", "The query's watermark, Unix seconds", l);
  q->open_windows = &metrics->GetGauge("sluice_open_windows", "Windows held in state", l);
  q->state_groups = &metrics->GetGauge("sluice_state_groups", "Window state groups (pane, key) held in memory", l);
  q->state_keys = &metrics->GetGauge("sluice_state_keys",
                                     "Keys of the query's state in the state store (RocksDB's estimate)", l);
  q->state_bytes = &metrics->GetGauge("sluice_state_bytes",
                                      "Bytes of the query's state in the state store: SST files plus memtables (estimate)", l);
  q->running = &metrics->GetGauge("sluice_query_running", "1 while the query runs; 0 once it stopped or failed", l);
  q->spilled_groups = &metrics->GetGauge("sluice_state_spilled_groups",
                                         "Window state groups held only in the state store (evicted from the cache)", l);
  q->state_evictions = &metrics->GetCounter("sluice_state_evictions_total",
                                            "Window state groups evicted from the bounded state cache", l);
  q->state_reads = &metrics->GetCounter("sluice_state_reads_total", "Window state groups read back from the state store", l);
  q->checkpoints = &metrics->GetCounter("sluice_checkpoints_total", "Checkpoints committed", l);
  q->checkpoint_failures = &metrics->GetCounter("sluice_checkpoint_failures_total",
                                                "Checkpoints that failed to commit (the query restarted from the last one)", l);
  q->checkpoint_seconds = &metrics->GetHistogram("sluice_checkpoint_duration_seconds", "Time to take and commit a checkpoint", l,
                                                 {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
  q->checkpoint_bytes = &metrics->GetGauge("sluice_checkpoint_bytes", "Bytes written by the last checkpoint", l);
  q->checkpoint_age = &metrics->GetGauge("sluice_checkpoint_age_seconds", "Wall clock since the last committed checkpoint", l);
  q->checkpoint_last_success = &metrics->GetGauge("sluice_checkpoint_last_success_timestamp_seconds",
                                                  "When the last checkpoint committed (or the one restored was taken), Unix seconds", l);
}

SourceScan::SplitGauges SourceScan::SplitMetrics(MetricsRegistry* metrics, const std::string& query,
                                                 const std::string& shard) {
  MetricLabels l{{"query", query}, {"shard", shard}};
  SplitGauges g;
  g.max_event_time = &metrics->GetGauge("sluice_shard_max_event_timestamp_seconds",
                                        "Largest event time the query has read from the shard, Unix seconds", l);
  g.holding = &metrics->GetGauge("sluice_watermark_holding_shard",
                                 "1 for the shard whose watermark is the query's watermark (the one holding it back)", l);
  g.idle = &metrics->GetGauge("sluice_shard_idle", "1 while the shard is idle (idle_timeout) and does not hold the watermark", l);
  return g;
}

Status SourceScan::Restore() {
  // Every query's record first: a damaged or mismatched one stops the scan before anything moves.
  std::vector<CheckpointRecord> records(queries_.size());
  std::vector<bool> have(queries_.size(), false);
  uint64_t id = 0;
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    auto saved = env_.store->Get("sluice.meta", RecordKey(q.def.name));
    if (saved.ok()) {
      auto decoded = DecodeCheckpointRecord(*saved);
      if (!decoded.ok()) return Status::Corruption("query " + q.def.name + ": " + decoded.status().message());
      records[qi] = std::move(decoded).value();
      have[qi] = true;
    } else if (saved.status().code() != StatusCode::kNotFound) {
      return saved.status();
    }
    if (have[qi] && q.pk_key >= 0 && records[qi].fingerprint == StateFingerprint(*env_.pipeline, q.def, false)) {
      // State made before the query's groups were placed by the partition key (or with the
      // source's partition_key added since): it stays placed by XXH3, and rows are exchanged.
      q.pk_key = -1;
      q.fingerprint = records[qi].fingerprint;
    }
    if (have[qi] && records[qi].fingerprint != q.fingerprint) {
      return Status::InvalidArgument("query " + q.def.name +
                                     ": the checkpointed state cannot be used by the query as it is now written.\n"
                                     "  state was made by: " + records[qi].fingerprint + "\n  the query now has:  " +
                                     q.fingerprint +
                                     "\nRestore the previous pipeline, or start this query from scratch with a new data "
                                     "directory (or another sink, which gives the query another name).");
    }
    // K is fixed when the state is first made; records from before key groups mean K = 1.
    q.key_groups = have[qi] ? records[qi].key_groups : ops::DefaultKeyGroups(q.def);
    id = std::max(id, records[qi].id);
  }
  if (in_flight_.result.valid()) in_flight_.result.wait();  // never restore under a running commit
  in_flight_.result = {};
  ResetExchange();
  const EventTime now = WallNow();
  splits_.clear();
  splits_version_ = source_->splits_version();
  pk_groups_ = 0;
  for (const auto& q : queries_) {
    if (q->pk_key >= 0 && q->key_groups > 1 && pk_groups_ == 0) pk_groups_ = q->key_groups;
  }
  for (auto& reader : source_->OpenSplits()) {
    splits_.push_back(std::make_unique<Split>(std::move(reader), parallelism_));
    splits_.back()->owner = SplitOwner(*splits_.back()->reader, splits_.size() - 1);
  }
  UpdateOwnedMask();
  // The state cache bound is the scan's: each subtask's pipelines get an equal share.
  const size_t cache = options_.state_cache_groups == 0
                           ? 0
                           : std::max<size_t>(options_.state_cache_groups / static_cast<size_t>(parallelism_), 1);
  for (auto& tp : subtasks_) {
    Subtask& t = *tp;
    t.dataflow.clear();
    t.seen_evictions.assign(queries_.size(), 0);
    t.seen_reads.assign(queries_.size(), 0);
    t.over_bound.store(false);
    t.state_error.store(false);
    for (size_t qi = 0; qi < queries_.size(); ++qi) {
      Query& q = *queries_[qi];
      const ops::KeyGroupRange range = q.windowed ? ops::KeyGroupsOfWorker(q.key_groups, parallelism_, t.index)
                                                  : ops::KeyGroupRange{};
      auto df = std::make_unique<ops::QueryPipeline>(*env_.pipeline, q.index, std::max<size_t>(splits_.size(), 1), now, range,
                                                     q.pk_key >= 0);
      if (cache > 0) df->EnableStateCache(env_.store, q.state_space, cache);
      for (size_t i = 0; i < splits_.size(); ++i) {
        for (const SplitPosition& p : records[qi].splits) {
          if (p.id == splits_[i]->reader->id()) df->RestoreSplit(i, p.max_event_time);
        }
      }
      t.dataflow.push_back(std::move(df));
    }
  }
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    q.resume_at.assign(splits_.size(), 1);
    q.split_gauges.clear();
    for (size_t i = 0; i < splits_.size(); ++i) {
      q.split_gauges.push_back(SplitMetrics(env_.metrics, q.def.name, splits_[i]->reader->id()));
      for (const SplitPosition& p : records[qi].splits) {
        if (p.id == splits_[i]->reader->id()) q.resume_at[i] = p.next_position;
      }
    }
  }
  // Each split resumes at the smallest saved position; queries ahead of it skip what they saw.
  for (size_t i = 0; i < splits_.size(); ++i) {
    Split& s = *splits_[i];
    uint64_t next = UINT64_MAX;
    for (const auto& q : queries_) next = std::min(next, q->resume_at[i]);
    s.next_position.store(next);
    s.ResetAlignment();
    SLUICE_RETURN_IF_ERROR(s.reader->Seek(next));
  }
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    if (have[qi]) {
      for (auto& t : subtasks_) {
        ops::QueryPipeline& df = *t->dataflow[qi];
        // A windowed pipeline without key groups holds none of the state (K = 1 lives on subtask 0).
        if (q.windowed && df.key_groups().empty()) continue;
        SLUICE_RETURN_IF_ERROR(df.Restore(records[qi].scalars, env_.store, q.state_space));
      }
    }
    std::lock_guard sink_lock(q.sink_mu);
    SLUICE_RETURN_IF_ERROR(q.sink->Recover(env_.store));
  }
  checkpoint_id_ = id;
  last_checkpoint_ = now;
  std::lock_guard lock(status_mu_);
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    QueryStatus& st = status_[qi];
    st.checkpoint_id = records[qi].id;
    st.checkpoint_time = have[qi] ? EventTime{records[qi].wall_ms * 1000} : EventTime::Min();
    st.key_groups = q.key_groups;
    st.exchange = ExchangeKind(q);
    if (st.state == "starting") st.state = "running";
    if (have[qi]) q.checkpoint_last_success->Set(static_cast<double>(records[qi].wall_ms) / 1e3);
    q.running->Set(st.state == "running" ? 1 : 0);
  }
  return Status::OK();
}

void SourceScan::ResetExchange() {
  for (auto& c : channels_) {
    if (c) c->Clear();
  }
  for (auto& c : returns_) {
    if (c) c->Clear();
  }
  for (auto& t : subtasks_) {
    for (auto& p : t->pending) p.clear();
    for (Message& m : t->outgoing) m = Message();
  }
  for (auto& s : splits_) s->holds = true;
}

Status SourceScan::BeginCheckpoint() {
  // Every subtask is paused at the barrier: their pipelines and the sinks can be read here.
  const auto started = std::chrono::steady_clock::now();
  auto batch = std::make_shared<StoreBatch>();
  const uint64_t id = checkpoint_id_ + 1;
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    CheckpointRecord record;
    record.id = id;
    record.wall_ms = WallNow().millis();
    record.fingerprint = q.fingerprint;
    record.key_groups = q.key_groups;
    for (auto& t : subtasks_) {
      // Each subtask's key groups; the pipeline scalars are subtask 0's (it holds group 0).
      std::string scalars;
      t->dataflow[qi]->CheckpointDelta(q.state_space, batch.get(), &scalars);
      if (t->index == 0) record.scalars = std::move(scalars);
    }
    {
      std::lock_guard sink_lock(q.sink_mu);
      SLUICE_RETURN_IF_ERROR(q.sink->PrepareCheckpoint(id, batch.get()));
    }
    for (size_t i = 0; i < splits_.size(); ++i) {
      EventTime max_t = EventTime::Min();
      for (auto& t : subtasks_) max_t = std::max(max_t, t->dataflow[qi]->split_max_event_time(i));
      record.splits.push_back({splits_[i]->reader->id(), std::max(splits_[i]->next_position.load(), q.resume_at[i]), max_t});
    }
    batch->Put("sluice.meta", RecordKey(q.def.name), EncodeCheckpointRecord(record));
  }
  in_flight_.positions.clear();
  for (const auto& s : splits_) in_flight_.positions.push_back(s->next_position.load());
  // The commit (WAL write and fsync, or SST ingestion) runs off the workers, which go on
  // processing: the batch holds copies, so later steps cannot change what it commits.
  in_flight_.id = id;
  in_flight_.started = started;
  in_flight_.bytes = batch->bytes();
  StateStore* store = env_.store;
  in_flight_.result = std::async(std::launch::async, [store, batch]() -> Status {
    try {
      CrashPoint("checkpoint.before_commit");
      Status st = store->Commit(*batch);
      if (st.ok()) CrashPoint("checkpoint.after_commit");  // state committed, archive not yet published
      return st;
    } catch (const std::exception& e) {  // bad_alloc building the batch's files, say
      return Status::Internal(std::string("checkpoint commit: ") + e.what());
    }
  });
  return Status::OK();
}

Status SourceScan::FinishCheckpoint(bool wait) {
  if (!in_flight_.result.valid()) return Status::OK();
  if (!wait && in_flight_.result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return Status::OK();
  SLUICE_RETURN_IF_ERROR(in_flight_.result.get());
  checkpoint_id_ = in_flight_.id;
  last_checkpoint_ = WallNow();
  state_read_failures_ = 0;
  for (auto& q : queries_) {
    Status published;
    {
      std::lock_guard sink_lock(q->sink_mu);
      published = q->sink->CommitCheckpoint(checkpoint_id_);
    }
    if (!published.ok()) {
      // Committed all the same; the sink retries at the next checkpoint or on recovery.
      SLUICE_LOG_WARN("publishing a committed checkpoint's output failed; retried at the next one",
                      {{"component", "engine"}, {"query", q->def.name}, {"checkpoint", checkpoint_id_},
                       {"error", published.ToString()}});
    }
  }
  CrashPoint("checkpoint.after_publish");
  // Splits are only ever appended between a checkpoint's start and its finish (a restore drops
  // the commit in flight first), so index i is still the split whose position was saved. The
  // split's owner tells its reader (readers are used by one thread).
  for (size_t i = 0; i < in_flight_.positions.size() && i < splits_.size(); ++i) {
    splits_[i]->to_ack.store(in_flight_.positions[i]);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - in_flight_.started).count();
  for (auto& q : queries_) {
    q->checkpoints->Inc();
    q->checkpoint_bytes->Set(static_cast<double>(in_flight_.bytes));
    q->checkpoint_seconds->Observe(seconds);
    q->checkpoint_last_success->Set(static_cast<double>(last_checkpoint_.micros) / 1e6);
  }
  RecordCheckpoint({checkpoint_id_, source_def_.name, {}, last_checkpoint_, seconds, in_flight_.bytes, {}});
  std::lock_guard lock(status_mu_);
  for (QueryStatus& st : status_) {
    st.checkpoint_id = checkpoint_id_;
    st.checkpoint_time = last_checkpoint_;
  }
  return Status::OK();
}

void SourceScan::Coordinate(EventTime now) {
  // Subtask 0, running: publish a finished commit; raise a barrier when a checkpoint is due.
  const bool requested = request_pending_.load();
  bool state_error = false, wants = false;
  for (auto& t : subtasks_) {
    state_error = state_error || t->state_error.load();
    wants = wants || t->over_bound.load();
  }
  Status st = FinishCheckpoint(false);
  if (!st.ok()) {
    // Every subtask must be paused for the restart: it happens at the next barrier.
    restart_cause_ = st;
  }
  const auto since = now - last_checkpoint_;
  for (auto& q : queries_) {
    if (wants) break;
    std::lock_guard sink_lock(q->sink_mu);
    wants = q->sink->WantsCheckpoint();
  }
  const bool resharded = source_->splits_version() != splits_version_;
  const bool due = requested || state_error || !restart_cause_.ok() || resharded ||
                   (!in_flight_.result.valid() &&
                    (since >= options_.checkpoint_interval || (wants && since >= options_.min_checkpoint_pause)));
  if (!due) return;
  barrier_forced_ = requested;
  barrier_raised_.store(barrier_raised_.load() + 1, std::memory_order_release);
}

void SourceScan::OnAligned() {
  // Subtask 0, with every subtask paused at the barrier and every queue empty.
  Status st = restart_cause_;
  bool state_error = false;
  restart_cause_ = Status::OK();
  if (st.ok()) {
    for (auto& t : subtasks_) {
      for (auto& df : t->dataflow) {
        if (st.ok() && !df->state_status().ok()) {
          st = df->state_status();
          state_error = true;
        }
      }
    }
  }
  if (st.ok()) st = FinishCheckpoint(true);  // one commit in flight at a time
  if (st.ok()) {
    if (Status r = RefreshSplits(); !r.ok()) subtasks_[0]->last_error = "splits: " + r.ToString();
  }
  if (st.ok()) st = BeginCheckpoint();
  if (st.ok() && barrier_forced_) st = FinishCheckpoint(true);
  if (!st.ok()) Restart(st, state_error);
  if (barrier_forced_ && !in_flight_.result.valid()) AnswerRequests(st);
  barrier_forced_ = false;
}

void SourceScan::Restart(const Status& cause, bool state_error) {
  if (in_flight_.result.valid()) in_flight_.result.wait();  // never restore under a running commit
  in_flight_.result = {};
  for (auto& q : queries_) q->checkpoint_failures->Inc();
  RecordCheckpoint({checkpoint_id_ + 1, source_def_.name, {}, WallNow(), 0, 0, cause.ToString()});  // the attempt
  SLUICE_LOG_ERROR(state_error ? "reading window state failed; restarting the queries from the last checkpoint"
                               : "checkpoint failed; restarting the queries from the last checkpoint",
                   {{"component", "engine"}, {"source", source_def_.name}, {"error", cause.ToString()},
                    {"checkpoint", checkpoint_id_}});
  // The same state read failing again before any checkpoint commits is not transient (a damaged
  // value, say): stop the queries rather than restart them in a loop.
  Status r = state_error && ++state_read_failures_ > 1
                 ? Status::Corruption("window state cannot be read after a restart: " + cause.ToString())
                 : Restore();
  {
    std::lock_guard lock(status_mu_);
    for (QueryStatus& qs : status_) qs.last_error = "checkpoint: " + cause.ToString();
  }
  if (!r.ok()) Fail("restart failed: " + r.ToString());
}

void SourceScan::AnswerRequests(const Status& st) {
  std::lock_guard lock(request_mu_);
  served_ = requested_;
  request_status_ = st;
  request_pending_.store(false);
  request_cv_.notify_all();
}

void SourceScan::Fail(const std::string& reason) {
  if (failed_.exchange(true)) return;  // the first reason stays
  SLUICE_LOG_ERROR("the source's queries stop", {{"component", "engine"}, {"source", source_def_.name}, {"reason", reason}});
  {
    std::lock_guard lock(status_mu_);
    for (QueryStatus& qs : status_) {
      qs.state = "failed";
      qs.last_error = reason;
    }
  }
  for (auto& q : queries_) q->running->Set(0);
  SetRunning(false);
}

void SourceScan::SetRunning(bool running) {
  std::lock_guard lock(request_mu_);
  running_ = running;
  if (!running) {
    served_ = requested_;
    request_status_ = Status::Unavailable("source " + source_def_.name + ": its queries are not running");
    request_pending_.store(false);
    request_cv_.notify_all();
  }
}

void SourceScan::set_worker(int worker) {
  std::lock_guard lock(status_mu_);
  for (QueryStatus& qs : status_) qs.worker = worker;
}

Result<uint64_t> SourceScan::RequestCheckpoint(std::chrono::milliseconds timeout) {
  std::unique_lock lock(request_mu_);
  if (!running_) return Status::Unavailable("source " + source_def_.name + ": its queries are not running");
  const uint64_t ticket = ++requested_;
  request_pending_.store(true);
  if (!request_cv_.wait_for(lock, timeout, [&] { return served_ >= ticket; }))
    return Status::Unavailable("source " + source_def_.name + ": no checkpoint within " + std::to_string(timeout.count()) + " ms");
  if (!request_status_.ok()) return request_status_;
  std::lock_guard status_lock(status_mu_);
  return status_.empty() ? 0 : status_[0].checkpoint_id;
}

Status SourceScan::RefreshSplits() {
  // Every subtask is paused at a barrier (or not started).
  const uint64_t version = source_->splits_version();
  if (version == splits_version_) return Status::OK();
  splits_version_ = version;
  std::set<std::string> known;
  for (const auto& s : splits_) known.insert(s->reader->id());
  for (auto& reader : source_->OpenSplits()) {
    if (known.count(reader->id()) != 0) continue;
    auto s = std::make_unique<Split>(std::move(reader), parallelism_);
    s->owner = SplitOwner(*s->reader, splits_.size());
    SLUICE_RETURN_IF_ERROR(s->reader->Seek(1));  // a new shard: from its first record
    for (auto& t : subtasks_) {
      for (auto& df : t->dataflow) df->AddSplit(WallNow());
    }
    for (auto& q : queries_) {
      q->resume_at.push_back(1);
      q->split_gauges.push_back(SplitMetrics(env_.metrics, q->def.name, s->reader->id()));
    }
    splits_.push_back(std::move(s));
  }
  UpdateOwnedMask();
  std::lock_guard lock(status_mu_);
  for (size_t qi = 0; qi < queries_.size(); ++qi) status_[qi].exchange = ExchangeKind(*queries_[qi]);
  return Status::OK();
}

int SourceScan::SplitOwner(const SourceSplit& reader, size_t index) const {
  const std::optional<HashKeyRange> range = reader.hash_key_range();
  if (pk_groups_ == 0 || !range) return static_cast<int>(index % static_cast<size_t>(parallelism_));
  // The worker that owns the key group in the middle of the shard's range: with CreateStream's
  // even ranges and a shard count that divides K, it owns every group of the shard.
  const HashKey mid = range->start + (range->end - range->start) / 2;
  return ops::KeyGroupOwner(ops::KeyGroupOfHashKey(mid, pk_groups_), pk_groups_, parallelism_);
}

void SourceScan::UpdateOwnedMask() {
  int mask = 0;
  bool by_hash = !splits_.empty();
  for (const auto& sp : splits_) {
    mask |= 1 << std::min(sp->owner, 30);
    by_hash = by_hash && sp->reader->hash_key_range().has_value();
  }
  splits_owned_mask_.store(mask);
  splits_by_hash_ = by_hash;
  // Aligned: every open split's first and last key group are owned by the worker reading it.
  bool aligned = by_hash && pk_groups_ > 0;
  for (const auto& sp : splits_) {
    if (!aligned) break;
    if (sp->finished.load()) continue;
    const std::optional<HashKeyRange> r = sp->reader->hash_key_range();
    const uint32_t first = ops::KeyGroupOfHashKey(r->start, pk_groups_), last = ops::KeyGroupOfHashKey(r->end, pk_groups_);
    aligned = ops::KeyGroupOwner(first, pk_groups_, parallelism_) == sp->owner &&
              ops::KeyGroupOwner(last, pk_groups_, parallelism_) == sp->owner;
  }
  splits_aligned_ = aligned;
}

std::string SourceScan::ExchangeKind(const Query& q) const {
  if (!q.windowed) return "none";
  if (q.key_groups == 1) return "single worker";
  if (!Exchanged(q)) return "none";
  // Rows stay on the worker that read their shard when every shard's groups belong to the worker
  // that reads it (CreateStream's even ranges and a worker count that divides the shard count);
  // otherwise the groups a shard shares with another worker's range are exchanged.
  if (q.pk_key >= 0 && pk_groups_ == q.key_groups && splits_by_hash_ && splits_aligned_) return "partition key";
  return "key group";
}

bool SourceScan::AheadOfOthers(size_t si) const {
  const int64_t drift = options_.max_watermark_drift.count() * 1000000;
  if (drift <= 0 || !align_ || (splits_.size() < 2 && parallelism_ == 1)) return false;
  const int64_t mine = splits_[si]->newest_micros.load(std::memory_order_relaxed);
  if (mine == INT64_MIN) return false;
  // The slowest split that still has records to read (or has not been read yet) and can be
  // read, as the subtask that knows least of it had taken it in at its last AdvanceTime(); the
  // split itself counts too (every subtask must have advanced past most of what was read of it).
  int64_t slowest = splits_[si]->least_known();
  for (size_t i = 0; i < splits_.size(); ++i) {
    const Split& o = *splits_[i];
    if (i == si || o.finished.load() || o.backlog.load(std::memory_order_relaxed) == Split::kCaughtUp) continue;
    if (!Readable(o)) continue;
    slowest = std::min(slowest, o.least_known());
  }
  if (slowest == INT64_MAX) return false;
  return slowest == INT64_MIN || mine - slowest > drift;
}

bool SourceScan::Readable(const Split& s) const {
  // Per-key order across a reshard: a child shard is read only after every parent is finished.
  // A parent that is gone (expired) counts as finished.
  for (const std::string& parent : s.reader->parent_ids()) {
    for (const auto& other : splits_) {
      if (other->reader->id() == parent && !other->finished.load()) return false;
    }
  }
  return true;
}

void SourceScan::WriteOutput(Subtask& t, Query& q, std::vector<Row>* rows) {
  if (rows->empty()) return;
  Status w;
  {
    std::lock_guard sink_lock(q.sink_mu);
    w = q.sink->Write(*rows);
  }
  if (!w.ok()) t.last_error = "sink: " + w.ToString();
  q.rows_emitted->Inc(rows->size());
  rows->clear();
}

void SourceScan::HandleLate(Subtask& t, size_t qi, const std::string& split_id, const std::vector<uint64_t>& positions,
                            const std::vector<std::string_view>* data) {
  // t.late[i].row indexes `positions` and `data` (each rejected row's record).
  Query& q = *queries_[qi];
  const EventTime wm = t.dataflow[qi]->watermark();
  for (const ops::LateRow& l : t.late) {
    const uint64_t position = positions[l.row];
    const std::string_view payload = (*data)[l.row];
    if (l.out_of_range) {
      q.bad_records->Inc();
      Status w = env_.dlq->Write("decode", source_def_.name, split_id, position,
                                 "event time out of range for windows (more than 36,000 years from 1970)", payload);
      if (!w.ok()) t.last_error = w.ToString();
      continue;
    }
    (late_output_ != nullptr ? q.late_side_output : q.late_dead_letter)->Inc();
    const std::string reason = "window ending " + FormatTimestamp(l.window_end) + " (allowed lateness " +
                               FormatDuration(source_def_.allowed_lateness) + ") already closed at watermark " +
                               FormatTimestamp(wm);
    if (late_output_ != nullptr) {
      // The late-data side output: one JSON record per late event, keyed by shard.
      std::string j = "{\"query\":";
      AppendJsonString(q.def.name, &j);
      j += ",\"source\":";
      AppendJsonString(source_def_.name, &j);
      j += ",\"shard\":";
      AppendJsonString(split_id, &j);
      j += ",\"sequence_number\":\"" + std::to_string(position) + "\",\"reason\":";
      AppendJsonString(reason, &j);
      j += ",\"watermark\":\"" + FormatTimestamp(wm) + "\",\"window_end\":\"" + FormatTimestamp(l.window_end) +
           "\",\"data\":";
      AppendJsonString(payload, &j);
      j += "}";
      t.late_batch.emplace_back(split_id, std::move(j));
      continue;
    }
    Status w = env_.dlq->Write("late", source_def_.name, split_id, position, reason, payload);
    if (!w.ok()) t.last_error = w.ToString();
  }
  if (!t.late_batch.empty()) {
    Status w = late_output_->Append(t.late_batch);
    if (!w.ok()) t.last_error = "late_output " + source_def_.late_output + ": " + w.ToString();
    t.late_batch.clear();
  }
}

bool SourceScan::Send(Subtask& t, int to, Message&& m) {
  auto& pending = t.pending[static_cast<size_t>(to)];
  if (pending.empty() && channel(t.index, to).TryPush(m)) return true;
  pending.push_back(std::move(m));  // in order behind what is already waiting
  return false;
}

bool SourceScan::FlushPending(Subtask& t) {
  bool all = true;
  for (int to = 0; to < parallelism_; ++to) {
    auto& pending = t.pending[static_cast<size_t>(to)];
    Channel* c = to == t.index ? nullptr : &channel(t.index, to);
    while (!pending.empty() && c->TryPush(pending.front())) pending.pop_front();
    all = all && pending.empty();
  }
  return all;
}

void SourceScan::Handle(Subtask& t, Message& m) {
  if (m.kind == Message::Kind::kSplitState) {
    for (size_t qi = 0; qi < queries_.size(); ++qi) {
      if (Exchanged(*queries_[qi])) t.dataflow[qi]->SetSplitHoldsWatermark(m.split, m.holds);
    }
    return;
  }
  if (m.kind != Message::Kind::kRows) return;
  const EventTime now = WallNow();
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    if (!Exchanged(*queries_[qi])) continue;
    t.dataflow[qi]->NoteActivity(m.split, now);
    t.dataflow[qi]->ObserveSplit(m.split, m.max_event_time);
  }
  for (Message::Part& part : m.parts) {
    t.late.clear();
    t.dataflow[part.query]->ProcessRouted(part.rows, part.groups, &t.late);
    if (t.late.empty()) continue;
    std::vector<std::string_view> data;
    for (size_t r = 0; r < part.data_end.size(); ++r) {
      const uint32_t begin = r == 0 ? 0 : part.data_end[r - 1];
      data.push_back(std::string_view(part.data).substr(begin, part.data_end[r] - begin));
    }
    HandleLate(t, part.query, splits_[m.split]->reader->id(), part.positions, &data);
  }
}

void SourceScan::DrainInbound(Subtask& t, bool* any, bool ignore_barriers) {
  for (int from = 0; from < parallelism_; ++from) {
    if (from == t.index) continue;
    Channel& c = channel(from, t.index);
    while (Message* m = c.Front()) {
      if (m->kind == Message::Kind::kBarrier) {
        if (ignore_barriers) {
          c.Pop();
          continue;
        }
        if (t.phase == Subtask::Phase::kAligned) break;  // paused: nothing moves until released
        // Another subtask passed the barrier first: this one joins it here, at a step boundary.
        if (t.phase == Subtask::Phase::kRunning) JoinBarrier(t, m->barrier);
        t.barrier_from[static_cast<size_t>(from)] = true;
        c.Pop();
        break;  // this channel is blocked until every barrier is in
      }
      if (!ignore_barriers && t.phase == Subtask::Phase::kAligning && t.barrier_from[static_cast<size_t>(from)]) break;
      Handle(t, *m);
      if (m->kind == Message::Kind::kRows) {
        // Back to its producer, which refills it: its rows and buffers keep their memory, so
        // neither side allocates per batch (and nothing is freed on another thread's heap).
        Message back = std::move(*m);
        c.Pop();
        returns(t.index, from).TryPush(back);  // when full, `back` is freed here
      } else {
        c.Pop();
      }
      *any = true;
    }
  }
}

void SourceScan::ProcessSplit(Subtask& t, size_t si, bool* any) {
  Split& s = *splits_[si];
  if (uint64_t ack = s.to_ack.exchange(0); ack != 0) s.reader->OnCheckpointCommitted(ack);
  const bool readable = !s.finished.load() && Readable(s);
  auto set_holds = [&](bool holds) {
    if (holds == s.holds) return;
    s.holds = holds;
    for (auto& df : t.dataflow) df->SetSplitHoldsWatermark(si, holds);
    for (int to = 0; to < parallelism_; ++to) {
      if (to == t.index) continue;
      Message m;
      m.kind = Message::Kind::kSplitState;
      m.split = static_cast<uint32_t>(si);
      m.holds = holds;
      Send(t, to, std::move(m));
    }
  };
  set_holds(readable);
  if (!readable) return;
  if (AheadOfOthers(si)) return;  // waits for the splits behind it (watermark alignment)
  Status st = s.reader->Read(options_.batch_records, &s.records);
  if (!st.ok()) {
    t.last_error = s.reader->id() + ": " + st.ToString();
    return;
  }
  if (s.records.empty()) {
    s.backlog.store(Split::kCaughtUp, std::memory_order_relaxed);
    if (s.reader->finished()) {
      s.finished.store(true);
      set_holds(false);
    }
    return;
  }
  *any = true;
  const EventTime now = WallNow();
  for (auto& df : t.dataflow) df->NoteActivity(si, now);
  records_read_->Inc(s.records.size());
  // The one decode of this batch, for every query of the scan.
  t.decoder->DecodeBatch(s.records, &t.rows, &t.row_index, &t.errors);
  records_decoded_->Inc(s.records.size());
  for (const DecodeError& e : t.errors) {
    const SourceRecord& r = s.records[e.index];
    source_bad_records_->Inc();
    for (auto& q : queries_) {
      if (r.position >= q->resume_at[si]) q->bad_records->Inc();
    }
    Status w = env_.dlq->Write("decode", source_def_.name, s.reader->id(), r.position, e.reason, r.data);
    if (!w.ok()) t.last_error = w.ToString();
  }
  const uint64_t first = s.records.front().position, last = s.records.back().position;
  const bool exchange = parallelism_ > 1;
  const EventTime batch_max = t.dataflow.front()->MaxEventTime(t.rows);
  if (batch_max != EventTime::Min()) s.newest_micros.store(batch_max.micros, std::memory_order_relaxed);
  s.backlog.store(Split::kBacklog, std::memory_order_relaxed);
  if (exchange) {
    for (int to = 0; to < parallelism_; ++to) {
      if (to == t.index) continue;
      Message& m = t.outgoing[static_cast<size_t>(to)];
      Channel& back = returns(to, t.index);
      if (Message* r = back.Front()) {
        m = std::move(*r);  // a message `to` has handled: reuse its buffers
        back.Pop();
      } else {
        m = Message();
      }
      m.kind = Message::Kind::kRows;
      m.split = static_cast<uint32_t>(si);
      m.max_event_time = batch_max;
      m.used_parts = 0;
    }
  }
  // The last query that reads this batch may move the decoded rows instead of copying them.
  size_t last_user = queries_.size();
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    if (queries_[qi]->resume_at[si] <= last) last_user = qi;
  }
  std::vector<uint64_t> positions;
  std::vector<std::string_view> data;
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    ops::QueryPipeline& df = *t.dataflow[qi];
    const uint64_t resume = q.resume_at[si];
    if (resume > last) continue;  // the query processed this batch before the restart
    std::vector<Row>* rows = &t.rows;
    const std::vector<size_t>* index = &t.row_index;
    size_t count = s.records.size();
    if (resume > first) {
      // Only after a restart where this query was ahead of another: its part of the batch.
      t.sub_rows.clear();
      t.sub_index.clear();
      for (size_t r = 0; r < t.rows.size(); ++r) {
        if (s.records[t.row_index[r]].position < resume) continue;
        t.sub_rows.push_back(t.rows[r]);
        t.sub_index.push_back(t.row_index[r]);
      }
      rows = &t.sub_rows;
      index = &t.sub_index;
      count = static_cast<size_t>(last + 1 - resume);
    }
    q.records_in->Inc(count);
    t.late.clear();
    t.out.clear();
    if (!Exchanged(q)) {
      df.ProcessBatch(si, *rows, &t.out, &t.late);
      if (!t.late.empty()) {
        positions.clear();
        data.clear();
        for (size_t r = 0; r < rows->size(); ++r) {
          positions.push_back(s.records[(*index)[r]].position);
          data.push_back(s.records[(*index)[r]].data);
        }
        HandleLate(t, qi, s.reader->id(), positions, &data);
      }
      WriteOutput(t, q, &t.out);
      continue;
    }
    // Route by key group: this subtask's groups here, the others' into their messages.
    df.ObserveSplit(si, batch_max);
    df.RouteRows(*rows, &t.groups);
    const bool move = qi == last_user;
    // Window aggregates take the whole batch and skip the groups they do not hold; stage plans
    // (one group, no such check) get a copy of their rows.
    const bool direct = !q.def.stages;
    t.local_rows.clear();
    t.local_groups.clear();
    t.local_positions.clear();
    positions.clear();
    data.clear();
    size_t sent = 0;
    for (size_t r = 0; r < rows->size(); ++r) {
      const uint32_t g = t.groups[r];
      if (g == ops::QueryPipeline::kNoGroup) continue;
      const int owner = ops::KeyGroupOwner(g, q.key_groups, parallelism_);
      const SourceRecord& rec = s.records[(*index)[r]];
      if (owner == t.index) {
        if (direct) continue;
        t.local_rows.push_back(move ? std::move((*rows)[r]) : (*rows)[r]);
        t.local_groups.push_back(g);
        positions.push_back(rec.position);
        data.push_back(rec.data);
        continue;
      }
      Message& m = t.outgoing[static_cast<size_t>(owner)];
      if (m.used_parts == 0 || m.parts[m.used_parts - 1].query != qi) {
        if (m.used_parts == m.parts.size()) m.parts.emplace_back();
        Message::Part& p = m.parts[m.used_parts++];
        p.query = static_cast<uint32_t>(qi);
        p.n = 0;
        p.groups.clear();
        p.positions.clear();
        p.data.clear();
        p.data_end.clear();
      }
      Message::Part& part = m.parts[m.used_parts - 1];
      // Only the columns the query reads are copied, into the recycled row (its buffers reused;
      // its other columns are NULL), so the decoder's rows keep theirs.
      const Row& from = (*rows)[r];
      if (part.n == part.rows.size()) part.rows.emplace_back();
      Row& to_row = part.rows[part.n++];
      if (to_row.size() != from.size()) to_row.assign(from.size(), Value::Null());
      for (size_t c : q.used_columns) to_row[c] = from[c];
      part.groups.push_back(g);
      part.positions.push_back(rec.position);
      part.data.append(rec.data);  // one copy, for the dead-letter queue should the row be late
      part.data_end.push_back(static_cast<uint32_t>(part.data.size()));
      ++sent;
    }
    if (sent > 0) q.rows_exchanged->Inc(sent);
    if (direct) {
      df.ProcessRouted(*rows, t.groups, &t.late);
      if (!t.late.empty()) {
        for (size_t r = 0; r < rows->size(); ++r) {
          positions.push_back(s.records[(*index)[r]].position);
          data.push_back(s.records[(*index)[r]].data);
        }
        HandleLate(t, qi, s.reader->id(), positions, &data);
      }
      continue;
    }
    df.ProcessRouted(t.local_rows, t.local_groups, &t.late);
    if (!t.late.empty()) HandleLate(t, qi, s.reader->id(), positions, &data);
  }
  s.next_position.store(last + 1);
  if (exchange) {
    for (int to = 0; to < parallelism_; ++to) {
      if (to == t.index) continue;
      Message& m = t.outgoing[static_cast<size_t>(to)];
      m.parts.resize(m.used_parts);
      for (Message::Part& p : m.parts) p.rows.resize(p.n);
      Send(t, to, std::move(m));
    }
  }
}

void SourceScan::Step(int subtask, bool* any) {
  if (failed_.load() || subtask < 0 || subtask >= parallelism_) return;
  try {
    StepSubtask(*subtasks_[static_cast<size_t>(subtask)], any);
  } catch (const std::exception& e) {
    // Project code does not throw; a library did (bad_alloc). The scan's state is no longer
    // known to be consistent with its checkpoint: stop its queries, keep the process.
    Fail(std::string("internal error: ") + e.what());
  }
}

void SourceScan::JoinBarrier(Subtask& t, uint64_t barrier) {
  t.barrier = barrier;
  t.phase = Subtask::Phase::kAligning;
  t.barrier_from.assign(static_cast<size_t>(parallelism_), false);
  t.barrier_from[static_cast<size_t>(t.index)] = true;
  for (int to = 0; to < parallelism_; ++to) {
    if (to == t.index) continue;
    Message b;
    b.kind = Message::Kind::kBarrier;
    b.barrier = barrier;
    Send(t, to, std::move(b));  // behind every row this subtask sent before it
  }
}

bool SourceScan::Barrier(Subtask& t, bool* any) {
  using Phase = Subtask::Phase;
  // Join a barrier subtask 0 raised (one that arrived from another subtask was joined in
  // DrainInbound()).
  if (t.phase == Phase::kRunning) {
    const uint64_t raised = barrier_raised_.load(std::memory_order_acquire);
    if (raised <= t.barrier) return true;
    JoinBarrier(t, raised);
    if (parallelism_ > 1) DrainInbound(t, any, false);
  }
  if (t.phase == Phase::kAligning) {
    const bool flushed = FlushPending(t);
    if (!flushed || std::find(t.barrier_from.begin(), t.barrier_from.end(), false) != t.barrier_from.end()) return false;
    t.phase = Phase::kAligned;
    aligned_.fetch_add(1, std::memory_order_acq_rel);  // publishes this subtask's state to subtask 0
  }
  // Aligned: paused until subtask 0 has taken the checkpoint.
  if (t.index == 0 && aligned_.load(std::memory_order_acquire) == parallelism_) {
    OnAligned();
    aligned_.store(0, std::memory_order_relaxed);
    barrier_released_.store(t.barrier, std::memory_order_release);
  }
  if (barrier_released_.load(std::memory_order_acquire) < t.barrier) return false;
  t.phase = Phase::kRunning;
  *any = true;
  return !failed_.load();
}

void SourceScan::StepSubtask(Subtask& t, bool* any) {
  if (parallelism_ > 1 && t.phase != Subtask::Phase::kAligned) DrainInbound(t, any, false);
  if (!Barrier(t, any)) return;
  // Read only when the other subtasks have taken what this one sent them (backpressure).
  if (FlushPending(t)) {
    for (size_t si = 0; si < splits_.size(); ++si) {
      if (splits_[si]->owner == t.index) ProcessSplit(t, si, any);
    }
  }
  const EventTime now = WallNow();
  bool over = false, state_error = false;
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    ops::QueryPipeline& df = *t.dataflow[qi];
    t.out.clear();
    df.AdvanceTime(now, &t.out);
    WriteOutput(t, q, &t.out);
    over = over || df.over_state_cache_bound();
    state_error = state_error || !df.state_status().ok();
  }
  t.over_bound.store(over);
  t.state_error.store(state_error);
  if (align_) {
    // What this subtask's watermark now accounts for, per split (for AheadOfOthers()).
    for (size_t qi = 0; qi < queries_.size(); ++qi) {
      if (!queries_[qi]->windowed) continue;
      const ops::QueryPipeline& df = *t.dataflow[qi];
      for (size_t si = 0; si < splits_.size() && si < df.splits(); ++si)
        splits_[si]->Took(t.index, df.split_max_event_time(si));
      break;
    }
  }
  if (t.index == 0) {
    for (auto& q : queries_) {
      Status tick;
      {
        std::lock_guard sink_lock(q->sink_mu);
        tick = q->sink->Tick(now);
      }
      if (!tick.ok()) t.last_error = "sink: " + tick.ToString();
    }
    Coordinate(now);
    // Subtask 0 joins its own barrier at once (with one subtask, the checkpoint happens here).
    bool ignored = false;
    Barrier(t, &ignored);
  }
  if (!failed_.load()) UpdateStatus(t, now);
}
void SourceScan::UpdateStatus(Subtask& t, EventTime now) {
  // Per query: what this subtask knows (its pipelines, its splits), merged by statuses().
  // The store's estimates (RocksDB properties) at most every 5 s: cheap, but not per step.
  const auto mono = std::chrono::steady_clock::now();
  const bool estimate_due = t.index == 0 && mono - last_estimate_ >= std::chrono::seconds(5);
  if (estimate_due) last_estimate_ = mono;
  size_t inbox = 0;
  for (int from = 0; from < parallelism_; ++from) {
    if (from != t.index) inbox += channel(from, t.index).size();
  }
  t.inbox_depth->Set(static_cast<double>(inbox));
  // The splits' lag (SourceSplit::lag()) at most every 100 ms: cheap, but not per step.
  const bool lag_due = mono - t.last_lag >= std::chrono::milliseconds(100);
  if (lag_due) t.last_lag = mono;
  for (auto& sp : splits_) {
    Split& s = *sp;
    if (!lag_due || s.owner != t.index) continue;
    const SplitLag lag = s.reader->lag();
    // Each gauge appears once its figure is known (a new gauge reads 0, which would claim
    // "caught up"): MillisBehindLatest never for Kafka splits, consumer lag after the first fetch.
    auto labels = [&] { return MetricLabels{{"source", source_def_.name}, {"shard", s.reader->id()}}; };
    if (lag.behind_ms >= 0) {
      if (s.behind_latest == nullptr)
        s.behind_latest = &env_.metrics->GetGauge(
            "sluice_source_behind_latest_seconds",
            "How far the reader is behind the split's newest record (Kinesis MillisBehindLatest, in seconds; log streams)",
            labels());
      s.behind_latest->Set(static_cast<double>(lag.behind_ms) / 1e3);
    }
    if (lag.records >= 0) {
      if (s.lag_records == nullptr)
        s.lag_records = &env_.metrics->GetGauge(
            "sluice_source_lag_records", "Records of the split not read yet (Kafka consumer lag; log streams too)", labels());
      s.lag_records->Set(static_cast<double>(lag.records));
    }
    s.lag_now.store(lag.records, std::memory_order_relaxed);
  }
  if (t.index == 0 && lag_due) ReportReplay();
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    ops::QueryPipeline& df = *t.dataflow[qi];
    const EventTime wm = df.watermark();
    if (t.index == 0) {
      if (estimate_due) {
        q.state_keys->Set(static_cast<double>(env_.store->EstimateKeys(q.state_space)));
        q.state_bytes->Set(static_cast<double>(env_.store->EstimateBytes(q.state_space)));
      }
      q.checkpoint_age->Set(std::chrono::duration<double>(WallNow() - last_checkpoint_).count());
      if (wm != EventTime::Min()) {
        q.watermark_lag->Set(std::chrono::duration<double>(now - wm).count());
        q.watermark->Set(static_cast<double>(wm.micros) / 1e6);
      }
    }
    if (df.windowed()) {
      // Counters of the current dataflow (Restore() makes a new one and resets seen_*).
      const uint64_t ev = df.state_evictions(), rd = df.state_reads();
      q.state_evictions->Inc(ev - t.seen_evictions[qi]);
      q.state_reads->Inc(rd - t.seen_reads[qi]);
      t.seen_evictions[qi] = ev;
      t.seen_reads[qi] = rd;
    }
    const int holding = df.holding_split();
    std::lock_guard lock(status_mu_);
    QueryStatus& part = parts_[static_cast<size_t>(t.index)][qi];
    part.watermark = wm;
    part.holding_split = holding >= 0 && static_cast<size_t>(holding) < splits_.size()
                             ? splits_[static_cast<size_t>(holding)]->reader->id()
                             : std::string();
    part.open_windows = df.open_windows();
    part.state_groups = df.open_groups();
    part.spilled_groups = df.spilled_groups();
    part.splits.clear();
    for (size_t si = 0; si < splits_.size(); ++si) {
      const Split& s = *splits_[si];
      if (s.owner != t.index) continue;
      const EventTime max_t = df.split_max_event_time(si);
      part.splits.push_back({s.reader->id(), max_t, df.split_idle(si), std::max(s.next_position.load(), q.resume_at[si])});
      const SplitGauges& g = q.split_gauges[si];
      if (max_t != EventTime::Min()) g.max_event_time->Set(static_cast<double>(max_t.micros) / 1e6);
      g.holding->Set(holding == static_cast<int>(si) ? 1 : 0);
      g.idle->Set(df.split_idle(si) ? 1 : 0);
    }
    if (t.index == 0) {
      // Whole-query gauges from every subtask's last report.
      size_t windows = 0, groups = 0, spilled = 0;
      for (const auto& p : parts_) {
        windows = std::max(windows, p[qi].open_windows);
        groups += p[qi].state_groups;
        spilled += p[qi].spilled_groups;
      }
      q.open_windows->Set(static_cast<double>(windows));
      q.state_groups->Set(static_cast<double>(groups));
      q.spilled_groups->Set(static_cast<double>(spilled));
    }
    if (!t.last_error.empty()) status_[qi].last_error = t.last_error;
  }
  if (!t.last_error.empty()) {
    SLUICE_LOG_WARN("query error", {{"component", "engine"}, {"source", source_def_.name}, {"error", t.last_error}});
    t.last_error.clear();
  }
}

std::vector<QueryStatus> SourceScan::statuses() const {
  std::lock_guard lock(status_mu_);
  std::vector<QueryStatus> out = status_;
  for (size_t qi = 0; qi < out.size(); ++qi) {
    QueryStatus& st = out[qi];
    const Query& q = *queries_[qi];
    // The watermark and holding shard as subtask 0 sees them: with an exchange its pipelines
    // track every split; without one (projections), the splits it reads.
    st.watermark = parts_[0][qi].watermark;
    st.holding_split = parts_[0][qi].holding_split;
    st.open_windows = st.state_groups = st.spilled_groups = 0;
    st.splits.clear();
    for (const auto& p : parts_) {
      st.open_windows = std::max(st.open_windows, p[qi].open_windows);
      st.state_groups += p[qi].state_groups;
      st.spilled_groups += p[qi].spilled_groups;
      st.splits.insert(st.splits.end(), p[qi].splits.begin(), p[qi].splits.end());
    }
    std::sort(st.splits.begin(), st.splits.end(), [](const SplitStatus& a, const SplitStatus& b) { return a.id < b.id; });
    st.state_evictions = q.state_evictions->value();
    st.state_reads = q.state_reads->value();
    st.records_in = q.records_in->value();
    st.bad_records = q.bad_records->value();
    st.late_dead_letter = q.late_dead_letter->value();
    st.late_side_output = q.late_side_output->value();
    st.late_records = st.late_dead_letter + st.late_side_output;
    st.rows_emitted = q.rows_emitted->value();
    st.rows_exchanged = q.rows_exchanged->value();
    st.pending_reason = PendingReason(q, st);
  }
  return out;
}

std::string SourceScan::PendingReason(const Query& q, const QueryStatus& st) const {
  if (!q.windowed || st.rows_emitted > 0) return {};
  if (st.state == "failed") return "the query failed: " + st.last_error;
  if (st.records_in == 0) return "no record has been read from " + source_def_.name + " yet";
  if (st.watermark == EventTime::Min()) {
    return st.holding_split.empty() ? "no watermark yet: no split has an event time"
                                    : "no watermark yet: split " + st.holding_split + " has not produced an event time";
  }
  std::string r = "the watermark " + FormatTimestamp(st.watermark) + " has not passed the end of any of the " +
                  std::to_string(st.open_windows) + " open windows";
  if (!st.holding_split.empty()) r += "; split " + st.holding_split + " holds it back";
  return r;
}

bool SourceScan::HasWork(int subtask) const {
  if (subtask < 0 || subtask >= parallelism_) return false;
  const Subtask& t = *subtasks_[static_cast<size_t>(subtask)];
  if (t.phase != Subtask::Phase::kRunning || barrier_raised_.load() > t.barrier) return true;
  for (const auto& p : t.pending) {
    if (!p.empty()) return true;
  }
  for (int from = 0; from < parallelism_; ++from) {
    if (from != subtask && !channels_[static_cast<size_t>(from * parallelism_ + subtask)]->empty()) return true;
  }
  return false;
}

bool SourceScan::ReadsSplits(int subtask) const {
  return (splits_owned_mask_.load() >> std::min(subtask, 30) & 1) != 0;
}

void SourceScan::Finish() {
  // No subtask runs. Deliver what is still queued between subtasks, in order (each channel's
  // messages before the sender's pending ones), so the final checkpoint covers every record read.
  if (!failed_.load() && parallelism_ > 1) {
    try {
      bool more = true;
      while (more) {
        more = false;
        for (auto& t : subtasks_) DrainInbound(*t, &more, /*ignore_barriers=*/true);
        for (auto& from : subtasks_) {
          for (int to = 0; to < parallelism_; ++to) {
            auto& pending = from->pending[static_cast<size_t>(to)];
            while (!pending.empty()) {
              if (pending.front().kind != Message::Kind::kBarrier) Handle(*subtasks_[static_cast<size_t>(to)], pending.front());
              pending.pop_front();
              more = true;
            }
          }
        }
      }
    } catch (const std::exception& e) {
      Fail(std::string("internal error delivering queued rows: ") + e.what());
    }
  }
  for (auto& t : subtasks_) t->phase = Subtask::Phase::kRunning;
  // One last advance of time on every subtask, now that each has taken in every row and split
  // progress sent to it: the windows that what was read closes fire before the final checkpoint,
  // whichever subtask had run last (otherwise a subtask whose last step came before the other's
  // final batch would leave them open, and the table at the stop would depend on scheduling).
  if (!failed_.load()) {
    try {
      const EventTime now = WallNow();
      for (auto& tp : subtasks_) {
        Subtask& t = *tp;
        for (size_t qi = 0; qi < queries_.size() && qi < t.dataflow.size(); ++qi) {
          t.out.clear();
          t.dataflow[qi]->AdvanceTime(now, &t.out);
          WriteOutput(t, *queries_[qi], &t.out);
        }
      }
    } catch (const std::exception& e) {
      Fail(std::string("internal error in the last advance of time: ") + e.what());
    }
  }
  // Seal what the sinks buffer and take a final checkpoint, which publishes it. Windows still
  // open stay in the checkpointed state and fire after the restart.
  for (auto& q : queries_) {
    Status st;
    {
      std::lock_guard sink_lock(q->sink_mu);
      st = q->sink->Close();
    }
    if (!st.ok()) SLUICE_LOG_ERROR("closing a sink failed", {{"component", "engine"}, {"query", q->def.name}, {"error", st.ToString()}});
  }
  if (!failed_.load()) {
    try {
      barrier_forced_ = false;
      bool state_error = false;
      for (auto& t : subtasks_) state_error = state_error || t->state_error.load();
      Status st = FinishCheckpoint(true);
      if (st.ok() && !state_error) st = BeginCheckpoint();
      if (st.ok()) st = FinishCheckpoint(true);
      if (!st.ok())
        SLUICE_LOG_ERROR("final checkpoint failed", {{"component", "engine"}, {"source", source_def_.name}, {"error", st.ToString()}});
    } catch (const std::exception& e) {
      Fail(std::string("internal error in the final checkpoint: ") + e.what());
    }
  }
  if (in_flight_.result.valid()) in_flight_.result.wait();
  SetRunning(false);
  std::lock_guard lock(status_mu_);
  for (QueryStatus& qs : status_) {
    if (qs.state != "failed") qs.state = "stopped";
  }
  for (auto& q : queries_) q->running->Set(0);
}

void SourceScan::ReportReplay() {
  // A backlog of at least kReplayRecords when every split has first reported (a replay from
  // TRIM_HORIZON, or a restart far behind) gets a progress report until that many records are
  // read: the backlog found at the start, not a moving target that load may never let reach 0.
  if (replay_done_) return;
  if (!replay_) {
    uint64_t remaining = 0;
    for (const auto& s : splits_) {
      const int64_t lag = s->lag_now.load(std::memory_order_relaxed);
      if (lag < 0) return;  // not every split has reported yet
      remaining += static_cast<uint64_t>(lag);
    }
    if (remaining < kReplayRecords) {
      replay_done_ = true;
      return;
    }
    replay_base_ = records_read_->value();
    replay_total_ = remaining;
    replay_ = std::make_unique<Progress>(
        ProgressOptions{.task = "replay " + source_def_.name, .total = remaining, .unit = "records"});
  }
  const uint64_t done = std::min(records_read_->value() - replay_base_, replay_total_);
  replay_->Update(done);
  if (done == replay_total_) {
    replay_->Finish();
    replay_.reset();
    replay_done_ = true;
  }
}

void SourceScan::RecordCheckpoint(CheckpointEvent e) {
  for (const auto& q : queries_) e.queries.push_back(q->def.name);
  std::lock_guard lock(status_mu_);
  history_.push_back(std::move(e));
  while (history_.size() > kCheckpointHistory) history_.pop_front();
}

std::vector<CheckpointEvent> SourceScan::checkpoint_history() const {
  std::lock_guard lock(status_mu_);
  return {history_.rbegin(), history_.rend()};
}

}  // namespace sluice::runtime
