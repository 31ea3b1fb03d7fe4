// Small POSIX file helpers for durable writes, shared by the log, sinks and checkpoints.
// Every function reports failures as IOError naming the path and errno text; none throws.
// Thread-safety: thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

/// The whole content of the file at `path`. Errors: IOError when it can't be opened or read.
Result<std::string> ReadFileToString(const std::string& path);

/// Writes all of `data` to `fd`, retrying short writes and EINTR. `path` is for messages.
/// Errors: IOError from write(2).
Status WriteAll(int fd, std::string_view data, const std::string& path);

/// fsyncs directory `dir`, making entries created or renamed in it durable.
/// Errors: IOError from open(2) or fsync(2).
Status FsyncDir(const std::string& dir);

/// Replaces `path` atomically and durably with `content`: writes `path`.tmp, fsyncs it, renames
/// it over `path` and fsyncs the directory. Readers see the old or the new file, never a mix.
/// Errors: IOError from any step (the temporary file is removed).
Status WriteFileAtomically(const std::string& path, std::string_view content);

}  // namespace sluice
