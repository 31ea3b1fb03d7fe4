// LogSource: a stream of the embedded log seen through core's Source interface.
// One split per shard, open and closed (a reshard closes parent shards and opens children);
// positions are sequence numbers. A split reports its parents (ParentShardId,
// AdjacentParentShardId) and finished() once its shard is closed and read to the end;
// splits_version() changes with every reshard. Thread-safety: as core/connector.h says.
#pragma once

#include <memory>

#include "core/connector.h"
#include "ingest/log/log.h"

namespace sluice::ingest {

class LogSource final : public Source {
 public:
  /// `log` must outlive this source and every split it opens.
  LogSource(log::Log* log, std::shared_ptr<log::Stream> stream);
  /// One split per shard of the current topology, in shard id order.
  std::vector<std::unique_ptr<SourceSplit>> OpenSplits() override;
  uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds timeout) override;
  /// The stream's topology version (log::StreamTopology::version).
  uint64_t splits_version() const override;

 private:
  log::Log* log_;
  std::shared_ptr<log::Stream> stream_;
};

}  // namespace sluice::ingest
