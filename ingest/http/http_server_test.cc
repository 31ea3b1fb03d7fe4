// Tests for ingest/http/http_server.h: libcurl (easy API) against 127.0.0.1 on port 0, over
// HTTP/1.1 and HTTP/2 with prior knowledge (h2c), and over TLS (ALPN h2 and http/1.1) with a
// self-signed certificate made at test time.
#include "ingest/http/http_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <filesystem>

namespace sluice::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// curl_global_init/cleanup once for the test binary.
struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
} g_curl_global;

/// A client request.
struct Req {
  std::string method = "GET";
  std::string path = "/";
  std::string body;
  bool h2 = false;          ///< HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
  bool h2_upgrade = false;  ///< HTTP/2 via "Upgrade: h2c" from an HTTP/1.1 request.
  long timeout_ms = 10000;
  std::vector<std::string> headers;  ///< "Name: value" lines.
};

/// What the client saw.
struct Reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  long version = 0;  ///< CURL_HTTP_VERSION_*.
  long new_connections = 0;  ///< CURLINFO_NUM_CONNECTS: 0 when an open connection was reused.
  std::string body;
  std::string content_type;
  std::vector<std::string> header_lines;  ///< Lower-cased, without CRLF.

  bool HasHeaderLine(const std::string& lower_line) const {
    for (const auto& l : header_lines)
      if (l == lower_line) return true;
    return false;
  }
  bool HasHeaderNamed(const std::string& lower_name) const {
    for (const auto& l : header_lines)
      if (l.rfind(lower_name + ":", 0) == 0) return true;
    return false;
  }
};

size_t OnBody(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}

size_t OnHeader(char* p, size_t s, size_t n, void* ud) {
  std::string line(p, s * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  for (char& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static_cast<std::vector<std::string>*>(ud)->push_back(line);
  return s * n;
}

/// Performs `r` on the easy handle `c` (reused connections stay cached in `c`).
Reply Fetch(CURL* c, uint16_t port, const Req& r) {
  Reply rep;
  curl_easy_reset(c);
  std::string url = "http://127.0.0.1:" + std::to_string(port) + r.path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (std::getenv("SLUICE_CURL_VERBOSE") != nullptr) curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r.timeout_ms);
  long version = r.h2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                 : r.h2_upgrade ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1;
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, version);
  if (r.h2) {
    // libcurl 7.88.x fails (CURLE_HTTP2) when it reuses a prior-knowledge connection (curl
    // issue #10634, fixed in 8.0). The server is fine with reuse (see the Upgrade case).
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &rep.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &rep.header_lines);
  if (r.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  } else if (r.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (r.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  curl_slist* hdrs = nullptr;
  for (const auto& h : r.headers) hdrs = curl_slist_append(hdrs, h.c_str());
  if (hdrs != nullptr) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  rep.code = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rep.status);
  curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &rep.version);
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &rep.new_connections);
  char* ct = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != nullptr) rep.content_type = ct;
  curl_slist_free_all(hdrs);
  return rep;
}

/// Performs `r` on a fresh connection.
Reply Fetch(uint16_t port, const Req& r) {
  CURL* c = curl_easy_init();
  Reply rep = Fetch(c, port, r);
  curl_easy_cleanup(c);
  return rep;
}

/// Starts a server on 127.0.0.1:0.
std::unique_ptr<HttpServer> StartServer(Handler h, int threads = 1, size_t max_body = 16u << 20) {
  HttpServerOptions o;
  o.port = 0;
  o.threads = threads;
  o.max_body_bytes = max_body;
  auto r = HttpServer::Start(o, std::move(h));
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  REQUIRE(r.value()->port() != 0);
  return std::move(r).value();
}

/// HttpResponse with a status and a text body.
HttpResponse Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

/// Copy of the interesting parts of one HttpRequest.
struct Seen {
  std::string method, path, query, body, host, x_test, content_type;
  int version = 0;
  size_t num_headers = 0;
};

/// Responders kept by a handler, plus a count of handler calls.
struct Parked {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Responder> responders;
  int calls = 0;

  void Add(Responder r) {
    std::lock_guard<std::mutex> g(mu);
    responders.push_back(std::move(r));
    ++calls;
    cv.notify_all();
  }
  /// Waits until `n` handler calls happened; false on timeout.
  bool WaitCalls(int n, std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, timeout, [&] { return calls >= n; });
  }
  std::vector<Responder> Take() {
    std::lock_guard<std::mutex> g(mu);
    return std::move(responders);
  }
};

/// Opens a raw TCP connection to 127.0.0.1:port, sends `data`, returns what comes back until
/// close or `timeout`.
std::string RawExchange(uint16_t port, const std::string& data, std::chrono::milliseconds timeout = 2000ms) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

// ---------------------------------------------------------------------------------------------

TEST_CASE("GET over HTTP/1.1: request fields in, status/type/headers/body out") {
  std::mutex mu;
  Seen seen;
  auto server = StartServer([&](const HttpRequest& req, Responder respond) {
    {
      std::lock_guard<std::mutex> g(mu);
      seen.method = std::string(req.method);
      seen.path = std::string(req.path);
      seen.query = std::string(req.query);
      seen.version = req.http_version;
      seen.host = std::string(req.Header("host"));
      seen.x_test = std::string(req.Header("x-test"));
      seen.body = std::string(req.body);
    }
    HttpResponse r = Text(201, "hello");
    r.headers = {{"X-Reply", "yes"}, {"X-Bad", "a\r\nInjected: 1"}, {"Bad Name", "v"}, {"Content-Length", "99"}};
    respond(std::move(r));
  });
  Req q;
  q.path = "/tables/x%20y?a=1&b=x%20y&c=p+q";
  q.headers = {"X-Test: Abc Def"};
  Reply rep = Fetch(server->port(), q);
  REQUIRE(rep.code == CURLE_OK);
  CHECK(rep.status == 201);
  CHECK(rep.version == CURL_HTTP_VERSION_1_1);
  CHECK(rep.body == "hello");
  CHECK(rep.content_type == "text/plain");
  CHECK(rep.HasHeaderLine("x-reply: yes"));
  CHECK(rep.HasHeaderLine("content-length: 5"));
  CHECK_FALSE(rep.HasHeaderNamed("x-bad"));
  CHECK_FALSE(rep.HasHeaderNamed("injected"));
  CHECK_FALSE(rep.HasHeaderNamed("bad name"));

  std::lock_guard<std::mutex> g(mu);
  CHECK(seen.method == "GET");
  CHECK(seen.path == "/tables/x%20y");
  CHECK(seen.query == "a=1&b=x%20y&c=p+q");
  CHECK(seen.version == 0x101);
  CHECK(seen.host == "127.0.0.1:" + std::to_string(server->port()));
  CHECK(seen.x_test == "Abc Def");
  CHECK(seen.body.empty());
  auto params = ParseQueryString(seen.query);
  CHECK(params.size() == 3);
  CHECK(params["a"] == "1");
  CHECK(params["b"] == "x y");
  CHECK(params["c"] == "p q");
}

TEST_CASE("POST over h2c prior knowledge, small and large bodies, plus HEAD") {
  std::mutex mu;
  std::vector<Seen> seen;
  auto server = StartServer([&](const HttpRequest& req, Responder respond) {
    Seen s;
    s.method = std::string(req.method);
    s.version = req.http_version;
    s.content_type = std::string(req.Header("content-type"));
    s.host = std::string(req.Header("host"));
    s.body = std::string(req.body);
    {
      std::lock_guard<std::mutex> g(mu);
      seen.push_back(s);
    }
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.body = std::string(req.body);
    r.headers = {{"X-Proto", std::to_string(req.http_version)}};
    respond(std::move(r));
  });
  std::string big(1u << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131u) ^ (i >> 8));

  CURL* c = curl_easy_init();
  for (const std::string& body : {std::string("hello world"), big}) {
    Req q;
    q.method = "POST";
    q.path = "/echo";
    q.body = body;
    q.h2 = true;
    q.headers = {"Content-Type: application/octet-stream"};
    Reply rep = Fetch(c, server->port(), q);
    REQUIRE(rep.code == CURLE_OK);
    CHECK(rep.version == CURL_HTTP_VERSION_2_0);
    CHECK(rep.status == 200);
    CHECK(rep.body.size() == body.size());
    CHECK(rep.body == body);
    CHECK(rep.content_type == "application/octet-stream");
    CHECK(rep.HasHeaderLine("x-proto: 512"));
  }
  Req head;
  head.method = "HEAD";
  head.h2 = true;
  Reply rep = Fetch(c, server->port(), head);
  curl_easy_cleanup(c);
  CHECK(rep.code == CURLE_OK);
  CHECK(rep.status == 200);
  CHECK(rep.body.empty());

  std::lock_guard<std::mutex> g(mu);
  REQUIRE(seen.size() == 3);
  for (const Seen& s : seen) {
    CHECK(s.version == 0x200);
    CHECK(s.host == "127.0.0.1:" + std::to_string(server->port()));
  }
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].content_type == "application/octet-stream");
  CHECK(seen[0].body == "hello world");
  CHECK(seen[1].body == big);
  CHECK(seen[2].method == "HEAD");
}

TEST_CASE("Responder called from another thread after a delay") {
  std::mutex mu;
  std::vector<std::thread> workers;
  auto server = StartServer([&](const HttpRequest& req, Responder respond) {
    std::string path(req.path);
    std::lock_guard<std::mutex> g(mu);
    workers.emplace_back([respond = std::move(respond), path] {
      std::this_thread::sleep_for(50ms);
      respond(Text(202, "late " + path));
    });
  });
  for (bool h2 : {false, true}) {
    CAPTURE(h2);
    Req q;
    q.path = "/slow";
    q.h2 = h2;
    auto t0 = Clock::now();
    Reply rep = Fetch(server->port(), q);
    auto elapsed = Clock::now() - t0;
    REQUIRE(rep.code == CURLE_OK);
    CHECK(rep.status == 202);
    CHECK(rep.body == "late /slow");
    CHECK(elapsed >= 50ms);
    CHECK(rep.version == (h2 ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1));
  }
  std::lock_guard<std::mutex> g(mu);
  for (auto& t : workers) t.join();
}

TEST_CASE("many concurrent clients on two loop threads, sync and async answers") {
  // Odd ids are answered by a worker thread, even ids inline on the loop thread.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::string, Responder>> queue;
  bool done = false;
  std::thread worker([&] {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return done || !queue.empty(); });
      if (queue.empty()) return;
      auto item = std::move(queue.front());
      queue.pop_front();
      lk.unlock();
      item.second(Text(200, "async " + item.first));
      lk.lock();
    }
  });
  std::atomic<int> calls{0};
  auto server = StartServer(
      [&](const HttpRequest& req, Responder respond) {
        ++calls;
        std::string id(req.query);
        if (std::stoi(id) % 2 == 0) {
          respond(Text(200, "sync " + id));
          return;
        }
        std::lock_guard<std::mutex> g(mu);
        queue.emplace_back(id, std::move(respond));
        cv.notify_one();
      },
      2);
  constexpr int kClients = 6;
  constexpr int kRequests = 40;
  std::atomic<int> ok{0};
  std::vector<std::string> failures[kClients];
  long connects[kClients] = {};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      CURL* c = curl_easy_init();
      for (int i = 0; i < kRequests; ++i) {
        int id = t * 1000 + i;
        Req q;
        q.path = "/n?" + std::to_string(id);
        q.h2 = t % 3 == 1;          // a fresh h2c connection per request
        q.h2_upgrade = t % 3 == 2;  // one upgraded h2 connection, reused
        Reply rep = Fetch(c, server->port(), q);
        connects[t] += rep.new_connections;
        std::string want = (id % 2 == 0 ? "sync " : "async ") + std::to_string(id);
        long want_version = t % 3 == 0 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2_0;
        if (rep.code == CURLE_OK && rep.status == 200 && rep.body == want && rep.version == want_version) {
          ++ok;
        } else {
          failures[t].push_back(std::to_string(id) + ": code " + std::to_string(rep.code) + " status " +
                                std::to_string(rep.status) + " body " + rep.body);
        }
      }
      curl_easy_cleanup(c);
    });
  }
  for (auto& t : clients) t.join();
  {
    std::lock_guard<std::mutex> g(mu);
    done = true;
  }
  cv.notify_one();
  worker.join();
  for (auto& f : failures)
    for (auto& line : f) FAIL_CHECK(line);
  CHECK(ok.load() == kClients * kRequests);
  CHECK(calls.load() == kClients * kRequests);
  for (int t = 0; t < kClients; ++t) {
    CAPTURE(t);
    // HTTP/1.1 keep-alive and the upgraded HTTP/2 connection carry all requests of a client.
    CHECK(connects[t] == (t % 3 == 1 ? kRequests : 1));
  }
}

TEST_CASE("client disconnects before a delayed response; server survives and keeps serving") {
  Parked parked;
  auto server = StartServer([&](const HttpRequest& req, Responder respond) {
    if (req.path == "/ok") {
      respond(Text(200, "ok"));
      return;
    }
    parked.Add(std::move(respond));
  });
  int expected_calls = 0;
  for (bool h2 : {false, true}) {
    CAPTURE(h2);
    // Two parked requests per protocol: one answered late, one dropped late (500 path).
    for (int k = 0; k < 2; ++k) {
      Req q;
      q.path = "/park";
      q.h2 = h2;
      q.timeout_ms = 150;
      Reply rep = Fetch(server->port(), q);
      CHECK(rep.code == CURLE_OPERATION_TIMEDOUT);
      ++expected_calls;
      REQUIRE(parked.WaitCalls(expected_calls));
    }
    std::this_thread::sleep_for(100ms);  // let the server notice the closed connections (h2)
    std::vector<Responder> late = parked.Take();
    REQUIRE(late.size() == 2);
    std::thread t([r = std::move(late[0])] { r(Text(200, "too late")); });
    t.join();
    late.clear();  // drops the other one: would answer 500 if the request still existed
    std::this_thread::sleep_for(50ms);

    Req ok;
    ok.path = "/ok";
    ok.h2 = h2;
    Reply rep = Fetch(server->port(), ok);
    CHECK(rep.code == CURLE_OK);
    CHECK(rep.status == 200);
    CHECK(rep.body == "ok");
  }
}

TEST_CASE("request body limit: max_body_bytes passes, one more byte is 413 (HTTP/1.1)") {
  std::atomic<int> calls{0};
  std::atomic<size_t> last_size{0};
  auto server = StartServer(
      [&](const HttpRequest& req, Responder respond) {
        ++calls;
        last_size = req.body.size();
        respond(Text(200, "got " + std::to_string(req.body.size())));
      },
      1, 1024);
  Req at;
  at.method = "POST";
  at.path = "/put";
  at.body = std::string(1024, 'a');
  at.headers = {"Expect:"};
  Reply rep = Fetch(server->port(), at);
  REQUIRE(rep.code == CURLE_OK);
  CHECK(rep.status == 200);
  CHECK(rep.body == "got 1024");
  CHECK(calls.load() == 1);
  CHECK(last_size.load() == 1024);

  Req over = at;
  over.body = std::string(1025, 'b');
  over.headers = {"Expect: 100-continue"};  // server answers before the body is sent
  rep = Fetch(server->port(), over);
  REQUIRE(rep.code == CURLE_OK);
  CHECK(rep.status == 413);
  CHECK(calls.load() == 1);

  // HTTP/2: H2O 2.2 resets the stream (REFUSED_STREAM) instead of answering 413; the handler
  // must still not see the request.
  Req over2 = at;
  over2.h2 = true;
  over2.headers = {};
  over2.body = std::string(4096, 'c');
  rep = Fetch(server->port(), over2);
  CHECK((rep.code != CURLE_OK || rep.status == 413));
  CHECK(calls.load() == 1);

  // And the server still serves.
  rep = Fetch(server->port(), at);
  CHECK(rep.status == 200);
  CHECK(calls.load() == 2);
}

TEST_CASE("Responder dropped without a call answers 500; handler exceptions answer 500") {
  std::vector<std::thread> threads;
  std::mutex mu;
  auto server = StartServer([&](const HttpRequest& req, Responder respond) {
    if (req.path == "/drop-inline") return;  // destroyed when the handler returns
    if (req.path == "/throw") throw std::runtime_error("boom");
    std::lock_guard<std::mutex> g(mu);
    threads.emplace_back([r = std::move(respond)]() mutable {
      std::this_thread::sleep_for(20ms);
      Responder gone = std::move(r);  // last copy dies on this thread, unanswered
    });
  });
  for (bool h2 : {false, true}) {
    CAPTURE(h2);
    for (const char* path : {"/drop-inline", "/drop-later", "/throw"}) {
      CAPTURE(path);
      Req q;
      q.path = path;
      q.h2 = h2;
      Reply rep = Fetch(server->port(), q);
      REQUIRE(rep.code == CURLE_OK);
      CHECK(rep.status == 500);
      CHECK(rep.content_type == "application/json");
    }
  }
  std::lock_guard<std::mutex> g(mu);
  for (auto& t : threads) t.join();
}

TEST_CASE("Responder: the first call on any copy wins, later calls are ignored") {
  auto server = StartServer([&](const HttpRequest& req, Responder respond) {
    Responder copy = respond;
    if (req.path == "/race") {
      std::thread a([copy] { copy(Text(200, "a")); });
      std::thread b([respond] { respond(Text(200, "b")); });
      a.join();
      b.join();
      copy(Text(418, "never"));
      return;
    }
    copy(Text(200, "first"));
    respond(Text(418, "second"));
    copy(Text(419, "third"));
  });
  for (bool h2 : {false, true}) {
    CAPTURE(h2);
    Req q;
    q.h2 = h2;
    Reply rep = Fetch(server->port(), q);
    REQUIRE(rep.code == CURLE_OK);
    CHECK(rep.status == 200);
    CHECK(rep.body == "first");
    q.path = "/race";
    rep = Fetch(server->port(), q);
    REQUIRE(rep.code == CURLE_OK);
    CHECK(rep.status == 200);
    CHECK((rep.body == "a" || rep.body == "b"));
  }
}

TEST_CASE("PercentDecode") {
  CHECK(PercentDecode("") == "");
  CHECK(PercentDecode("plain") == "plain");
  CHECK(PercentDecode("a%20b") == "a b");
  CHECK(PercentDecode("%41%42c") == "ABc");
  CHECK(PercentDecode("%e2%82%AC") == "\xe2\x82\xac");
  CHECK(PercentDecode("a+b") == "a+b");  // '+' is only special in query strings
  CHECK(PercentDecode("%") == "%");
  CHECK(PercentDecode("%4") == "%4");
  CHECK(PercentDecode("100%") == "100%");
  CHECK(PercentDecode("%zz%4g") == "%zz%4g");
  CHECK(PercentDecode("%%41") == "%A");
  CHECK(PercentDecode("%00") == std::string(1, '\0'));
}

TEST_CASE("ParseQueryString") {
  using M = std::map<std::string, std::string>;
  CHECK(ParseQueryString("") == M{});
  CHECK(ParseQueryString("a=1&b=x%20y") == M{{"a", "1"}, {"b", "x y"}});
  CHECK(ParseQueryString("q=a+b%2Bc") == M{{"q", "a b+c"}});
  CHECK(ParseQueryString("a=1&a=2") == M{{"a", "2"}});
  CHECK(ParseQueryString("flag&x=") == M{{"flag", ""}, {"x", ""}});
  CHECK(ParseQueryString("&&x=1&") == M{{"x", "1"}});
  CHECK(ParseQueryString("k=%zz&j=%4") == M{{"j", "%4"}, {"k", "%zz"}});
  CHECK(ParseQueryString("a=b=c") == M{{"a", "b=c"}});
  CHECK(ParseQueryString("%2B=%26") == M{{"+", "&"}});
  CHECK(ParseQueryString("=v") == M{{"", "v"}});
}

TEST_CASE("malformed HTTP/1 input gets 400 and the server keeps serving") {
  auto server = StartServer([](const HttpRequest&, Responder respond) { respond(Text(200, "fine")); });
  std::string out = RawExchange(server->port(), "GARBAGE \x01\x02 NOT HTTP\r\n\r\n");
  CHECK(out.rfind("HTTP/1.1 400", 0) == 0);
  out = RawExchange(server->port(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(out.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(out.find("fine") != std::string::npos);
  // A bad HTTP/2 preface is a protocol error, not a crash.
  out = RawExchange(server->port(), std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(30, '\xff'));
  Reply rep = Fetch(server->port(), Req{});
  CHECK(rep.status == 200);
}

TEST_CASE("Stop() while a response is pending: an answer arriving during Stop() is delivered") {
  for (bool h2 : {false, true}) {
    CAPTURE(h2);
    Parked parked;
    auto server = StartServer([&](const HttpRequest&, Responder r) { parked.Add(std::move(r)); }, 2);
    Reply rep;
    std::thread client([&] {
      Req q;
      q.h2 = h2;
      rep = Fetch(server->port(), q);
    });
    REQUIRE(parked.WaitCalls(1));
    std::thread responder([&] {
      std::this_thread::sleep_for(150ms);
      for (auto& r : parked.Take()) r(Text(200, "done"));
    });
    auto t0 = Clock::now();
    server->Stop();
    auto took = Clock::now() - t0;
    client.join();
    responder.join();
    CHECK(rep.code == CURLE_OK);
    CHECK(rep.status == 200);
    CHECK(rep.body == "done");
    CHECK(took >= 100ms);
    CHECK(took < 3s);
    server->Stop();  // idempotent
  }
}

TEST_CASE("Stop() while a response is pending: no answer means 503, late calls are harmless") {
  for (bool h2 : {false, true}) {
    CAPTURE(h2);
    Parked parked;
    auto server = StartServer([&](const HttpRequest&, Responder r) { parked.Add(std::move(r)); }, 2);
    Reply rep;
    std::thread client([&] {
      Req q;
      q.h2 = h2;
      rep = Fetch(server->port(), q);
    });
    REQUIRE(parked.WaitCalls(1));
    auto t0 = Clock::now();
    server->Stop();
    auto took = Clock::now() - t0;
    client.join();
    CHECK(took < 4s);
    CHECK(rep.code == CURLE_OK);
    CHECK(rep.status == 503);
    CHECK(rep.content_type == "application/json");
    std::vector<Responder> late = parked.Take();
    REQUIRE(late.size() == 1);
    std::thread t([r = late[0]] { r(Text(200, "after stop")); });
    t.join();
    late.clear();
    server.reset();  // destructor after Stop()
    CHECK(server == nullptr);
  }
}

TEST_CASE("Stop() while a response is pending: Responders outlive the server object") {
  for (bool h2 : {false, true}) {
    CAPTURE(h2);
    Parked parked;
    std::vector<Responder> kept;
    Reply rep;
    {
      auto server = StartServer([&](const HttpRequest&, Responder r) { parked.Add(std::move(r)); });
      std::thread client([&] {
        Req q;
        q.h2 = h2;
        rep = Fetch(server->port(), q);
      });
      REQUIRE(parked.WaitCalls(1));
      kept = parked.Take();
      server.reset();  // the destructor stops
      client.join();
    }
    CHECK(rep.status == 503);
    REQUIRE(kept.size() == 1);
    Responder copy = kept[0];
    kept.clear();
    copy(Text(200, "nobody listens"));  // dropped: the loop is gone
    CHECK(copy != nullptr);
  }
}

/// Number of open file descriptors of this process.
int OpenFds() {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (fcntl(fd, F_GETFD) != -1) ++n;
  return n;
}

TEST_CASE("Stop() closes idle keep-alive connections promptly and releases every descriptor") {
  int before = OpenFds();
  auto server = StartServer([](const HttpRequest&, Responder r) { r(Text(200, "x")); }, 2);
  CHECK(OpenFds() > before);
  CURL* h1 = curl_easy_init();
  CURL* h2 = curl_easy_init();
  Req q1;
  Req q2;
  q2.h2_upgrade = true;
  CHECK(Fetch(h1, server->port(), q1).status == 200);  // both connections stay open (idle)
  Reply r2 = Fetch(h2, server->port(), q2);
  CHECK(r2.status == 200);
  CHECK(r2.version == CURL_HTTP_VERSION_2_0);
  auto t0 = Clock::now();
  server->Stop();
  CHECK(Clock::now() - t0 < 900ms);  // no pending request: no grace period
  curl_easy_cleanup(h1);
  curl_easy_cleanup(h2);
  server.reset();
  CHECK(OpenFds() == before);
}

TEST_CASE("Start: bad options and busy ports are reported, several threads share one port") {
  Handler h = [](const HttpRequest&, Responder r) { r(Text(200, "x")); };
  HttpServerOptions o;
  o.port = 0;
  o.threads = 0;
  auto r = HttpServer::Start(o, h);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);

  o.threads = 1;
  r = HttpServer::Start(o, Handler{});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);

  o.threads = 3;
  auto first = HttpServer::Start(o, h);
  REQUIRE(first.ok());
  uint16_t port = first.value()->port();
  CHECK(port != 0);
  for (int i = 0; i < 6; ++i) CHECK(Fetch(port, Req{}).status == 200);

  HttpServerOptions busy;
  busy.port = port;
  r = HttpServer::Start(busy, h);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kIOError);

  HttpServerOptions foreign;
  foreign.host = "192.0.2.1";  // TEST-NET-1: not a local address
  foreign.port = 0;
  r = HttpServer::Start(foreign, h);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kIOError);

  first.value()->Stop();
  Req after;
  after.timeout_ms = 2000;
  CHECK(Fetch(port, after).code != CURLE_OK);  // nobody listens any more
}

// ---------------------------------------------------------------------------------------------
// TLS

/// A temporary folder with a fresh self-signed certificate (CN=localhost, P-256, valid one day)
/// in cert.pem and its key in key.pem, made with the OpenSSL API. Removed on destruction.
struct TlsFiles {
  std::string dir, cert, key;
  TlsFiles() {
    char tmpl[] = "/tmp/sluice-tls-XXXXXX";
    dir = ::mkdtemp(tmpl);
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    REQUIRE(pkey != nullptr);
    X509* x = X509_new();
    REQUIRE(x != nullptr);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    REQUIRE(X509_sign(x, pkey, EVP_sha256()) > 0);
    FILE* f = fopen(cert.c_str(), "w");
    REQUIRE(f != nullptr);
    REQUIRE(PEM_write_X509(f, x) == 1);
    fclose(f);
    f = fopen(key.c_str(), "w");
    REQUIRE(f != nullptr);
    REQUIRE(PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
  }
  ~TlsFiles() { std::filesystem::remove_all(dir); }
};

/// `r` over https:// (certificate checks off: it is self-signed); `r.h2` asks for HTTP/2 by ALPN
/// (CURL_HTTP_VERSION_2TLS), else HTTP/1.1 only.
Reply FetchTls(CURL* c, uint16_t port, const Req& r) {
  Reply rep;
  curl_easy_reset(c);
  std::string url = "https://127.0.0.1:" + std::to_string(port) + r.path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (std::getenv("SLUICE_CURL_VERBOSE") != nullptr) curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r.timeout_ms);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, r.h2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &rep.body);
  if (r.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
  }
  rep.code = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rep.status);
  curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &rep.version);
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &rep.new_connections);
  return rep;
}

TEST_CASE("TLS: ALPN picks h2 or http/1.1 on one port; plain text is refused") {
  TlsFiles files;
  // Echoes the HTTP version the server saw and the body.
  Handler h = [](const HttpRequest& req, Responder r) {
    r(Text(200, std::to_string(req.http_version) + " " + std::string(req.method) + " " + std::string(req.body)));
  };
  HttpServerOptions o;
  o.port = 0;
  o.threads = 2;
  o.tls_cert_file = files.cert;
  o.tls_key_file = files.key;
  auto started = HttpServer::Start(o, h);
  REQUIRE_MESSAGE(started.ok(), started.status().ToString());
  std::unique_ptr<HttpServer> server = std::move(started).value();
  CHECK(server->tls());
  const uint16_t port = server->port();

  CURL* c = curl_easy_init();
  Req h2;
  h2.h2 = true;
  Reply rep = FetchTls(c, port, h2);
  CHECK(rep.code == CURLE_OK);
  CHECK(rep.status == 200);
  CHECK(rep.version == CURL_HTTP_VERSION_2_0);
  CHECK(rep.body == "512 GET ");  // 0x200
  h2.method = "POST";
  h2.body = std::string(300000, 'b');  // Several DATA frames and TLS records.
  rep = FetchTls(c, port, h2);
  CHECK(rep.status == 200);
  CHECK(rep.version == CURL_HTTP_VERSION_2_0);
  CHECK(rep.body == "512 POST " + h2.body);

  CURL* c1 = curl_easy_init();
  Req h1;
  h1.method = "POST";
  h1.body = "hello";
  rep = FetchTls(c1, port, h1);
  CHECK(rep.code == CURLE_OK);
  CHECK(rep.status == 200);
  CHECK(rep.version == CURL_HTTP_VERSION_1_1);
  CHECK(rep.body == "257 POST hello");  // 0x101
  rep = FetchTls(c1, port, h1);  // Keep-alive: the TLS connection is reused.
  CHECK(rep.status == 200);
  CHECK(rep.new_connections == 0);

  // Plain text to the TLS port gets no HTTP answer.
  Req plain;
  plain.timeout_ms = 3000;
  Reply p = Fetch(port, plain);
  CHECK(p.status != 200);
  // A client that stops mid-handshake does not hold the server up.
  CHECK(RawExchange(port, "\x16\x03\x01", 300ms).empty());

  // Stop() with idle TLS keep-alive connections open (c and c1) returns promptly.
  const auto t0 = Clock::now();
  server->Stop();
  CHECK(Clock::now() - t0 < 5s);
  curl_easy_cleanup(c);
  curl_easy_cleanup(c1);
}

TEST_CASE("TLS: bad certificate and key options are reported") {
  TlsFiles files, other;
  Handler h = [](const HttpRequest&, Responder r) { r(Text(200, "x")); };
  HttpServerOptions o;
  o.port = 0;
  o.tls_cert_file = files.cert;  // No key.
  auto r = HttpServer::Start(o, h);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);

  o.tls_key_file = files.dir + "/missing.pem";
  r = HttpServer::Start(o, h);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kIOError);

  o.tls_key_file = other.key;  // A key of another certificate.
  r = HttpServer::Start(o, h);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);

  const std::string garbage = files.dir + "/garbage.pem";
  FILE* f = fopen(garbage.c_str(), "w");
  REQUIRE(f != nullptr);
  fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", f);
  fclose(f);
  o.tls_cert_file = garbage;
  o.tls_key_file = files.key;
  r = HttpServer::Start(o, h);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(r.status().message().find("garbage.pem") != std::string::npos);

  // Plain text still works without TLS options, and says so.
  HttpServerOptions plain;
  plain.port = 0;
  auto ok = HttpServer::Start(plain, h);
  REQUIRE(ok.ok());
  CHECK_FALSE(ok.value()->tls());
}

}  // namespace
}  // namespace sluice::http
