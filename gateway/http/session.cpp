#include "http/session.hpp"

#include <algorithm>
#include <array>

#include <boost/container/small_vector.hpp>

#include <atomic>
#include <iostream>
#include <stdexcept>

#include "config/defaults.hpp"
#include "http/forwarding.hpp"
#include "http/message_reader.hpp"
#include "http/request_head.hpp"
#include "http/tunnel.hpp"
#include "http/wire.hpp"
#include "identity/client_ip.hpp"
#include "limit/soft_limit.hpp"
#include "util/ascii.hpp"
#include "util/mask.hpp"

namespace sluice::net {
namespace {

using steady = std::chrono::steady_clock;

constexpr std::size_t relay_buffer_size = 64 * 1024;

ip_address to_ip(const asio::ip::address& a) {
  if (a.is_v4()) return ip_address::from_v4(a.to_v4().to_uint());
  return ip_address::from_v6(a.to_v6().to_bytes());
}

// Request headers for the policy engine, looked up in the parsed Beast head.
class beast_headers final : public limit::request_headers {
 public:
  explicit beast_headers(const head_fields& f) : fields_(f) {}
  limit::header_lines lines(std::string_view lower_name) const override {
    // Beast keeps a name's lines together, in order, and find() gives the first: a
    // second line is the next field (one tree search, where equal_range takes two).
    const beast::string_view name(lower_name.data(), lower_name.size());
    const auto first = fields_.find(name);
    if (first == fields_.end()) return {};
    const auto next = std::next(first);
    return {as_std(first->value()),
            next != fields_.end() && iequals(as_std(next->name_string()), lower_name)};
  }

 private:
  const head_fields& fields_;
};

// A response's fields for limit::response_costs: the last value of a name (a trailer is
// parsed after the head's fields, so a trailer name's last value is the trailer's).
limit::response_costs::field_lookup fields_of(const response_parser& head) {
  return [&head](std::string_view lower_name) { return head.last_value_of(lower_name); };
}

std::string_view client_ip_header_name(config::client_ip_source s) {
  switch (s) {
    case config::client_ip_source::x_forwarded_for:
      return "X-Forwarded-For";
    case config::client_ip_source::forwarded:
      return "Forwarded";
    case config::client_ip_source::x_real_ip:
      return "X-Real-IP";
  }
  return "X-Forwarded-For";
}

std::string_view decision_name(limit::outcome o) {
  switch (o) {
    case limit::outcome::allowed:
      return "allowed";
    case limit::outcome::limited:
      return "limited";
    case limit::outcome::forbidden:
      return "forbidden";
    case limit::outcome::bypassed:
      return "bypassed";
    case limit::outcome::bad_request:
      return "bad_request";
    case limit::outcome::unauthorized:
      return "unauthorized";
  }
  return "error";
}

// Beast's HTTP parse errors, as opposed to socket errors.
bool is_parse_error(const error_code& ec) {
  return ec.category() == error_code(http::error::bad_target).category();
}

// A failure of this machine rather than of the upstream: out of descriptors, ports or
// memory. It must not open the circuit breaker or count as an upstream error.
bool is_local_resource_error(const error_code& ec) {
  namespace errc = boost::system::errc;
  return ec == asio::error::no_descriptors || ec == errc::too_many_files_open_in_system ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory ||
         ec == errc::address_not_available;
}

// Writing all of `buffers` takes two steps: first at once, without waiting
// (peer_stream::write_now: a head and a small body nearly always fit in the socket's
// send buffer, and an immediate write skips arming the stream's timer, starting an
// operation and resuming the coroutine through the scheduler), then write_rest, which
// writes what the send buffer could not take asynchronously within `timeout`. The
// socket is in non-blocking mode (set when it is opened). A TLS peer is always written
// asynchronously. The hot paths (a 429, the upstream head, the response head) take the
// two steps themselves, which spares them write_all's coroutine frame.
//
// No yield after an immediate write: the read that follows waits in the reactor (Asio
// tries a read at once only after the socket signalled data), so the other ready
// connections run meanwhile anyway. strace: 0.05 failed recv per request.
template <class ConstBuffers>
awaitable<std::pair<error_code, std::size_t>> write_rest(peer_stream& stream,
                                                         const ConstBuffers& buffers,
                                                         std::size_t written,
                                                         std::chrono::milliseconds timeout) {
  beast::buffers_suffix<ConstBuffers> rest(buffers);
  rest.consume(written);
  stream.expires_after(timeout);
  auto [ec, n] = co_await asio::async_write(stream, rest, nothrow);
  stream.expires_never();  // reads that follow are not cut by this write's deadline
  co_return std::pair{ec, written + n};
}

template <class ConstBuffers>
awaitable<std::pair<error_code, std::size_t>> write_all(peer_stream& stream,
                                                        const ConstBuffers& buffers,
                                                        std::chrono::milliseconds timeout) {
  error_code ec;
  const std::size_t n = stream.write_now(buffers, ec);
  if (ec || n == asio::buffer_size(buffers)) co_return std::pair{ec, n};
  co_return co_await write_rest(stream, buffers, n, timeout);
}

// Writes `n` body bytes framed for the next hop: as one chunk when `chunked` (followed
// by the last chunk once `done`: Sluice writes chunked framing itself, so an empty
// body is exactly "0\r\n\r\n"), else as they are.
awaitable<error_code> write_body_piece(peer_stream& out, const char* data, std::size_t n,
                                       bool chunked, bool done, std::chrono::milliseconds timeout,
                                       std::uint64_t& written) {
  const chunk_size_line line = chunk_size_of(n);
  std::array<asio::const_buffer, 4> pieces{};
  if (!chunked) {
    pieces[1] = asio::buffer(data, n);
  } else {
    if (n != 0) {
      pieces[0] = asio::buffer(line.text, line.size);
      pieces[1] = asio::buffer(data, n);
      pieces[2] = asio::buffer(chunk_end);
    }
    if (done) pieces[3] = asio::buffer(last_chunk);
  }
  if (asio::buffer_size(pieces) == 0) co_return error_code{};
  auto [ec, w] = co_await write_all(out, pieces, timeout);
  written += w;
  co_return ec;
}

// Logs an exception caught at a connection, at most once a second (one per client
// request would let a client flood the log).
void log_connection_exception(const char* what) {
  static std::atomic<std::int64_t> last_logged_s{0};
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(steady::now().time_since_epoch()).count();
  std::int64_t last = last_logged_s.load(std::memory_order_relaxed);
  if (now_s == last || !last_logged_s.compare_exchange_strong(last, now_s)) return;
  std::cerr << "sluice: connection closed after an unexpected error: " << what << "\n";
}

}  // namespace

// ---- worker ---------------------------------------------------------------------------

void worker::close_idle_sessions(steady::time_point now) {
  // Copy first: closing makes sessions finish and unregister themselves.
  std::vector<session*> open(sessions.begin(), sessions.end());
  for (session* s : open) s->close_if_idle(now);
}

// ---- session lifecycle ------------------------------------------------------------------

session::session(tcp::socket socket, worker& w, app::services& s, listener_info listener)
    : stream_(std::move(socket)),
      listener_(listener),
      worker_(w),
      services_(s),
      accepted_(steady::now()) {
  error_code ec;
  auto endpoint = stream_.socket().remote_endpoint(ec);
  peer_ = to_ip(endpoint.address());
  peer_text_ = peer_.to_string();
  stream_.socket().set_option(tcp::no_delay(true), ec);
  stream_.socket().non_blocking(true, ec);  // for write_all's immediate write
  worker_.sessions.insert(this);
  services_.open_sessions.fetch_add(1, std::memory_order_relaxed);
  services_.metrics.active_connections().Increment();
}

session::~session() {
  worker_.sessions.erase(this);
  services_.open_sessions.fetch_sub(1, std::memory_order_relaxed);
  services_.metrics.active_connections().Decrement();
}

void session::close_if_idle(steady::time_point now) {
  if (!idle_ || now < idle_until_) return;
  error_code ec;
  stream_.socket().close(ec);
}

void worker::cut_overdue_upstream_waits(steady::time_point now) {
  for (session* s : sessions) s->cut_if_overdue(now);
}

void session::cut_if_overdue(steady::time_point now) {
  if (awaited_upstream_ == nullptr || now < upstream_deadline_) return;
  upstream_cut_ = true;
  error_code ec;
  awaited_upstream_->stream.socket().close(ec);  // the read ends with operation_aborted
}

void session::await_upstream(upstream_connection& up, steady::time_point deadline) {
  awaited_upstream_ = &up;
  upstream_deadline_ = deadline;
  upstream_cut_ = false;
}

bool session::upstream_wait_overdue() {
  awaited_upstream_ = nullptr;
  return upstream_cut_;
}

// A named coroutine with a by-value argument keeps the session alive for its whole
// run (g++ 12 mis-compiles capturing lambda coroutines in some positions).
static awaitable<void> run_session(std::shared_ptr<session> s) {
  try {
    co_await s->run();
  } catch (const std::exception& e) {
    log_connection_exception(e.what());  // run() catches per request; this is the last net
  }
}

// One timer per worker ends idle keep-alive connections and upstream waits past
// upstream.timeout, rather than a timer armed and cancelled around every wait (an
// armed timer costs a timer-queue update and often a timerfd_settime): it wakes every
// eighth of the shorter of server.idle_timeout and upstream.timeout (10 ms .. 1 s), so
// a wait ends at most that late. Runs while there are sessions.
static awaitable<void> sweep_idle_sessions(worker* w, app::services* s) {
  using namespace std::chrono_literals;
  while (!w->sessions.empty()) {
    const auto& cfg = s->snapshots.get()->config.server;
    const auto shortest = std::min(cfg.server.idle_timeout, cfg.upstream.timeout);
    w->idle_sweep.expires_after(std::clamp<std::chrono::milliseconds>(shortest / 8, 10ms, 1s));
    co_await w->idle_sweep.async_wait(nothrow);
    const auto now = steady::now();
    w->close_idle_sessions(now);
    w->cut_overdue_upstream_waits(now);
  }
  w->sweeping = false;
}

void start_session(tcp::socket socket, worker& w, app::services& s, listener_info listener) {
  asio::co_spawn(w.io, run_session(std::make_shared<session>(std::move(socket), w, s, listener)),
                 asio::detached);
  if (!w.sweeping) {
    w.sweeping = true;
    asio::co_spawn(w.io, sweep_idle_sessions(&w, &s), asio::detached);
  }
}

std::int64_t session::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

awaitable<void> session::run() {
  if (listener_.tls) {
    const bool secured = co_await handshake();
    if (!secured) co_return;
  }
  for (;;) {
    bool keep_alive = false;
    const char* failure = nullptr;
    try {
      // One request: read_head -> identify -> decide -> respond -> record.
      begin_request();
      // read_head: the request's first bytes (a keep-alive connection waits for them
      // idle), then its head, parsed in place when it came whole (the usual case).
      if (buffer_.size() == 0) {
        auto [ec, n] = co_await stream_.async_read_some(start_idle_wait(), nothrow);
        if (!end_idle_wait(ec, n)) break;
      }
      head_status head = parse_head();
      if (head == head_status::incomplete) head = co_await read_rest_of_head();
      if (head == head_status::closed) break;
      std::optional<verdict> v;
      if (head == head_status::refused) {
        v = head_refusal_;  // a malformed head: answered, and the connection closes
      } else {
        identify();
        v = decide();
        if (!v) v = co_await ask_store();
        count_decision();
      }
      // respond: forward, or Sluice's own answer (sent at once, nearly always).
      if (v->what == verdict::action::forward) {
        keep_alive = co_await forward();
      } else {
        answer_progress answer = start_answer(*v);
        if (!answer.done) answer.keep_alive = co_await finish_answer(*v, answer);
        keep_alive = answer.keep_alive;
      }
      record();
    } catch (const std::exception& e) {
      // Nothing escapes a connection (SPEC 13): this request ends here, the process
      // and every other connection go on.
      failure = e.what();
    }
    if (failure != nullptr) {
      log_connection_exception(failure);
      if (!record_.answered) {
        try {
          co_await reject(refusal(gateway_error::internal_error, "Internal error", 0));
        } catch (const std::exception&) {
        }
      }
      record();
      break;
    }
    if (!keep_alive || services_.draining.load(std::memory_order_relaxed)) break;
    // A pipelined request already read would be answered without passing through the
    // scheduler: let the worker's other ready connections go first.
    if (buffer_.size() != 0) co_await asio::post(asio::deferred);
  }
  stream_.shutdown_send();
}

// ---- step 0 (TLS listeners): the handshake -------------------------------------------------

awaitable<bool> session::handshake() {
  using result = admin::metrics::handshake_result;
  const auto snap = services_.snapshots.get();
  std::shared_ptr<const tls::server_context> context = snap->tls_context(listener_.index);
  if (!context) {
    // A reload took TLS off this listener's entry: that takes a restart (logged then).
    services_.metrics.tls_handshakes(result::failed).Increment();
    co_return false;
  }
  stream_.expires_at(accepted_ + snap->config.server.server.header_timeout);
  const error_code ec = co_await stream_.handshake(std::move(context));
  stream_.expires_never();
  if (ec) {
    services_.metrics.tls_handshakes(ec == beast::error::timeout ? result::timeout : result::failed)
        .Increment();
    co_return false;
  }
  services_.metrics.tls_handshakes(result::ok).Increment();
  client_cert_ = tls::client_certificate_name(stream_.ssl());
  co_return true;
}

void session::begin_request() {
  // The configuration a request sees is the newest when its first byte is there: now
  // for a pipelined request (or the first), after the wait for a keep-alive one
  // (end_idle_wait).
  if (!snapshot_ || buffer_.size() != 0) snapshot_ = services_.snapshots.get();
  record_ = request_record{};
  head_started_ = {};
  ev_.reset();
  rate_headers_.clear();  // a later request's own errors must not repeat them
}

// ---- step 1: read the request head -------------------------------------------------------
// run() itself awaits a request's first bytes (start_idle_wait, end_idle_wait); then
// parse_head parses what came. Only a head that came in pieces takes a coroutine of its
// own (read_rest_of_head).

// A connection waits for the first byte of a request as an idle connection: the
// connection limit may close it meanwhile (server.max_connections). Between keep-alive
// requests the wait lasts up to idle_timeout; a new connection's whole head must arrive
// within header_timeout of the accept, and a keep-alive request's from its first byte.
asio::mutable_buffer session::start_idle_wait() {
  const auto& server = snapshot_->config.server.server;
  idle_ = true;
  if (first_request_) {
    idle_until_ = accepted_ + server.header_timeout;
    stream_.expires_at(idle_until_);
  } else {
    idle_until_ = steady::now() + server.idle_timeout;
    stream_.expires_never();  // the worker's idle sweep ends this wait
  }
  buffer_.max_size(read_chunk_size);
  return buffer_.prepare(4096);
}

bool session::end_idle_wait(const error_code& ec, std::size_t n) {
  idle_ = false;
  if (ec) return false;  // the client left, or the wait was cut
  buffer_.commit(n);
  if (!first_request_) {
    // A reload while this connection was idle applies to the request now arriving.
    snapshot_ = services_.snapshots.get();
  }
  return true;
}

session::head_status session::parse_head() {
  const bool first_request = std::exchange(first_request_, false);
  if (first_request) head_started_ = accepted_;
  const auto& server = snapshot_->config.server.server;
  // The client's bytes buffered ahead of the parser are bounded by max_header_bytes:
  // a head, a chunk-size line or a trailer section cannot grow past it.
  buffer_.max_size(static_cast<std::size_t>(server.max_header_bytes));
  emplace_parser(parser_, request_arena_);
  parser_->header_limit(static_cast<std::uint32_t>(server.max_header_bytes));
  parser_->body_limit(server.max_body_bytes);
  // A head that came whole with the bytes already read is parsed in place, without
  // arming the deadline timer.
  head_bytes_ = 0;
  error_code ec = http::error::need_more;
  if (buffer_.size() != 0) {
    ec = feed_buffered_head(buffer_, *parser_, server.max_header_bytes, head_bytes_);
  }
  if (ec == http::error::need_more) return head_status::incomplete;
  return check_head(ec);
}

awaitable<session::head_status> session::read_rest_of_head() {
  const auto& server = snapshot_->config.server.server;
  // A keep-alive head's time starts with its first byte, read a moment ago in this same
  // run (a pipelined head's, now): the clock is read only for a head that needs it.
  if (head_started_ == steady::time_point{}) head_started_ = steady::now();
  stream_.expires_at(head_started_ + server.header_timeout);
  const error_code ec =
      co_await read_message_head(stream_, buffer_, *parser_, server.max_header_bytes, head_bytes_);
  co_return check_head(ec);
}

session::head_status session::check_head(const error_code& ec) {
  if (ec == http::error::header_limit) {
    return refuse_head(gateway_error::headers_too_large,
                       "Request head exceeds server.max_header_bytes");
  }
  // Beast checks Content-Length against body_limit while parsing the head.
  if (ec == http::error::body_limit) {
    return refuse_head(gateway_error::payload_too_large,
                       "Request body exceeds server.max_body_bytes");
  }
  if (ec && is_parse_error(ec) && ec != http::error::end_of_stream &&
      ec != http::error::partial_message) {
    refusal_text_ = "Malformed request: " + ec.message();
    return refuse_head(gateway_error::bad_request, refusal_text_);
  }
  if (ec) return head_status::closed;  // client left, reset, or slow head cut off

  auto& req = parser_->get();
  record_.client_version = req.version();
  head_summary summary;
  const auto problem = check_request_head(req, &summary);
  record_.client_keep_alive = summary.keep_alive;
  record_.awaiting_continue = summary.expects_continue;
  if (problem) return refuse_head(problem->error, problem->message);
  to_origin_form(req);
  return head_status::ok;
}

session::head_status session::refuse_head(gateway_error error, std::string_view message) {
  head_refusal_ = refusal(error, message, 0);
  return head_status::refused;
}

// ---- step 2: identify the client ----------------------------------------------------------

void session::identify() {
  const auto& id = snapshot_->config.server.identity;
  peer_trusted_ = contains_any(snapshot_->trusted_proxies, peer_);
  client_ip_ = peer_;
  if (!peer_trusted_) return;
  // Every line, however many: the head's size (max_header_bytes) is the bound. With a
  // cap on the count, spoofed lines beyond it would be read instead of the real ones.
  boost::container::small_vector<std::string_view, 4> lines;
  auto range = parser_->get().equal_range(client_ip_header_name(id.client_ip_header));
  for (auto it = range.first; it != range.second; ++it) lines.push_back(as_std(it->value()));
  client_ip_ = identity::resolve_client_ip(peer_, std::span(lines.data(), lines.size()),
                                           id.client_ip_header, snapshot_->trusted_proxies);
}

// ---- step 3: decide -----------------------------------------------------------------------

std::optional<session::verdict> session::decide() {
  auto& req = parser_->get();
  beast_headers headers(req.base());
  limit::request_facts facts{as_std(req.method_string()),
                             as_std(req.target()),
                             client_ip_,
                             peer_trusted_,
                             &headers,
                             client_cert_};
  check_started_ = steady::now();
  limit::prepare(snapshot_->policy, facts, &services_.overrides, now_us(), ev_, &services_.scaling);
  switch (ev_.result) {
    case limit::outcome::bad_request:
      return refusal(gateway_error::bad_request, ev_.problem, 0);
    case limit::outcome::unauthorized:
      // Counted here: no limit was consulted (count_decision counts decided requests).
      services_.metrics.count_jwt_rejection(ev_.token_rejection);
      // RFC 6750 section 3: the scheme to authenticate with, and why a token was refused.
      rate_headers_.add("WWW-Authenticate", ev_.token_rejection == "missing"
                                                ? "Bearer"
                                                : R"(Bearer error="invalid_token")");
      return refusal(gateway_error::unauthorized, ev_.problem, 0);
    case limit::outcome::forbidden:
      record_.decided = true;
      record_.decision = "forbidden";
      return refusal(gateway_error::forbidden, "Access denied", 0);
    case limit::outcome::bypassed:
      record_.decided = true;
      return verdict{verdict::action::forward, {}, {}, 0};
    case limit::outcome::allowed:
    case limit::outcome::limited:
      break;
  }
  if (ev_.checks.empty()) return conclude(app::store_verdict::admitted);
  app::store_verdict stored{};
  if (!services_.backend.decide_now(ev_, stored)) return std::nullopt;
  return conclude(stored);
}

awaitable<session::verdict> session::ask_store() {
  co_return conclude(co_await services_.backend.decide_async(ev_));
}

session::verdict session::conclude(app::store_verdict stored) {
  if (!ev_.checks.empty()) {
    record_.check_seconds = std::chrono::duration<double>(steady::now() - check_started_).count();
  }
  record_.decided = true;
  if (stored == app::store_verdict::unavailable) {
    record_.storage_unavailable = true;
    return refusal(gateway_error::storage_unavailable, "Rate-limit storage unavailable", 1);
  }
  limit::conclude(ev_, stored == app::store_verdict::admitted);
  if (services_.penalties != nullptr) {  // the penalty box counts every decided request
    services_.penalties->record(ev_, [this](int limit) { snapshot_->metrics.penalized(limit); });
  }
  rate_headers_.clear();
  limit::append_rate_limit_headers(ev_, snapshot_->policy.headers(), rate_headers_);
  return verdict{
      ev_.result == limit::outcome::limited ? verdict::action::limited : verdict::action::forward,
      {},
      {},
      0};
}

// ---- step 4a: reject ----------------------------------------------------------------------

awaitable<bool> session::discard_request_body() {
  // Small bodies are read and dropped so the connection can be kept; larger ones
  // would cost more than a new connection.
  // A client waiting for 100 Continue sends no body: waiting for it would stall
  // the answer until the client gives up, so close after the answer instead.
  if (record_.awaiting_continue) co_return false;
  constexpr std::uint64_t discard_limit = 64 * 1024;
  auto length = parser_->content_length_remaining();
  if (!parser_->chunked() && (!length || *length > discard_limit)) co_return false;
  auto& body = parser_->get().body();
  std::uint64_t discarded = 0;
  while (!parser_->is_done() && discarded <= discard_limit) {
    body.data = relay_buffer();
    body.size = relay_buffer_size;
    stream_.expires_after(snapshot_->config.server.server.idle_timeout);
    if (co_await read_body_piece(stream_, buffer_, *parser_)) co_return false;
    discarded += relay_buffer_size - body.size;
  }
  co_return parser_->is_done();
}

session::verdict session::refusal(gateway_error error, std::string_view message,
                                  std::int64_t retry_after_s) {
  return {verdict::action::refuse, error, message, retry_after_s};
}

awaitable<bool> session::reject(const verdict& v) {
  answer_progress answer = start_answer(v);
  if (!answer.done) answer.keep_alive = co_await finish_answer(v, answer);
  co_return answer.keep_alive;
}

session::answer_progress session::start_answer(const verdict& v) {
  const bool framing_error =
      v.what == verdict::action::refuse &&
      (v.error == gateway_error::bad_request || v.error == gateway_error::headers_too_large ||
       v.error == gateway_error::payload_too_large || v.error == gateway_error::internal_error);
  answer_progress answer;
  answer.keep_alive = !framing_error && record_.client_keep_alive &&
                      !services_.draining.load(std::memory_order_relaxed);
  if (answer.keep_alive && !parser_->is_done()) return answer;  // a body to drop first
  write_answer(v, answer.keep_alive);
  send_answer_at_once(answer);
  return answer;
}

awaitable<bool> session::finish_answer(const verdict& v, answer_progress answer) {
  if (!answer.written) {
    answer.keep_alive = co_await discard_request_body();
    write_answer(v, answer.keep_alive);
    send_answer_at_once(answer);
    if (answer.done) co_return answer.keep_alive;
  }
  auto [ec, n] = co_await write_rest(stream_, asio::buffer(head_text_.data(), head_text_.size()),
                                     answer.sent, snapshot_->config.server.server.idle_timeout);
  record_.bytes_sent += n - answer.sent;
  co_return !ec && answer.keep_alive;
}

void session::send_answer_at_once(answer_progress& answer) {
  answer.written = true;
  error_code ec;
  answer.sent = stream_.write_now(asio::buffer(head_text_.data(), head_text_.size()), ec);
  record_.bytes_sent += answer.sent;
  if (ec) answer.keep_alive = false;
  answer.done = ec || answer.sent == head_text_.size();
}

void session::write_answer(const verdict& v, bool keep_alive) {
  const bool limited = v.what == verdict::action::limited;
  const int status = limited ? 429 : status_of(v.error);
  record_.status = status;
  // A 429 carries Retry-After among its rate-limit headers; an error after an allowed
  // decision (a 502/503/504 from the upstream step) carries them too, so the client
  // still learns where it stands (SPEC 5: headers on every limited-route response).
  std::string retry_after;
  body_text_.clear();
  if (limited) {
    record_.decision = "limited";
    limit::append_rejection_body(ev_, body_text_);
  } else {
    body_text_.append(error_body(v.error, v.message));
    if (v.retry_after_s > 0) retry_after = std::to_string(v.retry_after_s);
    services_.metrics.count_http_error(status);
  }
  write_own_response(head_text_, {.status = status,
                                  .fields = &rate_headers_,
                                  .retry_after = retry_after,
                                  .body = body_text_.view(),
                                  .keep_alive = keep_alive,
                                  .head_request = is_head_request()});
  record_.answered = true;
}

// ---- step 4b: forward ---------------------------------------------------------------------

awaitable<bool> session::forward() {
  record_.decision = decision_name(ev_.result);  // until a failure says otherwise
  // Concurrency limits hold their slots, and costs from the response wait to be settled,
  // until forward() ends, whichever way (answered, failed, tunnel closed, client gone,
  // frame destroyed at a drain cut): then decision_backend::finish(). Policies without
  // such limits skip all of it.
  const bool finishes = snapshot_->policy.finishes_exchanges();
  costs_.begin(finishes ? &ev_ : nullptr);
  feed_costs_ = false;
  exchange_open_ = finishes && ev_.finishes();
  struct exchange_end {
    session& s;
    ~exchange_end() {
      // A frame destroyed with its stopped worker (the process is exiting) does nothing:
      // a Redis slot then waits for its lease, a reserve stands as the cost.
      if (s.worker_.io.stopped()) return;
      try {
        s.finish_exchange();
      } catch (const std::exception&) {
        // Out of memory for the call: slots wait for their lease, reserves stand.
      }
    }
  } ended{*this};

  std::int64_t retry_us = 0;
  // At the decision's time (microseconds ago for the memory store): one clock read fewer.
  if (!services_.breaker.allow(ev_.now, retry_us)) {
    count_upstream_fault(admin::upstream_error_kind::circuit_open);
    co_return co_await reject(refusal(gateway_error::upstream_unavailable,
                                      "Upstream unavailable (circuit breaker open)",
                                      limit::ceil_seconds_min1(retry_us)));
  }
  if (ev_.delay > 0) {
    // leaky_bucket shaping: the request was admitted for this later moment.
    if (!delay_timer_) delay_timer_.emplace(worker_.io);
    delay_timer_->expires_after(std::chrono::microseconds(ev_.delay));
    co_await delay_timer_->async_wait(nothrow);
  }
  if (!write_upstream_head()) {
    // A joined X-Forwarded-For (or Via) over the 65,535 bytes a field may hold.
    co_return co_await reject(refusal(gateway_error::headers_too_large,
                                      "Forwarded request head exceeds what Sluice can send", 0));
  }

  std::unique_ptr<upstream_connection> up;
  std::optional<response_parser> rp;
  const auto sent_at = steady::now();
  limit::upstream_flight flight(services_.load,
                                ev_);  // load-aware limits: in flight until answered
  const exchange_failure failure = co_await exchange(up, rp);
  if (failure != exchange_failure::none) {
    flight.answered(steady::now() - sent_at, true);
    co_return co_await answer_failure(failure);
  }

  const int status = rp->status();
  if (costs_.any()) {
    feed_costs_ = costs_.on_head(fields_of(*rp), rp->value_of(http::field::content_type));
  }
  const auto upstream_time = steady::now() - sent_at;
  flight.answered(upstream_time, status >= 500);
  const double upstream_seconds = std::chrono::duration<double>(upstream_time).count();
  record_.upstream_ms = upstream_seconds * 1000;
  count_upstream_response(status, upstream_seconds);
  if (status >= 500) {
    services_.breaker.record_failure(now_us());
  } else {
    services_.breaker.record_success();
  }
  if (status == 101) co_return co_await tunnel(std::move(up), *rp);
  co_return co_await relay_response(std::move(up), *rp);
}

void session::finish_exchange() {
  if (!exchange_open_) return;
  exchange_open_ = false;
  std::vector<std::int64_t> settled(ev_.checks.size());
  for (std::size_t i = 0; i < settled.size(); ++i) {
    settled[i] = costs_.settled_cost(ev_, i);
    if (ev_.settles(i)) services_.metrics.count_response_cost(costs_.outcome(i));
  }
  services_.backend.finish(ev_, settled, worker_.io.get_executor());
}

bool session::write_upstream_head() {
  const auto& id = snapshot_->config.server.identity;
  // Connection cannot name away the identity fields Sluice decided on.
  const std::array<std::string_view, 3> kept{id.api_key_header, id.user_header, id.tier_header};
  // The upstream reads the body exactly as Sluice did.
  body_frame body;
  if (parser_->chunked()) {
    body.framing = body_framing::chunked;
  } else if (auto length = parser_->content_length()) {
    body = {body_framing::length, *length};
  }
  // Soft limits: the upstream learns which limits this request went past (written at
  // once into head_text_, so a local string will do; short names need no allocation).
  std::string degraded;
  limit::append_degraded_names(ev_, degraded);
  record_.upgrade = is_websocket_upgrade(parser_->get(), request_has_body());
  return write_upstream_request_head(head_text_, parser_->get(),
                                     {peer_text_, peer_trusted_, snapshot_->upstream_host, kept,
                                      body, degraded, record_.upgrade, listener_.tls});
}

awaitable<exchange_failure> session::exchange(std::unique_ptr<upstream_connection>& up,
                                              std::optional<response_parser>& rp) {
  const bool has_body = request_has_body();
  for (int attempt = 0;; ++attempt) {
    // open_upstream: a pooled connection, else (and always for a retry) a new one.
    up = attempt == 0 ? worker_.pool.take_idle(snapshot_->upstream) : nullptr;
    if (!up) {
      auto [connect_ec, conn] = co_await worker_.pool.connect(snapshot_->upstream);
      if (connect_ec) {
        co_return is_local_resource_error(connect_ec) ? exchange_failure::local_resources
                                                      : exchange_failure::connect;
      }
      up = std::move(conn);
    }
    // A reused connection the upstream closed meanwhile fails before any response
    // byte; such a request (without body) is sent once more on a new connection.
    const bool may_retry = up->reused && !has_body && attempt == 0;
    // send_head: head_text_ holds the head forward() wrote (unchanged across a retry).
    const auto head = asio::buffer(head_text_.data(), head_text_.size());
    error_code ec;
    const std::size_t n = up->stream.write_now(head, ec);
    if (!ec && n < head.size()) {
      ec = (co_await write_rest(up->stream, head, n, snapshot_->config.server.upstream.timeout))
               .first;
    }
    exchange_failure failure = exchange_failure::none;
    if (ec)
      failure = ec == beast::error::timeout ? exchange_failure::timeout : exchange_failure::reset;
    if (failure == exchange_failure::none && has_body) failure = co_await relay_request_body(*up);
    if (failure == exchange_failure::none) failure = co_await read_response_head(*up, rp);
    if (failure == exchange_failure::reset && may_retry && !(rp && rp->got_some())) continue;
    co_return failure;
  }
}

awaitable<exchange_failure> session::relay_request_body(upstream_connection& up) {
  const auto& cfg = snapshot_->config.server;
  if (record_.awaiting_continue) {
    // The upstream has the head: now the client may send the body.
    auto [ec, n] =
        co_await write_all(stream_, asio::buffer(continue_response), cfg.server.idle_timeout);
    if (ec) co_return exchange_failure::client_gone;
    record_.awaiting_continue = false;
  }
  const bool chunked = parser_->chunked();
  auto& body = parser_->get().body();
  std::uint64_t uploaded = 0;
  for (;;) {
    body.data = relay_buffer();
    body.size = relay_buffer_size;
    stream_.expires_after(cfg.server.idle_timeout);
    const error_code ec = co_await read_body_piece(stream_, buffer_, *parser_);
    if (ec == http::error::body_limit) co_return exchange_failure::client_body_too_large;
    // header_limit: a chunk-size line or trailer section over max_header_bytes.
    if (ec == http::error::header_limit ||
        (is_parse_error(ec) && ec != http::error::partial_message &&
         ec != http::error::end_of_stream)) {
      co_return exchange_failure::client_body_malformed;
    }
    if (ec) co_return exchange_failure::client_gone;  // left or stalled mid-body
    const bool done = parser_->is_done();
    const error_code wec =
        co_await write_body_piece(up.stream, relay_buffer(), relay_buffer_size - body.size, chunked,
                                  done, cfg.upstream.timeout, uploaded);
    if (wec) {
      co_return wec == beast::error::timeout ? exchange_failure::timeout : exchange_failure::reset;
    }
    if (done) co_return exchange_failure::none;
  }
}

awaitable<exchange_failure> session::read_response_head(upstream_connection& up,
                                                        std::optional<response_parser>& rp) {
  // One deadline for the final response head: interim 1xx responses (dropped: Sluice
  // answered 100-continue itself, and 103 Early Hints are not relayed) never extend it.
  constexpr auto max_head = static_cast<std::size_t>(config::defaults::upstream_max_header_bytes);
  const auto deadline = steady::now() + snapshot_->config.server.upstream.timeout;
  for (;;) {
    emplace_parser(rp, response_arena_);
    rp->header_limit(static_cast<std::uint32_t>(max_head));
    rp->body_limit(boost::none);
    if (is_head_request()) rp->skip(true);
    await_upstream(up, deadline);
    std::size_t head_bytes = 0;
    error_code ec = http::error::need_more;
    if (up.buffer.size() == 0) {
      // The usual response head comes whole in one read: awaited and parsed here.
      auto [read_ec, n] = co_await up.stream.async_read_some(first_head_buffer(up.buffer), nothrow);
      ec = parse_first_head_read(up.buffer, *rp, read_ec, n, max_head, head_bytes);
    }
    if (ec == http::error::need_more) {
      ec = co_await read_message_head(up.stream, up.buffer, *rp, max_head, head_bytes);
    }
    if (upstream_wait_overdue()) co_return exchange_failure::timeout;
    if (ec == http::error::end_of_stream) co_return exchange_failure::reset;
    if (ec) co_return is_parse_error(ec) ? exchange_failure::invalid : exchange_failure::reset;
    const int status = rp->status();
    // 101 Switching Protocols: only to a handshake Sluice passed on (the upstream saw no
    // Upgrade otherwise, so it may not switch).
    if (status == 101) {
      if (record_.upgrade) break;
      co_return exchange_failure::invalid;
    }
    if (status >= 200) break;
  }
  if (!transfer_coding_ok(rp->fields())) co_return exchange_failure::invalid;
  co_return exchange_failure::none;
}

awaitable<bool> session::answer_failure(exchange_failure failure) {
  const failure_answer a = answer_for(failure);
  if (a.upstream_fault) {
    count_upstream_fault(*a.upstream_fault);
    services_.breaker.record_failure(now_us());
  }
  if (!a.answered) co_return false;
  co_return co_await reject(refusal(a.error, a.message, a.retry_after_s));
}

// ---- step 5: the response head and body back to the client -------------------------------

awaitable<bool> session::relay_response(std::unique_ptr<upstream_connection> up,
                                        response_parser& rp) {
  const auto& cfg = snapshot_->config.server;
  const int status = rp.status();
  const bool upstream_keep_alive = rp.keep_alive();  // false for a body up to the end
  const bool body_expected = !is_head_request() && status != 204 && status != 304;
  bool keep_alive = record_.client_keep_alive && parser_->is_done() &&
                    !services_.draining.load(std::memory_order_relaxed);

  // The framing the client reads the body by: the upstream's length, else chunks for
  // HTTP/1.1 and the end of the connection for HTTP/1.0. A HEAD or 304 response keeps
  // the length it announces; a 204 has none.
  body_framing framing = body_framing::none;
  const std::uint64_t length = rp.content_length().value_or(0);
  if (!body_expected) {
    if (rp.content_length() && status != 204) framing = body_framing::length;
  } else if (rp.content_length()) {
    framing = body_framing::length;
  } else if (record_.client_version == 11) {
    framing = body_framing::chunked;
  } else {
    framing = body_framing::until_close;
    keep_alive = false;
  }
  // The rate-limit headers replace any the upstream sent.
  auto& out = head_text_;
  write_client_response_head(out, rp,
                             {.version = record_.client_version == 10 ? 10u : 11u,
                              .body = {framing, length},
                              .rate_headers = &rate_headers_,
                              .keep_alive = keep_alive});
  record_.status = status;
  record_.answered = true;

  // Fast path: a Content-Length body already read with the head (a small response)
  // is parsed in place and goes out with the head in one write, one TCP segment.
  auto& body = rp.body();
  std::size_t inline_body = 0;
  if (!rp.is_done() && body_expected && framing == body_framing::length &&
      length <= up->buffer.size() && length <= relay_buffer_size) {
    body.data = relay_buffer();
    body.size = relay_buffer_size;
    error_code ec;
    up->buffer.consume(feed_parser(rp, up->buffer.data(), ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec || !rp.is_done()) co_return false;
    inline_body = static_cast<std::size_t>(length);
    if (feed_costs_) costs_.feed(std::string_view(relay_buffer(), inline_body));
  }
  if (rp.is_done()) upstream_response_complete(rp);
  const std::array<asio::const_buffer, 2> head_and_body{asio::buffer(out.data(), out.size()),
                                                        asio::buffer(relay_buffer(), inline_body)};
  error_code hec;
  std::size_t hn = stream_.write_now(head_and_body, hec);
  if (!hec && hn < asio::buffer_size(head_and_body)) {
    std::tie(hec, hn) = co_await write_rest(stream_, head_and_body, hn, cfg.server.idle_timeout);
  }
  record_.bytes_sent += hn;
  if (hec) co_return false;

  // Otherwise the body streams piece by piece (the head already went out: a slow or
  // endless body must not hold it back). A failure now can only close the connection.
  while (!rp.is_done()) {
    body.data = relay_buffer();
    body.size = relay_buffer_size;
    await_upstream(*up, steady::now() + cfg.upstream.timeout);
    const error_code rec = co_await read_body_piece(up->stream, up->buffer, rp);
    if (upstream_wait_overdue() || rec) co_return false;
    if (feed_costs_) {
      costs_.feed(std::string_view(relay_buffer(), relay_buffer_size - body.size));
    }
    if (rp.is_done()) upstream_response_complete(rp);
    const error_code wec = co_await write_body_piece(
        stream_, relay_buffer(), relay_buffer_size - body.size, framing == body_framing::chunked,
        rp.is_done(), cfg.server.idle_timeout, record_.bytes_sent);
    if (wec) co_return false;
  }
  // Reused only after a complete, cleanly delimited exchange (release also refuses a
  // connection with bytes read beyond the response).
  if (upstream_keep_alive && parser_->is_done()) worker_.pool.release(std::move(up));
  co_return keep_alive;
}

// The upstream's response is whole: its costs are final and the exchange ends now,
// before the client has the last of it. A client that has its response never finds the
// request's slot still held, on this worker or another (where a next request of its
// would be refused).
void session::upstream_response_complete(const response_parser& rp) {
  if (costs_.any()) costs_.on_end(fields_of(rp));
  finish_exchange();
}

awaitable<bool> session::tunnel(std::unique_ptr<upstream_connection> up, response_parser& rp) {
  const auto& cfg = snapshot_->config.server;
  if (costs_.any()) costs_.on_end(fields_of(rp));  // a 101 has no body to wait for
  write_client_response_head(head_text_, rp,
                             {.version = 11,
                              .body = {},
                              .rate_headers = &rate_headers_,
                              .keep_alive = false,
                              .upgrade = true});
  record_.status = 101;
  record_.answered = true;
  auto [ec, n] = co_await write_all(stream_, asio::buffer(head_text_.data(), head_text_.size()),
                                    cfg.server.idle_timeout);
  record_.bytes_sent += n;
  if (ec) co_return false;

  // Counted open until the tunnel ends, or its frame is destroyed with the worker (a
  // drain cut at drain_timeout).
  struct open_tunnel {
    explicit open_tunnel(admin::metrics& m) : metrics(m) {
      metrics.tunnels_opened().Increment();
      metrics.open_tunnels().Increment();
    }
    ~open_tunnel() { metrics.open_tunnels().Decrement(); }
    admin::metrics& metrics;
  } counted(services_.metrics);
  // Bytes either side sent behind its head are already read: they go through first.
  const tunnel_result moved =
      co_await run_tunnel(stream_, buffer_.data(), up->stream, up->buffer.data(),
                          cfg.server.idle_timeout, cfg.server.websocket_messages);
  record_.bytes_sent += moved.to_client;
  services_.metrics.websocket_messages_delayed().Increment(
      static_cast<double>(moved.delayed_messages));
  co_return false;
}

std::string session::client_label() const {
  // Who the dashboard shows as limited; API keys never appear in clear.
  if (!ev_.api_key.empty()) return "key:" + mask_secret_distinct(ev_.api_key);
  if (!ev_.user.empty()) return "user:" + std::string(ev_.user);
  return "ip:" + ev_.client_ip;
}

bool session::is_head_request() const {
  return parser_ && parser_->is_header_done() && parser_->get().method() == http::verb::head;
}

char* session::relay_buffer() {
  if (!relay_buffer_) relay_buffer_.reset(new char[relay_buffer_size]);
  return relay_buffer_.get();
}

bool session::request_has_body() const {
  if (parser_->chunked()) return true;
  auto length = parser_->content_length();
  return length && *length > 0;
}

// ---- counting ------------------------------------------------------------------------------
// Every metric and stat of a request is counted here, each when its fact is final and
// before the client can see the answer it leads to (a client that got its 429 finds it
// in /metrics).

void session::count_decision() {
  if (record_.check_seconds >= 0) {
    services_.metrics.check_duration(services_.backend.is_redis()).Observe(record_.check_seconds);
  }
  if (!record_.decided) return;
  const auto& rm = snapshot_->metrics;
  const auto mclass = admin::classify_method(as_std(parser_->get().method_string()));
  const std::int64_t now_s = ev_.now / 1'000'000;  // the clock the decision used
  rm.request(ev_.route, mclass);
  switch (ev_.result) {
    case limit::outcome::forbidden:
      rm.blocked(ev_.route, mclass, -1);
      services_.stats.record(admin::stats::result::forbidden, now_s);
      return;
    case limit::outcome::bypassed:
      rm.allowed(ev_.route, mclass);
      services_.stats.record(admin::stats::result::allowed, now_s);
      return;
    case limit::outcome::bad_request:
    case limit::outcome::unauthorized:
      return;
    case limit::outcome::allowed:
    case limit::outcome::limited:
      break;
  }
  if (record_.storage_unavailable) return;
  rm.tier_request(ev_.tier);
  for (const auto& a : ev_.applied) {
    if (a.degraded) rm.degraded(a.limit);  // past `soft:`, shadow limits included
    if (a.shadow) {
      if (!a.result.allowed) rm.shadow_blocked(a.limit);
      continue;
    }
    rm.applied(a.limit);
    if (a.result.delay > 0) rm.delayed(a.limit);
  }
  if (ev_.result == limit::outcome::limited) {
    const int denying = ev_.applied[ev_.denying].limit;
    rm.blocked(ev_.route, mclass, denying);
    rm.blocked_by(denying);
    rm.tier_blocked(ev_.tier);
    services_.stats.record(admin::stats::result::limited, now_s);
    services_.stats.record_denial(ev_.limit_of(ev_.applied[ev_.denying]).name, client_label());
    return;
  }
  rm.allowed(ev_.route, mclass);
  services_.stats.record(admin::stats::result::allowed, now_s);
}

void session::count_upstream_response(int status, double seconds) {
  snapshot_->metrics.upstream_duration(ev_.route, seconds);
  snapshot_->metrics.upstream_response(ev_.route, status);
}

void session::count_upstream_fault(admin::upstream_error_kind kind) {
  services_.metrics.upstream_error(kind).Increment();
}

// ---- step 6: record -------------------------------------------------------------------------

void session::record() {
  if (record_.recorded) return;
  record_.recorded = true;
  write_access_log();
}

void session::write_access_log() {
  if (!services_.log.enabled() || !parser_ || !parser_->is_header_done()) return;
  const auto& req = parser_->get();
  const auto target = as_std(req.target());
  access_record r;
  r.time_us = now_us();
  r.client_ip = ev_.client_ip.empty() ? std::string_view(peer_text_) : ev_.client_ip;
  r.method = as_std(req.method_string());
  r.path = target.substr(0, target.find('?'));
  r.route = ev_.route >= 0 ? std::string_view(ev_.route_info().name) : std::string_view{};
  r.status = record_.status;
  r.decision = record_.decision;
  const int shown = ev_.denying >= 0 ? ev_.denying : ev_.reported;
  if (shown >= 0) r.limit = ev_.limit_of(ev_.applied[shown]).name;
  r.api_key = ev_.api_key;
  r.tier = ev_.tier_name();
  r.upstream_ms = record_.upstream_ms;
  r.delay_ms = static_cast<double>(ev_.delay) / 1000.0;
  std::string degraded;  // soft limits: the limits named to the upstream
  limit::append_degraded_names(ev_, degraded);
  r.degraded = degraded;
  r.bytes_sent = record_.bytes_sent;
  services_.log.write(r);
}

}  // namespace sluice::net
