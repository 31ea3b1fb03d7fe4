#include "ingest/log_source.h"

namespace sluice::ingest {
namespace {

class ShardSplit final : public SourceSplit {
 public:
  ShardSplit(std::shared_ptr<log::Stream> stream, const log::ShardInfo& info)
      : stream_(std::move(stream)), shard_(info.index), id_(log::Stream::ShardIdFor(info.index)), range_(info.range) {
    if (info.parent >= 0) parents_.push_back(log::Stream::ShardIdFor(info.parent));
    if (info.adjacent_parent >= 0) parents_.push_back(log::Stream::ShardIdFor(info.adjacent_parent));
  }
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
    if (!batch_.records.empty()) last_read_arrival_ms_ = batch_.records.back().arrival_ms;
    return Status::OK();
  }
  SplitLag lag() const override {
    const log::ShardLog& log = stream_->shard(shard_);
    const uint64_t next = std::max(cursor_.next_sequence, log.first_sequence());
    SplitLag l;
    l.records = static_cast<int64_t>(log.durable_end() > next ? log.durable_end() - next : 0);
    // Caught up, or nothing read yet to compare with (then the oldest retained record's age is
    // unknown without a read): 0 when caught up, else the newest arrival minus the last read.
    if (l.records == 0) {
      l.behind_ms = 0;
    } else if (last_read_arrival_ms_ > 0) {
      l.behind_ms = std::max<int64_t>(log.last_arrival_ms() - last_read_arrival_ms_, 0);
    }
    return l;
  }
  std::vector<std::string> parent_ids() const override { return parents_; }
  std::optional<HashKeyRange> hash_key_range() const override { return range_; }
  bool finished() const override {
    // The topology changes only by reshards; a shard, once closed, keeps its end_sequence.
    if (end_sequence_ == 0) {
      if (stream_->topology_version() == seen_version_) return false;
      seen_version_ = stream_->topology_version();
      end_sequence_ = stream_->topology()->shards[static_cast<size_t>(shard_)].end_sequence;
      if (end_sequence_ == 0) return false;
    }
    const log::ShardLog& log = stream_->shard(shard_);
    // Records before the trim horizon are gone: a cursor behind it has nothing left there either.
    const uint64_t next = std::max(cursor_.next_sequence, log.first_sequence());
    return next >= end_sequence_ && log.durable_end() >= end_sequence_;
  }

 private:
  std::shared_ptr<log::Stream> stream_;
  int shard_;
  std::string id_;
  std::vector<std::string> parents_;
  HashKeyRange range_;
  log::LogCursor cursor_;
  log::ReadBatch batch_;
  int64_t last_read_arrival_ms_ = 0;  // of the last record Read() returned; 0 before any
  // finished()'s cache: the shard's end (0 = open as of topology version seen_version_).
  mutable uint64_t end_sequence_ = 0;
  mutable uint64_t seen_version_ = UINT64_MAX;
};

}  // namespace

LogSource::LogSource(log::Log* log, std::shared_ptr<log::Stream> stream) : log_(log), stream_(std::move(stream)) {}

std::vector<std::unique_ptr<SourceSplit>> LogSource::OpenSplits() {
  std::vector<std::unique_ptr<SourceSplit>> out;
  auto topology = stream_->topology();
  for (const log::ShardInfo& info : topology->shards) out.push_back(std::make_unique<ShardSplit>(stream_, info));
  return out;
}

uint64_t LogSource::WaitForData(uint64_t seen, std::chrono::milliseconds timeout) {
  return log_->WaitForCommit(seen, timeout);
}

uint64_t LogSource::splits_version() const { return stream_->topology_version(); }

}  // namespace sluice::ingest
