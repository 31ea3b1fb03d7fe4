// HttpServer: Sluice's one HTTP port, HTTP/1.1 and HTTP/2 (h2c with prior knowledge) on the same
// socket, served by H2O (libh2o-evloop). With a certificate and key configured
// (HttpServerOptions::tls_cert_file / tls_key_file) the port speaks TLS instead: ALPN offers h2
// and http/1.1, and the client's choice decides the protocol (a client without ALPN gets
// HTTP/1.1). This header hides H2O and OpenSSL; nothing outside this adapter includes <h2o.h>.
//
// Threading: the server runs its own event-loop thread(s). The Handler is called on a loop thread
// and must not block (no fsync, no long locks). It answers through the Responder it is given,
// either before returning or later from any thread (for example after a group-commit fsync).
// A Responder is called at most once; a response for a connection that has since closed is
// dropped safely. Stop() closes the listener, finishes in-flight responses and joins the threads.
//
// Sources: RFC 9112 (HTTP/1.1), RFC 9113 (HTTP/2, §3.2 over TLS, §3.3 prior knowledge),
// RFC 7301 (ALPN), RFC 8446 / RFC 5246 (TLS 1.3 / 1.2).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace sluice::http {

/// One request, borrowed: every view is valid only during the Handler call. Copy what you keep.
struct HttpRequest {
  std::string_view method;  ///< "GET", "POST", ...
  std::string_view path;    ///< Path without the query string, percent-encoding kept ("/tables/x").
  std::string_view query;   ///< Raw text after '?', or empty.
  std::string_view body;    ///< The whole request body (bounded by Options::max_body_bytes).
  int http_version = 0;     ///< 0x100 HTTP/1.0, 0x101 HTTP/1.1, 0x200 HTTP/2.
  /// Header names are lower-case.
  std::vector<std::pair<std::string_view, std::string_view>> headers;

  /// Value of the first header with this lower-case name, or empty.
  std::string_view Header(std::string_view lower_name) const;
};

/// A response to send. `headers` are extra headers (content-type is set from `content_type`).
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Sends the response for one request. Thread-safe; callable from any thread; copies share one
/// request, and only the first call on any copy sends (later calls are ignored).
/// If no copy is ever called, the request is answered 500 when the last copy is destroyed.
using Responder = std::function<void(HttpResponse)>;

/// Called on a loop thread for each request.
using Handler = std::function<void(const HttpRequest&, Responder)>;

/// Server options. Not changeable after Start().
struct HttpServerOptions {
  /// Address to bind. Default: loopback only.
  std::string host = "127.0.0.1";
  /// TCP port; 0 picks a free port (see HttpServer::port()).
  uint16_t port = 4567;
  /// Event-loop threads. Each accepts on the shared listener. Default: 1.
  int threads = 1;
  /// Largest request body accepted; larger requests get 413. Unit: bytes. Default: 16 MiB
  /// (a 5 MiB PutRecords payload grows by 4/3 in base64).
  size_t max_body_bytes = 16u << 20;
  /// PEM file with the server certificate (and any intermediate certificates after it). When set,
  /// together with `tls_key_file`, the port serves TLS only (TLS 1.2 or newer), offering h2 and
  /// http/1.1 by ALPN; plain-text clients are then refused. Read once by Start(); to change the
  /// certificate, restart the server. Default: empty (plain text: HTTP/1.1 and h2c).
  std::string tls_cert_file;
  /// PEM file with the private key of `tls_cert_file` (unencrypted). Required with it.
  /// Default: empty.
  std::string tls_key_file;
};

/// The server. Create with Start(); destroy (or Stop()) to shut down.
class HttpServer {
 public:
  /// Binds, listens and starts the loop thread(s).
  /// Errors: IOError when the address cannot be bound (in use, bad host) or a TLS file can't be
  /// read; InvalidArgument for bad options: only one of tls_cert_file / tls_key_file set, a
  /// certificate or key that is not valid PEM, or a key that does not match the certificate.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, Handler handler);

  virtual ~HttpServer() = default;
  /// The bound port (useful with port 0). Thread-safe.
  virtual uint16_t port() const = 0;
  /// True when the port serves TLS (a certificate and key were configured). Thread-safe.
  virtual bool tls() const = 0;
  /// Stops accepting, closes connections and joins the loop threads. Idempotent. Must not be
  /// called from a loop thread.
  virtual void Stop() = 0;
};

/// Decodes an application/x-www-form-urlencoded query string ("a=1&b=x%20y") into a map.
/// '+' decodes to space. Malformed escapes are kept literally. Later duplicates win.
std::map<std::string, std::string> ParseQueryString(std::string_view query);

/// Percent-decodes one URL component.
std::string PercentDecode(std::string_view s);

}  // namespace sluice::http
