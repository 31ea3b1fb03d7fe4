#include "runtime/snapshots.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>

#include "core/crc32c.h"
#include "core/file_util.h"
#include "core/progress.h"
#include "core/time.h"

namespace sluice::runtime {
namespace fs = std::filesystem;
namespace {

constexpr char kManifest[] = "MANIFEST.sluice";

Result<uint32_t> FileCrc(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path + ": " + std::strerror(errno));
  uint32_t crc = 0;
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return Status::IOError("read " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    crc = crc32c::Extend(crc, buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return crc;
}

std::string Hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "%08x", v);
  return b;
}

}  // namespace

Result<uint32_t> SnapshotCrcCache::Crc(const std::string& path, uint64_t size) {
  struct stat st;
  const bool immutable = path.size() > 4 && path.compare(path.size() - 4, 4, ".sst") == 0;
  if (immutable && ::stat(path.c_str(), &st) == 0) {
    std::lock_guard lock(mu_);
    auto it = by_inode_.find({static_cast<uint64_t>(st.st_ino), size});
    if (it != by_inode_.end()) return it->second;
  }
  SLUICE_ASSIGN_OR_RETURN(uint32_t crc, FileCrc(path));
  if (immutable && ::stat(path.c_str(), &st) == 0) {
    std::lock_guard lock(mu_);
    by_inode_[{static_cast<uint64_t>(st.st_ino), size}] = crc;
  }
  return crc;
}

Status TakeSnapshot(RocksStateStore* store, const std::string& dir, SnapshotCrcCache* cache) {
  const std::string tmp = dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(fs::path(dir).parent_path(), ec);
  SLUICE_RETURN_IF_ERROR(store->CreateSnapshot(tmp));
  std::vector<std::pair<std::string, uint64_t>> files;
  for (const auto& e : fs::directory_iterator(tmp, ec)) {
    if (e.is_regular_file()) files.emplace_back(e.path().filename().string(), e.file_size());
  }
  if (ec) return Status::IOError("list " + tmp + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::string manifest;
  for (const auto& [name, size] : files) {
    const std::string path = tmp + "/" + name;
    uint32_t crc;
    if (cache != nullptr) {
      SLUICE_ASSIGN_OR_RETURN(crc, cache->Crc(path, size));
    } else {
      SLUICE_ASSIGN_OR_RETURN(crc, FileCrc(path));
    }
    manifest += "file " + name + " " + std::to_string(size) + " " + Hex(crc) + "\n";
  }
  manifest += "crc " + Hex(crc32c::Value(manifest.data(), manifest.size())) + "\n";
  SLUICE_RETURN_IF_ERROR(WriteFileAtomically(tmp + "/" + kManifest, manifest));
  if (::rename(tmp.c_str(), dir.c_str()) != 0) return Status::IOError("rename " + tmp + ": " + std::strerror(errno));
  return FsyncDir(fs::path(dir).parent_path().string());
}

Status VerifySnapshot(const std::string& dir, const std::string& progress_task) {
  auto text = ReadFileToString(dir + "/" + kManifest);
  if (!text.ok()) return Status::Corruption(dir + ": no readable " + kManifest);
  const size_t crc_line = text->rfind("crc ");
  if (crc_line == std::string::npos || (crc_line != 0 && (*text)[crc_line - 1] != '\n'))
    return Status::Corruption(dir + ": manifest has no CRC line");
  const std::string listing = text->substr(0, crc_line);
  if (text->substr(crc_line) != "crc " + Hex(crc32c::Value(listing.data(), listing.size())) + "\n")
    return Status::Corruption(dir + ": manifest CRC mismatch");
  std::istringstream in(listing);
  std::string word, name, crc;
  uint64_t size;
  std::unique_ptr<Progress> progress;
  if (!progress_task.empty()) {
    uint64_t total = 0;
    std::istringstream sizes(listing);
    while (sizes >> word >> name >> size >> crc) total += size;
    progress = std::make_unique<Progress>(ProgressOptions{.task = progress_task, .total = total, .unit = "bytes"});
  }
  while (in >> word >> name >> size >> crc) {
    const std::string path = dir + "/" + name;
    std::error_code ec;
    if (name.find('/') != std::string::npos || fs::file_size(path, ec) != size || ec)
      return Status::Corruption(dir + ": " + name + " is missing or has the wrong size");
    SLUICE_ASSIGN_OR_RETURN(uint32_t actual, FileCrc(path));
    if (Hex(actual) != crc) return Status::Corruption(dir + ": " + name + " fails its CRC");
    if (progress) progress->Add(size);
  }
  return Status::OK();
}

std::vector<std::string> ListSnapshots(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("chk-", 0) == 0 && name.find(".tmp") == std::string::npos)
      out.push_back(e.path().string());
  }
  // chk-<unix ms>, all the same width for centuries: lexicographic order is time order.
  std::sort(out.rbegin(), out.rend());
  return out;
}

Status PruneSnapshots(const std::string& root, size_t keep) {
  std::vector<std::string> all = ListSnapshots(root);
  std::error_code ec;
  // Half-written snapshots of a process that was killed.
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("chk-", 0) == 0 && name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)
      fs::remove_all(e.path(), ec);
  }
  ec.clear();
  for (size_t i = keep; i < all.size(); ++i) {
    fs::remove_all(all[i], ec);
    if (ec) return Status::IOError("remove " + all[i] + ": " + ec.message());
  }
  return Status::OK();
}

Status RestoreSnapshot(const std::string& dir, const std::string& live) {
  std::error_code ec;
  if (fs::exists(live, ec)) {
    const std::string aside = live + ".replaced-" + std::to_string(WallNow().millis());
    fs::rename(live, aside, ec);
    if (ec) return Status::IOError("move " + live + " aside: " + ec.message());
  }
  const std::string tmp = live + ".restoring";
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Status::IOError("create " + tmp + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name == kManifest) continue;
    const fs::path to = fs::path(tmp) / name;
    if (e.path().extension() == ".sst") {
      fs::create_hard_link(e.path(), to, ec);
      if (!ec) continue;
    }
    fs::copy_file(e.path(), to, ec);
    if (ec) return Status::IOError("copy " + e.path().string() + ": " + ec.message());
  }
  fs::rename(tmp, live, ec);
  if (ec) return Status::IOError("rename " + tmp + ": " + ec.message());
  return FsyncDir(fs::path(live).parent_path().string());
}

}  // namespace sluice::runtime
