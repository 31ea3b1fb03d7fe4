// Helpers for tests that run the real `sluice` binary: temporary folders, a child process on
// 127.0.0.1 with a free port, and HTTP calls through libcurl. Test-only code.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sluice::testing {

/// A fresh folder under /tmp, removed by the destructor unless SLUICE_KEEP_TEST_DIRS is set.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Extra settings for SluiceProcess.
struct SluiceProcessOptions {
  std::vector<std::string> args;  ///< More `sluice run` arguments.
  std::vector<std::string> env;   ///< "NAME=value" entries added to the child's environment.
  /// The child may die before serving (a crash test's crash point): then no failure, and
  /// exited_early() is true.
  bool may_exit = false;
};

/// A `sluice run` child process listening on 127.0.0.1 with an OS-chosen port.
class SluiceProcess {
 public:
  /// Starts `SLUICE_BINARY run <pipeline> --data-dir <data_dir> --listen 127.0.0.1:0` and waits
  /// (up to 30 s) for it to print its port. Output goes to <data_dir>.log. REQUIRE-fails on error.
  SluiceProcess(const std::string& pipeline_path, const std::string& data_dir, SluiceProcessOptions options = {});
  /// True when the child died before serving (only with options.may_exit).
  bool exited_early() const { return exited_early_; }
  /// Waits up to `timeout_ms` for the child to exit by itself. Returns its wait status, or -1
  /// when it is still running (or was already reaped).
  int WaitExit(long timeout_ms);
  /// If still running: SIGTERM, wait, and fail the test unless it exits 0 (catches sanitizer
  /// reports and crashes at shutdown).
  ~SluiceProcess();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Sends `sig` and reaps the child. Returns its wait status.
  int Kill(int sig);
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool exited_early_ = false;
  std::string log_path_;
};

struct HttpResult {
  long status = 0;  ///< 0 when the request failed at the transport level.
  std::string body;
  long http_version = 0;  ///< CURL_HTTP_VERSION_* of the response.
};

/// POST `body` with optional extra headers ("Name: value"). `http2` uses h2c prior knowledge.
HttpResult HttpPost(const std::string& url, const std::string& body, const std::vector<std::string>& headers = {},
                    bool http2 = false, long timeout_ms = 30000);
HttpResult HttpGet(const std::string& url, long timeout_ms = 30000);

/// Kinesis PutRecords body for (partition key, data) pairs.
std::string PutRecordsBody(const std::string& stream, const std::vector<std::pair<std::string, std::string>>& records);
/// Headers for a Kinesis JSON 1.1 call of `operation`.
std::vector<std::string> KinesisHeaders(const std::string& operation);

/// Contents of every *.jsonl.gz file under `dir`, decompressed and concatenated (sorted by path).
std::string ReadGzipTree(const std::string& dir);

/// Text of the file at `path` with `from` replaced by `to` (first occurrence; REQUIRE-fails if absent).
std::string ReadAndReplace(const std::string& path, const std::string& from, const std::string& to);
void WriteFile(const std::string& path, const std::string& text);

}  // namespace sluice::testing
