// CPU time, peak RSS and load of a process, read from getrusage and /proc: the one copy every
// benchmark in bench/ uses (sluice-bench, checkpoint_bench, ingest_bench).
// Thread-safety: every function is safe to call from any thread (each reads the kernel's figures
// afresh; nothing is cached).
#pragma once

#include <cstdint>
#include <string>

namespace sluice::bench {

/// User+system CPU seconds this process has used so far, all threads (getrusage RUSAGE_SELF).
/// Unit: seconds.
double SelfCpuSeconds();

/// CPU seconds the calling thread has used so far (clock_gettime CLOCK_THREAD_CPUTIME_ID).
/// Unit: seconds. Used to take the generator's share out of a whole-process figure.
double ThreadCpuSeconds();

/// Peak resident set size of this process so far (getrusage ru_maxrss). Unit: KiB.
int64_t SelfPeakRssKib();

/// utime+stime of process `pid` (fields 14 and 15 of /proc/PID/stat, in clock ticks), all
/// threads. Unit: seconds. Returns 0 when the file cannot be read (the process is gone).
double ProcCpuSeconds(int pid);

/// VmHWM (peak resident set size) of process `pid` from /proc/PID/status. Unit: KiB. Returns 0
/// when unreadable.
int64_t ProcPeakRssKib(int pid);

/// The 1, 5 and 15 minute load averages from /proc/loadavg, as `uptime` shows them
/// ("0.52 0.61 0.70"); empty when unreadable.
std::string LoadAverage();

}  // namespace sluice::bench
