#include "runtime/dead_letter.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/time.h"
#include "core/value.h"

namespace sluice::runtime {

DeadLetterQueue::DeadLetterQueue(std::string dir, MetricsRegistry* metrics) : dir_(std::move(dir)), metrics_(metrics) {}

DeadLetterQueue::~DeadLetterQueue() {
  for (auto& [_, f] : files_) std::fclose(f);
}

Status DeadLetterQueue::Write(std::string_view stage, const std::string& source, const std::string& shard,
                              uint64_t position, std::string_view reason, std::string_view data) {
  if (stage == "decode") {
    std::lock_guard lock(mu_);
    auto [it, fresh] = decode_high_.try_emplace({source, shard}, position);
    if (!fresh) {
      if (position <= it->second) return Status::OK();  // Another query already wrote it.
      it->second = position;
    }
  }
  metrics_->GetCounter("sluice_bad_records_total", "Records rejected or sent to a dead-letter destination",
                       {{"stage", std::string(stage)}, {"source", source}})
      .Inc();
  std::string line = "{\"stage\":";
  AppendJsonString(stage, &line);
  line += ",\"source\":";
  AppendJsonString(source, &line);
  line += ",\"shard\":";
  AppendJsonString(shard, &line);
  line += ",\"sequence_number\":\"" + std::to_string(position) + "\",\"reason\":";
  AppendJsonString(reason, &line);
  line += ",\"data\":";
  AppendJsonString(data, &line);
  line += ",\"at\":\"" + FormatTimestamp(WallNow()) + "\"}\n";
  std::lock_guard lock(mu_);
  std::FILE*& f = files_[source];
  if (!f) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    f = std::fopen(PathFor(source).c_str(), "ae");
    if (!f) return Status::IOError("open " + PathFor(source) + ": " + std::strerror(errno));
  }
  if (std::fwrite(line.data(), 1, line.size(), f) != line.size() || std::fflush(f) != 0)
    return Status::IOError("write " + PathFor(source) + ": " + std::strerror(errno));
  return Status::OK();
}

}  // namespace sluice::runtime
