#include "tests/kafka_mock.h"

#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must come after rdkafka.h.
#include <librdkafka/rdkafka_mock.h>

namespace sluice::testing {

MockKafka::MockKafka() {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  holder_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  REQUIRE_MESSAGE(holder_ != nullptr, err);
  cluster_ = rd_kafka_mock_cluster_new(holder_, 1);
  REQUIRE(cluster_ != nullptr);
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  REQUIRE(rd_kafka_conf_set(pconf, "bootstrap.servers", bootstraps_.c_str(), err, sizeof(err)) == RD_KAFKA_CONF_OK);
  rd_kafka_conf_set(pconf, "linger.ms", "5", err, sizeof(err));
  rd_kafka_conf_set(pconf, "log_level", "3", err, sizeof(err));
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
  REQUIRE_MESSAGE(producer_ != nullptr, err);
}

MockKafka::~MockKafka() {
  rd_kafka_destroy(producer_);
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(holder_);
}

void MockKafka::CreateTopic(const std::string& topic, int partitions) {
  REQUIRE(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
}

void MockKafka::Produce(const std::string& topic, int partition, const std::string& key, const std::string& value) {
  while (true) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      REQUIRE(err == RD_KAFKA_RESP_ERR_NO_ERROR);
      return;
    }
    rd_kafka_poll(producer_, 10);  // the local queue is full: let deliveries drain it
  }
}

void MockKafka::Flush() { REQUIRE(rd_kafka_flush(producer_, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR); }

int64_t MockKafka::Committed(const std::string& group, const std::string& topic, int partition) {
  char err[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps_.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  REQUIRE_MESSAGE(c != nullptr, err);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
  rd_kafka_resp_err_t e = rd_kafka_committed(c, list, 5000);
  int64_t offset = e == RD_KAFKA_RESP_ERR_NO_ERROR ? list->elems[0].offset : -2000;
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(c);
  return offset;
}

}  // namespace sluice::testing
