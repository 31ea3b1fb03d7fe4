// nexmark_bench QUERY [EVENTS [RATE]]: single-thread throughput of one Nexmark query file
// (examples/nexmark/queries/QUERY.sql). Generates EVENTS events (default 2,000,000) at RATE
// events per second of event time (default: the generator's 10,000,000, the suite's cap), encodes them as JSON, then times decode (ingest::JsonDecoder) +
// ops::QueryPipeline over one split in batches of 1,000, with a watermark step per batch and a
// final flush. Prints events per second of that timed part (generation and JSON encoding are
// not counted) and the output row count.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/file_util.h"
#include "examples/nexmark/generator.h"
#include "ingest/json_decoder.h"
#include "operators/query_pipeline.h"
#include "sql/planner.h"

int main(int argc, char** argv) {
  using namespace sluice;
  if (argc < 2) {
    std::fprintf(stderr, "usage: nexmark_bench QUERY [EVENTS [RATE]]\n");
    return 2;
  }
  const std::string name = argv[1];
  const long events = argc > 2 ? std::atol(argv[2]) : 2'000'000;
  auto text = ReadFileToString(std::string(SLUICE_SOURCE_DIR) + "/examples/nexmark/queries/" + name + ".sql");
  if (!text.ok()) {
    std::fprintf(stderr, "%s\n", text.status().message().c_str());
    return 1;
  }
  auto planned = sql::PlanPipeline(*text);
  if (!planned.ok()) {
    std::fprintf(stderr, "%s\n", planned.status().message().c_str());
    return 1;
  }
  const Pipeline& p = *planned;
  const SourceDef& source = p.sources[0];
  nexmark::GeneratorOptions options;
  if (argc > 3) options.rate = std::atof(argv[3]);
  nexmark::Generator gen(options);
  nexmark::Event e;
  std::vector<std::string> payloads(static_cast<size_t>(events));
  for (std::string& s : payloads) {
    gen.Next(&e);
    s = e.ToJson();
  }
  ingest::JsonDecoder decoder(source.schema, source.event_time_column);
  ops::QueryPipeline qp(p, 0, 1, EventTime{0});
  std::vector<SourceRecord> records;
  std::vector<Row> rows, out;
  std::vector<size_t> index;
  std::vector<DecodeError> errors;
  std::vector<ops::LateRow> late;
  size_t produced = 0;
  uint64_t position = 1;
  const auto start = std::chrono::steady_clock::now();
  for (size_t begin = 0; begin < payloads.size(); begin += 1000) {
    records.clear();
    for (size_t i = begin; i < std::min(payloads.size(), begin + 1000); ++i) {
      records.push_back(SourceRecord{position++, 0, {}, payloads[i]});
    }
    rows.clear();
    index.clear();
    errors.clear();
    decoder.DecodeBatch(records, &rows, &index, &errors);
    qp.ProcessBatch(0, rows, &out, &late);
    qp.AdvanceTime(EventTime{0}, &out);
    produced += out.size();
    out.clear();
  }
  qp.Flush(&out);
  produced += out.size();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %ld events in %.3f s = %.0f events/s, %zu rows out, %zu late\n", name.c_str(), events, secs,
              static_cast<double>(events) / secs, produced, late.size());
  return 0;
}
