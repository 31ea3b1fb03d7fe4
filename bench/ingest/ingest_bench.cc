// ingest_bench: drives Kinesis PutRecords at an endpoint from several keep-alive connections and
// reports throughput, acknowledgement latency, and the server's CPU and peak memory.
//
//   ingest_bench --endpoint http://127.0.0.1:4567/ --stream bench [--create --shards 4]
//                [--connections 4] [--seconds 20] [--records-per-call 500] [--record-bytes 200]
//                [--rate RECORDS_PER_S] [--server-pid PID] [--label NAME]
//
// With --rate, calls are scheduled open-loop at fixed times and latency is measured from each
// call's scheduled time (no coordinated omission); without it, each connection sends as fast as
// it gets answers. CPU seconds and peak RSS (VmHWM) come from /proc/PID of the server.
// Output: one JSON object on stdout.
#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/proc_stats.h"
#include "core/base64.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string endpoint = "http://127.0.0.1:4567/";
  std::string stream = "bench";
  std::string label = "sluice";
  bool create = false;
  int shards = 4;
  int connections = 4;
  double seconds = 20;
  int records_per_call = 500;
  int record_bytes = 200;
  double rate = 0;
  int server_pid = 0;
};

size_t Collect(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

struct Call {
  long status = 0;
  std::string body;
};

Call Post(CURL* c, const std::string& url, const std::string& target, const std::string& body) {
  Call r;
  curl_slist* h = nullptr;
  h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.1");
  std::string t = "X-Amz-Target: Kinesis_20131202." + target;
  h = curl_slist_append(h, t.c_str());
  // A well-formed but dummy SigV4 header: kinesalite (like AWS) refuses requests without one;
  // Sluice accepts it unchecked.
  h = curl_slist_append(h, "X-Amz-Date: 20261121T100000Z");
  h = curl_slist_append(h, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/us-east-1/kinesis/"
                           "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(h);
  return r;
}

double CpuSeconds(int pid) { return sluice::bench::ProcCpuSeconds(pid); }
long PeakRssKib(int pid) { return static_cast<long>(sluice::bench::ProcPeakRssKib(pid)); }

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ingest_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--endpoint") o.endpoint = next();
    else if (a == "--stream") o.stream = next();
    else if (a == "--label") o.label = next();
    else if (a == "--create") o.create = true;
    else if (a == "--shards") o.shards = std::atoi(next());
    else if (a == "--connections") o.connections = std::atoi(next());
    else if (a == "--seconds") o.seconds = std::atof(next());
    else if (a == "--records-per-call") o.records_per_call = std::atoi(next());
    else if (a == "--record-bytes") o.record_bytes = std::atoi(next());
    else if (a == "--rate") o.rate = std::atof(next());
    else if (a == "--server-pid") o.server_pid = std::atoi(next());
    else {
      std::fprintf(stderr, "ingest_bench: unknown option %s (see the comment at the top of ingest_bench.cc)\n", a.c_str());
      return 2;
    }
  }
  curl_global_init(CURL_GLOBAL_ALL);
  if (o.create) {
    CURL* c = curl_easy_init();
    Call r = Post(c, o.endpoint, "CreateStream",
                  "{\"StreamName\":\"" + o.stream + "\",\"ShardCount\":" + std::to_string(o.shards) + "}");
    curl_easy_cleanup(c);
    if (r.status != 200 && r.body.find("ResourceInUse") == std::string::npos) {
      std::fprintf(stderr, "ingest_bench: CreateStream failed: %ld %s\n", r.status, r.body.c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // kinesalite's CREATING -> ACTIVE
  }
  // Pre-built request bodies: 500 records of about record_bytes bytes of JSON, random keys.
  std::mt19937_64 rng(42);
  std::vector<std::string> bodies;
  for (int b = 0; b < 16; ++b) {
    std::string body = "{\"StreamName\":\"" + o.stream + "\",\"Records\":[";
    for (int r = 0; r < o.records_per_call; ++r) {
      std::string data = "{\"Name\":\"unicorn-" + std::to_string(rng() % 100000) + "\",\"StatusTime\":\"2026-11-21T10:00:00.000Z\",\"pad\":\"";
      while (static_cast<int>(data.size()) < o.record_bytes - 2) data.push_back(static_cast<char>('a' + rng() % 26));
      data += "\"}";
      if (r) body += ',';
      body += "{\"PartitionKey\":\"k" + std::to_string(rng() % 100000) + "\",\"Data\":\"";
      sluice::Base64Encode(data, &body);
      body += "\"}";
    }
    bodies.push_back(body + "]}");
  }
  const double cpu0 = o.server_pid ? CpuSeconds(o.server_pid) : 0;
  std::atomic<uint64_t> acked{0}, failed{0}, calls{0};
  std::mutex lat_mu;
  std::vector<double> latencies_ms;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  // Open-loop schedule per connection: one call every `interval`.
  const double calls_per_s_per_conn = o.rate > 0 ? o.rate / o.records_per_call / o.connections : 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < o.connections; ++t) {
    threads.emplace_back([&, t] {
      CURL* c = curl_easy_init();
      std::vector<double> local;
      auto next = start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(calls_per_s_per_conn > 0 ? t / (calls_per_s_per_conn * o.connections) : 0));
      for (uint64_t k = 0;; ++k) {
        auto scheduled = Clock::now();
        if (calls_per_s_per_conn > 0) {
          scheduled = next;
          next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / calls_per_s_per_conn));
          if (scheduled >= end) break;
          std::this_thread::sleep_until(scheduled);
        } else if (scheduled >= end) {
          break;
        }
        Call r = Post(c, o.endpoint, "PutRecords", bodies[(k * 7 + static_cast<uint64_t>(t)) % bodies.size()]);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count();
        calls++;
        uint64_t f = 0;
        if (r.status == 200) {
          auto p = r.body.find("\"FailedRecordCount\":");
          if (p != std::string::npos) f = std::strtoull(r.body.c_str() + p + 20, nullptr, 10);
        } else {
          f = static_cast<uint64_t>(o.records_per_call);
        }
        failed += f;
        acked += static_cast<uint64_t>(o.records_per_call) - f;
        local.push_back(ms);
      }
      curl_easy_cleanup(c);
      std::lock_guard lock(lat_mu);
      latencies_ms.insert(latencies_ms.end(), local.begin(), local.end());
    });
  }
  for (auto& th : threads) th.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = o.server_pid ? CpuSeconds(o.server_pid) - cpu0 : 0;
  const double rps = static_cast<double>(acked.load()) / secs;
  const double mbps = rps * o.record_bytes / 1e6;
  std::printf(
      "{\"label\":\"%s\",\"connections\":%d,\"records_per_call\":%d,\"record_bytes\":%d,\"target_rate\":%.0f,"
      "\"seconds\":%.2f,\"calls\":%llu,\"records_acked\":%llu,\"records_failed\":%llu,\"records_per_s\":%.0f,"
      "\"mb_per_s\":%.2f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"p999_ms\":%.2f,\"server_cpu_s_per_million\":%.3f,"
      "\"server_peak_rss_mib\":%.1f}\n",
      o.label.c_str(), o.connections, o.records_per_call, o.record_bytes, o.rate, secs,
      static_cast<unsigned long long>(calls.load()), static_cast<unsigned long long>(acked.load()),
      static_cast<unsigned long long>(failed.load()), rps, mbps, Percentile(latencies_ms, 0.5),
      Percentile(latencies_ms, 0.99), Percentile(latencies_ms, 0.999),
      acked.load() ? cpu / (static_cast<double>(acked.load()) / 1e6) : 0,
      o.server_pid ? static_cast<double>(PeakRssKib(o.server_pid)) / 1024 : 0);
  curl_global_cleanup();
  return failed.load() > acked.load() ? 1 : 0;
}
