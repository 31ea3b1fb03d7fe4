#include "sinks/metrics_sink.h"

#include <limits>

namespace sluice::sinks {

MetricsSink::MetricsSink(std::string name, const Schema& schema, MetricsRegistry* metrics) {
  for (size_t i = 0; i < schema.size(); ++i) {
    const DataType t = schema[i].type;
    if (t != DataType::kBool && t != DataType::kInt64 && t != DataType::kFloat64 && t != DataType::kTimestamp) continue;
    Gauge* g = &metrics->GetGauge("sluice_sink_value",
                                  "A numeric column of the latest committed row of a metrics sink "
                                  "(TIMESTAMPTZ as Unix seconds; NaN for NULL)",
                                  {{"sink", name}, {"column", schema[i].name}});
    g->Set(std::numeric_limits<double>::quiet_NaN());
    exported_.push_back({i, schema[i].name, g});
  }
}

Status MetricsSink::Write(const std::vector<Row>& rows) {
  if (!rows.empty()) staged_ = rows.back();
  return Status::OK();
}

Status MetricsSink::PrepareCheckpoint(uint64_t, StoreBatch*) {
  if (staged_) prepared_ = std::move(staged_);
  staged_.reset();
  return Status::OK();
}

Status MetricsSink::CommitCheckpoint(uint64_t) {
  if (!prepared_) return Status::OK();
  for (const Exported& e : exported_) {
    const Value& v = (*prepared_)[e.index];
    double d = std::numeric_limits<double>::quiet_NaN();
    switch (v.type()) {
      case DataType::kBool: d = v.as_bool() ? 1 : 0; break;
      case DataType::kInt64: d = static_cast<double>(v.as_int()); break;
      case DataType::kFloat64: d = v.as_float(); break;
      case DataType::kTimestamp: d = static_cast<double>(v.as_time().micros) / 1e6; break;
      default: break;  // NULL
    }
    e.gauge->Set(d);
  }
  prepared_.reset();
  return Status::OK();
}

Status MetricsSink::Recover(StateStore*) {
  staged_.reset();
  prepared_.reset();
  return Status::OK();
}

std::vector<std::string> MetricsSink::columns() const {
  std::vector<std::string> out;
  for (const Exported& e : exported_) out.push_back(e.name);
  return out;
}

}  // namespace sluice::sinks
