// A tiny blocking HTTP/1.1 client over a plain POSIX TCP socket, for Sluice's own tools talking
// to a Sluice server (`sluice savepoint`, the Wild Rydes producer of `sluice demo`). It exists so
// that the `sluice` binary does not link libcurl. It speaks only what those callers need: http://
// (no TLS), IPv4 host names or dotted addresses, one request at a time on a keep-alive connection
// (reconnecting when the server closed it), and responses framed by Content-Length, chunked
// transfer coding, or the end of the connection. Source: RFC 9112 (HTTP/1.1 message syntax).
// Thread-safety: an HttpClient is used by one thread at a time; distinct clients are independent.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace sluice::http {

/// One HTTP response: the status code of the status line and the (de-chunked) body.
struct ClientResponse {
  int status = 0;     ///< e.g. 200.
  std::string body;   ///< The payload bytes, without transfer coding.
};

/// The parts of an "http://host[:port][/path]" URL. Port defaults to 80, path to "/".
struct HttpUrl {
  std::string host;
  uint16_t port = 80;
  std::string path = "/";
};

/// Parses `url`. Errors: InvalidArgument for another scheme (https is not supported), an empty
/// host or a bad port.
Result<HttpUrl> ParseHttpUrl(const std::string& url);

/// Percent-encodes `s` for a query-string value (RFC 3986 unreserved characters stay as they are).
std::string UrlEncode(const std::string& s);

class HttpClient {
 public:
  /// A client for `host`:`port` (an IPv4 address or a name getaddrinfo resolves). `timeout` bounds
  /// each connect, send and receive (SO_SNDTIMEO / SO_RCVTIMEO), not the whole exchange.
  /// No connection is made until the first request.
  HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Sends one request: `method` ("POST", "GET") `target` ("/savepoints?name=x"), with the extra
  /// header lines `headers` ("Name: value", no CRLF) and `body` (Content-Length is always sent).
  /// With `keep_alive` false the request says "Connection: close" and the socket is closed after
  /// the response. A request on a kept connection that fails before any response byte arrives is
  /// retried once on a fresh connection.
  /// Errors: Unavailable when the server cannot be reached, the connection breaks or a timeout
  /// expires; Corruption when the response is not valid HTTP/1.x.
  Result<ClientResponse> Send(const std::string& method, const std::string& target,
                            const std::vector<std::string>& headers, const std::string& body,
                            bool keep_alive = true);

 private:
  Status Connect();
  void Close();
  Result<ClientResponse> SendOnce(const std::string& request, bool keep_alive, bool* nothing_received);

  std::string host_;
  uint16_t port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buf_;  // bytes received and not yet consumed
};

}  // namespace sluice::http
