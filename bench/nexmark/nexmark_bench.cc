#include "bench/nexmark/nexmark_bench.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <time.h>

#include "bench/bench_http.h"
#include "bench/engine_run.h"
#include "bench/proc_stats.h"
#include "core/base64.h"
#include "core/file_util.h"
#include "core/plan.h"
#include "examples/nexmark/generator.h"
#include "ingest/json_decoder.h"
#include "ingest/log/hash_key.h"
#include "operators/expr_eval.h"
#include "operators/query_pipeline.h"
#include "runtime/rocks_state_store.h"
#include "sql/planner.h"

extern char** environ;

namespace sluice::bench {

namespace {

using SteadyClock = std::chrono::steady_clock;
using nexmark::Event;
using nexmark::EventType;

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- which generated field feeds which column (t1) ----

enum class Field : uint8_t {
  kNone, kId, kName, kEmail, kCreditCard, kCity, kState, kDateTime, kExtra, kItemName, kDescription,
  kInitialBid, kReserve, kExpires, kSeller, kCategory, kAuction, kBidder, kPrice, kChannel, kUrl,
  kEventType,  // 0 person, 1 auction, 2 bid (the mixed stream's selector, as in Nexmark's datagen)
};

std::string Lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

Field FieldFor(EventType t, std::string_view column) {
  struct Entry { const char* name; Field f; };
  static const Entry kPerson[] = {{"id", Field::kId}, {"name", Field::kName}, {"emailaddress", Field::kEmail},
                                  {"creditcard", Field::kCreditCard}, {"city", Field::kCity}, {"state", Field::kState},
                                  {"datetime", Field::kDateTime}, {"extra", Field::kExtra}};
  static const Entry kAuction[] = {{"id", Field::kId}, {"itemname", Field::kItemName},
                                   {"description", Field::kDescription}, {"initialbid", Field::kInitialBid},
                                   {"reserve", Field::kReserve}, {"datetime", Field::kDateTime},
                                   {"expires", Field::kExpires}, {"seller", Field::kSeller},
                                   {"category", Field::kCategory}, {"extra", Field::kExtra}};
  static const Entry kBid[] = {{"auction", Field::kAuction}, {"bidder", Field::kBidder}, {"price", Field::kPrice},
                               {"channel", Field::kChannel}, {"url", Field::kUrl}, {"datetime", Field::kDateTime},
                               {"extra", Field::kExtra}};
  const std::string c = Lower(column);
  if (c == "event_type") return Field::kEventType;
  auto find = [&](const auto& table) {
    for (const Entry& e : table)
      if (c == e.name) return e.f;
    return Field::kNone;
  };
  switch (t) {
    case EventType::kPerson: return find(kPerson);
    case EventType::kAuction: return find(kAuction);
    case EventType::kBid: return find(kBid);
  }
  return Field::kNone;
}

// The value of one field as the column's type wants it.
void SetInt(int64_t v, DataType t, Value* out) {
  switch (t) {
    case DataType::kInt64: *out = Value::Int(v); break;
    case DataType::kFloat64: *out = Value::Float(static_cast<double>(v)); break;
    case DataType::kText: *out = Value::Text(std::to_string(v)); break;
    default: *out = Value::Null();
  }
}
void SetTime(int64_t ms, DataType t, Value* out) {
  switch (t) {
    case DataType::kTimestamp: *out = Value::Time(EventTime::FromMillis(ms)); break;
    case DataType::kInt64: *out = Value::Int(ms); break;
    case DataType::kText: *out = Value::Text(FormatTimestamp(EventTime::FromMillis(ms))); break;
    default: *out = Value::Null();
  }
}
void SetText(const std::string& s, DataType t, Value* out) {
  if (t == DataType::kText) out->SetText(s);
  else *out = Value::Null();
}

void FillValue(const Event& e, Field f, DataType t, Value* out) {
  const nexmark::Person& p = e.person;
  const nexmark::Auction& a = e.auction;
  const nexmark::Bid& b = e.bid;
  const bool person = e.type == EventType::kPerson;
  switch (f) {
    case Field::kNone: *out = Value::Null(); break;
    case Field::kId: SetInt(person ? p.id : a.id, t, out); break;
    case Field::kName: SetText(p.name, t, out); break;
    case Field::kEmail: SetText(p.email_address, t, out); break;
    case Field::kCreditCard: SetText(p.credit_card, t, out); break;
    case Field::kCity: SetText(p.city, t, out); break;
    case Field::kState: SetText(p.state, t, out); break;
    case Field::kDateTime: SetTime(e.date_time_ms(), t, out); break;
    case Field::kExtra:
      SetText(person ? p.extra : e.type == EventType::kAuction ? a.extra : b.extra, t, out);
      break;
    case Field::kItemName: SetText(a.item_name, t, out); break;
    case Field::kDescription: SetText(a.description, t, out); break;
    case Field::kInitialBid: SetInt(a.initial_bid, t, out); break;
    case Field::kReserve: SetInt(a.reserve, t, out); break;
    case Field::kExpires: SetTime(a.expires_ms, t, out); break;
    case Field::kSeller: SetInt(a.seller, t, out); break;
    case Field::kCategory: SetInt(a.category, t, out); break;
    case Field::kAuction: SetInt(b.auction, t, out); break;
    case Field::kBidder: SetInt(b.bidder, t, out); break;
    case Field::kPrice: SetInt(b.price, t, out); break;
    case Field::kChannel: SetText(b.channel, t, out); break;
    case Field::kUrl: SetText(b.url, t, out); break;
    case Field::kEventType: SetInt(static_cast<int64_t>(e.type), t, out); break;
  }
}

// Which event types a source table receives, from its name.
std::array<bool, 3> AcceptedTypes(const std::string& source_name) {
  const std::string n = Lower(source_name);
  if (n == "bid" || n == "bids") return {false, false, true};
  if (n == "person" || n == "persons" || n == "people") return {true, false, false};
  if (n == "auction" || n == "auctions") return {false, true, false};
  return {true, true, true};
}

// One source table the query reads, with its batch being built.
struct Lane {
  int source = -1;
  std::array<bool, 3> accepts{};
  std::array<std::vector<Field>, 3> fields;  // per event type, per column
  std::vector<bool> needed;                  // columns some query of this lane reads
  std::vector<size_t> needed_columns;        // their indexes
  std::vector<int> queries;                  // indexes of the queries reading this source
  bool windowed = false;                     // some query of it has windows (or stages)
  int64_t events = 0;                        // t3: events sent to this source
  int64_t last_event_index = -1;     // t3: index of the lane's last event (for the sentinel)
};

struct Plan {
  Pipeline pipeline;
  std::string file;
  std::vector<Lane> lanes;
};

Result<Plan> LoadPlan(const NexmarkBenchOptions& o) {
  Plan plan;
  SLUICE_ASSIGN_OR_RETURN(plan.file, FindNexmarkQueryFile(o.query, o.queries_dir));
  SLUICE_ASSIGN_OR_RETURN(std::string text, ReadFileToString(plan.file));
  auto p = sql::PlanPipeline(text);
  if (!p.ok()) return Status::InvalidArgument(plan.file + ":" + p.status().message());
  plan.pipeline = std::move(p).value();
  if (plan.pipeline.queries.empty()) return Status::InvalidArgument(plan.file + ": no INSERT INTO … SELECT");
  for (size_t qi = 0; qi < plan.pipeline.queries.size(); ++qi) {
    const int src = plan.pipeline.queries[qi].source;
    auto it = std::find_if(plan.lanes.begin(), plan.lanes.end(), [&](const Lane& l) { return l.source == src; });
    if (it == plan.lanes.end()) {
      Lane lane;
      lane.source = src;
      const SourceDef& sd = plan.pipeline.sources[static_cast<size_t>(src)];
      lane.accepts = AcceptedTypes(sd.name);
      for (int t = 0; t < 3; ++t)
        for (const Column& c : sd.schema.columns()) lane.fields[static_cast<size_t>(t)].push_back(FieldFor(static_cast<EventType>(t), c.name));
      plan.lanes.push_back(std::move(lane));
      it = plan.lanes.end() - 1;
    }
    it->queries.push_back(static_cast<int>(qi));
  }
  // Projection pushdown: the columns any query of the lane reads (t1 fills only those; t2's
  // decoder skips the others), unless --all-columns.
  for (Lane& l : plan.lanes) {
    const SourceDef& sd = plan.pipeline.sources[static_cast<size_t>(l.source)];
    l.needed.assign(sd.schema.size(), o.all_columns);
    for (int qi : l.queries) {
      const QueryDef& q = plan.pipeline.queries[static_cast<size_t>(qi)];
      auto used = ops::ColumnsUsed(q, sd.schema.size(), sd.event_time_column);
      for (size_t c = 0; c < used.size(); ++c) l.needed[c] = l.needed[c] || used[c];
      l.windowed = l.windowed || q.window.kind != WindowKind::kNone || q.stages != nullptr;
    }
    for (size_t c = 0; c < l.needed.size(); ++c)
      if (l.needed[c]) l.needed_columns.push_back(c);
  }
  return plan;
}

nexmark::GeneratorOptions GenOptions(const NexmarkBenchOptions& o) {
  nexmark::GeneratorOptions g;
  g.rate = o.rate;
  return g;
}

// ---- t1 and t2: generated input through runtime::Engine ----

// One split of the generated source: generator instance k of S (event numbers k, k + S, …, as
// the parallel instances of Nexmark's source), keeping the events its table accepts. t1: a
// record's data is the address of one Event in this split's buffer (8 bytes; in-process only:
// EventDecoder reads it); t2: the event as a JSON line (Event::ToJson(), rendered here and
// counted with the generator). Views are valid until the next Read(), as SourceRecord promises.
// With `sentinel`, once its quota is made the split hands out one more record: its last event
// again, an hour later in event time, so every window of the data before it closes (as t3's
// sentinel records do; the engine has no end-of-input flush). Set for a source with a windowed
// query; a non-windowed query of the same source would emit the sentinel as a row (no Nexmark
// file has both). Counters count what Read() hands out: a restore (Seek() back; RunOnEngine never
// does one) would count the re-read records again.
class GenSplit : public SourceSplit {
 public:
  struct Config {
    int k = 0, splits = 1;
    int64_t quota = 0;  // events (all types) this instance generates
    nexmark::GeneratorOptions generator;
    std::array<bool, 3> accepts{};
    bool json = false;      // t2
    bool sentinel = false;  // a windowed source
  };
  GenSplit(const Config& c, std::atomic<int64_t>* accepted, std::atomic<int64_t>* gen_nanos, std::atomic<int>* splits_done,
           std::atomic<int>* sentinels)
      : id_("gen-" + std::to_string(c.k)), c_(c), accepted_(accepted), gen_nanos_(gen_nanos), splits_done_(splits_done),
        sentinels_(sentinels) {
    c_.generator.first_event = c.k;
    c_.generator.stride = c.splits;
    gen_ = std::make_unique<nexmark::Generator>(c_.generator);
  }
  const std::string& id() const override { return id_; }
  Status Seek(uint64_t position) override {
    if (position == next_) return Status::OK();
    // Regenerate from the start up to `position` (a restore; not on the timed path of a fresh run).
    gen_ = std::make_unique<nexmark::Generator>(c_.generator);
    generated_ = 0;
    next_ = 1;
    sentinel_sent_ = false;
    Event e;
    while (next_ < position && generated_ < c_.quota) {
      gen_->Next(&e);
      ++generated_;
      if (c_.accepts[static_cast<size_t>(e.type)]) {
        ++next_;
        last_ = e;
        have_last_ = true;
      }
    }
    if (next_ < position && c_.sentinel && have_last_) {  // the sentinel was read before the restore
      sentinel_sent_ = true;
      ++next_;
    }
    return Status::OK();
  }
  Status Read(size_t max_records, std::vector<SourceRecord>* out) override {
    out->clear();
    if (finished()) return Status::OK();
    const double c0 = ThreadCpuSeconds();
    if (events_.size() < max_records) {
      events_.resize(max_records);
      ptrs_.resize(max_records);
    }
    json_.clear();
    ends_.clear();
    size_t n = 0;
    while (n < max_records && generated_ < c_.quota) {
      Event& e = events_[n];
      gen_->Next(&e);
      ++generated_;
      if (!c_.accepts[static_cast<size_t>(e.type)]) continue;
      Add(e, n++, out);
    }
    if (n > 0) {
      last_ = events_[n - 1];
      have_last_ = true;
    }
    accepted_->fetch_add(static_cast<int64_t>(n));
    if (generated_ >= c_.quota && n < max_records && c_.sentinel && have_last_ && !sentinel_sent_) {
      sentinel_sent_ = true;
      sentinels_->fetch_add(1);
      Event& e = events_[n];
      e = last_;
      const int64_t far = e.date_time_ms() + 3'600'000;
      e.person.date_time_ms = e.auction.date_time_ms = e.bid.date_time_ms = far;
      Add(e, n++, out);
    }
    if (c_.json) {  // views into json_, now that it no longer grows
      size_t begin = 0;
      for (size_t i = 0; i < out->size(); ++i) {
        (*out)[i].data = std::string_view(json_).substr(begin, ends_[i] - begin);
        begin = ends_[i];
      }
    }
    if (finished() && !counted_done_) {
      counted_done_ = true;
      splits_done_->fetch_add(1);
    }
    gen_nanos_->fetch_add(static_cast<int64_t>((ThreadCpuSeconds() - c0) * 1e9));
    return Status::OK();
  }
  bool finished() const override {
    return generated_ >= c_.quota && (!c_.sentinel || !have_last_ || sentinel_sent_);
  }

 private:
  void Add(const Event& e, size_t n, std::vector<SourceRecord>* out) {
    SourceRecord r;
    r.position = next_++;
    if (c_.json) {
      json_ += e.ToJson();
      ends_.push_back(json_.size());
    } else {
      ptrs_[n] = &e;
      r.data = std::string_view(reinterpret_cast<const char*>(&ptrs_[n]), sizeof(const Event*));
    }
    out->push_back(r);
  }

  const std::string id_;
  Config c_;
  std::atomic<int64_t>* accepted_;
  std::atomic<int64_t>* gen_nanos_;
  std::atomic<int>* splits_done_;
  std::atomic<int>* sentinels_;  // sentinel records handed out (the source's count)
  bool counted_done_ = false;
  std::unique_ptr<nexmark::Generator> gen_;
  std::vector<Event> events_;
  std::vector<const Event*> ptrs_;  // t1: what each record's data holds (8 bytes, not the Event)
  std::string json_;                // t2: the batch's lines, back to back
  std::vector<size_t> ends_;        // t2: where each line ends in json_
  Event last_;                      // the last accepted event (the sentinel's model)
  bool have_last_ = false, sentinel_sent_ = false;
  int64_t generated_ = 0;
  uint64_t next_ = 1;
};

class GenSource : public FiniteSource {
 public:
  /// `c`'s k, splits and quota are set per split. `accepted` (the caller's, so that it outlives
  /// the engine, which owns this source) counts the events handed out, sentinels not included.
  GenSource(int splits, int64_t events, const GenSplit::Config& c, std::atomic<int64_t>* accepted,
            std::atomic<int64_t>* gen_nanos)
      : splits_(splits), events_(events), config_(c), accepted_(accepted), gen_nanos_(gen_nanos) {}
  int64_t total() const override {
    if (splits_done.load() != splits_) return -1;
    return accepted_->load() + sentinels_.load();
  }
  std::vector<std::unique_ptr<SourceSplit>> OpenSplits() override {
    std::vector<std::unique_ptr<SourceSplit>> out;
    for (int k = 0; k < splits_; ++k) {
      GenSplit::Config c = config_;
      c.k = k;
      c.splits = splits_;
      c.quota = events_ / splits_ + (k < events_ % splits_ ? 1 : 0);
      out.push_back(std::make_unique<GenSplit>(c, accepted_, gen_nanos_, &splits_done, &sentinels_));
    }
    return out;
  }
  uint64_t WaitForData(uint64_t seen, std::chrono::milliseconds timeout) override {
    // Data is always there until every split is done; then nothing more comes.
    if (splits_done.load() == splits_) std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(5)));
    return seen + 1;
  }
  std::atomic<int> splits_done{0};    // splits that handed out their whole quota (and sentinel)

 private:
  const int splits_;
  const int64_t events_;
  const GenSplit::Config config_;
  std::atomic<int64_t>* accepted_;   // events handed out (the ones the table accepts; no sentinels)
  std::atomic<int64_t>* gen_nanos_;  // thread CPU spent generating (all sources of the run)
  std::atomic<int> sentinels_{0};    // sentinel records handed out (not events)
};

// Rows from GenSplit's records: the t1 mapping of generated fields to source columns.
class EventDecoder : public RowDecoder {
 public:
  EventDecoder(const Lane& lane, const Schema& schema) : lane_(lane), schema_(schema) {}
  void DecodeBatch(const std::vector<SourceRecord>& in, std::vector<Row>* rows, std::vector<size_t>* row_index,
                   std::vector<DecodeError>* errors) override {
    errors->clear();
    row_index->resize(in.size());
    rows->resize(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      const Event* ep;
      std::memcpy(&ep, in[i].data.data(), sizeof ep);
      const Event& e = *ep;
      const std::vector<Field>& fields = lane_.fields[static_cast<size_t>(e.type)];
      Row& row = (*rows)[i];
      row.resize(fields.size());
      for (size_t c : lane_.needed_columns) FillValue(e, fields[c], schema_[c].type, &row[c]);
      (*row_index)[i] = i;
    }
  }

 private:
  const Lane& lane_;
  const Schema& schema_;
};

// t1 and t2 through runtime::Engine (bench/engine_run.h) with `o.workers` workers and
// `o.splits` generated splits per source.
Result<NexmarkRunResult> RunInProcess(const NexmarkBenchOptions& o, Plan& plan) {
  const bool t2 = o.tier == "t2";
  NexmarkRunResult r;
  r.query_file = plan.file;
  const double run_cpu0 = SelfCpuSeconds();
  const auto run_wall0 = SteadyClock::now();
  std::atomic<int64_t> gen_nanos{0};
  EngineRunOptions eo;
  eo.workers = o.workers;
  eo.batch_records = o.batch_rows;
  eo.checkpoint_interval_s = o.checkpoint_interval_s;
  std::map<std::string, std::atomic<int64_t>> accepted;  // per source; outlives the engine's sources
  auto lane_of = [&](const SourceDef& def) -> const Lane* {
    for (const Lane& l : plan.lanes) {
      if (plan.pipeline.sources[static_cast<size_t>(l.source)].name == def.name) return &l;
    }
    return nullptr;
  };
  auto run = RunOnEngine(
      plan.pipeline, eo,
      [&](const SourceDef& def) -> std::unique_ptr<FiniteSource> {
        const Lane* l = lane_of(def);
        GenSplit::Config c;
        c.generator = GenOptions(o);
        c.accepts = AcceptedTypes(def.name);
        c.json = t2;
        c.sentinel = l != nullptr && l->windowed;
        return std::make_unique<GenSource>(o.splits, o.events, c, &accepted[def.name], &gen_nanos);
      },
      [&](const SourceDef& def, const std::vector<bool>&) -> std::unique_ptr<RowDecoder> {
        const Lane* l = lane_of(def);
        if (l == nullptr) return nullptr;
        if (!t2) return std::make_unique<EventDecoder>(*l, def.schema);
        auto d = std::make_unique<ingest::JsonDecoder>(def.schema, def.event_time_column);
        d->SetNeededColumns(l->needed);
        return d;
      });
  if (!run.ok()) return run.status();
  r.wall_s = run->wall_s;
  r.generator_cpu_s = static_cast<double>(gen_nanos.load()) * 1e-9;
  r.cpu_s = run->cpu_s - r.generator_cpu_s;
  r.whole_cpu_s = SelfCpuSeconds() - run_cpu0;
  r.whole_wall_s = Seconds(SteadyClock::now() - run_wall0);
  r.events = o.events;
  for (const auto& [name, n] : accepted) r.events_read += n.load();  // sentinels not counted
  r.output_rows = run->output_rows;
  r.late_rows = run->late_rows;
  r.bad_records = run->bad_records;
  r.checkpoints = run->checkpoints;
  r.peak_rss_kib = SelfPeakRssKib();
  return r;
}

// ---- t3: the server as a child process ----

class ChildServer {
 public:
  /// `checkpoint_interval_s` > 0 is passed on as --checkpoint-interval.
  ChildServer(std::string sluice_binary, double checkpoint_interval_s)
      : sluice_(std::move(sluice_binary)), checkpoint_interval_s_(checkpoint_interval_s) {}
  ~ChildServer() { Stop(); }

  Status Start(const std::string& pipeline_file, const std::string& dir) {
    const char* exe = sluice_.c_str();
    if (access(exe, X_OK) != 0)
      return Status::NotFound("no sluice binary at " + sluice_ + " (--sluice PATH)");
    int fds[2];
    if (pipe(fds) != 0) return Status::IOError("pipe failed");
    const std::string log = dir + "/server.log", data = dir + "/data";
    log_path_ = log;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> args = {exe, "run", pipeline_file, "--data-dir", data, "--listen", "127.0.0.1:0"};
    if (checkpoint_interval_s_ > 0) {
      args.push_back("--checkpoint-interval");
      args.push_back(std::to_string(static_cast<int64_t>(checkpoint_interval_s_ * 1000)) + " milliseconds");
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, exe, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      return Status::IOError(std::string("posix_spawn: ") + std::strerror(rc));
    }
    pid_ = pid;
    out_fd_ = fds[0];
    // Wait for "sluice: serving … on http://HOST:PORT".
    std::string text;
    const auto deadline = SteadyClock::now() + std::chrono::seconds(60);
    while (SteadyClock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 200) > 0) {
        char buf[512];
        ssize_t got = read(out_fd_, buf, sizeof buf);
        if (got <= 0) break;
        text.append(buf, static_cast<size_t>(got));
        auto at = text.find("on http://");
        if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
          auto colon = text.find(':', at + 10);
          port_ = std::atoi(text.c_str() + colon + 1);
          return port_ > 0 ? Status::OK() : Status::Internal("cannot parse the server's port from: " + text);
        }
      }
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
    }
    return Status::Unavailable("the server did not start: " + LogTail());
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      for (int i = 0; i < 300; ++i) {
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (pid_ > 0) {
        kill(pid_, SIGKILL);
        int st = 0;
        waitpid(pid_, &st, 0);
        pid_ = -1;
      }
    }
    if (out_fd_ >= 0) close(out_fd_);
    out_fd_ = -1;
  }

  std::string LogTail() const {
    auto t = ReadFileToString(log_path_);
    if (!t.ok()) return "(no server log)";
    std::string s = *t;
    return s.size() > 600 ? s.substr(s.size() - 600) : s;
  }
  int pid() const { return pid_; }
  int port() const { return port_; }

 private:
  std::string sluice_;
  double checkpoint_interval_s_ = 0;
  int pid_ = -1;
  int out_fd_ = -1;
  int port_ = 0;
  std::string log_path_;
};

// A temp directory removed on scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sluice-bench-XXXXXX";
    if (mkdtemp(tmpl)) path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

void AppendRecord(const std::string& json, const std::string& key, const std::string* explicit_hash_key,
                  std::string* body) {
  if (body->back() != '[') body->push_back(',');
  *body += "{\"PartitionKey\":\"";
  *body += key;
  if (explicit_hash_key) {
    *body += "\",\"ExplicitHashKey\":\"";
    *body += *explicit_hash_key;
  }
  *body += "\",\"Data\":\"";
  Base64Encode(json, body);
  *body += "\"}";
}

// Waits until GET /queries reports at least `expected` records_in; returns the last reply.
Result<std::string> WaitConsumed(BenchHttp* http, int64_t expected, ChildServer* server) {
  int64_t last = -1;
  auto last_progress = SteadyClock::now();
  for (;;) {
    SLUICE_ASSIGN_OR_RETURN(std::string q, http->Get("/queries"));
    const int64_t in = SumJsonField(q, "records_in");
    if (in >= expected) return q;
    if (in != last) {
      last = in;
      last_progress = SteadyClock::now();
    } else if (SteadyClock::now() - last_progress > std::chrono::seconds(60)) {
      return Status::Internal("the query stopped at " + std::to_string(in) + " of " + std::to_string(expected) +
                              " records: " + q.substr(0, 400) + " / " + server->LogTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Result<NexmarkRunResult> RunT3(const NexmarkBenchOptions& o, Plan& plan) {
  NexmarkRunResult r;
  r.checkpoints = -1;  // taken by the server, not counted here
  r.query_file = plan.file;
  TempDir tmp;
  if (tmp.path.empty()) return Status::IOError("mkdtemp failed");
  // Generate, render and encode every request body (500 records per PutRecords) before timing
  // the server; counted in the whole-process figure.
  const double g0 = SelfCpuSeconds();
  const auto run_wall0 = SteadyClock::now();
  nexmark::Generator gen(GenOptions(o));
  std::vector<std::string> bodies;
  std::vector<std::string> pending(plan.lanes.size());
  std::vector<int> open_count(plan.lanes.size(), 0);
  std::vector<Event> last_event(plan.lanes.size());
  auto start_body = [&](size_t li) {
    pending[li] = "{\"StreamName\":\"" + plan.pipeline.sources[static_cast<size_t>(plan.lanes[li].source)].name +
               "\",\"Records\":[";
    open_count[li] = 0;
  };
  for (size_t li = 0; li < plan.lanes.size(); ++li) start_body(li);
  Event e;
  for (int64_t i = 0; i < o.events; ++i) {
    gen.Next(&e);
    for (size_t li = 0; li < plan.lanes.size(); ++li) {
      Lane& l = plan.lanes[li];
      if (!l.accepts[static_cast<size_t>(e.type)]) continue;
      AppendRecord(e.ToJson(), std::to_string(e.event_id), nullptr, &pending[li]);
      ++l.events;
      last_event[li] = e;
      if (++open_count[li] == 500) {
        bodies.push_back(pending[li] + "]}");
        start_body(li);
      }
    }
  }
  for (size_t li = 0; li < plan.lanes.size(); ++li)
    if (open_count[li] > 0) bodies.push_back(pending[li] + "]}");
  r.generator_cpu_s = SelfCpuSeconds() - g0;
  int64_t expected = 0;
  for (const Lane& l : plan.lanes) {
    r.events_read += l.events;
    expected += l.events * static_cast<int64_t>(l.queries.size());
  }

  ChildServer server(o.sluice_binary.empty() ? DefaultSluiceBinary() : o.sluice_binary, o.checkpoint_interval_s);
  SLUICE_RETURN_IF_ERROR(server.Start(plan.file, tmp.path));
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  BenchHttp control(base);

  const double cpu0 = ProcCpuSeconds(server.pid());
  const double client_cpu0 = SelfCpuSeconds();
  const auto t0 = SteadyClock::now();
  std::atomic<size_t> next{0};
  std::atomic<int64_t> failed{0};
  std::mutex err_mu;
  std::string error;
  std::vector<std::thread> clients;
  for (int c = 0; c < std::max(1, o.connections); ++c) {
    clients.emplace_back([&] {
      BenchHttp http(base);
      for (size_t i = next++; i < bodies.size(); i = next++) {
        auto res = http.PutRecords(bodies[i]);
        if (!res.ok()) {
          std::lock_guard lock(err_mu);
          error = res.status().ToString();
          return;
        }
        failed += *res;
      }
    });
  }
  for (auto& t : clients) t.join();
  if (!error.empty()) return Status::Unavailable(error + " / " + server.LogTail());
  if (failed > 0)
    return Status::Unavailable(std::to_string(failed.load()) + " records were refused (backpressure); lower the load");
  SLUICE_ASSIGN_OR_RETURN(std::string status, WaitConsumed(&control, expected, &server));
  const auto t1 = SteadyClock::now();
  r.cpu_s = ProcCpuSeconds(server.pid()) - cpu0;
  r.wall_s = Seconds(t1 - t0);
  r.whole_cpu_s = r.cpu_s + r.generator_cpu_s + (SelfCpuSeconds() - client_cpu0);
  r.whole_wall_s = Seconds(t1 - run_wall0);
  r.bad_records = SumJsonField(status, "bad_records");
  r.late_rows = SumJsonField(status, "late_records");

  // Untimed: close every window with one far-future event per shard of each windowed source.
  int64_t sentinels = 0;
  for (size_t li = 0; li < plan.lanes.size(); ++li) {
    const Lane& l = plan.lanes[li];
    if (!l.windowed || l.events == 0) continue;
    const SourceDef& sd = plan.pipeline.sources[static_cast<size_t>(l.source)];
    Event s = last_event[li];
    const int64_t far = s.date_time_ms() + 3'600'000;
    s.person.date_time_ms = s.auction.date_time_ms = s.bid.date_time_ms = far;
    std::string body = "{\"StreamName\":\"" + sd.name + "\",\"Records\":[";
    for (const log::HashKeyRange& range : log::EvenHashKeyRanges(sd.shards)) {
      const std::string ehk = log::HashKeyToString(range.start);
      AppendRecord(s.ToJson(), "sentinel", &ehk, &body);
      sentinels += static_cast<int64_t>(l.queries.size());
    }
    body += "]}";
    SLUICE_ASSIGN_OR_RETURN(int64_t refused, control.PutRecords(body));
    if (refused > 0) return Status::Unavailable("sentinel records refused");
  }
  if (sentinels > 0) {
    SLUICE_ASSIGN_OR_RETURN(status, WaitConsumed(&control, expected + sentinels, &server));
  }
  // Records are counted when read; the rows they give are counted a moment later (with several
  // workers, on the worker of their key group; each worker's counts reach /queries at the end of
  // its step). Wait until the output stops growing, for every query, windowed or not.
  int64_t rows = SumJsonField(status, "rows_emitted");
  for (int stable = 0; stable < 25;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    SLUICE_ASSIGN_OR_RETURN(status, control.Get("/queries"));
    const int64_t now_rows = SumJsonField(status, "rows_emitted");
    stable = now_rows == rows ? stable + 1 : 0;
    rows = now_rows;
  }
  r.output_rows = SumJsonField(status, "rows_emitted");
  r.peak_rss_kib = ProcPeakRssKib(server.pid());
  r.events = o.events;
  server.Stop();
  return r;
}

std::string Fixed(double v, int digits) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

void PrintResult(const NexmarkBenchOptions& o, int run, const NexmarkRunResult& r) {
  const double per_cpu = r.cpu_s > 0 ? static_cast<double>(r.events) / r.cpu_s : 0;
  const double per_wall = r.wall_s > 0 ? static_cast<double>(r.events) / r.wall_s : 0;
  const double whole_per_cpu = r.whole_cpu_s > 0 ? static_cast<double>(r.events) / r.whole_cpu_s : 0;
  const double whole_per_wall = r.whole_wall_s > 0 ? static_cast<double>(r.events) / r.whole_wall_s : 0;
  const std::string load = LoadAverage();
  const std::string checkpoints =
      o.checkpoint_interval_s > 0
          ? "every " + Fixed(o.checkpoint_interval_s, 1) + " s" +
                (r.checkpoints >= 0 ? ", " + std::to_string(r.checkpoints) + " taken" : "")
          : "off";
  std::printf("nexmark %s %s%s run %d: %lld events; whole process (generator included) %.3f CPU-s -> %.0f events/CPU-s "
              "(%.3f s wall); query only %.3f CPU-s -> %.0f events/CPU-s (%.3f s wall, %.0f events/s); generator "
              "%.3f CPU-s; %lld output rows, %lld late, %lld bad; peak RSS %.1f MiB; checkpoints %s; load %s\n",
              o.query.c_str(), o.tier.c_str(),
              o.tier != "t3" ? (" (engine, " + std::to_string(o.workers) + " workers, " +
                                std::to_string(o.splits) + " splits)").c_str()
                             : "",
              run, static_cast<long long>(r.events), r.whole_cpu_s, whole_per_cpu,
              r.whole_wall_s, r.cpu_s, per_cpu, r.wall_s, per_wall, r.generator_cpu_s,
              static_cast<long long>(r.output_rows), static_cast<long long>(r.late_rows),
              static_cast<long long>(r.bad_records), static_cast<double>(r.peak_rss_kib) / 1024.0, checkpoints.c_str(),
              load.c_str());
  // "cpu_s" / "events_per_cpu_s" / "wall_s" / "events_per_s" keep their earlier meaning (query
  // only) for bench/report.py and older result files.
  std::string j = "{\"bench\":\"nexmark\",\"query\":\"" + o.query + "\",\"tier\":\"" + o.tier +
                  "\",\"run\":" + std::to_string(run) + ",\"events\":" + std::to_string(r.events) +
                  ",\"events_read\":" + std::to_string(r.events_read) +
                  ",\"whole_cpu_s\":" + Fixed(r.whole_cpu_s, 4) + ",\"whole_events_per_cpu_s\":" + Fixed(whole_per_cpu, 0) +
                  ",\"whole_wall_s\":" + Fixed(r.whole_wall_s, 4) + ",\"whole_events_per_s\":" + Fixed(whole_per_wall, 0) +
                  ",\"query_cpu_s\":" + Fixed(r.cpu_s, 4) + ",\"query_events_per_cpu_s\":" + Fixed(per_cpu, 0) +
                  ",\"wall_s\":" + Fixed(r.wall_s, 4) +
                  ",\"cpu_s\":" + Fixed(r.cpu_s, 4) + ",\"events_per_cpu_s\":" + Fixed(per_cpu, 0) +
                  ",\"events_per_s\":" + Fixed(per_wall, 0) + ",\"output_rows\":" + std::to_string(r.output_rows) +
                  ",\"late_rows\":" + std::to_string(r.late_rows) + ",\"bad_records\":" + std::to_string(r.bad_records) +
                  ",\"peak_rss_mib\":" + Fixed(static_cast<double>(r.peak_rss_kib) / 1024.0, 1) +
                  ",\"generator_cpu_s\":" + Fixed(r.generator_cpu_s, 3) +
                  ",\"checkpoints\":\"" + std::string(o.checkpoint_interval_s > 0 ? "on" : "off") +
                  "\",\"checkpoints_taken\":" + std::to_string(r.checkpoints) +
                  ",\"checkpoint_interval_s\":" + Fixed(o.checkpoint_interval_s, 1) +
                  ",\"batch_rows\":" + std::to_string(o.batch_rows) +
                  // t3: the server's own default (one worker per core), 0 here.
                  ",\"workers\":" + std::to_string(o.tier != "t3" ? o.workers : 0) +
                  ",\"splits\":" + std::to_string(o.tier != "t3" ? o.splits : 0) +
                  ",\"all_columns\":" + (o.all_columns ? "true" : "false") +
                  ",\"connections\":" + std::to_string(o.connections) + ",\"simdjson\":\"" +
                  ingest::JsonDecoder::SimdjsonImplementation() + "\",\"load\":\"" + load + "\",\"query_file\":";
  AppendJsonString(r.query_file, &j);
  j += "}";
  std::printf("%s\n", j.c_str());
  std::fflush(stdout);
}

bool ParseNum(const std::string& s, double* out) {
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && *out >= 0;
}

int NexmarkMain(const std::vector<std::string>& args) {
  NexmarkBenchOptions o;
  int runs = 1;
  std::vector<std::string> tiers;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--all-columns") {
      o.all_columns = true;
      continue;
    }
    if (i + 1 >= args.size()) {
      std::fprintf(stderr, "sluice-bench nexmark: %s needs a value\n", a.c_str());
      return 2;
    }
    const std::string& v = args[++i];
    double d = 0;
    if (a == "--query") {
      o.query = v;
    } else if (a == "--tier") {
      if (v == "all") tiers = {"t1", "t2", "t3"};
      else if (v == "t1" || v == "t2" || v == "t3") tiers = {v};
      else {
        std::fprintf(stderr, "sluice-bench nexmark: --tier is t1, t2, t3 or all\n");
        return 2;
      }
    } else if (a == "--queries-dir") {
      o.queries_dir = v;
    } else if (a == "--sluice") {
      o.sluice_binary = v;
    } else if (ParseNum(v, &d)) {
      if (a == "--events" && d >= 1) o.events = static_cast<int64_t>(d);
      else if (a == "--runs" && d >= 1) runs = static_cast<int>(d);
      else if (a == "--batch-rows" && d >= 1) o.batch_rows = static_cast<size_t>(d);
      else if (a == "--connections" && d >= 1) o.connections = static_cast<int>(d);
      else if (a == "--rate" && d > 0) o.rate = d;
      else if (a == "--checkpoint-interval") o.checkpoint_interval_s = d;
      else if (a == "--workers" && d >= 1) o.workers = static_cast<int>(d);
      else if (a == "--splits" && d >= 1) o.splits = static_cast<int>(d);
      else {
        std::fprintf(stderr, "sluice-bench nexmark: unknown option or bad value: %s %s\n", a.c_str(), v.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr, "sluice-bench nexmark: %s expects a number, got '%s'\n", a.c_str(), v.c_str());
      return 2;
    }
  }
  if (tiers.empty()) tiers = {"t1"};
  InitBenchHttp();
  int rc = 0;
  for (const std::string& tier : tiers) {
    o.tier = tier;
    for (int run = 1; run <= runs; ++run) {
      auto plan = LoadPlan(o);
      if (!plan.ok()) {
        std::printf("nexmark %s: not available yet (%s)\n", o.query.c_str(), plan.status().message().c_str());
        std::printf("{\"bench\":\"nexmark\",\"query\":\"%s\",\"tier\":\"%s\",\"available\":false}\n", o.query.c_str(),
                    tier.c_str());
        return 3;
      }
      auto r = tier == "t3" ? RunT3(o, *plan) : RunInProcess(o, *plan);
      if (!r.ok()) {
        std::fprintf(stderr, "sluice-bench nexmark %s %s: %s\n", o.query.c_str(), tier.c_str(),
                     r.status().ToString().c_str());
        rc = 1;
        continue;
      }
      PrintResult(o, run, *r);
    }
  }
  return rc;
}

}  // namespace

std::string ExeDir() {
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return ".";
  exe[n] = 0;
  return std::filesystem::path(exe).parent_path().string();
}

std::string DefaultSluiceBinary() { return ExeDir() + "/../app/sluice"; }

Result<std::string> FindNexmarkQueryFile(const std::string& query, const std::string& extra_dir) {
  std::vector<std::string> dirs;
  if (!extra_dir.empty()) dirs.push_back(extra_dir);
  if (const char* env = std::getenv("SLUICE_SOURCE_DIR"); env && *env) {
    dirs.push_back(std::string(env) + "/examples/nexmark/queries");
    dirs.push_back(std::string(env) + "/bench/nexmark/queries");
  }
  // Copied next to the binary by the build (bench/CMakeLists.txt).
  dirs.push_back(ExeDir() + "/nexmark/queries/examples");
  dirs.push_back(ExeDir() + "/nexmark/queries/bench");
  std::string searched;
  for (const std::string& d : dirs) {
    const std::string f = d + "/" + query + ".sql";
    std::error_code ec;
    if (std::filesystem::is_regular_file(f, ec)) return f;
    searched += (searched.empty() ? "" : ", ") + f;
  }
  return Status::NotFound("no query file; looked for " + searched);
}

Result<NexmarkRunResult> RunNexmarkOnce(const NexmarkBenchOptions& options) {
  SLUICE_ASSIGN_OR_RETURN(Plan plan, LoadPlan(options));
  if (options.tier == "t3") return RunT3(options, plan);
  if (options.tier == "t1" || options.tier == "t2") return RunInProcess(options, plan);
  return Status::InvalidArgument("tier must be t1, t2 or t3");
}

int NexmarkBenchMain(const std::vector<std::string>& args) { return NexmarkMain(args); }

}  // namespace sluice::bench
