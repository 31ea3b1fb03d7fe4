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
// Hot path: no allocation per record once warm. The payload is copied once into a reused padded
// buffer, keys are matched by predicting that fields come in the same order as in the previous
// record (one compare; a hash lookup otherwise), TEXT values reuse the target row's string
// capacity, and DecodeBatch overwrites the rows already in its output vector.
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

  /// Restricts decoding to the columns with needed[c] true (size: the schema's; the required
  /// column is always decoded). Fields of other columns are skipped unconverted and unchecked,
  /// so their columns stay NULL and a bad value there no longer fails the record. Use with
  /// ops::ColumnsUsed() of every query reading the source. Default: every column.
  void SetNeededColumns(const std::vector<bool>& needed);

  /// The simdjson kernel chosen at run time ("haswell", "westmere", "fallback", ...).
  static const char* SimdjsonImplementation();

 private:
  Status DecodeFields(size_t length, Row* row);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::ingest
