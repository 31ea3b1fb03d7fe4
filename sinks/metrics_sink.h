// MetricsSink: a query's latest result row as Prometheus gauges, for dashboards of fleet-wide
// figures (docs/monitoring.md, "Wild Rydes dashboard"). `connector = 'metrics'`.
//
// Each numeric column of the sink's schema (BOOLEAN, INT/BIGINT, FLOAT8, and TIMESTAMPTZ as Unix
// seconds) is one series of sluice_sink_value{sink, column}; TEXT columns are not exported. The
// series set is fixed by the schema, never by the data, so label cardinality is bounded by the
// column count whatever the query groups by. The gauges show the last row written before the
// latest committed checkpoint (exactly once: a row of an attempt that did not commit is never
// shown); a NULL value shows as NaN. A query meant for this sink groups by its window only, so
// that each window has one row.
// Thread-safety: as Sink (one thread, the query's); the gauges may be read from any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/metrics.h"
#include "core/value.h"

namespace sluice::sinks {

class MetricsSink final : public Sink {
 public:
  /// Registers one gauge per exported column of `schema` in `metrics`, which must outlive the
  /// sink. Never fails.
  MetricsSink(std::string name, const Schema& schema, MetricsRegistry* metrics);

  /// Keeps the last row of `rows`. Never fails.
  Status Write(const std::vector<Row>& rows) override;
  Status Tick(EventTime) override { return Status::OK(); }
  Status Close() override { return Status::OK(); }
  bool WantsCheckpoint() const override { return staged_.has_value(); }
  /// Moves the kept row to the checkpoint being taken (nothing goes into `batch`: the gauges are
  /// not state, and a restore recomputes them from the replayed records).
  Status PrepareCheckpoint(uint64_t checkpoint_id, StoreBatch* batch) override;
  /// Sets the gauges from the row of the committed checkpoint, if it had one.
  Status CommitCheckpoint(uint64_t checkpoint_id) override;
  /// Drops the rows of attempts that never committed.
  Status Recover(StateStore* store) override;

  /// The exported columns' names, in schema order.
  std::vector<std::string> columns() const;

 private:
  struct Exported {
    size_t index;  // in the schema
    std::string name;
    Gauge* gauge;
  };
  std::vector<Exported> exported_;
  std::optional<Row> staged_, prepared_;
};

}  // namespace sluice::sinks
