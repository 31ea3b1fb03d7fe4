#include "ingest/kafka/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

#include "core/logging.h"

namespace sluice::ingest {

struct KafkaSource::Notifier {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t version = 0;  // GUARDED_BY(mu)

  void Notify() {
    {
      std::lock_guard lock(mu);
      ++version;
    }
    cv.notify_all();
  }
  static void Callback(rd_kafka_t*, void* opaque) { static_cast<Notifier*>(opaque)->Notify(); }
};

namespace {

using Conf = std::unique_ptr<rd_kafka_conf_t, decltype(&rd_kafka_conf_destroy)>;

Result<Conf> MakeConf(const KafkaSourceOptions& o) {
  Conf conf(rd_kafka_conf_new(), &rd_kafka_conf_destroy);
  const std::string group = o.group_id.empty() ? "sluice-" + o.topic : o.group_id;
  std::vector<std::pair<std::string, std::string>> settings = {
      {"bootstrap.servers", o.bootstrap_servers},
      {"group.id", group},
      // Offsets are Sluice's to keep (in its checkpoints); the group only mirrors them.
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "false"},
      // A misspelt topic must be an error, not a new empty topic on brokers that auto-create.
      {"allow.auto.create.topics", "false"},
      // An offset a checkpoint saved that retention has since deleted: start at the oldest kept.
      {"auto.offset.reset", "earliest"},
      {"queued.max.messages.kbytes", std::to_string(o.queued_max_kbytes)},
      {"client.id", "sluice"},
      {"log_level", "4"},  // warnings and worse
  };
  for (const auto& [k, v] : o.properties) settings.emplace_back(k, v);
  char err[512];
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      return Status::InvalidArgument("kafka setting " + k + " = '" + v + "': " + err);
    }
  }
  return conf;
}

Result<rd_kafka_t*> NewConsumer(const KafkaSourceOptions& o) {
  SLUICE_ASSIGN_OR_RETURN(Conf conf, MakeConf(o));
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err));
  if (rk == nullptr) return Status::InvalidArgument(std::string("kafka consumer: ") + err);
  conf.release();  // rd_kafka_new took it
  return rk;
}

using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, decltype(&rd_kafka_topic_partition_list_destroy)>;

// One consumer (rd_kafka_t) shared by the splits of one OpenSplits() call; each partition's
// messages are routed to a queue of its own, which that partition's split reads.
class Consumer {
 public:
  // Reads `partitions` of `topic`; slot i of every per-partition vector is partitions[i].
  Consumer(rd_kafka_t* rk, std::string topic, std::vector<int> partitions, int partition_count,
           std::shared_ptr<KafkaSource::Notifier> notifier)
      : rk_(rk), topic_(std::move(topic)), partitions_(std::move(partitions)),
        slot_of_(static_cast<size_t>(partition_count), -1), start_(partitions_.size(), RD_KAFKA_OFFSET_BEGINNING),
        stash_(partitions_.size()), notifier_(std::move(notifier)) {
    for (size_t i = 0; i < partitions_.size(); ++i) slot_of_[static_cast<size_t>(partitions_[i])] = static_cast<int>(i);
  }

  ~Consumer() {
    for (auto& s : stash_) {
      for (rd_kafka_message_t* m : s) rd_kafka_message_destroy(m);
    }
    for (rd_kafka_queue_t* q : queues_) {
      rd_kafka_queue_cb_event_enable(q, nullptr, nullptr);
      rd_kafka_queue_destroy(q);
    }
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }

  const std::string& topic() const { return topic_; }
  int partition(int slot) const { return partitions_[static_cast<size_t>(slot)]; }

  // The partition's high watermark (the offset the next produced message gets) as the last fetch
  // response reported it: librdkafka's cached figure, no broker round trip. -1 before any fetch.
  int64_t HighWatermark(int slot) const {
    int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(rk_, topic_.c_str(), partition(slot), &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR)
      return -1;
    return high;
  }

  // Sets where slot `slot` starts: before the first read, the offset it is assigned at; after,
  // a seek (which purges what was prefetched).
  Status Seek(int slot, int64_t offset) {
    std::lock_guard lock(mu_);
    const size_t i = static_cast<size_t>(slot);
    const int partition = partitions_[i];
    if (!assigned_) {
      start_[i] = offset;
      return Status::OK();
    }
    for (rd_kafka_message_t* m : stash_[i]) rd_kafka_message_destroy(m);
    stash_[i].clear();
    PartitionList list(rd_kafka_topic_partition_list_new(1), &rd_kafka_topic_partition_list_destroy);
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition)->offset = offset;
    // Asynchronous (timeout 0): messages fetched before the seek carry an older version and are
    // dropped by librdkafka when consumed. (A timeout would not help: librdkafka 2.0.2 waits
    // 1000 times shorter than asked, issue #4230.)
    if (rd_kafka_error_t* e = rd_kafka_seek_partitions(rk_, list.get(), 0)) {
      std::string msg = rd_kafka_error_string(e);
      rd_kafka_error_destroy(e);
      return Status::IOError("kafka seek " + topic_ + "-" + std::to_string(partition) + ": " + msg);
    }
    return Status::OK();
  }

  // Reads up to `max` messages of slot `slot` into `out` (appended): messages that reached the
  // consumer queue first (see PollEventsLocked), then the partition's queue. On first use, assigns
  // every partition at its start offset. Sets *error to the last consumer error seen.
  Status Consume(int slot, size_t max, std::vector<rd_kafka_message_t*>* out, std::string* error) {
    std::lock_guard lock(mu_);
    SLUICE_RETURN_IF_ERROR(AssignLocked());
    PollEventsLocked(error);
    auto& stash = stash_[static_cast<size_t>(slot)];
    while (!stash.empty() && out->size() < max) {
      out->push_back(stash.front());
      stash.pop_front();
    }
    if (out->size() >= max) return Status::OK();
    batch_.resize(max - out->size());
    ssize_t n = rd_kafka_consume_batch_queue(queues_[static_cast<size_t>(slot)], 0, batch_.data(), batch_.size());
    if (n < 0) {
      return Status::IOError("kafka read " + topic_ + "-" + std::to_string(partition(slot)) + ": " +
                             rd_kafka_err2str(rd_kafka_last_error()));
    }
    out->insert(out->end(), batch_.begin(), batch_.begin() + n);
    return Status::OK();
  }

  // Writes a checkpoint's offset for slot `slot` to the consumer group, asynchronously.
  void CommitOffset(int slot, int64_t next_offset) {
    std::lock_guard lock(mu_);
    PartitionList list(rd_kafka_topic_partition_list_new(1), &rd_kafka_topic_partition_list_destroy);
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition(slot))->offset = next_offset;
    // Failures are reported on the consumer queue (PollEventsLocked); the group offset is advisory.
    rd_kafka_commit(rk_, list.get(), 1);
  }

 private:
  Status AssignLocked() {
    if (assigned_) return Status::OK();
    // Route each partition to its own queue (not the consumer queue) before the assignment
    // starts the fetchers, so that every split reads only its partition, in offset order, and
    // wakes WaitForData() when it gets data. (rd_kafka_queue_get_partition creates the
    // partition's state; once its queue is un-forwarded, starting the fetch does not forward it
    // again.)
    if (queues_.empty()) {
      for (int p : partitions_) {
        rd_kafka_queue_t* q = rd_kafka_queue_get_partition(rk_, topic_.c_str(), p);
        if (q == nullptr) {
          for (rd_kafka_queue_t* made : queues_) rd_kafka_queue_destroy(made);
          queues_.clear();
          return Status::IOError("kafka: no queue for " + topic_ + "-" + std::to_string(p));
        }
        rd_kafka_queue_forward(q, nullptr);
        rd_kafka_queue_cb_event_enable(q, &KafkaSource::Notifier::Callback, notifier_.get());
        queues_.push_back(q);
      }
    }
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(start_.size())),
                       &rd_kafka_topic_partition_list_destroy);
    for (size_t i = 0; i < partitions_.size(); ++i) {
      rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partitions_[i])->offset = start_[i];
    }
    if (rd_kafka_resp_err_t err = rd_kafka_assign(rk_, list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka assign " + topic_ + ": " + rd_kafka_err2str(err));
    }
    assigned_ = true;
    return Status::OK();
  }

  // Serves the consumer's own queue (errors, logs, commit results) without blocking. A message
  // with data there (it should not happen: every partition has its own queue from the start) is
  // kept for its partition's split, never dropped.
  void PollEventsLocked(std::string* error) {
    while (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 0)) {
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->partition >= 0 &&
          static_cast<size_t>(m->partition) < slot_of_.size() && slot_of_[static_cast<size_t>(m->partition)] >= 0) {
        stash_[static_cast<size_t>(slot_of_[static_cast<size_t>(m->partition)])].push_back(m);
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) *error = rd_kafka_message_errstr(m);
      rd_kafka_message_destroy(m);
    }
  }

  rd_kafka_t* rk_;
  const std::string topic_;
  const std::vector<int> partitions_;  // by slot
  std::vector<int> slot_of_;           // partition -> slot, or -1 when not read
  std::mutex mu_;               // serializes every use of rk_ by the splits
  std::vector<int64_t> start_;  // GUARDED_BY(mu_)
  bool assigned_ = false;       // GUARDED_BY(mu_)
  std::vector<rd_kafka_queue_t*> queues_;                 // GUARDED_BY(mu_)
  std::vector<std::deque<rd_kafka_message_t*>> stash_;    // GUARDED_BY(mu_)
  std::vector<rd_kafka_message_t*> batch_;                // GUARDED_BY(mu_)
  std::shared_ptr<KafkaSource::Notifier> notifier_;  // outlives rk_: librdkafka threads call it
};

class PartitionSplit final : public SourceSplit {
 public:
  PartitionSplit(std::shared_ptr<Consumer> consumer, int slot)
      : consumer_(std::move(consumer)), slot_(slot),
        id_(consumer_->topic() + "-" + std::to_string(consumer_->partition(slot))) {}
  ~PartitionSplit() override { Release(); }

  const std::string& id() const override { return id_; }

  Status Seek(uint64_t position) override {
    Release();
    next_offset_ = position < 1 ? 0 : static_cast<int64_t>(position - 1);
    return consumer_->Seek(slot_, next_offset_);
  }

  Status Read(size_t max_records, std::vector<SourceRecord>* out) override {
    out->clear();
    Release();  // the views of the last batch end here
    std::string error;
    SLUICE_RETURN_IF_ERROR(consumer_->Consume(slot_, std::max<size_t>(max_records, 1), &held_, &error));
    for (rd_kafka_message_t* m : held_) {
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) error = rd_kafka_message_errstr(m);
        continue;
      }
      rd_kafka_timestamp_type_t type;
      int64_t ts = rd_kafka_message_timestamp(m, &type);
      next_offset_ = m->offset + 1;
      out->push_back({static_cast<uint64_t>(m->offset) + 1, ts < 0 ? 0 : ts,
                      std::string_view(static_cast<const char*>(m->key), m->key != nullptr ? m->key_len : 0),
                      std::string_view(static_cast<const char*>(m->payload), m->payload != nullptr ? m->len : 0)});
    }
    if (error.empty()) error.swap(last_error_);
    // Records read are never dropped for an error beside them: the error waits for an empty read.
    if (!out->empty() || error.empty()) {
      if (!error.empty()) last_error_ = std::move(error);
      return Status::OK();
    }
    last_error_.clear();
    return Status::IOError("kafka " + id_ + ": " + error);
  }

  // Consumer lag: the high watermark minus the next offset to read (Kafka's records-lag).
  SplitLag lag() const override {
    SplitLag l;
    const int64_t high = consumer_->HighWatermark(slot_);
    if (high >= 0 && next_offset_ >= 0) l.records = std::max<int64_t>(high - next_offset_, 0);
    return l;
  }

  void OnCheckpointCommitted(uint64_t next_position) override {
    // Checkpoints come as often as every 100 ms: tell the broker only what moved.
    if (next_position <= 1 || next_position == committed_) return;
    consumer_->CommitOffset(slot_, static_cast<int64_t>(next_position - 1));
    committed_ = next_position;
  }

 private:
  void Release() {
    for (rd_kafka_message_t* m : held_) rd_kafka_message_destroy(m);
    held_.clear();
  }

  std::shared_ptr<Consumer> consumer_;
  const int slot_;  // the Consumer's index of this split's partition
  const std::string id_;
  std::vector<rd_kafka_message_t*> held_;  // messages the last Read() returned views into
  std::string last_error_;                  // an error seen beside records, reported later
  uint64_t committed_ = 0;                  // the last position sent to the consumer group
  int64_t next_offset_ = -1;                // the next offset to read (-1: before the first Seek or read)
};

}  // namespace

KafkaSource::KafkaSource(KafkaSourceOptions options, int partition_count, std::vector<int> read)
    : options_(std::move(options)), partition_count_(partition_count), read_(std::move(read)),
      notifier_(std::make_shared<Notifier>()) {}

KafkaSource::~KafkaSource() = default;

Result<std::unique_ptr<KafkaSource>> KafkaSource::Open(KafkaSourceOptions options) {
  if (options.bootstrap_servers.empty()) return Status::InvalidArgument("kafka source: bootstrap_servers is required");
  if (options.topic.empty()) return Status::InvalidArgument("kafka source: topic is required");
  SLUICE_ASSIGN_OR_RETURN(rd_kafka_t * rk, NewConsumer(options));
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> handle(rk, &rd_kafka_destroy);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, options.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, 0, rkt, &md, static_cast<int>(options.metadata_timeout.count()));
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable("kafka topic " + options.topic + ": no metadata from " + options.bootstrap_servers +
                               " within " + std::to_string(options.metadata_timeout.count()) + " ms: " +
                               rd_kafka_err2str(err));
  }
  int partitions = -1;
  rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (options.topic != md->topics[i].topic) continue;
    topic_err = md->topics[i].err;
    partitions = md->topics[i].partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  if (topic_err != RD_KAFKA_RESP_ERR_NO_ERROR || partitions <= 0) {
    if (topic_err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || partitions == 0) {
      return Status::NotFound("kafka topic " + options.topic + " does not exist on " + options.bootstrap_servers);
    }
    return Status::Unavailable("kafka topic " + options.topic + ": " + rd_kafka_err2str(topic_err));
  }
  std::vector<int> read = options.partitions;
  if (read.empty()) {
    for (int p = 0; p < partitions; ++p) read.push_back(p);
  }
  std::sort(read.begin(), read.end());
  for (size_t i = 0; i < read.size(); ++i) {
    if (read[i] < 0 || read[i] >= partitions) {
      return Status::InvalidArgument("kafka topic " + options.topic + " has partitions 0 to " +
                                     std::to_string(partitions - 1) + "; there is no partition " +
                                     std::to_string(read[i]));
    }
    if (i > 0 && read[i] == read[i - 1]) {
      return Status::InvalidArgument("kafka source " + options.topic + ": partition " + std::to_string(read[i]) +
                                     " is listed twice");
    }
  }
  return std::unique_ptr<KafkaSource>(new KafkaSource(std::move(options), partitions, std::move(read)));
}

std::vector<std::unique_ptr<SourceSplit>> KafkaSource::OpenSplits() {
  std::vector<std::unique_ptr<SourceSplit>> out;
  auto rk = NewConsumer(options_);
  if (!rk.ok()) {
    SLUICE_LOG_ERROR("kafka consumer did not start",
                     {{"component", "kafka"}, {"topic", options_.topic}, {"error", rk.status().ToString()}});
    return out;
  }
  auto consumer = std::make_shared<Consumer>(*rk, options_.topic, read_, partition_count_, notifier_);
  for (size_t i = 0; i < read_.size(); ++i) out.push_back(std::make_unique<PartitionSplit>(consumer, static_cast<int>(i)));
  return out;
}

uint64_t KafkaSource::WaitForData(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(notifier_->mu);
  notifier_->cv.wait_for(lock, timeout, [&] { return notifier_->version != seen; });
  return notifier_->version;
}

}  // namespace sluice::ingest
