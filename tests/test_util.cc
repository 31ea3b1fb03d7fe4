#include "tests/test_util.h"

#include <curl/curl.h>
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/base64.h"
#include "core/value.h"

namespace sluice::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  char tmpl[] = "/tmp/sluice-test-XXXXXX";
  char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  path_ = d;
}

TempDir::~TempDir() {
  if (!std::getenv("SLUICE_KEEP_TEST_DIRS")) {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
}

SluiceProcess::SluiceProcess(const std::string& pipeline, const std::string& data_dir, SluiceProcessOptions options) {
  log_path_ = data_dir + ".log";
  // The log is appended across restarts: only read what this process writes.
  std::error_code size_ec;
  const auto start_offset = fs::exists(log_path_) ? fs::file_size(log_path_, size_ec) : 0;
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    std::FILE* out = std::freopen(log_path_.c_str(), "a", stdout);
    (void)out;
    ::dup2(STDOUT_FILENO, STDERR_FILENO);
    for (const std::string& e : options.env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<const char*> argv = {SLUICE_BINARY, "run", pipeline.c_str(), "--data-dir", data_dir.c_str(), "--listen",
                                     "127.0.0.1:0"};
    for (const std::string& a : options.args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    ::execv(SLUICE_BINARY, const_cast<char* const*>(argv.data()));
    std::_Exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log_path_);
    in.seekg(static_cast<std::streamoff>(start_offset));
    std::string line;
    while (std::getline(in, line)) {
      auto p = line.find("on http://127.0.0.1:");
      if (p != std::string::npos) {
        port_ = std::atoi(line.c_str() + p + 20);
        return;
      }
    }
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (options.may_exit) {
        exited_early_ = true;
        return;
      }
      std::ifstream all(log_path_);
      std::stringstream ss;
      ss << all.rdbuf();
      FAIL("sluice exited before serving:\n" << ss.str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("sluice did not report its port within 30 s");
}

SluiceProcess::~SluiceProcess() {
  if (pid_ <= 0) return;
  // A clean shutdown exits 0; a sanitizer report (leak, UB) at exit makes it non-zero.
  int status = Kill(SIGTERM);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream all(log_path_);
    std::stringstream ss;
    ss << all.rdbuf();
    std::string log = ss.str();
    if (log.size() > 20000) log = log.substr(log.size() - 20000);
    FAIL_CHECK("sluice did not exit cleanly after SIGTERM (status " << status << "):\n" << log);
  }
}

int SluiceProcess::WaitExit(long timeout_ms) {
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int SluiceProcess::Kill(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

namespace {
size_t Collect(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

HttpResult Perform(CURL* c, const std::vector<std::string>& headers, long timeout_ms) {
  HttpResult r;
  curl_slist* hl = nullptr;
  for (const auto& h : headers) hl = curl_slist_append(hl, h.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(c) == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &r.http_version);
  }
  curl_slist_free_all(hl);
  curl_easy_cleanup(c);
  return r;
}
}  // namespace

HttpResult HttpPost(const std::string& url, const std::string& body, const std::vector<std::string>& headers,
                    bool http2, long timeout_ms) {
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, http2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_1_1);
  return Perform(c, headers, timeout_ms);
}

HttpResult HttpGet(const std::string& url, long timeout_ms) {
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  return Perform(c, {}, timeout_ms);
}

std::string PutRecordsBody(const std::string& stream, const std::vector<std::pair<std::string, std::string>>& recs) {
  std::string b = "{\"StreamName\":";
  AppendJsonString(stream, &b);
  b += ",\"Records\":[";
  for (size_t i = 0; i < recs.size(); ++i) {
    if (i) b += ',';
    b += "{\"PartitionKey\":";
    AppendJsonString(recs[i].first, &b);
    b += ",\"Data\":\"";
    Base64Encode(recs[i].second, &b);
    b += "\"}";
  }
  return b + "]}";
}

std::vector<std::string> KinesisHeaders(const std::string& op) {
  return {"Content-Type: application/x-amz-json-1.1", "X-Amz-Target: Kinesis_20131202." + op};
}

std::string ReadGzipTree(const std::string& dir) {
  std::vector<std::string> files;
  if (!fs::exists(dir)) return "";
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().string().size() > 9 &&
        e.path().string().compare(e.path().string().size() - 9, 9, ".jsonl.gz") == 0 &&
        e.path().filename().string()[0] != '.')
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string out;
  for (const auto& f : files) {
    gzFile g = gzopen(f.c_str(), "rb");
    REQUIRE(g != nullptr);
    char buf[8192];
    int n;
    while ((n = gzread(g, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    gzclose(g);
  }
  return out;
}

std::string ReadAndReplace(const std::string& path, const std::string& from, const std::string& to) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  auto p = s.find(from);
  REQUIRE(p != std::string::npos);
  return s.replace(p, from.size(), to);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  REQUIRE(out.good());
}

}  // namespace sluice::testing
