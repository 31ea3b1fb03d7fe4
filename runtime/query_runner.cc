#include "runtime/query_runner.h"

#include <algorithm>
#include <future>
#include <cstdio>
#include <set>
#include <sstream>

#include "operators/expr_eval.h"
#include "runtime/checkpoint_record.h"
#include "core/crash_point.h"

namespace sluice::runtime {

struct QueryRunner::Split {
  std::unique_ptr<SourceSplit> reader;
  uint64_t next_position = 1;
  std::vector<SourceRecord> records;
  bool finished = false;  // a closed shard read to its end
  // Per-shard watermark metrics, {query, shard} (MetricsRegistry owns them).
  Gauge* max_event_time = nullptr;
  Gauge* holding = nullptr;
  Gauge* idle = nullptr;
};

void QueryRunner::AttachSplitMetrics(Split* s) {
  MetricLabels l{{"query", query_.name}, {"shard", s->reader->id()}};
  s->max_event_time = &metrics_->GetGauge("sluice_shard_max_event_time_seconds",
                                          "Largest event time the query has read from the shard, Unix seconds", l);
  s->holding = &metrics_->GetGauge("sluice_watermark_holding_shard",
                                   "1 for the shard whose watermark is the query's watermark (the one holding it back)", l);
  s->idle = &metrics_->GetGauge("sluice_shard_idle", "1 while the shard is idle (idle_timeout) and does not hold the watermark", l);
}

QueryRunner::QueryRunner(const Pipeline* pipeline, int query_index, Source* source, std::unique_ptr<RowDecoder> decoder,
                         Sink* sink, StateStore* store, DeadLetterQueue* dlq, MetricsRegistry* metrics,
                         QueryRunnerOptions options)
    : pipeline_(pipeline),
      query_index_(query_index),
      query_(pipeline->queries[static_cast<size_t>(query_index)]),
      source_def_(pipeline->sources[static_cast<size_t>(query_.source)]),
      source_(source),
      decoder_(std::move(decoder)),
      sink_(sink),
      store_(store),
      state_space_("state." + query_.name),
      dlq_(dlq),
      options_(options),
      windowed_(query_.window.kind != WindowKind::kNone) {
  metrics_ = metrics;
  MetricLabels q{{"query", query_.name}};
  records_in_ = &metrics->GetCounter("sluice_query_records_in_total", "Records read by a query", q);
  bad_records_ = &metrics->GetCounter("sluice_query_bad_records_total", "Records a query could not decode", q);
  late_records_ = &metrics->GetCounter("sluice_late_records_total", "Records that arrived after their window fired", q);
  const std::string& sink_name = pipeline->sinks[static_cast<size_t>(query_.sink)].name;
  rows_emitted_ = &metrics->GetCounter("sluice_sink_rows_total", "Rows emitted to a sink", {{"sink", sink_name}, {"query", query_.name}});
  watermark_lag_ = &metrics->GetGauge("sluice_watermark_lag_seconds", "Wall clock minus the query's watermark", q);
  watermark_gauge_ = &metrics->GetGauge("sluice_watermark_seconds", "The query's watermark, Unix seconds", q);
  open_windows_gauge_ = &metrics->GetGauge("sluice_open_windows", "Windows held in state", q);
  state_groups_gauge_ = &metrics->GetGauge("sluice_state_groups", "Window state groups (pane, key) held in memory", q);
  spilled_groups_gauge_ = &metrics->GetGauge("sluice_state_spilled_groups",
                                             "Window state groups held only in the state store (evicted from the cache)", q);
  state_evictions_ = &metrics->GetCounter("sluice_state_evictions_total",
                                          "Window state groups evicted from the bounded state cache", q);
  state_reads_ = &metrics->GetCounter("sluice_state_reads_total",
                                      "Window state groups read back from the state store", q);
  checkpoints_ = &metrics->GetCounter("sluice_checkpoints_total", "Checkpoints committed", q);
  checkpoint_failures_ = &metrics->GetCounter("sluice_checkpoint_failures_total",
                                              "Checkpoints that failed to commit (the query restarted from the last one)", q);
  checkpoint_seconds_ = &metrics->GetHistogram("sluice_checkpoint_duration_seconds",
                                               "Time to take and commit a checkpoint", q,
                                               {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
  checkpoint_bytes_ = &metrics->GetGauge("sluice_checkpoint_bytes", "Bytes written by the last checkpoint", q);
  checkpoint_age_ = &metrics->GetGauge("sluice_checkpoint_age_seconds", "Wall clock since the last committed checkpoint", q);
  status_.name = query_.name;
  status_.source = source_def_.name;
  status_.sink = sink_name;
}

QueryRunner::~QueryRunner() { Stop(); }

Status QueryRunner::Start() {
  SLUICE_RETURN_IF_ERROR(Restore());
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  return Status::OK();
}

Status QueryRunner::Restore() {
  CheckpointRecord record;
  bool have = false;
  auto saved = store_->Get("sluice.meta", RecordKey(query_.name));
  if (saved.ok()) {
    auto decoded = DecodeCheckpointRecord(*saved);
    if (!decoded.ok()) return Status::Corruption("query " + query_.name + ": " + decoded.status().message());
    record = std::move(decoded).value();
    have = true;
  } else if (saved.status().code() != StatusCode::kNotFound) {
    return saved.status();
  }
  const std::string fingerprint = StateFingerprint(*pipeline_, query_);
  if (have && record.fingerprint != fingerprint) {
    return Status::InvalidArgument("query " + query_.name +
                                   ": the checkpointed state cannot be used by the query as it is now written.\n"
                                   "  state was made by: " + record.fingerprint + "\n  the query now has:  " +
                                   fingerprint +
                                   "\nRestore the previous pipeline, or start this query from scratch with a new data "
                                   "directory (or another sink, which gives the query another name).");
  }
  EventTime now = WallNow();
  splits_.clear();
  splits_version_ = source_->splits_version();
  for (auto& reader : source_->OpenSplits()) {
    auto s = std::make_unique<Split>();
    s->reader = std::move(reader);
    AttachSplitMetrics(s.get());
    splits_.push_back(std::move(s));
  }
  dataflow_ = std::make_unique<ops::QueryPipeline>(*pipeline_, query_index_, std::max<size_t>(splits_.size(), 1), now);
  if (options_.state_cache_groups > 0) dataflow_->EnableStateCache(store_, state_space_, options_.state_cache_groups);
  seen_evictions_ = seen_reads_ = 0;
  for (size_t i = 0; i < splits_.size(); ++i) {
    Split& s = *splits_[i];
    s.next_position = 1;
    for (const SplitPosition& p : record.splits) {
      if (p.id != s.reader->id()) continue;
      s.next_position = p.next_position;
      dataflow_->RestoreSplit(i, p.max_event_time);
    }
    SLUICE_RETURN_IF_ERROR(s.reader->Seek(s.next_position));
  }
  if (have) SLUICE_RETURN_IF_ERROR(dataflow_->Restore(record.scalars, store_, state_space_));
  SLUICE_RETURN_IF_ERROR(sink_->Recover(store_));
  checkpoint_id_ = record.id;
  last_checkpoint_ = now;
  std::lock_guard lock(status_mu_);
  status_.checkpoint_id = record.id;
  status_.checkpoint_time = have ? EventTime{record.wall_ms * 1000} : EventTime::Min();
  return Status::OK();
}

Status QueryRunner::BeginCheckpoint() {
  const auto started = std::chrono::steady_clock::now();
  auto batch = std::make_shared<StoreBatch>();
  CheckpointRecord record;
  record.id = checkpoint_id_ + 1;
  record.wall_ms = WallNow().millis();
  record.fingerprint = StateFingerprint(*pipeline_, query_);
  dataflow_->CheckpointDelta(state_space_, batch.get(), &record.scalars);
  SLUICE_RETURN_IF_ERROR(sink_->PrepareCheckpoint(record.id, batch.get()));
  for (size_t i = 0; i < splits_.size(); ++i) {
    record.splits.push_back({splits_[i]->reader->id(), splits_[i]->next_position, dataflow_->split_max_event_time(i)});
  }
  in_flight_.positions.clear();
  for (const auto& s : splits_) in_flight_.positions.push_back(s->next_position);
  batch->Put("sluice.meta", RecordKey(query_.name), EncodeCheckpointRecord(record));
  // The commit (WAL write and fsync, memtable inserts) runs off the worker, which goes on
  // processing: the batch holds copies, so later steps cannot change what it commits.
  in_flight_.id = record.id;
  in_flight_.started = started;
  in_flight_.serialize_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  in_flight_.bytes = batch->bytes();
  StateStore* store = store_;
  in_flight_.result = std::async(std::launch::async, [store, batch] {
    CrashPoint("checkpoint.before_commit");
    Status st = store->Commit(*batch);
    if (st.ok()) CrashPoint("checkpoint.after_commit");  // state committed, archive not yet published
    return st;
  });
  return Status::OK();
}

Status QueryRunner::FinishCheckpoint(bool wait) {
  if (!in_flight_.result.valid()) return Status::OK();
  if (!wait && in_flight_.result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return Status::OK();
  SLUICE_RETURN_IF_ERROR(in_flight_.result.get());
  checkpoint_id_ = in_flight_.id;
  last_checkpoint_ = WallNow();
  state_read_failures_ = 0;
  Status published = sink_->CommitCheckpoint(checkpoint_id_);
  if (!published.ok()) {
    // Committed all the same; the sink retries at the next checkpoint or on recovery.
    std::fprintf(stderr, "sluice: query %s: publishing checkpoint %llu: %s\n", query_.name.c_str(),
                 static_cast<unsigned long long>(checkpoint_id_), published.ToString().c_str());
  }
  CrashPoint("checkpoint.after_publish");
  // Splits are only ever appended between a checkpoint's start and its finish (a restore drops
  // the commit in flight first), so index i is still the split whose position was saved.
  for (size_t i = 0; i < in_flight_.positions.size() && i < splits_.size(); ++i) {
    splits_[i]->reader->OnCheckpointCommitted(in_flight_.positions[i]);
  }
  checkpoints_->Inc();
  checkpoint_bytes_->Set(static_cast<double>(in_flight_.bytes));
  checkpoint_seconds_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - in_flight_.started).count());
  std::lock_guard lock(status_mu_);
  status_.checkpoint_id = checkpoint_id_;
  status_.checkpoint_time = last_checkpoint_;
  return Status::OK();
}

void QueryRunner::MaybeCheckpoint(EventTime now, bool force) {
  const bool requested = request_pending_.load();
  // A failed read of spilled state leaves the window state unreliable: restart (below).
  Status st = dataflow_->state_status();
  const bool state_error = !st.ok();
  if (st.ok()) st = FinishCheckpoint(force || requested);
  if (st.ok() && !in_flight_.result.valid()) {
    const auto since = now - last_checkpoint_;
    const bool due = force || requested || since >= options_.checkpoint_interval ||
                     ((sink_->WantsCheckpoint() || dataflow_->over_state_cache_bound()) &&
                      since >= options_.min_checkpoint_pause);
    if (due) {
      st = BeginCheckpoint();
      if (st.ok() && (force || requested)) st = FinishCheckpoint(true);
    }
  }
  if (!st.ok()) {
    if (in_flight_.result.valid()) in_flight_.result.wait();  // never restore under a running commit
    in_flight_.result = {};
    checkpoint_failures_->Inc();
    std::fprintf(stderr, "sluice: query %s: %s failed (%s); restarting from checkpoint %llu\n", query_.name.c_str(),
                 state_error ? "reading window state" : "checkpoint", st.ToString().c_str(),
                 static_cast<unsigned long long>(checkpoint_id_));
    // The same state read failing again before any checkpoint commits is not transient (a
    // damaged value, say): stop the query rather than restart it in a loop.
    Status r = state_error && ++state_read_failures_ > 1
                   ? Status::Corruption("window state cannot be read after a restart: " + st.ToString())
                   : Restore();
    if (!r.ok()) {
      std::fprintf(stderr, "sluice: query %s: restart failed: %s\n", query_.name.c_str(), r.ToString().c_str());
      broken_ = true;  // no more checkpoints from a half-restored state
      stop_.store(true);
    }
    std::lock_guard lock(status_mu_);
    status_.last_error = "checkpoint: " + st.ToString();
  }
  if (requested && !in_flight_.result.valid()) {
    std::lock_guard lock(request_mu_);
    served_ = requested_;
    request_status_ = st;
    request_pending_.store(false);
    request_cv_.notify_all();
  }
}

Result<uint64_t> QueryRunner::RequestCheckpoint(std::chrono::milliseconds timeout) {
  if (!started_) return Status::Unavailable("query " + query_.name + " is not running");
  std::unique_lock lock(request_mu_);
  const uint64_t ticket = ++requested_;
  request_pending_.store(true);
  if (!request_cv_.wait_for(lock, timeout, [&] { return served_ >= ticket; }))
    return Status::Unavailable("query " + query_.name + ": no checkpoint within " + std::to_string(timeout.count()) + " ms");
  if (!request_status_.ok()) return request_status_;
  std::lock_guard status_lock(status_mu_);
  return status_.checkpoint_id;
}

void QueryRunner::Stop() {
  if (!started_) return;
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  started_ = false;
}

QueryStatus QueryRunner::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

Status QueryRunner::RefreshSplits() {
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
    dataflow_->AddSplit(WallNow());
    AttachSplitMetrics(s.get());
    splits_.push_back(std::move(s));
  }
  return Status::OK();
}

bool QueryRunner::Readable(const Split& s) const {
  // Per-key order across a reshard: a child shard is read only after every parent is finished.
  // A parent that is gone (expired) counts as finished.
  for (const std::string& parent : s.reader->parent_ids()) {
    for (const auto& other : splits_) {
      if (other->reader->id() == parent && !other->finished) return false;
    }
  }
  return true;
}

void QueryRunner::Step(bool* any) {
  // Reused across steps, so that the decoder's rows keep their buffers (no allocation per record).
  std::vector<Row>& rows = scratch_rows_;
  std::vector<Row>& out = scratch_out_;
  std::vector<size_t>& index = scratch_index_;
  std::vector<DecodeError>& errors = scratch_errors_;
  std::vector<ops::LateRow>& late = scratch_late_;
  out.clear();
  std::string last_error;
  if (Status r = RefreshSplits(); !r.ok()) last_error = "splits: " + r.ToString();
  for (size_t si = 0; si < splits_.size(); ++si) {
    Split& s = *splits_[si];
    const bool readable = !s.finished && Readable(s);
    dataflow_->SetSplitHoldsWatermark(si, readable);
    if (!readable) continue;
    Status st = s.reader->Read(options_.batch_records, &s.records);
    if (!st.ok()) {
      last_error = s.reader->id() + ": " + st.ToString();
      continue;
    }
    if (s.records.empty()) {
      if (s.reader->finished()) {
        s.finished = true;
        dataflow_->SetSplitHoldsWatermark(si, false);
      }
      continue;
    }
    *any = true;
    dataflow_->NoteActivity(si, WallNow());
    records_in_->Inc(s.records.size());
    decoder_->DecodeBatch(s.records, &rows, &index, &errors);
    for (const DecodeError& e : errors) {
      const SourceRecord& r = s.records[e.index];
      bad_records_->Inc();
      Status w = dlq_->Write("decode", source_def_.name, s.reader->id(), r.position, e.reason, r.data);
      if (!w.ok()) last_error = w.ToString();
    }
    late.clear();
    dataflow_->ProcessBatch(si, rows, &out, &late);
    for (const ops::LateRow& l : late) {
      const SourceRecord& r = s.records[index[l.row]];
      if (l.out_of_range) {
        bad_records_->Inc();
        Status w = dlq_->Write("decode", source_def_.name, s.reader->id(), r.position,
                               "event time out of range for windows (more than 36,000 years from 1970)", r.data);
        if (!w.ok()) last_error = w.ToString();
        continue;
      }
      late_records_->Inc();
      const std::string reason = "window ending " + FormatTimestamp(l.window_end) + " (allowed lateness " +
                                 FormatDuration(source_def_.allowed_lateness) + ") already closed at watermark " +
                                 FormatTimestamp(dataflow_->watermark());
      if (late_output_ != nullptr) {
        // The late-data side output: one JSON record per late event, keyed by shard.
        std::string j = "{\"query\":";
        AppendJsonString(query_.name, &j);
        j += ",\"source\":";
        AppendJsonString(source_def_.name, &j);
        j += ",\"shard\":";
        AppendJsonString(s.reader->id(), &j);
        j += ",\"sequence_number\":\"" + std::to_string(r.position) + "\",\"reason\":";
        AppendJsonString(reason, &j);
        j += ",\"watermark\":\"" + FormatTimestamp(dataflow_->watermark()) + "\",\"window_end\":\"" +
             FormatTimestamp(l.window_end) + "\",\"data\":";
        AppendJsonString(r.data, &j);
        j += "}";
        late_batch_.emplace_back(s.reader->id(), std::move(j));
        continue;
      }
      Status w = dlq_->Write("late", source_def_.name, s.reader->id(), r.position, reason, r.data);
      if (!w.ok()) last_error = w.ToString();
    }
    if (!late_batch_.empty()) {
      Status w = late_output_->Append(late_batch_);
      if (!w.ok()) last_error = "late_output " + source_def_.late_output + ": " + w.ToString();
      late_batch_.clear();
    }
    s.next_position = s.records.back().position + 1;
    if (!out.empty()) {
      Status w = sink_->Write(out);
      if (!w.ok()) last_error = "sink: " + w.ToString();
      rows_emitted_->Inc(out.size());
      out.clear();
    }
  }
  EventTime now = WallNow();
  EventTime wm = dataflow_->AdvanceTime(now, &out);
  if (!out.empty()) {
    Status w = sink_->Write(out);
    if (!w.ok()) last_error = "sink: " + w.ToString();
    rows_emitted_->Inc(out.size());
    out.clear();
  }
  Status t = sink_->Tick(now);
  if (!t.ok()) last_error = "sink: " + t.ToString();
  MaybeCheckpoint(now, false);
  checkpoint_age_->Set(std::chrono::duration<double>(WallNow() - last_checkpoint_).count());

  if (wm != EventTime::Min()) {
    watermark_lag_->Set(std::chrono::duration<double>(now - wm).count());
    watermark_gauge_->Set(static_cast<double>(wm.micros) / 1e6);
  }
  if (windowed_) {
    open_windows_gauge_->Set(static_cast<double>(dataflow_->open_windows()));
    state_groups_gauge_->Set(static_cast<double>(dataflow_->open_groups()));
    spilled_groups_gauge_->Set(static_cast<double>(dataflow_->spilled_groups()));
    // Counters of the current pipeline (Restore() makes a new one and resets seen_*).
    const uint64_t ev = dataflow_->state_evictions(), rd = dataflow_->state_reads();
    state_evictions_->Inc(ev - seen_evictions_);
    state_reads_->Inc(rd - seen_reads_);
    seen_evictions_ = ev;
    seen_reads_ = rd;
  }
  std::lock_guard lock(status_mu_);
  status_.watermark = wm;
  const int holding = dataflow_->holding_split();
  status_.holding_split = holding >= 0 && static_cast<size_t>(holding) < splits_.size()
                              ? splits_[static_cast<size_t>(holding)]->reader->id()
                              : std::string();
  status_.open_windows = dataflow_->open_windows();
  status_.state_groups = dataflow_->open_groups();
  status_.spilled_groups = dataflow_->spilled_groups();
  status_.state_evictions = state_evictions_->value();
  status_.state_reads = state_reads_->value();
  status_.records_in = records_in_->value();
  status_.bad_records = bad_records_->value();
  status_.late_records = late_records_->value();
  status_.rows_emitted = rows_emitted_->value();
  status_.splits.clear();
  for (size_t si = 0; si < splits_.size(); ++si) {
    Split& s = *splits_[si];
    const EventTime max_t = dataflow_->split_max_event_time(si);
    status_.splits.push_back({s.reader->id(), max_t, dataflow_->split_idle(si), s.next_position});
    if (max_t != EventTime::Min()) s.max_event_time->Set(static_cast<double>(max_t.micros) / 1e6);
    s.holding->Set(holding == static_cast<int>(si) ? 1 : 0);
    s.idle->Set(dataflow_->split_idle(si) ? 1 : 0);
  }
  if (!last_error.empty()) {
    status_.last_error = last_error;
    std::fprintf(stderr, "sluice: query %s: %s\n", query_.name.c_str(), last_error.c_str());
  }
}

void QueryRunner::Run() {
  uint64_t token = 0;
  while (!stop_.load()) {
    bool any = false;
    Step(&any);
    if (!any) token = source_->WaitForData(token, options_.poll_interval);
  }
  // Seal what the sink buffers and take a final checkpoint, which publishes it. Open windows stay
  // in the checkpointed state and fire after the restart.
  Status st = sink_->Close();
  if (!st.ok()) std::fprintf(stderr, "sluice: query %s: closing sink: %s\n", query_.name.c_str(), st.ToString().c_str());
  if (!broken_) {
    MaybeCheckpoint(WallNow(), true);
  } else if (in_flight_.result.valid()) {
    in_flight_.result.wait();
  }
  {
    std::lock_guard lock(request_mu_);
    served_ = requested_;
    request_status_ = Status::Unavailable("query " + query_.name + " stopped");
    request_cv_.notify_all();
  }
}

}  // namespace sluice::runtime
