#include "ingest/http/http_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace sluice::http {
namespace {

// Reads more bytes into `buf`. Returns the number read (0 at end of stream), or -1 on error.
ssize_t ReadMore(int fd, std::string* buf) {
  char tmp[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) buf->append(tmp, static_cast<size_t>(n));
    return n;
  }
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0)
    return Status::InvalidArgument("only http:// URLs are supported: " + url);
  HttpUrl u;
  const size_t host_start = kScheme.size();
  const size_t slash = url.find('/', host_start);
  const std::string authority = url.substr(host_start, slash == std::string::npos ? std::string::npos : slash - host_start);
  if (slash != std::string::npos) u.path = url.substr(slash);
  const size_t colon = authority.rfind(':');
  u.host = authority.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    char* end = nullptr;
    const long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != 0 || p <= 0 || p > 65535) return Status::InvalidArgument("bad port in URL: " + url);
    u.port = static_cast<uint16_t>(p);
  }
  if (u.host.empty()) return Status::InvalidArgument("no host in URL: " + url);
  return u;
}

std::string UrlEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string o;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      o.push_back(static_cast<char>(c));
    } else {
      o.push_back('%');
      o.push_back(kHex[c >> 4]);
      o.push_back(kHex[c & 15]);
    }
  }
  return o;
}

HttpClient::HttpClient(std::string host, uint16_t port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}

Status HttpClient::Connect() {
  Close();
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(port_);
  const int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return Status::Unavailable("cannot resolve " + host_ + ": " + gai_strerror(rc));
  std::string last_error = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // also bounds connect() on Linux
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      fd_ = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (fd_ < 0) return Status::Unavailable("connect to " + host_ + ":" + port + ": " + last_error);
  return Status::OK();
}

Result<ClientResponse> HttpClient::Send(const std::string& method, const std::string& target,
                                      const std::vector<std::string>& headers, const std::string& body,
                                      bool keep_alive) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host_ + ":" + std::to_string(port_) + "\r\n";
  for (const std::string& h : headers) req += h + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  req += body;
  const bool reused = fd_ >= 0;
  bool nothing_received = false;
  auto r = SendOnce(req, keep_alive, &nothing_received);
  // A kept connection the server closed in the meantime: try once more on a new one.
  if (!r.ok() && reused && nothing_received) r = SendOnce(req, keep_alive, &nothing_received);
  return r;
}

Result<ClientResponse> HttpClient::SendOnce(const std::string& request, bool keep_alive, bool* nothing_received) {
  *nothing_received = true;
  if (fd_ < 0) SLUICE_RETURN_IF_ERROR(Connect());
  const std::string where = host_ + ":" + std::to_string(port_);
  for (size_t off = 0; off < request.size();) {
    const ssize_t n = ::send(fd_, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string e = std::strerror(errno);
      Close();
      return Status::Unavailable("send to " + where + ": " + e);
    }
    off += static_cast<size_t>(n);
  }
  auto fail = [&](const std::string& what) -> Status {
    const std::string e = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : std::strerror(errno);
    Close();
    return Status::Unavailable(what + " from " + where + ": " + e);
  };
  // Status line and headers.
  size_t head_end;
  while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
    errno = 0;
    const ssize_t n = ReadMore(fd_, &buf_);
    if (n < 0) return fail("no response");
    if (n == 0) {
      errno = ECONNRESET;
      return fail(buf_.empty() ? "connection closed before a response" : "truncated response");
    }
    *nothing_received = false;
  }
  *nothing_received = false;
  const std::string_view head(buf_.data(), head_end);
  ClientResponse resp;
  if (head.compare(0, 7, "HTTP/1.") != 0 || head.size() < 12) {
    Close();
    return Status::Corruption("not an HTTP/1.x response from " + where);
  }
  resp.status = std::atoi(std::string(head.substr(9, 3)).c_str());
  bool chunked = false, close_after = !keep_alive, have_length = false;
  size_t length = 0;
  for (size_t p = head.find("\r\n"); p != std::string_view::npos;) {
    const size_t next = head.find("\r\n", p + 2);
    const std::string_view line = head.substr(p + 2, next == std::string_view::npos ? std::string_view::npos : next - p - 2);
    p = next;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = Trim(line.substr(0, colon)), value = Trim(line.substr(colon + 1));
    if (IEquals(name, "content-length")) {
      have_length = true;
      length = std::strtoull(std::string(value).c_str(), nullptr, 10);
    } else if (IEquals(name, "transfer-encoding")) {
      chunked = value.find("chunked") != std::string_view::npos;
    } else if (IEquals(name, "connection")) {
      close_after = close_after || IEquals(value, "close");
    }
  }
  if (std::string_view(head).substr(0, 8) == "HTTP/1.0") close_after = true;
  buf_.erase(0, head_end + 4);
  if (chunked) {
    for (;;) {
      size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos)
        if (ReadMore(fd_, &buf_) <= 0) return fail("truncated chunked response");
      const size_t size = std::strtoull(buf_.c_str(), nullptr, 16);
      if (size == 0) {
        // Last chunk, then (no trailers expected) an empty line.
        while (buf_.find("\r\n", eol + 2) == std::string::npos)
          if (ReadMore(fd_, &buf_) <= 0) return fail("truncated chunked response");
        buf_.erase(0, buf_.find("\r\n", eol + 2) + 2);
        break;
      }
      while (buf_.size() < eol + 2 + size + 2)
        if (ReadMore(fd_, &buf_) <= 0) return fail("truncated chunked response");
      resp.body.append(buf_, eol + 2, size);
      buf_.erase(0, eol + 2 + size + 2);
    }
  } else if (have_length) {
    while (buf_.size() < length)
      if (ReadMore(fd_, &buf_) <= 0) return fail("truncated response");
    resp.body = buf_.substr(0, length);
    buf_.erase(0, length);
  } else {
    // No framing: the body runs to the end of the connection.
    for (;;) {
      const ssize_t n = ReadMore(fd_, &buf_);
      if (n < 0) return fail("truncated response");
      if (n == 0) break;
    }
    resp.body = std::move(buf_);
    close_after = true;
  }
  if (close_after) Close();
  return resp;
}

}  // namespace sluice::http
