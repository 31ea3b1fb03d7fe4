#include "bench/nexmark/generator_bench.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "bench/proc_stats.h"
#include "examples/nexmark/generator.h"

namespace sluice::bench {

int GeneratorBenchMain(const std::vector<std::string>& args) {
  int64_t events = 10'000'000;
  int runs = 3;
  for (size_t i = 0; i + 1 < args.size() + 1; ++i) {
    if (i + 1 >= args.size()) {
      std::fprintf(stderr, "sluice-bench generator: %s needs a value\n", args[i].c_str());
      return 2;
    }
    const long long v = std::atoll(args[i + 1].c_str());
    if (args[i] == "--events" && v >= 1) events = v;
    else if (args[i] == "--runs" && v >= 1) runs = static_cast<int>(v);
    else {
      std::fprintf(stderr, "sluice-bench generator: unknown option or bad value: %s %s\n", args[i].c_str(),
                   args[i + 1].c_str());
      return 2;
    }
    ++i;
  }
  for (int run = 1; run <= runs; ++run) {
    nexmark::Generator gen;
    nexmark::Event e;
    int64_t checksum = 0;  // keeps the loop from being optimised away
    const double cpu0 = SelfCpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < events; ++i) {
      gen.Next(&e);
      checksum += e.date_time_ms();
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = SelfCpuSeconds() - cpu0;
    const double per_cpu = cpu > 0 ? static_cast<double>(events) / cpu : 0;
    const double ns = cpu * 1e9 / static_cast<double>(events);
    const double rss = static_cast<double>(SelfPeakRssKib()) / 1024.0;
    const std::string load = LoadAverage();
    std::printf("generator run %d: %lld events in %.3f s wall, %.3f CPU-s -> %.0f events/CPU-s (%.1f ns/event); "
                "peak RSS %.1f MiB; load %s\n",
                run, static_cast<long long>(events), wall, cpu, per_cpu, ns, rss, load.c_str());
    std::printf("{\"bench\":\"generator\",\"run\":%d,\"events\":%lld,\"wall_s\":%.4f,\"cpu_s\":%.4f,"
                "\"events_per_cpu_s\":%.0f,\"ns_per_event\":%.1f,\"peak_rss_mib\":%.1f,\"checksum\":%lld,"
                "\"load\":\"%s\"}\n",
                run, static_cast<long long>(events), wall, cpu, per_cpu, ns, rss, static_cast<long long>(checksum),
                load.c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace sluice::bench
