#include "sinks/archive_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/file_util.h"

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

Status ArchiveSink::Write(const std::vector<Row>& rows) {
  if (rows.empty()) return Status::OK();
  EventTime now = WallNow();
  for (const Row& r : rows) {
    std::string part = PartitionOf(r, now);
    Buffer& b = buffers_[part];
    if (b.rows == 0) b.opened = now;
    b.jsonl += RowToJson(schema_, r);
    b.jsonl.push_back('\n');
    ++b.rows;
    ++buffered_rows_;
  }
  for (auto it = buffers_.begin(); it != buffers_.end();) {
    if (it->second.jsonl.size() >= options_.buffer_bytes) {
      SLUICE_RETURN_IF_ERROR(FlushPartition(it->first, &it->second));
      it = buffers_.erase(it);
    } else {
      ++it;
    }
  }
  return Status::OK();
}

Status ArchiveSink::Tick(EventTime now) {
  for (auto it = buffers_.begin(); it != buffers_.end();) {
    if (it->second.rows > 0 && now - it->second.opened >= options_.buffer_interval) {
      SLUICE_RETURN_IF_ERROR(FlushPartition(it->first, &it->second));
      it = buffers_.erase(it);
    } else {
      ++it;
    }
  }
  return Status::OK();
}

Status ArchiveSink::Close() {
  for (auto it = buffers_.begin(); it != buffers_.end();) {
    SLUICE_RETURN_IF_ERROR(FlushPartition(it->first, &it->second));
    it = buffers_.erase(it);
  }
  return Status::OK();
}

Status ArchiveSink::FlushPartition(const std::string& partition, Buffer* buf) {
  if (buf->rows == 0) return Status::OK();
  std::string dir = partition.empty() ? options_.dir : options_.dir + "/" + partition;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("mkdir " + dir + ": " + ec.message());
  const bool gzip = options_.compression != "none";
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, "-%lld-%llu.jsonl%s", static_cast<long long>(WallNow().millis()),
                static_cast<unsigned long long>(file_counter_++), gzip ? ".gz" : "");
  std::string name = options_.file_prefix + suffix;
  std::string final_path = dir + "/" + name;
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
  if (st.ok() && ::rename(tmp_path.c_str(), final_path.c_str()) != 0)
    st = Status::IOError("rename " + tmp_path + ": " + std::strerror(errno));
  if (!st.ok()) {
    ::unlink(tmp_path.c_str());
    return st;
  }
  SLUICE_RETURN_IF_ERROR(FsyncDir(dir));
  buffered_rows_ -= buf->rows;
  buf->rows = 0;
  buf->jsonl.clear();
  ++files_written_;
  return Status::OK();
}

}  // namespace sluice::sinks
