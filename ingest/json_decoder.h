// JsonDecoder: JSON object payloads to rows of a fixed schema, with simdjson On-Demand.
//
// Each record's payload must be one JSON object. Fields are matched to columns by exact name
// (quoted SQL identifiers keep case, so "StatusTime" matches the workshop's field); missing fields
// and JSON null become NULL; unknown fields are ignored. Conversions:
//   TEXT: strings as-is; numbers and booleans as their JSON text.
//   BIGINT: integers; floats with no fractional part; numeric strings.
//   FLOAT8: any number; numeric strings.   BOOLEAN: true/false.
//   TIMESTAMPTZ: RFC 3339 / PostgreSQL text (core/time.h), or a number of Unix milliseconds.
// Anything else (malformed JSON, a non-object, an unconvertible field, a NULL event-time column)
// fails that record with a reason; the batch goes on.
// Thread-safety: one thread at a time (holds the parser and a scratch buffer).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/value.h"

namespace sluice::ingest {

class JsonDecoder final : public RowDecoder {
 public:
  /// `required_column`: a column that must be non-NULL (the event-time column), or -1.
  JsonDecoder(Schema schema, int required_column);
  ~JsonDecoder() override;

  void DecodeBatch(const std::vector<SourceRecord>& in, std::vector<Row>* rows, std::vector<size_t>* row_index,
                   std::vector<DecodeError>* errors) override;

  /// Decodes one payload into `row`. Errors: InvalidArgument with the reason.
  Status DecodeOne(std::string_view payload, Row* row);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::ingest
