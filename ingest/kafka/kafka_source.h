// KafkaSource: a Kafka topic seen through core's Source interface, read with librdkafka.
//
// One split per partition; a split's position is the Kafka offset + 1 (so that position 1, the
// runtime's "from the start", is offset 0, and positions stay strictly increasing per split even
// across the offset gaps that compaction and transaction markers leave). Records carry the
// message key as the partition key and the message timestamp (CreateTime or LogAppendTime) as
// the arrival time.
//
// Exactly once comes from Sluice's own checkpoints, as in Flink's KafkaSource: the offsets are
// saved in the checkpoint with the state they produced, and recovery seeks every partition to
// them. The splits are assigned to a consumer explicitly (rd_kafka_assign), not through a
// consumer group's subscription. After each checkpoint commits, the runtime calls
// SourceSplit::OnCheckpointCommitted and the committed offsets are also written to the consumer
// group `group_id` (asynchronously, like Flink's commit.offsets.on.checkpoint), so that Kafka's
// own tools show the query's lag; those group offsets are never read back.
//
// Not built (see docs/kafka.md): consumer-group subscription and partition takeover between
// instances, partitions added to a topic while running, start modes other than the earliest
// offset, and formats other than JSON payloads.
//
// Thread-safety: as core/connector.h says. Splits of one OpenSplits() call share a consumer
// (one rd_kafka_t); its calls are serialized by a mutex, so they may be used from different
// threads, though the runtime reads them all from the query's one worker.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/connector.h"
#include "core/status.h"

namespace sluice::ingest {

/// How to reach a topic. Maps to librdkafka configuration (CONFIGURATION.md of librdkafka).
struct KafkaSourceOptions {
  std::string bootstrap_servers;  ///< "host:port[,host:port…]" (bootstrap.servers). Required.
  std::string topic;              ///< The topic to read. Required; must exist.
  /// Consumer group the checkpointed offsets are committed to, for monitoring only (group.id).
  /// Default (empty): "sluice-" + topic.
  std::string group_id;
  /// Longest wait for the topic's metadata in Open(). Default: 10 s.
  std::chrono::milliseconds metadata_timeout{10000};
  /// Bytes librdkafka may prefetch per partition (queued.max.messages.kbytes). Unit: KiB.
  /// Default: 16384 (16 MiB; librdkafka's own default is 64 MiB).
  int queued_max_kbytes = 16384;
  /// More librdkafka settings (security.protocol, sasl.*, …), applied last.
  std::map<std::string, std::string> properties;
  /// The partitions to read, in any order; empty (the default) = every partition. Several
  /// instances can split a topic between them this way, each with its own state and checkpoints:
  /// results are right when every GROUP BY key's records are in one partition (producers keyed by
  /// it, as Kafka's default partitioner does), as in Kafka Streams' co-partitioning rule.
  std::vector<int> partitions;
};

class KafkaSource final : public Source {
 public:
  /// Connects, and reads the topic's partition count. Errors: InvalidArgument for a missing
  /// bootstrap_servers or topic, a setting librdkafka refuses, or a listed partition the topic
  /// does not have (or listed twice); NotFound when the topic does not exist; Unavailable when no
  /// broker answered within metadata_timeout.
  static Result<std::unique_ptr<KafkaSource>> Open(KafkaSourceOptions options);
  ~KafkaSource() override;

  /// One split per partition read (options.partitions, or all), in partition order, ids
  /// "<topic>-<partition>". Each call makes a
  /// new consumer shared by the splits it returns; the splits start at the earliest offset until
  /// Seek() says otherwise. Returns no splits if the consumer cannot be created (logged).
  std::vector<std::unique_ptr<SourceSplit>> OpenSplits() override;
  /// Wakes when any partition queue of any open consumer of this source goes from empty to
  /// non-empty (rd_kafka_queue_cb_event_enable), or after `timeout`.
  uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds timeout) override;
  /// The topic's partition count as of Open().
  int partitions() const { return partition_count_; }
  /// The partitions this source reads, ascending.
  const std::vector<int>& read_partitions() const { return read_; }
  const KafkaSourceOptions& options() const { return options_; }

  struct Notifier;  // wake-ups from librdkafka's threads (kafka_source.cc)

 private:
  KafkaSource(KafkaSourceOptions options, int partition_count, std::vector<int> read);
  KafkaSourceOptions options_;
  int partition_count_;
  std::vector<int> read_;
  std::shared_ptr<Notifier> notifier_;
};

}  // namespace sluice::ingest
