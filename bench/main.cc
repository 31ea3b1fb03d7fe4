// The `sluice-bench` binary: the benchmarks of Sluice, kept out of the production `sluice` binary.
//   sluice-bench nexmark ...     (bench/nexmark/nexmark_bench.h)
//   sluice-bench generator ...   (bench/nexmark/generator_bench.h: the Nexmark generator alone)
//   sluice-bench wildrydes ...   (bench/wildrydes/wildrydes_bench.h)
// Exit codes: 0 ok, 1 a run failed, 2 bad usage, 3 (nexmark) query not available yet.
#include <cstdio>
#include <string>
#include <vector>

#include "bench/nexmark/generator_bench.h"
#include "bench/nexmark/nexmark_bench.h"
#include "bench/wildrydes/wildrydes_bench.h"

int main(int argc, char** argv) {
  const std::string cmd = argc >= 2 ? argv[1] : "";
  const std::vector<std::string> rest(argv + (argc >= 2 ? 2 : 1), argv + argc);
  if (cmd == "nexmark") return sluice::bench::NexmarkBenchMain(rest);
  if (cmd == "generator") return sluice::bench::GeneratorBenchMain(rest);
  if (cmd == "wildrydes") return sluice::bench::RunWildRydesBenchMain(rest);
  std::fprintf(cmd == "--help" || cmd == "-h" ? stdout : stderr,
               "usage:\n"
               "  sluice-bench nexmark --query qN [--events N] [--tier t1|t2|t3|all] [--runs R] [--batch-rows B]\n"
               "                       [--connections C] [--rate EVENTS_PER_S] [--checkpoint-interval S]\n"
               "                       [--queries-dir DIR] [--all-columns] [--sluice PATH]\n"
               "  sluice-bench generator [--events N] [--runs R]\n"
               "  sluice-bench wildrydes [--duration S] [--rate R] [--connections C] [--unicorns U]\n");
  return cmd == "--help" || cmd == "-h" ? 0 : 2;
}
