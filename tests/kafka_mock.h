// librdkafka's in-process mock Kafka cluster (rdkafka_mock.h) on 127.0.0.1, with a producer, for
// tests of the Kafka source. Test-only code; REQUIRE-fails on errors.
#pragma once

#include <cstdint>
#include <string>

typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace sluice::testing {

/// A mock cluster of one broker, and a producer connected to it. Not thread-safe except
/// Produce()/Flush(), which librdkafka makes thread-safe.
class MockKafka {
 public:
  MockKafka();
  ~MockKafka();
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  /// "127.0.0.1:port" of the broker, for bootstrap.servers.
  const std::string& bootstraps() const { return bootstraps_; }
  void CreateTopic(const std::string& topic, int partitions);
  /// Queues one message for `partition` (copied); Flush() waits until all are acknowledged.
  void Produce(const std::string& topic, int partition, const std::string& key, const std::string& value);
  void Flush();
  /// The consumer group's committed offset for (topic, partition) (Kafka's next offset to read),
  /// or a negative value when none is committed.
  int64_t Committed(const std::string& group, const std::string& topic, int partition);

 private:
  rd_kafka_t* holder_ = nullptr;  // the handle the mock cluster belongs to
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::string bootstraps_;
};

}  // namespace sluice::testing
