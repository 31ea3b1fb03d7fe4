// Snapshots of the state store: the periodic incremental checkpoint copies and named savepoints.
//
// Every query commits its checkpoints into the live RocksDB store (data/kv). Every
// checkpoint_interval the server also takes a snapshot of that store into
// data/checkpoints/chk-<unix ms>: RocksDB's Checkpoint hard-links the immutable SST files, so a
// snapshot costs only the files written since the previous one (incremental), and the newest
// `keep` are kept. Each snapshot has a MANIFEST.sluice listing every file with its size and
// CRC32C, ending with the CRC32C of the listing itself:
//   file <name> <size bytes> <crc32c hex>
//   ...
//   crc <crc32c hex of every line above>
// If the live store cannot be opened, or a checkpoint record in it fails its CRC, the server
// restores the newest snapshot whose manifest verifies, logging a warning for each one it skips
// (docs/checkpoints.md). A savepoint (`sluice savepoint NAME`) is the same kind of snapshot in
// data/savepoints/NAME, taken right after every query checkpointed, and restored by
// `sluice run --from-savepoint NAME`.
// Thread-safety: the functions are thread-safe for distinct directories; SnapshotCrcCache is
// thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/rocks_state_store.h"

namespace sluice::runtime {

/// Remembers the CRC32C of immutable SST files by inode, so each snapshot reads only new files.
class SnapshotCrcCache {
 public:
  /// CRC32C of the file at `path` (of size `size`). Errors: IOError reading it.
  Result<uint32_t> Crc(const std::string& path, uint64_t size);

 private:
  std::mutex mu_;
  std::map<std::pair<uint64_t, uint64_t>, uint32_t> by_inode_;  // GUARDED_BY(mu_): (inode, size) → CRC
};

/// Snapshots `store` into `dir` (which must not exist): written as `dir`.tmp, manifest added,
/// fsynced, renamed. `cache` may be null. Errors: IOError.
Status TakeSnapshot(RocksStateStore* store, const std::string& dir, SnapshotCrcCache* cache);
/// Checks `dir`'s manifest and every file's size and CRC. Errors: Corruption naming the first
/// bad file; IOError. With a `progress_task` ("restore savepoint nightly", say), the bytes read
/// are shown as a core::Progress (a bar on a terminal, logfmt lines otherwise): reading every
/// file is what takes a restore its time.
Status VerifySnapshot(const std::string& dir, const std::string& progress_task = {});
/// Deletes the oldest "chk-*" snapshots under `root` beyond the newest `keep`. Errors: IOError.
Status PruneSnapshots(const std::string& root, size_t keep);
/// The "chk-*" snapshot folders under `root`, newest first.
std::vector<std::string> ListSnapshots(const std::string& root);
/// Replaces the store folder `live` with a copy of snapshot `dir` (SST files hard-linked, others
/// copied, so the snapshot stays intact). The old folder is renamed to `live`.replaced-<unix ms>.
/// REQUIRES: the store at `live` is closed. Errors: IOError.
Status RestoreSnapshot(const std::string& dir, const std::string& live);

}  // namespace sluice::runtime
