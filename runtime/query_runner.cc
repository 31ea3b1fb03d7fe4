#include "runtime/query_runner.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "operators/expr_eval.h"

namespace sluice::runtime {

struct QueryRunner::Split {
  std::unique_ptr<SourceSplit> reader;
  uint64_t next_position = 1;
  std::vector<SourceRecord> records;
};

QueryRunner::QueryRunner(const Pipeline* pipeline, int query_index, Source* source, std::unique_ptr<RowDecoder> decoder,
                         Sink* sink, MetaStore* meta, DeadLetterQueue* dlq, MetricsRegistry* metrics,
                         QueryRunnerOptions options)
    : pipeline_(pipeline),
      query_index_(query_index),
      query_(pipeline->queries[static_cast<size_t>(query_index)]),
      source_def_(pipeline->sources[static_cast<size_t>(query_.source)]),
      source_(source),
      decoder_(std::move(decoder)),
      sink_(sink),
      meta_(meta),
      dlq_(dlq),
      options_(options),
      windowed_(query_.window.kind != WindowKind::kNone) {
  MetricLabels q{{"query", query_.name}};
  records_in_ = &metrics->GetCounter("sluice_query_records_in_total", "Records read by a query", q);
  bad_records_ = &metrics->GetCounter("sluice_query_bad_records_total", "Records a query could not decode", q);
  late_records_ = &metrics->GetCounter("sluice_late_records_total", "Records that arrived after their window fired", q);
  const std::string& sink_name = pipeline->sinks[static_cast<size_t>(query_.sink)].name;
  rows_emitted_ = &metrics->GetCounter("sluice_sink_rows_total", "Rows emitted to a sink", {{"sink", sink_name}, {"query", query_.name}});
  watermark_lag_ = &metrics->GetGauge("sluice_watermark_lag_seconds", "Wall clock minus the query's watermark", q);
  watermark_gauge_ = &metrics->GetGauge("sluice_watermark_seconds", "The query's watermark, Unix seconds", q);
  open_windows_gauge_ = &metrics->GetGauge("sluice_open_windows", "Windows held in state", q);
  status_.name = query_.name;
  status_.source = source_def_.name;
  status_.sink = sink_name;
}

QueryRunner::~QueryRunner() { Stop(); }

Status QueryRunner::Start() {
  std::map<std::string, uint64_t> saved;
  if (!windowed_) {
    auto r = meta_->GetMeta("positions/" + query_.name);
    if (r.ok()) {
      std::istringstream in(*r);
      std::string id;
      uint64_t pos;
      while (in >> id >> pos) saved[id] = pos;
    } else if (r.status().code() != StatusCode::kNotFound) {
      return r.status();
    }
  }
  EventTime now = WallNow();
  for (auto& reader : source_->OpenSplits()) {
    auto s = std::make_unique<Split>();
    s->reader = std::move(reader);
    auto it = saved.find(s->reader->id());
    s->next_position = it == saved.end() ? 1 : it->second;
    SLUICE_RETURN_IF_ERROR(s->reader->Seek(s->next_position));
    splits_.push_back(std::move(s));
  }
  dataflow_ = std::make_unique<ops::QueryPipeline>(*pipeline_, query_index_,
                                                   std::max<size_t>(splits_.size(), 1), now);
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  return Status::OK();
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

void QueryRunner::Step(bool* any) {
  std::vector<Row> rows, out;
  std::vector<size_t> index;
  std::vector<DecodeError> errors;
  std::vector<ops::LateRow> late;
  std::string last_error;
  for (size_t si = 0; si < splits_.size(); ++si) {
    Split& s = *splits_[si];
    Status st = s.reader->Read(options_.batch_records, &s.records);
    if (!st.ok()) {
      last_error = s.reader->id() + ": " + st.ToString();
      continue;
    }
    if (s.records.empty()) continue;
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
      Status w = dlq_->Write("late", source_def_.name, s.reader->id(), r.position,
                             "window ending " + FormatTimestamp(l.window_end) + " (allowed lateness " +
                                 FormatDuration(source_def_.allowed_lateness) + ") already closed at watermark " +
                                 FormatTimestamp(dataflow_->watermark()),
                             r.data);
      if (!w.ok()) last_error = w.ToString();
    }
    s.next_position = s.records.back().position + 1;
    positions_dirty_ = true;
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
  if (!windowed_ && positions_dirty_) SavePositions();

  if (wm != EventTime::Min()) {
    watermark_lag_->Set(std::chrono::duration<double>(now - wm).count());
    watermark_gauge_->Set(static_cast<double>(wm.micros) / 1e6);
  }
  if (windowed_) open_windows_gauge_->Set(static_cast<double>(dataflow_->open_windows()));
  std::lock_guard lock(status_mu_);
  status_.watermark = wm;
  const int holding = dataflow_->holding_split();
  status_.holding_split = holding >= 0 && static_cast<size_t>(holding) < splits_.size()
                              ? splits_[static_cast<size_t>(holding)]->reader->id()
                              : std::string();
  status_.open_windows = dataflow_->open_windows();
  status_.records_in = records_in_->value();
  status_.bad_records = bad_records_->value();
  status_.late_records = late_records_->value();
  status_.rows_emitted = rows_emitted_->value();
  status_.splits.clear();
  for (size_t si = 0; si < splits_.size(); ++si) {
    status_.splits.push_back({splits_[si]->reader->id(), dataflow_->split_max_event_time(si), dataflow_->split_idle(si),
                              splits_[si]->next_position});
  }
  if (!last_error.empty()) {
    status_.last_error = last_error;
    std::fprintf(stderr, "sluice: query %s: %s\n", query_.name.c_str(), last_error.c_str());
  }
}

void QueryRunner::SavePositions() {
  // Only when everything read so far is published by the sink; otherwise a restart would skip
  // rows that were still buffered.
  if (sink_->buffered_rows() > 0) return;
  std::string text;
  for (auto& s : splits_) text += s->reader->id() + " " + std::to_string(s->next_position) + "\n";
  Status st = meta_->PutMeta("positions/" + query_.name, text);
  if (!st.ok()) std::fprintf(stderr, "sluice: query %s: saving positions: %s\n", query_.name.c_str(), st.ToString().c_str());
  positions_dirty_ = false;
}

void QueryRunner::Run() {
  uint64_t token = 0;
  while (!stop_.load()) {
    bool any = false;
    Step(&any);
    if (!any) token = source_->WaitForData(token, options_.poll_interval);
  }
  // Drain what is buffered in the sink. Open windows stay open: they are rebuilt on restart.
  Status st = sink_->Close();
  if (!st.ok()) std::fprintf(stderr, "sluice: query %s: closing sink: %s\n", query_.name.c_str(), st.ToString().c_str());
  if (!windowed_) SavePositions();
}

}  // namespace sluice::runtime
