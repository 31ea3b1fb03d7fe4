#include "sinks/archive_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/file_util.h"
#include "core/logging.h"

namespace sluice::sinks {

Status GzipCompress(const std::string& in, std::string* out) {
  z_stream zs{};
  // windowBits 15 + 16 selects the gzip wrapper.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return Status::Internal("deflateInit2 failed");
  out->resize(deflateBound(&zs, in.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out->data());
  zs.avail_out = static_cast<uInt>(out->size());
  int rc = deflate(&zs, Z_FINISH);
  size_t n = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return Status::Internal("deflate failed");
  out->resize(n);
  return Status::OK();
}

ArchiveSink::ArchiveSink(ArchiveOptions options, Schema schema) : options_(std::move(options)), schema_(std::move(schema)) {
  for (size_t i = 0; i < schema_.size(); ++i)
    if (schema_[i].type == DataType::kTimestamp) {
      time_column_ = static_cast<int>(i);
      break;
    }
}

ArchiveSink::~ArchiveSink() = default;

namespace {

constexpr char kMetaKey[] = "m";

void AppendBigEndian(uint64_t v, std::string* out) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t ReadBigEndian(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

// The file sequence number of `name` if it is "<prefix>-<10 digits>.jsonl[.gz]", else -1.
int64_t FileSeqOf(const std::string& name, const std::string& prefix) {
  if (name.size() < prefix.size() + 12 || name.compare(0, prefix.size(), prefix) != 0 || name[prefix.size()] != '-')
    return -1;
  const std::string rest = name.substr(prefix.size() + 1);
  if (rest.size() < 16) return -1;
  for (size_t i = 0; i < 10; ++i)
    if (rest[i] < '0' || rest[i] > '9') return -1;
  const std::string tail = rest.substr(10);
  if (tail != ".jsonl" && tail != ".jsonl.gz") return -1;
  return std::stoll(rest.substr(0, 10));
}

}  // namespace

std::string ArchiveSink::PartitionOf(const Row& row, EventTime now) const {
  if (options_.partition == "none") return "";
  EventTime t = now;
  if (time_column_ >= 0) {
    const Value& v = row[static_cast<size_t>(time_column_)];
    if (v.type() == DataType::kTimestamp) t = v.as_time();
  }
  std::string ts = FormatTimestamp(t);  // YYYY-MM-DDTHH:...
  if (ts.size() < 13 || ts[4] != '-') return "year=invalid";
  std::string p = "year=" + ts.substr(0, 4) + "/month=" + ts.substr(5, 2) + "/day=" + ts.substr(8, 2);
  if (options_.partition == "hour") p += "/hour=" + ts.substr(11, 2);
  return p;
}

std::string ArchiveSink::DirOf(const std::string& partition) const {
  return partition.empty() ? options_.dir : options_.dir + "/" + partition;
}

std::string ArchiveSink::ChunkKey(const std::string& partition, uint64_t gen, uint64_t chunk) const {
  std::string k = "b" + partition;
  k.push_back('\x01');
  AppendBigEndian(gen, &k);
  AppendBigEndian(chunk, &k);
  return k;
}

Status ArchiveSink::Write(const std::vector<Row>& rows) {
  if (rows.empty()) return Status::OK();
  EventTime now = WallNow();
  for (const Row& r : rows) {
    std::string part = PartitionOf(r, now);
    auto [it, inserted] = buffers_.try_emplace(part);
    Buffer& b = it->second;
    if (inserted) b.gen = next_gen_++;
    if (b.rows == 0) b.opened = now;
    b.jsonl += RowToJson(schema_, r);
    b.jsonl.push_back('\n');
    ++b.rows;
    ++buffered_rows_;
  }
  for (auto& [part, b] : buffers_) {
    if (b.jsonl.size() >= options_.buffer_bytes) SLUICE_RETURN_IF_ERROR(Seal(part, &b));
  }
  return Status::OK();
}

Status ArchiveSink::Tick(EventTime now) {
  for (auto& [part, b] : buffers_) {
    if (b.rows > 0 && now - b.opened >= options_.buffer_interval) SLUICE_RETURN_IF_ERROR(Seal(part, &b));
  }
  return Status::OK();
}

Status ArchiveSink::Close() {
  for (auto& [part, b] : buffers_) SLUICE_RETURN_IF_ERROR(Seal(part, &b));
  return Status::OK();
}

Status ArchiveSink::Seal(const std::string& partition, Buffer* buf) {
  if (buf->rows == 0) return Status::OK();
  std::string dir = DirOf(partition);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("mkdir " + dir + ": " + ec.message());
  const bool gzip = options_.compression != "none";
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, "-%010llu.jsonl%s", static_cast<unsigned long long>(file_seq_),
                gzip ? ".gz" : "");
  std::string name = options_.file_prefix + suffix;
  std::string tmp_path = dir + "/." + name + ".inprogress";
  std::string compressed;
  const std::string* payload = &buf->jsonl;
  if (gzip) {
    SLUICE_RETURN_IF_ERROR(GzipCompress(buf->jsonl, &compressed));
    payload = &compressed;
  }
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("create " + tmp_path + ": " + std::strerror(errno));
  Status st = WriteAll(fd, *payload, tmp_path);
  if (st.ok() && ::fsync(fd) != 0) st = Status::IOError("fsync " + tmp_path + ": " + std::strerror(errno));
  ::close(fd);
  if (!st.ok()) {
    ::unlink(tmp_path.c_str());
    return st;
  }
  ++file_seq_;
  prepared_.push_back({partition, name});
  if (buf->logged_bytes > 0 || !buf->older_gens.empty()) {
    sealed_gens_.emplace_back(partition, buf->gen);
    for (uint64_t g : buf->older_gens) sealed_gens_.emplace_back(partition, g);
  }
  buffered_rows_ -= buf->rows;
  buf->rows = 0;
  buf->jsonl.clear();
  buf->gen = next_gen_++;
  buf->older_gens.clear();
  buf->next_chunk = 0;
  buf->logged_bytes = 0;
  return Status::OK();
}

Status ArchiveSink::PrepareCheckpoint(uint64_t checkpoint_id, StoreBatch* batch) {
  const std::string& space = options_.state_space;
  for (const auto& [part, gen] : sealed_gens_) {
    batch->DeleteRange(space, ChunkKey(part, gen, 0), ChunkKey(part, gen + 1, 0));
  }
  sealed_gens_.clear();
  for (auto& [part, b] : buffers_) {
    if (b.jsonl.size() == b.logged_bytes) continue;
    batch->Put(space, ChunkKey(part, b.gen, b.next_chunk++), std::string_view(b.jsonl).substr(b.logged_bytes));
    b.logged_bytes = b.jsonl.size();
  }
  // Drop empty buffers so the map does not grow with every hour ever seen.
  for (auto it = buffers_.begin(); it != buffers_.end();) {
    it = it->second.rows == 0 ? buffers_.erase(it) : std::next(it);
  }
  std::string meta = "seq " + std::to_string(file_seq_) + "\n";
  for (Prepared& p : prepared_) {
    if (p.checkpoint == 0) p.checkpoint = checkpoint_id;
    meta += "file " + p.partition + "\t" + p.name + "\n";
  }
  batch->Put(space, kMetaKey, meta);
  return Status::OK();
}

Status ArchiveSink::CommitCheckpoint(uint64_t checkpoint_id) {
  std::set<std::string> dirs;
  size_t done = 0;
  Status st;
  // prepared_ is in sealing order, so the files this checkpoint covers come first.
  for (; done < prepared_.size(); ++done) {
    const Prepared& p = prepared_[done];
    if (p.checkpoint == 0 || p.checkpoint > checkpoint_id) break;
    const std::string dir = DirOf(p.partition);
    const std::string tmp = dir + "/." + p.name + ".inprogress", final_path = dir + "/" + p.name;
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
      st = Status::IOError("rename " + tmp + ": " + std::strerror(errno));
      break;
    }
    dirs.insert(dir);
    ++files_written_;
    struct stat info;
    if (::stat(final_path.c_str(), &info) == 0) bytes_written_ += static_cast<uint64_t>(info.st_size);
  }
  prepared_.erase(prepared_.begin(), prepared_.begin() + static_cast<std::ptrdiff_t>(done));
  for (const std::string& d : dirs) {
    Status f = FsyncDir(d);
    if (st.ok() && !f.ok()) st = f;
  }
  return st;
}

Status ArchiveSink::Recover(StateStore* store) {
  const std::string& space = options_.state_space;
  buffers_.clear();
  prepared_.clear();
  sealed_gens_.clear();
  buffered_rows_ = 0;
  file_seq_ = 0;
  std::vector<Prepared> pending;
  auto meta = store->Get(space, kMetaKey);
  if (meta.ok()) {
    std::istringstream in(*meta);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("seq ", 0) == 0) {
        const std::string digits = line.substr(4);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), file_seq_);
        if (ec != std::errc() || end != digits.data() + digits.size())
          return Status::Corruption(space + ": bad meta line '" + line + "'");
      } else if (line.rfind("file ", 0) == 0) {
        const size_t tab = line.find('\t');
        if (tab == std::string::npos) return Status::Corruption(space + ": bad file entry '" + line + "'");
        pending.push_back({line.substr(5, tab - 5), line.substr(tab + 1)});
      } else if (!line.empty()) {
        return Status::Corruption(space + ": bad meta line '" + line + "'");
      }
    }
  } else if (meta.status().code() != StatusCode::kNotFound) {
    return meta.status();
  }
  // Roll forward: files the last committed checkpoint prepared.
  std::set<std::string> keep;
  for (const Prepared& p : pending) {
    const std::string dir = DirOf(p.partition);
    const std::string tmp = dir + "/." + p.name + ".inprogress", final_path = dir + "/" + p.name;
    keep.insert(final_path);
    if (::access(tmp.c_str(), F_OK) == 0) {
      if (::rename(tmp.c_str(), final_path.c_str()) != 0)
        return Status::IOError("rename " + tmp + ": " + std::strerror(errno));
      SLUICE_RETURN_IF_ERROR(FsyncDir(dir));
      ++files_written_;
      struct stat info;
      if (::stat(final_path.c_str(), &info) == 0) bytes_written_ += static_cast<uint64_t>(info.st_size);
    } else if (::access(final_path.c_str(), F_OK) != 0) {
      SLUICE_LOG_WARN("a committed archive file is missing", {{"component", "archive"}, {"dir", options_.dir}, {"file", final_path}});
    }
  }
  // Roll back: in-progress files of attempts that never committed, and files published by
  // checkpoints newer than the one restored.
  std::error_code ec;
  if (std::filesystem::exists(options_.dir, ec)) {
    std::vector<std::filesystem::path> remove;
    const std::string tmp_prefix = "." + options_.file_prefix + "-";
    for (auto it = std::filesystem::recursive_directory_iterator(options_.dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      const std::string name = it->path().filename().string();
      if (name.rfind(tmp_prefix, 0) == 0 && name.size() > 11 && name.substr(name.size() - 11) == ".inprogress") {
        remove.push_back(it->path());
      } else if (const int64_t seq = FileSeqOf(name, options_.file_prefix);
                 seq >= 0 && static_cast<uint64_t>(seq) >= file_seq_ && keep.count(it->path().string()) == 0) {
        SLUICE_LOG_WARN("removing an archive file published by a checkpoint that was rolled back",
                        {{"component", "archive"}, {"file", it->path().string()}});
        remove.push_back(it->path());
      }
    }
    if (ec) return Status::IOError("scan " + options_.dir + ": " + ec.message());
    for (const auto& p : remove) std::filesystem::remove(p, ec);
  }
  // Reload the buffers.
  EventTime now = WallNow();
  SLUICE_RETURN_IF_ERROR(store->Scan(space, "b", [&](std::string_view key, std::string_view value, bool*) {
    if (key.size() < 18 || key[key.size() - 17] != '\x01') return Status::Corruption(space + ": bad chunk key");
    const size_t sep = key.size() - 17;
    const std::string part(key.substr(1, sep - 1));
    const uint64_t gen = ReadBigEndian(key.substr(sep + 1, 8)), chunk = ReadBigEndian(key.substr(sep + 9, 8));
    Buffer& b = buffers_[part];
    if (b.jsonl.empty() && b.older_gens.empty() && b.gen == 0) {
      b.gen = gen;
      b.opened = now;
    } else if (gen != b.gen) {
      b.older_gens.push_back(b.gen);
      b.gen = gen;
    }
    b.jsonl.append(value);
    b.next_chunk = chunk + 1;
    const size_t rows = static_cast<size_t>(std::count(value.begin(), value.end(), '\n'));
    b.rows += rows;
    buffered_rows_ += rows;
    next_gen_ = std::max(next_gen_, gen + 1);
    return Status::OK();
  }));
  for (auto& [part, b] : buffers_) b.logged_bytes = b.jsonl.size();
  return Status::OK();
}

}  // namespace sluice::sinks
