// Crash points for crash tests: named places in the checkpoint protocol where a test can make
// the process die with SIGKILL, to prove recovery from exactly that moment (tests/crash).
//
// Set SLUICE_CRASH_POINT=<name>:<n> in the environment to kill the process the n-th time (from 1)
// any thread reaches CrashPoint(<name>). Names: "checkpoint.before_commit",
// "checkpoint.ingest_files_written" (a large commit's SST files are written and synced, not yet
// ingested; sinks/kv_store.cc), "checkpoint.after_commit" (state committed, archive files not yet
// published), "checkpoint.after_publish". Unset (the normal case), CrashPoint() returns at once.
// Thread-safety: thread-safe.
#pragma once

namespace sluice {

/// Kills the process with SIGKILL if SLUICE_CRASH_POINT names `name` and this is the n-th hit.
void CrashPoint(const char* name);

}  // namespace sluice
