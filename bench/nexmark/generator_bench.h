// `sluice-bench generator [--events N (default 10,000,000)] [--runs R (default 3)]`: the speed of
// the Nexmark generator alone (examples/nexmark/generator.h) with the default settings (the
// 1 : 3 : 46 person : auction : bid mix, 10M events/s of event time, 10% delayed by up to 3 s).
// Each run makes a fresh Generator and calls Next N times; nothing else is done with the events.
// Output per run: one human line and one JSON line
// {"bench":"generator","events":N,"cpu_s":...,"events_per_cpu_s":...,"ns_per_event":...,
//  "peak_rss_mib":...}. CPU is getrusage(RUSAGE_SELF) user+system around the loop.
// Exit codes: 0 ok, 2 bad usage. Thread-safety: called once from main().
#pragma once

#include <string>
#include <vector>

namespace sluice::bench {

/// `sluice-bench generator ARGS...` with ARGS after "generator"; returns the exit code.
int GeneratorBenchMain(const std::vector<std::string>& args);

}  // namespace sluice::bench
