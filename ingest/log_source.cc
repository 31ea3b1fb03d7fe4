#include "ingest/log_source.h"

namespace sluice::ingest {
namespace {

class ShardSplit final : public SourceSplit {
 public:
  ShardSplit(std::shared_ptr<log::Stream> stream, int shard)
      : stream_(std::move(stream)), shard_(shard), id_(log::Stream::ShardIdFor(shard)) {}
  const std::string& id() const override { return id_; }
  Status Seek(uint64_t position) override {
    cursor_ = log::LogCursor{};
    cursor_.next_sequence = position < 1 ? 1 : position;
    return Status::OK();
  }
  Status Read(size_t max_records, std::vector<SourceRecord>* out) override {
    out->clear();
    SLUICE_RETURN_IF_ERROR(stream_->shard(shard_).Read(&cursor_, max_records, 4u << 20, &batch_));
    out->reserve(batch_.records.size());
    for (const auto& r : batch_.records) out->push_back({r.sequence, r.arrival_ms, r.partition_key, r.data});
    return Status::OK();
  }

 private:
  std::shared_ptr<log::Stream> stream_;
  int shard_;
  std::string id_;
  log::LogCursor cursor_;
  log::ReadBatch batch_;
};

}  // namespace

LogSource::LogSource(log::Log* log, std::shared_ptr<log::Stream> stream) : log_(log), stream_(std::move(stream)) {}

std::vector<std::unique_ptr<SourceSplit>> LogSource::OpenSplits() {
  std::vector<std::unique_ptr<SourceSplit>> out;
  for (int i = 0; i < stream_->shard_count(); ++i) out.push_back(std::make_unique<ShardSplit>(stream_, i));
  return out;
}

uint64_t LogSource::WaitForData(uint64_t seen, std::chrono::milliseconds timeout) {
  return log_->WaitForCommit(seen, timeout);
}

}  // namespace sluice::ingest
