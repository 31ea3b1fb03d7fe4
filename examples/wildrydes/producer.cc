#include "examples/wildrydes/producer.h"


#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <thread>

#include "core/base64.h"
#include "ingest/http/http_client.h"
#include "core/time.h"
#include "core/value.h"

namespace sluice::wildrydes {
namespace {

constexpr const char* kNames[] = {"Shadowfax", "Rocinante", "Bucephalus", "Pegasus",  "Silver",    "Trigger",  "Binky",
                                  "Brego",     "Epona",     "Falada",     "Arion",    "Hidalgo",   "Artax",    "Maximus",
                                  "Sleipnir",  "Spirit",    "Tornado",    "Champion", "Seabiscuit", "Marengo"};

uint64_t Next(uint64_t* s) {  // splitmix64
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double Uniform(uint64_t* s) { return static_cast<double>(Next(s) >> 11) / 9007199254740992.0; }

}  // namespace

struct Fleet::State {
  std::string name;
  double lat, lon;
  int magic, health;
};

std::string Fleet::NameOf(int i) {
  if (i < static_cast<int>(std::size(kNames))) return kNames[i];
  return "Unicorn-" + std::to_string(i + 1);
}

Fleet::Fleet(int unicorns, uint64_t seed) : rng_(seed) {
  for (int i = 0; i < unicorns; ++i) {
    State s;
    s.name = NameOf(i);
    s.lat = 40.75 + (Uniform(&rng_) - 0.5) * 0.1;
    s.lon = -73.98 + (Uniform(&rng_) - 0.5) * 0.1;
    s.magic = 100 + static_cast<int>(Next(&rng_) % 100);
    s.health = 100 + static_cast<int>(Next(&rng_) % 100);
    states_.push_back(std::move(s));
  }
}

Fleet::~Fleet() = default;

void Fleet::Tick(int64_t t_ms, std::vector<UnicornStatus>* out) {
  out->clear();
  for (State& s : states_) {
    double dist = std::round(Uniform(&rng_) * 200) / 10.0;  // metres this second, 0.0-20.0
    s.lat += (Uniform(&rng_) - 0.5) * 0.0002;
    s.lon += (Uniform(&rng_) - 0.5) * 0.0002;
    s.magic = std::clamp(s.magic + static_cast<int>(Next(&rng_) % 11) - 5, 1, 200);
    s.health = std::clamp(s.health + static_cast<int>(Next(&rng_) % 11) - 5, 1, 200);
    out->push_back({s.name, t_ms, s.lat, s.lon, dist, s.magic, s.health});
  }
}

std::string UnicornStatus::ToJson() const {
  std::string ts = FormatTimestamp(EventTime::FromMillis(status_time_ms));  // 2026-11-21T10:00:01.000Z
  ts[10] = ' ';
  ts.pop_back();
  char buf[256];
  std::string n;
  AppendJsonString(name, &n);
  std::snprintf(buf, sizeof buf,
                "{\"Name\":%s,\"StatusTime\":\"%s\",\"Latitude\":%.6f,\"Longitude\":%.6f,\"Distance\":%.1f,"
                "\"MagicPoints\":%d,\"HealthPoints\":%d}",
                n.c_str(), ts.c_str(), latitude, longitude, distance, magic_points, health_points);
  return buf;
}

Status RunProducer(const ProducerOptions& o, const std::atomic<bool>& stop, ProducerStats* stats,
                   const std::function<void(const ProducerStats&)>& on_progress) {
  auto transport = o.transport;
  std::unique_ptr<http::HttpClient> client;
  if (!transport) {
    SLUICE_ASSIGN_OR_RETURN(http::HttpUrl url, http::ParseHttpUrl(o.endpoint));
    client = std::make_unique<http::HttpClient>(url.host, url.port, std::chrono::seconds(30));
    transport = [&client, path = url.path](const std::string& body) -> Result<std::pair<int, std::string>> {
      SLUICE_ASSIGN_OR_RETURN(
          http::ClientResponse r,
          client->Send("POST", path,
                       {"Content-Type: application/x-amz-json-1.1", "X-Amz-Target: Kinesis_20131202.PutRecords"}, body));
      return std::make_pair(r.status, std::move(r.body));
    };
  }
  std::string response;

  Fleet fleet(o.unicorns, o.seed);
  uint64_t rng = o.seed * 7919 + 17;
  // Default start: 6 hours ago, on the hour, so a sped-up fleet replays recent history and event
  // time stays behind the wall clock (watermark lag stays meaningful) for 6 h / (speedup - 1).
  const int64_t t0 = o.start_ms ? o.start_ms : (WallNow().millis() / 3600000 - 6) * 3600000;
  const auto wall0 = std::chrono::steady_clock::now();
  auto last_progress = wall0;
  std::multimap<int64_t, std::string> held;  // release second -> (name \t json)
  std::vector<UnicornStatus> statuses;
  std::vector<std::pair<std::string, std::string>> ready;  // (partition key, json)
  std::string body;
  int consecutive_errors = 0;
  Status result;

  auto send = [&]() -> bool {
    for (size_t off = 0; off < ready.size(); off += 500) {
      size_t end = std::min(ready.size(), off + 500);
      body = "{\"StreamName\":\"" + o.stream + "\",\"Records\":[";
      for (size_t i = off; i < end; ++i) {
        if (i > off) body += ',';
        body += "{\"PartitionKey\":";
        AppendJsonString(ready[i].first, &body);
        body += ",\"Data\":\"";
        Base64Encode(ready[i].second, &body);
        body += "\"}";
      }
      body += "]}";
      response.clear();
      auto answer = transport(body);
      const bool sent = answer.ok();
      const int code = sent ? answer->first : 0;
      if (sent) response = std::move(answer->second);
      uint64_t n = end - off;
      stats->requests++;
      stats->records_sent += n;
      if (!sent || code != 200) {
        stats->records_failed += n;
        if (++consecutive_errors >= 20) {
          result = Status::Unavailable(std::string("PutRecords to ") + o.endpoint + " failed: " +
                                       (!sent ? answer.status().message() : response.substr(0, 200)));
          return false;
        }
        continue;
      }
      consecutive_errors = 0;
      uint64_t failed = 0;
      auto p = response.find("\"FailedRecordCount\":");
      if (p != std::string::npos) failed = std::strtoull(response.c_str() + p + 20, nullptr, 10);
      stats->records_failed += failed;
      stats->records_acked += n - failed;
    }
    ready.clear();
    return true;
  };

  for (int64_t sec = 0; !stop.load() && (o.simulated_seconds == 0 || sec < o.simulated_seconds); ++sec) {
    auto due = wall0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(sec) / o.speedup));
    while (!stop.load() && std::chrono::steady_clock::now() < due)
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(due - std::chrono::steady_clock::now(),
                                                                                std::chrono::milliseconds(50)));
    if (stop.load()) break;
    fleet.Tick(t0 + sec * 1000, &statuses);
    for (auto& s : statuses) {
      double u = Uniform(&rng);
      std::string json = s.ToJson();
      if (Uniform(&rng) < o.bad) {
        // A faulty sensor: alternately a non-numeric field and a truncated document.
        if (Next(&rng) % 2 == 0) {
          auto p = json.find("\"MagicPoints\":");
          if (p != std::string::npos) json.replace(p + 14, json.find(',', p) - (p + 14), "\"lots\"");
        } else {
          json.resize(json.size() / 2);
        }
      }
      if (u < o.late) held.emplace(sec + 75, s.name + "\t" + json);
      else if (u < o.late + o.out_of_order) held.emplace(sec + 1 + static_cast<int64_t>(Next(&rng) % 3), s.name + "\t" + json);
      else ready.emplace_back(s.name, std::move(json));
    }
    while (!held.empty() && held.begin()->first <= sec) {
      const std::string& v = held.begin()->second;
      auto tab = v.find('\t');
      ready.emplace_back(v.substr(0, tab), v.substr(tab + 1));
      held.erase(held.begin());
    }
    if (!send()) break;
    auto now = std::chrono::steady_clock::now();
    stats->wall_seconds = std::chrono::duration<double>(now - wall0).count();
    if (on_progress && now - last_progress >= std::chrono::seconds(1)) {
      last_progress = now;
      on_progress(*stats);
    }
  }
  stats->wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return result;
}

}  // namespace sluice::wildrydes
