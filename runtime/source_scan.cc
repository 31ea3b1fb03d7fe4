#include "runtime/source_scan.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <set>

#include "core/crash_point.h"
#include "operators/expr_eval.h"
#include "runtime/checkpoint_record.h"

namespace sluice::runtime {

struct SourceScan::Split {
  std::unique_ptr<SourceSplit> reader;
  uint64_t next_position = 1;
  std::vector<SourceRecord> records;
  bool finished = false;  // a closed shard read to its end
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
        fingerprint(StateFingerprint(p, def)) {}
  const int index;
  const QueryDef& def;
  Sink* const sink;
  const std::string state_space;
  const std::string fingerprint;
  std::unique_ptr<ops::QueryPipeline> dataflow;  // made by Restore() once the splits are known
  // Per split: the position this query's checkpoint saved. Records before it were processed by
  // the query before the restart (the scan may seek lower for another query), so it skips them.
  std::vector<uint64_t> resume_at;
  std::vector<SplitGauges> split_gauges;  // parallel to splits_
  uint64_t seen_evictions = 0, seen_reads = 0;  // the current dataflow's counts already added
  Counter* records_in = nullptr;
  Counter* bad_records = nullptr;
  Counter* late_records = nullptr;
  Counter* rows_emitted = nullptr;
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
};

SourceScan::SourceScan(const ScanEnv& env, int source_index, Source* source, std::unique_ptr<RowDecoder> decoder,
                       std::vector<ScanQuery> queries, RecordAppender* late_output, ScanOptions options)
    : env_(env),
      source_def_(env.pipeline->sources[static_cast<size_t>(source_index)]),
      source_(source),
      decoder_(std::move(decoder)),
      queries_spec_(std::move(queries)),
      late_output_(late_output),
      options_(options) {
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
    status_.push_back(std::move(st));
    queries_.push_back(std::move(q));
  }
}

SourceScan::~SourceScan() {
  if (in_flight_.result.valid()) in_flight_.result.wait();
}

void SourceScan::AttachQueryMetrics(MetricsRegistry* metrics, const std::string& sink_name, Query* q) {
  MetricLabels l{{"query", q->def.name}};
  q->records_in = &metrics->GetCounter("sluice_query_records_in_total", "Records read by a query", l);
  q->bad_records = &metrics->GetCounter("sluice_query_bad_records_total", "Records a query could not decode", l);
  q->late_records = &metrics->GetCounter("sluice_late_records_total", "Records that arrived after their window fired", l);
  q->rows_emitted = &metrics->GetCounter("sluice_sink_rows_total", "Rows emitted to a sink", {{"sink", sink_name}, {"query", q->def.name}});
  q->watermark_lag = &metrics->GetGauge("sluice_watermark_lag_seconds", "Wall clock minus the query's watermark", l);
  q->watermark = &metrics->GetGauge("sluice_watermark_seconds", "The query's watermark, Unix seconds", l);
  q->open_windows = &metrics->GetGauge("sluice_open_windows", "Windows held in state", l);
  q->state_groups = &metrics->GetGauge("sluice_state_groups", "Window state groups (pane, key) held in memory", l);
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
}

SourceScan::SplitGauges SourceScan::SplitMetrics(MetricsRegistry* metrics, const std::string& query,
                                                 const std::string& shard) {
  MetricLabels l{{"query", query}, {"shard", shard}};
  SplitGauges g;
  g.max_event_time = &metrics->GetGauge("sluice_shard_max_event_time_seconds",
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
    if (have[qi] && records[qi].fingerprint != q.fingerprint) {
      return Status::InvalidArgument("query " + q.def.name +
                                     ": the checkpointed state cannot be used by the query as it is now written.\n"
                                     "  state was made by: " + records[qi].fingerprint + "\n  the query now has:  " +
                                     q.fingerprint +
                                     "\nRestore the previous pipeline, or start this query from scratch with a new data "
                                     "directory (or another sink, which gives the query another name).");
    }
    id = std::max(id, records[qi].id);
  }
  const EventTime now = WallNow();
  splits_.clear();
  splits_version_ = source_->splits_version();
  for (auto& reader : source_->OpenSplits()) {
    auto s = std::make_unique<Split>();
    s->reader = std::move(reader);
    splits_.push_back(std::move(s));
  }
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    q.dataflow = std::make_unique<ops::QueryPipeline>(*env_.pipeline, q.index, std::max<size_t>(splits_.size(), 1), now);
    if (options_.state_cache_groups > 0) q.dataflow->EnableStateCache(env_.store, q.state_space, options_.state_cache_groups);
    q.seen_evictions = q.seen_reads = 0;
    q.resume_at.assign(splits_.size(), 1);
    q.split_gauges.clear();
    for (size_t i = 0; i < splits_.size(); ++i) {
      q.split_gauges.push_back(SplitMetrics(env_.metrics, q.def.name, splits_[i]->reader->id()));
      for (const SplitPosition& p : records[qi].splits) {
        if (p.id != splits_[i]->reader->id()) continue;
        q.resume_at[i] = p.next_position;
        q.dataflow->RestoreSplit(i, p.max_event_time);
      }
    }
  }
  // Each split resumes at the smallest saved position; queries ahead of it skip what they saw.
  for (size_t i = 0; i < splits_.size(); ++i) {
    Split& s = *splits_[i];
    s.next_position = UINT64_MAX;
    for (const auto& q : queries_) s.next_position = std::min(s.next_position, q->resume_at[i]);
    SLUICE_RETURN_IF_ERROR(s.reader->Seek(s.next_position));
  }
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    if (have[qi]) SLUICE_RETURN_IF_ERROR(q.dataflow->Restore(records[qi].scalars, env_.store, q.state_space));
    SLUICE_RETURN_IF_ERROR(q.sink->Recover(env_.store));
  }
  checkpoint_id_ = id;
  last_checkpoint_ = now;
  std::lock_guard lock(status_mu_);
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    status_[qi].checkpoint_id = records[qi].id;
    status_[qi].checkpoint_time = have[qi] ? EventTime{records[qi].wall_ms * 1000} : EventTime::Min();
    if (status_[qi].state == "starting") status_[qi].state = "running";
  }
  return Status::OK();
}

Status SourceScan::BeginCheckpoint() {
  const auto started = std::chrono::steady_clock::now();
  auto batch = std::make_shared<StoreBatch>();
  const uint64_t id = checkpoint_id_ + 1;
  for (auto& qp : queries_) {
    Query& q = *qp;
    CheckpointRecord record;
    record.id = id;
    record.wall_ms = WallNow().millis();
    record.fingerprint = q.fingerprint;
    q.dataflow->CheckpointDelta(q.state_space, batch.get(), &record.scalars);
    SLUICE_RETURN_IF_ERROR(q.sink->PrepareCheckpoint(id, batch.get()));
    for (size_t i = 0; i < splits_.size(); ++i) {
      record.splits.push_back({splits_[i]->reader->id(), std::max(splits_[i]->next_position, q.resume_at[i]),
                               q.dataflow->split_max_event_time(i)});
    }
    batch->Put("sluice.meta", RecordKey(q.def.name), EncodeCheckpointRecord(record));
  }
  in_flight_.positions.clear();
  for (const auto& s : splits_) in_flight_.positions.push_back(s->next_position);
  // The commit (WAL write and fsync, or SST ingestion) runs off the worker, which goes on
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
    Status published = q->sink->CommitCheckpoint(checkpoint_id_);
    if (!published.ok()) {
      // Committed all the same; the sink retries at the next checkpoint or on recovery.
      std::fprintf(stderr, "sluice: query %s: publishing checkpoint %llu: %s\n", q->def.name.c_str(),
                   static_cast<unsigned long long>(checkpoint_id_), published.ToString().c_str());
    }
  }
  CrashPoint("checkpoint.after_publish");
  // Splits are only ever appended between a checkpoint's start and its finish (a restore drops
  // the commit in flight first), so index i is still the split whose position was saved.
  for (size_t i = 0; i < in_flight_.positions.size() && i < splits_.size(); ++i) {
    splits_[i]->reader->OnCheckpointCommitted(in_flight_.positions[i]);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - in_flight_.started).count();
  for (auto& q : queries_) {
    q->checkpoints->Inc();
    q->checkpoint_bytes->Set(static_cast<double>(in_flight_.bytes));
    q->checkpoint_seconds->Observe(seconds);
  }
  std::lock_guard lock(status_mu_);
  for (QueryStatus& st : status_) {
    st.checkpoint_id = checkpoint_id_;
    st.checkpoint_time = last_checkpoint_;
  }
  return Status::OK();
}

void SourceScan::MaybeCheckpoint(EventTime now, bool force) {
  const bool requested = request_pending_.load();
  // A failed read of spilled state leaves the window state unreliable: restart (below).
  Status st;
  for (const auto& q : queries_) {
    if (st.ok()) st = q->dataflow->state_status();
  }
  const bool state_error = !st.ok();
  if (st.ok()) st = FinishCheckpoint(force || requested);
  if (st.ok() && !in_flight_.result.valid()) {
    const auto since = now - last_checkpoint_;
    bool wants = false;
    for (const auto& q : queries_) wants = wants || q->sink->WantsCheckpoint() || q->dataflow->over_state_cache_bound();
    const bool due = force || requested || since >= options_.checkpoint_interval ||
                     (wants && since >= options_.min_checkpoint_pause);
    if (due) {
      st = BeginCheckpoint();
      if (st.ok() && (force || requested)) st = FinishCheckpoint(true);
    }
  }
  if (!st.ok()) {
    if (in_flight_.result.valid()) in_flight_.result.wait();  // never restore under a running commit
    in_flight_.result = {};
    for (auto& q : queries_) q->checkpoint_failures->Inc();
    std::fprintf(stderr, "sluice: source %s: %s failed (%s); restarting its queries from checkpoint %llu\n",
                 source_def_.name.c_str(), state_error ? "reading window state" : "checkpoint", st.ToString().c_str(),
                 static_cast<unsigned long long>(checkpoint_id_));
    // The same state read failing again before any checkpoint commits is not transient (a
    // damaged value, say): stop the queries rather than restart them in a loop.
    Status r = state_error && ++state_read_failures_ > 1
                   ? Status::Corruption("window state cannot be read after a restart: " + st.ToString())
                   : Restore();
    {
      std::lock_guard lock(status_mu_);
      for (QueryStatus& qs : status_) qs.last_error = "checkpoint: " + st.ToString();
    }
    if (!r.ok()) Fail("restart failed: " + r.ToString());
  }
  if (requested && !in_flight_.result.valid()) AnswerRequests(st);
}

void SourceScan::AnswerRequests(const Status& st) {
  std::lock_guard lock(request_mu_);
  served_ = requested_;
  request_status_ = st;
  request_pending_.store(false);
  request_cv_.notify_all();
}

void SourceScan::Fail(const std::string& reason) {
  broken_ = true;  // no more checkpoints from a half-restored state
  failed_.store(true);
  std::fprintf(stderr, "sluice: source %s: its queries stop: %s\n", source_def_.name.c_str(), reason.c_str());
  {
    std::lock_guard lock(status_mu_);
    for (QueryStatus& qs : status_) {
      qs.state = "failed";
      qs.last_error = reason;
    }
  }
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

std::vector<QueryStatus> SourceScan::statuses() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

Status SourceScan::RefreshSplits() {
  const uint64_t version = source_->splits_version();
  if (version == splits_version_) return Status::OK();
  splits_version_ = version;
  std::set<std::string> known;
  for (const auto& s : splits_) known.insert(s->reader->id());
  for (auto& reader : source_->OpenSplits()) {
    if (known.count(reader->id()) != 0) continue;
    auto s = std::make_unique<Split>();
    s->reader = std::move(reader);
    SLUICE_RETURN_IF_ERROR(s->reader->Seek(1));  // a new shard: from its first record
    for (auto& q : queries_) {
      q->dataflow->AddSplit(WallNow());
      q->resume_at.push_back(1);
      q->split_gauges.push_back(SplitMetrics(env_.metrics, q->def.name, s->reader->id()));
    }
    splits_.push_back(std::move(s));
  }
  return Status::OK();
}

bool SourceScan::Readable(const Split& s) const {
  // Per-key order across a reshard: a child shard is read only after every parent is finished.
  // A parent that is gone (expired) counts as finished.
  for (const std::string& parent : s.reader->parent_ids()) {
    for (const auto& other : splits_) {
      if (other->reader->id() == parent && !other->finished) return false;
    }
  }
  return true;
}

void SourceScan::HandleLate(Query& q, Split& s, const std::vector<size_t>& index, std::string* last_error) {
  for (const ops::LateRow& l : late_) {
    const SourceRecord& r = s.records[index[l.row]];
    if (l.out_of_range) {
      q.bad_records->Inc();
      Status w = env_.dlq->Write("decode", source_def_.name, s.reader->id(), r.position,
                                 "event time out of range for windows (more than 36,000 years from 1970)", r.data);
      if (!w.ok()) *last_error = w.ToString();
      continue;
    }
    q.late_records->Inc();
    const std::string reason = "window ending " + FormatTimestamp(l.window_end) + " (allowed lateness " +
                               FormatDuration(source_def_.allowed_lateness) + ") already closed at watermark " +
                               FormatTimestamp(q.dataflow->watermark());
    if (late_output_ != nullptr) {
      // The late-data side output: one JSON record per late event, keyed by shard.
      std::string j = "{\"query\":";
      AppendJsonString(q.def.name, &j);
      j += ",\"source\":";
      AppendJsonString(source_def_.name, &j);
      j += ",\"shard\":";
      AppendJsonString(s.reader->id(), &j);
      j += ",\"sequence_number\":\"" + std::to_string(r.position) + "\",\"reason\":";
      AppendJsonString(reason, &j);
      j += ",\"watermark\":\"" + FormatTimestamp(q.dataflow->watermark()) + "\",\"window_end\":\"" +
           FormatTimestamp(l.window_end) + "\",\"data\":";
      AppendJsonString(r.data, &j);
      j += "}";
      late_batch_.emplace_back(s.reader->id(), std::move(j));
      continue;
    }
    Status w = env_.dlq->Write("late", source_def_.name, s.reader->id(), r.position, reason, r.data);
    if (!w.ok()) *last_error = w.ToString();
  }
  if (!late_batch_.empty()) {
    Status w = late_output_->Append(late_batch_);
    if (!w.ok()) *last_error = "late_output " + source_def_.late_output + ": " + w.ToString();
    late_batch_.clear();
  }
}

void SourceScan::ProcessSplit(size_t si, bool* any, std::string* last_error) {
  Split& s = *splits_[si];
  const bool readable = !s.finished && Readable(s);
  for (auto& q : queries_) q->dataflow->SetSplitHoldsWatermark(si, readable);
  if (!readable) return;
  Status st = s.reader->Read(options_.batch_records, &s.records);
  if (!st.ok()) {
    *last_error = s.reader->id() + ": " + st.ToString();
    return;
  }
  if (s.records.empty()) {
    if (s.reader->finished()) {
      s.finished = true;
      for (auto& q : queries_) q->dataflow->SetSplitHoldsWatermark(si, false);
    }
    return;
  }
  *any = true;
  const EventTime now = WallNow();
  for (auto& q : queries_) q->dataflow->NoteActivity(si, now);
  records_read_->Inc(s.records.size());
  // The one decode of this batch, for every query of the scan.
  decoder_->DecodeBatch(s.records, &rows_, &index_, &errors_);
  records_decoded_->Inc(s.records.size());
  for (const DecodeError& e : errors_) {
    const SourceRecord& r = s.records[e.index];
    source_bad_records_->Inc();
    for (auto& q : queries_) {
      if (r.position >= q->resume_at[si]) q->bad_records->Inc();
    }
    Status w = env_.dlq->Write("decode", source_def_.name, s.reader->id(), r.position, e.reason, r.data);
    if (!w.ok()) *last_error = w.ToString();
  }
  const uint64_t first = s.records.front().position, last = s.records.back().position;
  for (auto& qp : queries_) {
    Query& q = *qp;
    const uint64_t resume = q.resume_at[si];
    if (resume > last) continue;  // the query processed this batch before the restart
    const std::vector<Row>* rows = &rows_;
    const std::vector<size_t>* index = &index_;
    size_t count = s.records.size();
    if (resume > first) {
      // Only after a restart where this query was ahead of another: its part of the batch.
      sub_rows_.clear();
      sub_index_.clear();
      for (size_t r = 0; r < rows_.size(); ++r) {
        if (s.records[index_[r]].position < resume) continue;
        sub_rows_.push_back(rows_[r]);
        sub_index_.push_back(index_[r]);
      }
      rows = &sub_rows_;
      index = &sub_index_;
      count = static_cast<size_t>(last + 1 - resume);
    }
    q.records_in->Inc(count);
    late_.clear();
    out_.clear();
    q.dataflow->ProcessBatch(si, *rows, &out_, &late_);
    if (!late_.empty()) HandleLate(q, s, *index, last_error);
    if (!out_.empty()) {
      Status w = q.sink->Write(out_);
      if (!w.ok()) *last_error = "sink: " + w.ToString();
      q.rows_emitted->Inc(out_.size());
      out_.clear();
    }
  }
  s.next_position = last + 1;
}

void SourceScan::Step(bool* any) {
  if (failed_.load()) return;
  try {
    std::string last_error;
    if (Status r = RefreshSplits(); !r.ok()) last_error = "splits: " + r.ToString();
    for (size_t si = 0; si < splits_.size(); ++si) ProcessSplit(si, any, &last_error);
    const EventTime now = WallNow();
    for (auto& q : queries_) {
      out_.clear();
      q->dataflow->AdvanceTime(now, &out_);
      if (!out_.empty()) {
        Status w = q->sink->Write(out_);
        if (!w.ok()) last_error = "sink: " + w.ToString();
        q->rows_emitted->Inc(out_.size());
        out_.clear();
      }
      Status t = q->sink->Tick(now);
      if (!t.ok()) last_error = "sink: " + t.ToString();
    }
    MaybeCheckpoint(now, false);
    if (!failed_.load()) UpdateStatus(now, last_error);
  } catch (const std::exception& e) {
    // Project code does not throw; a library did (bad_alloc). The scan's state is no longer
    // known to be consistent with its checkpoint: stop its queries, keep the process.
    if (in_flight_.result.valid()) in_flight_.result.wait();
    in_flight_.result = {};
    Fail(std::string("internal error: ") + e.what());
  }
}

void SourceScan::UpdateStatus(EventTime now, const std::string& last_error) {
  for (size_t qi = 0; qi < queries_.size(); ++qi) {
    Query& q = *queries_[qi];
    ops::QueryPipeline& df = *q.dataflow;
    const EventTime wm = df.watermark();
    q.checkpoint_age->Set(std::chrono::duration<double>(WallNow() - last_checkpoint_).count());
    if (wm != EventTime::Min()) {
      q.watermark_lag->Set(std::chrono::duration<double>(now - wm).count());
      q.watermark->Set(static_cast<double>(wm.micros) / 1e6);
    }
    if (df.windowed()) {
      q.open_windows->Set(static_cast<double>(df.open_windows()));
      q.state_groups->Set(static_cast<double>(df.open_groups()));
      q.spilled_groups->Set(static_cast<double>(df.spilled_groups()));
      // Counters of the current dataflow (Restore() makes a new one and resets seen_*).
      const uint64_t ev = df.state_evictions(), rd = df.state_reads();
      q.state_evictions->Inc(ev - q.seen_evictions);
      q.state_reads->Inc(rd - q.seen_reads);
      q.seen_evictions = ev;
      q.seen_reads = rd;
    }
    const int holding = df.holding_split();
    std::lock_guard lock(status_mu_);
    QueryStatus& st = status_[qi];
    st.watermark = wm;
    st.holding_split = holding >= 0 && static_cast<size_t>(holding) < splits_.size()
                           ? splits_[static_cast<size_t>(holding)]->reader->id()
                           : std::string();
    st.open_windows = df.open_windows();
    st.state_groups = df.open_groups();
    st.spilled_groups = df.spilled_groups();
    st.state_evictions = q.state_evictions->value();
    st.state_reads = q.state_reads->value();
    st.records_in = q.records_in->value();
    st.bad_records = q.bad_records->value();
    st.late_records = q.late_records->value();
    st.rows_emitted = q.rows_emitted->value();
    st.splits.clear();
    for (size_t si = 0; si < splits_.size(); ++si) {
      const Split& s = *splits_[si];
      const EventTime max_t = df.split_max_event_time(si);
      st.splits.push_back({s.reader->id(), max_t, df.split_idle(si), std::max(s.next_position, q.resume_at[si])});
      const SplitGauges& g = q.split_gauges[si];
      if (max_t != EventTime::Min()) g.max_event_time->Set(static_cast<double>(max_t.micros) / 1e6);
      g.holding->Set(holding == static_cast<int>(si) ? 1 : 0);
      g.idle->Set(df.split_idle(si) ? 1 : 0);
    }
    if (!last_error.empty()) st.last_error = last_error;
  }
  if (!last_error.empty()) std::fprintf(stderr, "sluice: source %s: %s\n", source_def_.name.c_str(), last_error.c_str());
}

void SourceScan::Finish() {
  // Seal what the sinks buffer and take a final checkpoint, which publishes it. Open windows stay
  // in the checkpointed state and fire after the restart.
  for (auto& q : queries_) {
    Status st = q->sink->Close();
    if (!st.ok()) std::fprintf(stderr, "sluice: query %s: closing sink: %s\n", q->def.name.c_str(), st.ToString().c_str());
  }
  if (!broken_) {
    try {
      MaybeCheckpoint(WallNow(), true);
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
}

}  // namespace sluice::runtime
