// libFuzzer entry point for the SQL planner: any bytes, taken as a pipeline file, must either
// plan or fail with an InvalidArgument "line L, column C: …" message — never crash, hang, leak or
// trip a sanitizer. Built only with -DSLUICE_FUZZ=ON and clang (sql/CMakeLists.txt); the seed
// corpus is sql/fuzz_corpus/. Run (docs/golden-tests.md, "Fuzzing the planner"):
//   build-fuzz/sql/planner_fuzzer -max_total_time=60 -max_len=4096 sql/fuzz_corpus
// The doctest planner_fuzz_test.cc runs a deterministic mutation fuzz in every build.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sql/planner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto planned = sluice::sql::PlanPipeline(text);
  if (planned.ok()) {
    // Cross references of a successful plan are in range.
    const sluice::Pipeline& p = *planned;
    for (const sluice::QueryDef& q : p.queries) {
      if (q.source < 0 || static_cast<size_t>(q.source) >= p.sources.size()) std::abort();
      if (q.sink < 0 || static_cast<size_t>(q.sink) >= p.sinks.size()) std::abort();
    }
  } else if (!planned.status().message().starts_with("line ")) {
    std::abort();  // every planner error names its position
  }
  return 0;
}
