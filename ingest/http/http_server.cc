// HttpServer on H2O 2.2 (libh2o-evloop): HTTP/1.1 and h2c prior knowledge on one port, or, with a
// certificate, TLS with ALPN (h2, http/1.1) on that port.
//
// Design
// - One listening socket, dup()ed into every loop thread; each thread owns an h2o_evloop_t and an
//   h2o_context_t and accepts on its copy (port 0 therefore yields one port for all threads).
//   H2O's HTTP/1 acceptor hands a connection that starts with "PRI * HTTP/2" to its HTTP/2 code.
// - Per request: a heap RequestState (shared_ptr) plus a PoolAnchor placed in the request's memory
//   pool (h2o_mem_alloc_shared). H2O disposes the pool when the request ends, including when the
//   client went away; the anchor's dispose callback then clears RequestState::req, so a late
//   response is dropped instead of touching freed memory. Dispose and delivery both run on the
//   loop thread, so `req` needs no lock.
// - Responses from other threads travel as h2o_multithread messages to the owning loop. A per-loop
//   Mailbox (mutex + open flag, outlives the loop) makes sending after Stop() a safe no-op.
// - TLS: one OpenSSL SSL_CTX for the server (certificate, key, ALPN list from H2O), set in every
//   loop's h2o_accept_ctx_t; h2o_accept() then runs the handshake and hands the connection to its
//   HTTP/2 or HTTP/1 code by the negotiated ALPN protocol. The SSL_CTX is freed after the loops.
// - Stop(): close listeners, send GOAWAY, wait up to kStopGrace for in-flight responses, answer the
//   rest 503, shut the sockets down, wait for H2O to close them, dispose contexts, join threads.
#include "ingest/http/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <type_traits>
#include <unordered_set>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/multithread.h>
#include <h2o/version.h>
#pragma GCC diagnostic pop
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/logging.h"

namespace sluice::http {
namespace {

using Clock = std::chrono::steady_clock;

/// How long Stop() waits for in-flight responses before answering them 503.
constexpr auto kStopGrace = std::chrono::milliseconds(1000);
/// How long Stop() waits for connections to close after shutting their sockets down (per phase).
constexpr auto kCloseWait = std::chrono::milliseconds(1000);
/// Upper bound on event-loop threads.
constexpr int kMaxThreads = 256;

class ServerImpl;
struct Loop;
struct RequestState;

/// The loop that runs on the current thread (nullptr on other threads).
thread_local Loop* tls_loop = nullptr;

/// Cross-thread entry to one loop. Outlives the loop: senders check `open` under `mu`.
struct Mailbox {
  std::mutex mu;
  bool open = false;                              ///< True between loop init and teardown.
  h2o_multithread_receiver_t* receiver = nullptr;  ///< Valid while `open`.
};

/// Lives in the request's H2O memory pool; its dispose callback marks the request gone.
struct PoolAnchor {
  std::shared_ptr<RequestState> state;
  std::string body;  ///< Response body, kept here until H2O has sent it.
};

/// Shared by the Responder copies, the pool anchor and in-flight deliveries.
struct RequestState {
  std::shared_ptr<Mailbox> mailbox;
  std::mutex mu;
  bool responded = false;  ///< Guarded by mu. First Respond() wins.
  HttpResponse response;   ///< Guarded by mu. Set by the winning Respond().
  // Loop-thread only:
  h2o_req_t* req = nullptr;        ///< Null once answered or once H2O freed the request.
  PoolAnchor* anchor = nullptr;    ///< Valid while req is non-null.
};

/// An h2o_multithread message carrying one response to its loop. Standard layout, so the message
/// (first member) converts back to the Delivery.
struct Delivery {
  h2o_multithread_message_t message{};
  std::shared_ptr<RequestState> state;
};
static_assert(std::is_standard_layout_v<Delivery>);

/// h2o_handler_t with a back pointer to the server.
struct HandlerShim {
  h2o_handler_t super;
  ServerImpl* server;
};

/// One event-loop thread and its H2O state.
struct Loop {
  ServerImpl* server = nullptr;
  int listen_fd = -1;  ///< Owned until wrapped in `listener`.
  h2o_evloop_t* evloop = nullptr;
  h2o_context_t ctx{};
  h2o_accept_ctx_t accept_ctx{};
  h2o_socket_t* listener = nullptr;
  h2o_multithread_receiver_t receiver{};
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();
  std::unordered_set<RequestState*> pending;  ///< Requests handed to the Handler, not yet answered.
  size_t live_requests = 0;                   ///< Handled requests H2O has not freed yet.
  std::unordered_set<h2o_socket_t*> conns;    ///< Open accepted sockets.
  std::thread thread;

  ~Loop() {
    if (listen_fd >= 0) close(listen_fd);
  }
  /// Thread body: Init(), run until the server stops, Teardown().
  void Run();
  /// Creates the event loop, the H2O context, the receiver and the listener (loop thread).
  void Init();
  /// Stop sequence for this loop (see the file comment); disposes H2O state (loop thread).
  void Teardown();
  /// Wakes the loop from another thread (no-op once the loop tore down).
  void Wake() {
    std::lock_guard<std::mutex> g(mailbox->mu);
    if (mailbox->open) h2o_multithread_send_message(mailbox->receiver, nullptr);
  }
};

/// The HttpServer implementation.
class ServerImpl final : public HttpServer {
 public:
  /// Builds the H2O global configuration: one host, one path, our handler.
  ServerImpl(HttpServerOptions options, Handler handler);
  ~ServerImpl() override { Stop(); }

  uint16_t port() const override { return port_; }
  bool tls() const override { return ssl_ctx_ != nullptr; }
  void Stop() override;

  /// Loads the certificate and key and builds the TLS context (before StartLoops()).
  /// Errors: as HttpServer::Start() says for the TLS options.
  Status InitTls();

  /// Creates the loops on dup()s of `fd` (which it closes) and waits until all run.
  Status StartLoops(int fd, uint16_t port);

  Handler handler_;
  std::atomic<bool> stopping_{false};

 private:
  friend struct Loop;
  HttpServerOptions options_;
  uint16_t port_ = 0;
  h2o_globalconf_t globalconf_{};
  std::vector<std::unique_ptr<Loop>> loops_;
  std::mutex ready_mu_;
  std::condition_variable ready_cv_;
  int ready_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::atomic<bool> leaked_{false};  ///< A loop could not close its connections; keep H2O config alive.
  SSL_CTX* ssl_ctx_ = nullptr;       ///< TLS context, or null for plain text. Freed by Stop().
};

// ---------------------------------------------------------------------------------------------
// Responses

/// Reason phrase for `status` (HTTP/1 status line only; HTTP/2 has none).
const char* ReasonPhrase(int status) {
  static constexpr std::pair<int, const char*> kKnown[] = {
      {200, "OK"}, {201, "Created"}, {202, "Accepted"}, {204, "No Content"}, {304, "Not Modified"},
      {400, "Bad Request"}, {403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"},
      {409, "Conflict"}, {413, "Payload Too Large"}, {429, "Too Many Requests"},
      {500, "Internal Server Error"}, {501, "Not Implemented"}, {503, "Service Unavailable"}};
  for (const auto& [code, text] : kKnown)
    if (code == status) return text;
  return status < 300 ? "OK" : status < 400 ? "Redirection" : status < 500 ? "Client Error" : "Server Error";
}

/// True when `c` may appear in a header field name (RFC 9110 token).
bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

/// True when `v` is a header value without CR, LF or NUL (prevents header injection).
bool IsSafeValue(std::string_view v) {
  for (unsigned char c : v)
    if (c == '\r' || c == '\n' || c == 0) return false;
  return true;
}

/// Builds a JSON error response with the given status.
HttpResponse ErrorResponse(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = "{\"message\":\"" + std::string(message) + "\"}";
  return r;
}

/// Writes `r` to `req` (loop thread). The body moves into `anchor`, which lives until H2O frees
/// the request, i.e. after the body was sent. Invalid headers are skipped, never sent.
void WriteResponse(h2o_req_t* req, PoolAnchor* anchor, HttpResponse r) {
  int status = (r.status >= 200 && r.status <= 599) ? r.status : 500;
  req->res.status = status;
  req->res.reason = ReasonPhrase(status);
  h2o_mem_pool_t* pool = &req->pool;
  if (!r.content_type.empty() && IsSafeValue(r.content_type)) {
    h2o_iovec_t v = h2o_strdup(pool, r.content_type.data(), r.content_type.size());
    h2o_add_header(pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, nullptr, v.base, v.len);
  }
  for (const auto& [name, value] : r.headers) {
    if (name.empty() || !IsSafeValue(value)) continue;
    bool ok = true;
    for (unsigned char c : name) ok = ok && IsTokenChar(c);
    if (!ok) continue;
    h2o_iovec_t n = h2o_strdup(pool, name.data(), name.size());
    h2o_strtolower(n.base, n.len);
    std::string_view lower(n.base, n.len);
    // Framing and connection-specific headers belong to H2O (and are illegal in HTTP/2).
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
        lower == "keep-alive" || lower == "upgrade" || lower == "proxy-connection" ||
        (lower == "content-type" && !r.content_type.empty()))
      continue;
    h2o_iovec_t v = h2o_strdup(pool, value.data(), value.size());
    h2o_add_header_by_str(pool, &req->res.headers, n.base, n.len, 1, nullptr, v.base, v.len);
  }
  anchor->body = std::move(r.body);
  req->res.content_length = anchor->body.size();
  static h2o_generator_t generator = {nullptr, nullptr};
  h2o_start_response(req, &generator);
  if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
    h2o_send(req, nullptr, 0, H2O_SEND_STATE_FINAL);
  } else {
    h2o_iovec_t buf = h2o_iovec_init(anchor->body.data(), anchor->body.size());
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
  }
}

/// Sends the stored response of `st` if its request is still alive (loop thread only).
void SendNow(const std::shared_ptr<RequestState>& st) {
  h2o_req_t* req = st->req;
  if (req == nullptr) return;  // already answered, or the client went away
  HttpResponse r;
  {
    std::lock_guard<std::mutex> g(st->mu);
    r = std::move(st->response);
  }
  st->req = nullptr;
  if (tls_loop != nullptr) tls_loop->pending.erase(st.get());
  WriteResponse(req, st->anchor, std::move(r));
}

/// First call wins: records `r` and delivers it to the request's loop (directly when already on
/// it). Safe from any thread, also after the server stopped.
void Respond(const std::shared_ptr<RequestState>& st, HttpResponse r) {
  {
    std::lock_guard<std::mutex> g(st->mu);
    if (st->responded) return;
    st->responded = true;
    st->response = std::move(r);
  }
  if (tls_loop != nullptr && tls_loop->mailbox == st->mailbox) {
    SendNow(st);
    return;
  }
  auto* d = new (std::nothrow) Delivery;
  if (d == nullptr) return;
  d->state = st;
  std::unique_lock<std::mutex> lk(st->mailbox->mu);
  if (!st->mailbox->open) {
    lk.unlock();
    delete d;  // the loop is gone, and with it the request
    return;
  }
  h2o_multithread_send_message(st->mailbox->receiver, &d->message);
}

/// Held by every Responder copy; answers 500 if destroyed before anyone responded.
struct ResponderCore {
  std::shared_ptr<RequestState> state;
  ~ResponderCore() {
    if (state) Respond(state, ErrorResponse(500, "the request was not answered"));
  }
};

/// Receiver callback: delivers queued responses on the loop thread.
void OnMessages(h2o_multithread_receiver_t*, h2o_linklist_t* messages) {
  while (!h2o_linklist_is_empty(messages)) {
    auto* m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
    h2o_linklist_unlink(&m->link);
    auto* d = reinterpret_cast<Delivery*>(m);
    std::shared_ptr<RequestState> st = std::move(d->state);
    delete d;
    SendNow(st);
  }
}

/// Pool dispose callback: H2O freed the request (answered or connection gone).
void OnAnchorDispose(void* p) {
  auto* anchor = static_cast<PoolAnchor*>(p);
  anchor->state->req = nullptr;
  anchor->state->anchor = nullptr;
  if (tls_loop != nullptr) {
    tls_loop->pending.erase(anchor->state.get());
    --tls_loop->live_requests;
  }
  anchor->~PoolAnchor();
}

// ---------------------------------------------------------------------------------------------
// Requests and connections

/// H2O request callback: builds the HttpRequest and calls the Handler (loop thread).
int OnRequest(h2o_handler_t* self, h2o_req_t* req) {
  ServerImpl* server = reinterpret_cast<HandlerShim*>(self)->server;
  Loop* loop = tls_loop;
  if (server->stopping_.load() || loop == nullptr) {
    h2o_send_error_generic(req, 503, "Service Unavailable", "server is shutting down", 0);
    return 0;
  }
  std::shared_ptr<RequestState> st;
  try {
    st = std::make_shared<RequestState>();
    st->mailbox = loop->mailbox;
  } catch (...) {
    h2o_send_error_generic(req, 500, "Internal Server Error", "out of memory", 0);
    return 0;
  }
  void* mem = h2o_mem_alloc_shared(&req->pool, sizeof(PoolAnchor), OnAnchorDispose);
  auto* anchor = new (mem) PoolAnchor{st, {}};
  ++loop->live_requests;
  st->req = req;
  st->anchor = anchor;
  try {
    loop->pending.insert(st.get());
    // From here on the ResponderCore guarantees an answer, even if something below throws.
    auto core = std::make_shared<ResponderCore>();
    core->state = st;
    HttpRequest hr;
    hr.method = std::string_view(req->method.base, req->method.len);
    std::string_view full(req->path.base, req->path.len);
    size_t q = full.find('?');
    hr.path = full.substr(0, q);
    if (q != std::string_view::npos) hr.query = full.substr(q + 1);
    if (req->entity.base != nullptr) hr.body = std::string_view(req->entity.base, req->entity.len);
    hr.http_version = req->version;
    hr.headers.reserve(req->headers.size + 1);
    bool has_host = false;
    for (size_t i = 0; i != req->headers.size; ++i) {
      const h2o_header_t& h = req->headers.entries[i];
      hr.headers.emplace_back(std::string_view(h.name->base, h.name->len),
                              std::string_view(h.value.base, h.value.len));
      has_host = has_host || hr.headers.back().first == "host";
    }
    // H2O moves Host (HTTP/1) / :authority (HTTP/2) out of the header list; expose it as "host"
    // unless H2O substituted its default (the client sent none).
    if (!has_host && req->authority.len != 0 && req->hostconf != nullptr &&
        req->authority.base != req->hostconf->authority.hostport.base)
      hr.headers.emplace_back("host", std::string_view(req->authority.base, req->authority.len));
    Responder responder = [core](HttpResponse r) { Respond(core->state, std::move(r)); };
    core.reset();
    server->handler_(hr, std::move(responder));
  } catch (...) {
    // The Responder (if created) was destroyed while unwinding and answered 500; otherwise:
    Respond(st, ErrorResponse(500, "internal error"));
  }
  return 0;
}

/// Socket close hook: forgets the connection (loop thread).
void OnConnClosed(void* data) {
  if (tls_loop != nullptr) tls_loop->conns.erase(static_cast<h2o_socket_t*>(data));
}

/// Listener callback: accepts pending connections and hands them to H2O.
void OnAccept(h2o_socket_t* listener, const char* err) {
  Loop* loop = tls_loop;
  if (err != nullptr || loop == nullptr) return;
  for (int i = 0; i != 16; ++i) {
    h2o_socket_t* sock = h2o_evloop_socket_accept(listener);
    if (sock == nullptr) return;
    try {
      loop->conns.insert(sock);
    } catch (...) {
      h2o_socket_close(sock);
      continue;
    }
    sock->on_close.cb = OnConnClosed;
    sock->on_close.data = sock;
    h2o_accept(&loop->accept_ctx, sock);
  }
}

// ---------------------------------------------------------------------------------------------
// Loop

void Loop::Init() {
  evloop = h2o_evloop_create();
  h2o_context_init(&ctx, evloop, &server->globalconf_);
  accept_ctx.ctx = &ctx;
  accept_ctx.hosts = server->globalconf_.hosts;
  accept_ctx.ssl_ctx = server->ssl_ctx_;
  h2o_multithread_register_receiver(ctx.queue, &receiver, OnMessages);
  {
    std::lock_guard<std::mutex> g(mailbox->mu);
    mailbox->receiver = &receiver;
    mailbox->open = true;
  }
  listener = h2o_evloop_socket_create(evloop, listen_fd, H2O_SOCKET_FLAG_DONT_READ);
  listen_fd = -1;
  h2o_socket_read_start(listener, OnAccept);
}

/// Runs the loop until `pred()` holds or `deadline` passes.
template <typename Pred>
void RunUntil(h2o_evloop_t* evloop, Clock::time_point deadline, Pred pred) {
  while (!pred()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return;
    h2o_evloop_run(evloop, static_cast<int32_t>(std::min<int64_t>(left.count(), 10)));
  }
}

void Loop::Run() {
  // Writes to a reset peer must fail with EPIPE, not kill the process. SIGPIPE from write() is
  // thread-directed, so blocking it here leaves the rest of the process alone.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  tls_loop = this;
  Init();
  {
    std::lock_guard<std::mutex> g(server->ready_mu_);
    ++server->ready_;
  }
  server->ready_cv_.notify_all();
  while (!server->stopping_.load()) h2o_evloop_run(evloop, INT32_MAX);
  Teardown();
  tls_loop = nullptr;
}

/// True when all of the context's timeout lists are empty (h2o_context_dispose asserts so).
bool TimeoutsEmpty(h2o_context_t* c) {
  h2o_timeout_t* all[] = {&c->zero_timeout,      &c->one_sec_timeout,    &c->hundred_ms_timeout,
                          &c->handshake_timeout, &c->http1.req_timeout,  &c->http2.idle_timeout,
                          &c->http2.graceful_shutdown_timeout, &c->proxy.io_timeout};
  for (h2o_timeout_t* t : all)
    if (!h2o_linklist_is_empty(&t->_entries)) return false;
  return true;
}

void Loop::Teardown() {
  // 1. Stop accepting; HTTP/2 GOAWAY, HTTP/1 no more keep-alive.
  h2o_socket_read_stop(listener);
  h2o_socket_close(listener);
  listener = nullptr;
  h2o_context_request_shutdown(&ctx);
  // 2. Let in-flight responses finish, then answer the rest 503.
  RunUntil(evloop, Clock::now() + kStopGrace, [&] { return pending.empty(); });
  std::vector<std::shared_ptr<RequestState>> rest;
  for (RequestState* st : pending) rest.push_back(st->anchor->state);
  for (auto& st : rest) {
    {
      std::lock_guard<std::mutex> g(st->mu);
      if (!st->responded) {
        st->responded = true;
        st->response = ErrorResponse(503, "server is shutting down");
      }
    }
    SendNow(st);
  }
  rest.clear();
  // 3. Let the answers reach the sockets (H2O frees a request once its response is written).
  RunUntil(evloop, Clock::now() + kCloseWait, [&] { return live_requests == 0; });
  // 4. Close connections: EOF on read closes idle ones, busy ones close after their last write;
  //    if that stalls (peer not reading), fail the writes too.
  for (int how : {SHUT_RD, SHUT_RDWR}) {
    for (h2o_socket_t* s : conns) shutdown(h2o_socket_get_fd(s), how);
    RunUntil(evloop, Clock::now() + kCloseWait, [&] {
      return conns.empty() && h2o_linklist_is_empty(&ctx.http1._conns) &&
             h2o_linklist_is_empty(&ctx.http2._conns);
    });
  }
  // 5. No more cross-thread deliveries; drop the queued ones (their requests are gone).
  {
    std::lock_guard<std::mutex> g(mailbox->mu);
    mailbox->open = false;
    mailbox->receiver = nullptr;
  }
  h2o_linklist_t queued;
  h2o_linklist_init_anchor(&queued);
  h2o_linklist_insert_list(&queued, &receiver._messages);
  OnMessages(&receiver, &queued);
  h2o_multithread_unregister_receiver(ctx.queue, &receiver);
  // 6. Dispose H2O state, unless a connection refused to close (disposing would abort in H2O).
  if (h2o_timeout_is_linked(&ctx.http2._graceful_shutdown_timeout))
    h2o_timeout_unlink(&ctx.http2._graceful_shutdown_timeout);
  for (int i = 0; i != 3; ++i) h2o_evloop_run(evloop, 0);
  if (!conns.empty() || !TimeoutsEmpty(&ctx)) {
    SLUICE_LOG_WARN("connections did not close; leaking the event loop", {{"component", "http"}, {"connections", conns.size()}});
    server->leaked_ = true;
    return;
  }
  h2o_multithread_queue_t* queue = ctx.queue;
  h2o_context_dispose(&ctx);
#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2
  free(queue);  // H2O 2.2's evloop h2o_multithread_destroy_queue() does not free the queue.
#if defined(__linux__)
  // H2O 2.2's h2o_evloop_destroy() does not close the epoll fd (struct st_h2o_evloop_epoll_t).
  struct EpollLayout {
    h2o_evloop_t super;
    int ep;
  };
  close(reinterpret_cast<EpollLayout*>(evloop)->ep);
#endif
#else
  (void)queue;
#endif
  h2o_evloop_destroy(evloop);
  evloop = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Server

ServerImpl::ServerImpl(HttpServerOptions options, Handler handler)
    : handler_(std::move(handler)), options_(std::move(options)) {
  h2o_config_init(&globalconf_);
  globalconf_.server_name = h2o_iovec_init(H2O_STRLIT("sluice"));
  globalconf_.max_request_entity_size = options_.max_body_bytes;
  h2o_hostconf_t* host = h2o_config_register_host(&globalconf_, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
  auto* shim = reinterpret_cast<HandlerShim*>(h2o_create_handler(path, sizeof(HandlerShim)));
  shim->super.on_req = OnRequest;
  shim->server = this;
}

Status ServerImpl::StartLoops(int fd, uint16_t port) {
  port_ = port;
  for (int i = 0; i != options_.threads; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->server = this;
    loop->listen_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (loop->listen_fd < 0) {
      int e = errno;
      close(fd);
      return Status::IOError(std::string("dup listener: ") + std::strerror(e));
    }
    loops_.push_back(std::move(loop));
  }
  close(fd);
  int started = 0;
  Status st;
  for (auto& loop : loops_) {
    try {
      loop->thread = std::thread([l = loop.get()] { l->Run(); });
      ++started;
    } catch (const std::exception& e) {
      st = Status::Internal(std::string("cannot start loop thread: ") + e.what());
      break;
    }
  }
  std::unique_lock<std::mutex> lk(ready_mu_);
  ready_cv_.wait(lk, [&] { return ready_ == started; });
  return st;
}

void ServerImpl::Stop() {
  if (tls_loop != nullptr && tls_loop->server == this) {
    SLUICE_LOG_WARN("Stop() called from a loop thread; ignored", {{"component", "http"}});
    return;
  }
  std::lock_guard<std::mutex> g(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  for (auto& loop : loops_) loop->Wake();
  for (auto& loop : loops_)
    if (loop->thread.joinable()) loop->thread.join();
  if (leaked_) {
    for (auto& loop : loops_) (void)loop.release();  // still referenced by H2O connections
    loops_.clear();
    return;  // The SSL_CTX stays too: leaked connections hold SSL objects made from it.
  }
  loops_.clear();
  h2o_config_dispose(&globalconf_);
  if (ssl_ctx_ != nullptr) {
    SSL_CTX_free(ssl_ctx_);
    ssl_ctx_ = nullptr;
  }
}

/// The OpenSSL error queue as text (and cleared), for Status messages.
std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Status ServerImpl::InitTls() {
  const std::string& cert = options_.tls_cert_file;
  const std::string& key = options_.tls_key_file;
  if (cert.empty() && key.empty()) return Status::OK();
  if (cert.empty() || key.empty())
    return Status::InvalidArgument("http server: TLS needs both a certificate file and a key file");
  for (const std::string* f : {&cert, &key})
    if (access(f->c_str(), R_OK) != 0)
      return Status::IOError("http server: cannot read " + *f + ": " + std::strerror(errno));
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Status::Internal("http server: SSL_CTX_new: " + OpenSslErrors());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    std::string why = OpenSslErrors();
    SSL_CTX_free(ctx);
    return Status::InvalidArgument("http server: certificate " + cert + " is not a valid PEM certificate: " + why);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::string why = OpenSslErrors();
    SSL_CTX_free(ctx);
    return Status::InvalidArgument("http server: key " + key + " is not a valid PEM private key: " + why);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    std::string why = OpenSslErrors();
    SSL_CTX_free(ctx);
    return Status::InvalidArgument("http server: key " + key + " does not match certificate " + cert + ": " + why);
  }
  // H2O's list: the HTTP/2 identifiers, then http/1.1.
  h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
  ssl_ctx_ = ctx;
  return Status::OK();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers)
    if (name == lower_name) return value;
  return {};
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options, Handler handler) {
  if (!handler) return Status::InvalidArgument("http server: handler is empty");
  if (options.threads < 1 || options.threads > kMaxThreads)
    return Status::InvalidArgument("http server: threads must be in [1, 256], got " +
                                   std::to_string(options.threads));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_str = std::to_string(options.port);
  std::string where = options.host + ":" + port_str;
  int gai = getaddrinfo(options.host.empty() ? nullptr : options.host.c_str(), port_str.c_str(), &hints, &res);
  if (gai != 0) return Status::IOError("http server: cannot resolve " + where + ": " + gai_strerror(gai));
  int fd = -1;
  int err = 0;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return Status::IOError("http server: cannot listen on " + where + ": " + std::strerror(err));
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  uint16_t port = 0;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) port = ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  std::unique_ptr<ServerImpl> server;
  try {
    server = std::make_unique<ServerImpl>(std::move(options), std::move(handler));
  } catch (const std::exception& e) {
    close(fd);
    return Status::Internal(std::string("http server: ") + e.what());
  }
  Status tls = server->InitTls();
  if (!tls.ok()) {
    close(fd);
    return tls;
  }
  Status st = server->StartLoops(fd, port);
  if (!st.ok()) return st;  // ~ServerImpl stops the loops that started
  return std::unique_ptr<HttpServer>(std::move(server));
}

std::string PercentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQueryString(std::string_view query) {
  std::map<std::string, std::string> out;
  auto decode = [](std::string_view part) {
    std::string plus(part);
    for (char& c : plus)
      if (c == '+') c = ' ';
    return PercentDecode(plus);
  };
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key = decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1));
    out[std::move(key)] = std::move(value);
  }
  return out;
}

}  // namespace sluice::http

#if defined(__SANITIZE_ADDRESS__)
/// LeakSanitizer hook (weak, so a binary may define its own). H2O keeps per-thread recycle bins
/// of pool chunks and socket/HTTP2 write buffers (h2o_mem_alloc_recycle, up to 16 entries each,
/// some in `static __thread` variables this code cannot reach); they are dropped when a loop
/// thread exits. Only that cache is suppressed; request state and pool objects are still checked.
extern "C" __attribute__((weak)) const char* __lsan_default_suppressions() {
  return "leak:h2o_mem_alloc_recycle\n";
}
#endif
