// LogSource: a stream of the embedded log seen through core's Source interface.
// One split per shard; positions are sequence numbers. Thread-safety: as core/connector.h says.
#pragma once

#include <memory>

#include "core/connector.h"
#include "ingest/log/log.h"

namespace sluice::ingest {

class LogSource final : public Source {
 public:
  /// `log` must outlive this source and every split it opens.
  LogSource(log::Log* log, std::shared_ptr<log::Stream> stream);
  std::vector<std::unique_ptr<SourceSplit>> OpenSplits() override;
  uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds timeout) override;

 private:
  log::Log* log_;
  std::shared_ptr<log::Stream> stream_;
};

}  // namespace sluice::ingest
