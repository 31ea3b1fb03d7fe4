#include "bench/bench_http.h"

#include <curl/curl.h>

#include <cstdlib>

namespace sluice::bench {

void InitBenchHttp() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_ALL);
    return true;
  }();
  (void)done;
}

namespace {
size_t CollectBody(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}
}  // namespace

BenchHttp::BenchHttp(std::string base_url) : base_(std::move(base_url)) {
  CURL* c = curl_easy_init();
  curl_ = c;
  curl_slist* h = nullptr;
  h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.1");
  h = curl_slist_append(h, "X-Amz-Target: Kinesis_20131202.PutRecords");
  headers_ = h;
  if (c) {
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectBody);
  }
}

BenchHttp::~BenchHttp() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
  curl_slist_free_all(static_cast<curl_slist*>(headers_));
}

Result<int64_t> BenchHttp::PutRecords(const std::string& body) {
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) return Status::Internal("curl_easy_init failed");
  std::string resp;
  const std::string url = base_ + "/";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPGET, 0L);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(headers_));
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return Status::Unavailable(std::string("PutRecords: ") + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return Status::Unavailable("PutRecords: HTTP " + std::to_string(status) + ": " + resp.substr(0, 200));
  return SumJsonField(resp, "FailedRecordCount");
}

Result<std::string> BenchHttp::Get(const std::string& path) {
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) return Status::Internal("curl_easy_init failed");
  std::string resp;
  const std::string url = base_ + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return Status::Unavailable("GET " + path + ": " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return Status::Unavailable("GET " + path + ": HTTP " + std::to_string(status));
  return resp;
}

int64_t SumJsonField(const std::string& json, const std::string& field) {
  const std::string pat = "\"" + field + "\":";
  int64_t sum = 0;
  for (size_t p = json.find(pat); p != std::string::npos; p = json.find(pat, p + 1)) {
    size_t i = p + pat.size();
    while (i < json.size() && (json[i] == ' ' || json[i] == '"')) ++i;
    sum += std::strtoll(json.c_str() + i, nullptr, 10);
  }
  return sum;
}

}  // namespace sluice::bench
