// unicorn-producer: the Wild Rydes fleet as a standalone program, for any Kinesis endpoint
// (Sluice, kinesalite, or AWS through a local proxy).
//   unicorn-producer [--endpoint URL] [--stream NAME] [--unicorns N] [--speedup X]
//                    [--out-of-order F] [--late F] [--seconds S] [--seed N] [--http2]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include <curl/curl.h>

#include "examples/wildrydes/producer.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

size_t Collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// PutRecords over libcurl (any endpoint: http or https, HTTP/1.1 or h2c prior knowledge). The
// producer library itself uses a plain-socket HTTP/1.1 client, so `sluice demo` needs no libcurl.
// One keep-alive handle for the whole run; used from RunProducer's thread only.
class CurlTransport {
 public:
  CurlTransport(const std::string& endpoint, bool http2) : curl_(curl_easy_init()) {
    headers_ = curl_slist_append(headers_, "Content-Type: application/x-amz-json-1.1");
    headers_ = curl_slist_append(headers_, "X-Amz-Target: Kinesis_20131202.PutRecords");
    if (!curl_) return;
    curl_easy_setopt(curl_, CURLOPT_URL, endpoint.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(curl_, CURLOPT_HTTP_VERSION, http2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_1_1);
  }
  ~CurlTransport() {
    if (curl_) curl_easy_cleanup(curl_);
    curl_slist_free_all(headers_);
  }
  sluice::Result<std::pair<int, std::string>> Post(const std::string& body) {
    if (!curl_) return sluice::Status::Internal("curl_easy_init failed");
    std::string response;
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    const CURLcode rc = curl_easy_perform(curl_);
    if (rc != CURLE_OK) return sluice::Status::Unavailable(curl_easy_strerror(rc));
    long code = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code);
    return std::make_pair(static_cast<int>(code), std::move(response));
  }

 private:
  CURL* curl_;
  curl_slist* headers_ = nullptr;
};
}  // namespace

int main(int argc, char** argv) {
  sluice::wildrydes::ProducerOptions o;
  bool http2 = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "unicorn-producer: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--endpoint") o.endpoint = next();
    else if (a == "--stream") o.stream = next();
    else if (a == "--unicorns") o.unicorns = std::atoi(next().c_str());
    else if (a == "--speedup") o.speedup = std::atof(next().c_str());
    else if (a == "--out-of-order") o.out_of_order = std::atof(next().c_str());
    else if (a == "--late") o.late = std::atof(next().c_str());
    else if (a == "--seconds") o.simulated_seconds = std::atoll(next().c_str());
    else if (a == "--seed") o.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--http2") http2 = true;
    else {
      std::fprintf(stderr, "usage: unicorn-producer [--endpoint URL] [--stream NAME] [--unicorns N] [--speedup X]\n"
                           "         [--out-of-order F] [--late F] [--seconds S] [--seed N] [--http2]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  if (o.unicorns < 1 || o.speedup <= 0) {
    std::fprintf(stderr, "unicorn-producer: --unicorns and --speedup must be positive\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_ALL);
  CurlTransport transport(o.endpoint, http2);
  o.transport = [&transport](const std::string& body) { return transport.Post(body); };
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  sluice::wildrydes::ProducerStats stats;
  auto st = sluice::wildrydes::RunProducer(o, g_stop, &stats, [](const auto& s) {
    std::fprintf(stderr, "sent %llu acked %llu failed %llu (%.0f records/s)\n",
                 static_cast<unsigned long long>(s.records_sent), static_cast<unsigned long long>(s.records_acked),
                 static_cast<unsigned long long>(s.records_failed), s.records_acked / std::max(s.wall_seconds, 1e-9));
  });
  std::printf("records_sent=%llu records_acked=%llu records_failed=%llu wall_seconds=%.2f records_per_second=%.0f\n",
              static_cast<unsigned long long>(stats.records_sent), static_cast<unsigned long long>(stats.records_acked),
              static_cast<unsigned long long>(stats.records_failed), stats.wall_seconds,
              stats.records_acked / std::max(stats.wall_seconds, 1e-9));
  if (!st.ok()) {
    std::fprintf(stderr, "unicorn-producer: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}
