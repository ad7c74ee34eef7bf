#include "http/session.hpp"

#include <algorithm>
#include <array>

#include "config/defaults.hpp"
#include "http/forwarding.hpp"
#include "identity/client_ip.hpp"
#include "util/mask.hpp"

namespace sluice::net {
namespace {

using steady = std::chrono::steady_clock;

constexpr std::size_t relay_buffer_size = 64 * 1024;
constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

ip_address to_ip(const asio::ip::address& a) {
  if (a.is_v4()) return ip_address::from_v4(a.to_v4().to_uint());
  return ip_address::from_v6(a.to_v6().to_bytes());
}

std::string_view as_std(beast::string_view s) {
  return {s.data(), s.size()};
}

// Request headers for the policy engine, looked up in the parsed Beast head.
class beast_headers final : public limit::request_headers {
 public:
  explicit beast_headers(const http::fields& f) : fields_(f) {}
  std::optional<std::string_view> find(std::string_view lower_name) const override {
    auto it = fields_.find(beast::string_view(lower_name.data(), lower_name.size()));
    if (it == fields_.end()) return std::nullopt;
    return as_std(it->value());
  }

 private:
  const http::fields& fields_;
};

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
  }
  return "error";
}

// Beast's HTTP parse errors, as opposed to socket errors.
bool is_parse_error(const error_code& ec) {
  return ec.category() == error_code(http::error::bad_target).category();
}

struct relay_result {
  error_code ec;
  bool read_side = false;  // the failure was reading the source (else writing the sink)
};

// Streams a message body from `in` (parsed by `p`) to `out` (serialized by `sr`)
// through `buf`, with back-pressure: nothing more is read until the last piece is
// written. Each read and write has its own inactivity deadline.
template <bool is_request>
awaitable<relay_result> relay_body(beast::tcp_stream& in, beast::flat_buffer& in_buffer,
                                   http::parser<is_request, http::buffer_body>& p,
                                   beast::tcp_stream& out,
                                   http::serializer<is_request, http::buffer_body>& sr, char* buf,
                                   std::chrono::milliseconds read_timeout,
                                   std::chrono::milliseconds write_timeout,
                                   std::uint64_t& written) {
  do {
    auto& body = p.get().body();
    if (!p.is_done()) {
      body.data = buf;
      body.size = relay_buffer_size;
      in.expires_after(read_timeout);
      auto [ec, n] = co_await http::async_read(in, in_buffer, p, nothrow);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return relay_result{ec, true};
      body.size = relay_buffer_size - body.size;
      body.data = buf;
      body.more = !p.is_done();
    } else {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
    }
    out.expires_after(write_timeout);
    auto [ec, n] = co_await http::async_write(out, sr, nothrow);
    written += n;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return relay_result{ec, false};
  } while (!p.is_done() && !sr.is_done());
  co_return relay_result{};
}

// Message heads written by hand into one contiguous buffer. Beast's serializer hands
// the socket a buffers_cat over every field, and walking, sizing and copying that
// sequence to iovecs costs ~1,500 instructions per field (callgrind); one buffer costs
// a memcpy. The start line and fields are exactly what Beast would write.
void append_text(std::string& out, beast::string_view s) {
  out.append(s.data(), s.size());
}

void append_field(std::string& out, beast::string_view name, beast::string_view value) {
  // One resize and two copies: four appends (a capacity check and a terminator each)
  // cost twice as many instructions, and a 429 carries a dozen fields.
  const std::size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = std::copy(name.begin(), name.end(), out.data() + at);
  *p++ = ':';
  *p++ = ' ';
  p = std::copy(value.begin(), value.end(), p);
  *p++ = '\r';
  *p = '\n';
}

template <class Fields>
void append_fields(std::string& out, const Fields& fields) {
  for (const auto& f : fields) append_field(out, f.name_string(), f.value());
}

void start_head(std::string& out, const http::request_header<>& req) {
  out.clear();
  append_text(out, req.method_string());
  out += ' ';
  append_text(out, req.target());
  out.append(req.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n", 11);
  append_fields(out, req);
}

void start_status(std::string& out, const http::response_header<>& res) {
  out.clear();
  out.append(res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
  out += std::to_string(res.result_int());
  out += ' ';
  auto reason = res.reason();
  if (reason.empty()) reason = http::obsolete_reason(res.result());
  append_text(out, reason);
  out.append("\r\n", 2);
}

bool is_one_of(beast::string_view name, const limit::header_list& list) {
  for (const auto& h : list) {
    if (beast::iequals(name, beast::string_view(h.name.data(), h.name.size()))) return true;
  }
  return false;
}

// Writes all of `buffers`: first at once, without waiting (a head and a small body
// nearly always fit in the socket's send buffer, and an immediate write skips arming
// the stream's timer, starting an operation and resuming this coroutine through the
// scheduler), then what the send buffer could not take, asynchronously within
// `timeout`. The socket is in non-blocking mode (set when it is opened).
template <class ConstBuffers>
awaitable<std::pair<error_code, std::size_t>> write_all(beast::tcp_stream& stream,
                                                        const ConstBuffers& buffers,
                                                        std::chrono::milliseconds timeout) {
  error_code ec;
  const std::size_t n = stream.socket().write_some(buffers, ec);
  if (ec == asio::error::would_block) ec = {};
  if (ec || n == asio::buffer_size(buffers)) {
    // Let the other ready connections run first: the peer needs that long to answer,
    // and reading at once would mostly cost a failed recv (EAGAIN) and an epoll wait.
    co_await asio::post(asio::use_awaitable);
    co_return std::pair{ec, n};
  }
  beast::buffers_suffix<ConstBuffers> rest(buffers);
  rest.consume(n);
  stream.expires_after(timeout);
  auto [rest_ec, rest_n] = co_await asio::async_write(stream, rest, nothrow);
  co_return std::pair{rest_ec, n + rest_n};
}

}  // namespace

// ---- worker ---------------------------------------------------------------------------

void worker::close_idle_sessions(steady::time_point now) {
  // Copy first: closing makes sessions finish and unregister themselves.
  std::vector<session*> open(sessions.begin(), sessions.end());
  for (session* s : open) s->close_if_idle(now);
}

// ---- session lifecycle ------------------------------------------------------------------

session::session(tcp::socket socket, worker& w, app::services& s)
    : stream_(std::move(socket)), worker_(w), services_(s), accepted_(steady::now()) {
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

// A named coroutine with a by-value argument keeps the session alive for its whole
// run (g++ 12 mis-compiles capturing lambda coroutines in some positions).
static awaitable<void> run_session(std::shared_ptr<session> s) {
  co_await s->run();
}

// One timer per worker ends idle keep-alive connections, rather than a timer armed
// and cancelled around every wait for a next request: it wakes every idle_timeout / 8
// (10 ms .. 1 s), so a connection goes at most that late. Runs while there are sessions.
static awaitable<void> sweep_idle_sessions(worker* w, app::services* s) {
  using namespace std::chrono_literals;
  while (!w->sessions.empty()) {
    const auto idle_timeout = s->snapshots.get()->config.server.server.idle_timeout;
    w->idle_sweep.expires_after(std::clamp<std::chrono::milliseconds>(idle_timeout / 8, 10ms, 1s));
    co_await w->idle_sweep.async_wait(nothrow);
    w->close_idle_sessions(steady::now());
  }
  w->sweeping = false;
}

void start_session(tcp::socket socket, worker& w, app::services& s) {
  asio::co_spawn(w.io, run_session(std::make_shared<session>(std::move(socket), w, s)),
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
  for (;;) {
    snapshot_ = services_.snapshots.get();
    record_ = request_record{};
    ev_.reset();
    rate_headers_.clear();  // a later request's own errors must not repeat them
    head_status head = co_await read_head();
    if (head == head_status::closed) break;
    bool keep_alive = false;
    if (head == head_status::ok) {
      identify();
      keep_alive = co_await decide();
    }
    record();
    if (!keep_alive || services_.draining.load(std::memory_order_relaxed)) break;
  }
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// ---- step 1: read the request head -------------------------------------------------------

awaitable<session::head_status> session::read_head() {
  // Between keep-alive requests wait up to idle_timeout for a first byte; from
  // then on (or from accept) the whole head must arrive within header_timeout.
  auto head_started = first_request_ ? accepted_ : steady::now();
  if (!first_request_ && buffer_.size() == 0) {
    idle_ = true;
    idle_until_ = steady::now() + snapshot_->config.server.server.idle_timeout;
    stream_.expires_never();  // the worker's idle sweep ends this wait
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(4096), nothrow);
    idle_ = false;
    if (ec) co_return head_status::closed;
    buffer_.commit(n);
    head_started = steady::now();
    // A reload while this connection was idle applies to the request now arriving.
    snapshot_ = services_.snapshots.get();
  }
  first_request_ = false;
  const auto& server = snapshot_->config.server.server;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(server.max_header_bytes));
  parser_->body_limit(server.max_body_bytes);
  record_.started = steady::now();
  // A head that came whole with the bytes already read (the usual case) is parsed in
  // place: async_read_header would cost an operation and a resumption through the
  // scheduler for the same parse.
  error_code ec;
  if (buffer_.size() != 0) {
    buffer_.consume(parser_->put(buffer_.data(), ec));
    if (ec == http::error::need_more) ec = {};
  }
  if (!ec && !parser_->is_header_done()) {
    stream_.expires_at(head_started + server.header_timeout);
    std::size_t n = 0;
    std::tie(ec, n) = co_await http::async_read_header(stream_, buffer_, *parser_, nothrow);
  }
  if (ec == http::error::header_limit) {
    co_await reject(gateway_error::headers_too_large,
                    "Request head exceeds server.max_header_bytes", 0);
    co_return head_status::rejected;
  }
  // Beast checks Content-Length against body_limit while parsing the head.
  if (ec == http::error::body_limit) {
    co_await reject(gateway_error::payload_too_large, "Request body exceeds server.max_body_bytes",
                    0);
    co_return head_status::rejected;
  }
  if (ec && is_parse_error(ec) && ec != http::error::end_of_stream &&
      ec != http::error::partial_message) {
    co_await reject(gateway_error::bad_request, "Malformed request: " + ec.message(), 0);
    co_return head_status::rejected;
  }
  if (ec) co_return head_status::closed;  // client left, reset, or slow head cut off

  auto& req = parser_->get();
  record_.client_keep_alive = req.keep_alive();
  record_.awaiting_continue = beast::iequals(req[http::field::expect], "100-continue");
  // Transfer-Encoding that does not end in chunked has no defined length in a
  // request: reject it rather than guess where the next request starts.
  if (req.find(http::field::transfer_encoding) != req.end() && !parser_->chunked()) {
    co_await reject(gateway_error::bad_request, "Unsupported Transfer-Encoding", 0);
    co_return head_status::rejected;
  }
  if (auto length = parser_->content_length(); length && *length > server.max_body_bytes) {
    co_await reject(gateway_error::payload_too_large, "Request body exceeds server.max_body_bytes",
                    0);
    co_return head_status::rejected;
  }
  // Absolute-form targets (sent to proxies) are reduced to their origin form.
  auto target = as_std(req.target());
  if (target.starts_with("http://") || target.starts_with("https://")) {
    auto path_start = target.find('/', target.find("//") + 2);
    req.target(path_start == std::string_view::npos ? std::string_view("/")
                                                    : target.substr(path_start));
  }
  co_return head_status::ok;
}

// ---- step 2: identify the client ----------------------------------------------------------

void session::identify() {
  const auto& id = snapshot_->config.server.identity;
  peer_trusted_ = false;
  for (const auto& block : snapshot_->trusted_proxies) {
    if (block.contains(peer_)) {
      peer_trusted_ = true;
      break;
    }
  }
  client_ip_ = peer_;
  if (!peer_trusted_) return;
  const auto& req = parser_->get();
  std::array<std::string_view, 16> lines;
  std::size_t count = 0;
  auto range = req.equal_range(client_ip_header_name(id.client_ip_header));
  for (auto it = range.first; it != range.second && count < lines.size(); ++it) {
    lines[count++] = as_std(it->value());
  }
  client_ip_ = identity::resolve_client_ip(peer_, std::span(lines.data(), count),
                                           id.client_ip_header, snapshot_->trusted_proxies);
}

// ---- step 3: decide -----------------------------------------------------------------------

awaitable<bool> session::decide() {
  auto& req = parser_->get();
  beast_headers headers(req.base());
  const std::string_view method = as_std(req.method_string());
  limit::request_facts facts{method, as_std(req.target()), client_ip_, peer_trusted_, &headers};
  const auto check_started = steady::now();
  limit::prepare(snapshot_->policy, facts, &services_.overrides, now_us(), ev_);

  const auto& rm = snapshot_->metrics;
  const auto mclass = admin::classify_method(method);
  switch (ev_.result) {
    case limit::outcome::bad_request:
      co_return co_await reject(gateway_error::bad_request, ev_.problem, 0);
    case limit::outcome::forbidden:
      rm.request(ev_.route, mclass);
      rm.blocked(ev_.route, mclass, -1);
      services_.stats.record(admin::stats::result::forbidden, now_us() / 1'000'000);
      record_.decision = "forbidden";
      co_return co_await reject(gateway_error::forbidden, "Access denied", 0);
    case limit::outcome::bypassed:
      rm.request(ev_.route, mclass);
      rm.allowed(ev_.route, mclass);
      services_.stats.record(admin::stats::result::allowed, now_us() / 1'000'000);
      co_return co_await forward();
    case limit::outcome::allowed:
    case limit::outcome::limited:
      break;
  }

  app::store_verdict verdict = app::store_verdict::admitted;
  if (!ev_.checks.empty()) {
    auto& backend = services_.backend;
    if (!backend.decide_now(ev_, verdict)) verdict = co_await backend.decide_async(ev_);
    services_.metrics.check_duration(backend.is_redis())
        .Observe(std::chrono::duration<double>(steady::now() - check_started).count());
  }
  if (verdict == app::store_verdict::unavailable) {
    rm.request(ev_.route, mclass);
    co_return co_await reject(gateway_error::storage_unavailable, "Rate-limit storage unavailable",
                              1);
  }
  limit::conclude(ev_, verdict == app::store_verdict::admitted);

  rm.request(ev_.route, mclass);
  rm.tier_request(ev_.tier);
  for (const auto& a : ev_.applied) {
    if (a.shadow) {
      if (!a.result.allowed) rm.shadow_blocked(a.limit);
      continue;
    }
    rm.applied(a.limit);
    if (a.result.delay > 0) rm.delayed(a.limit);
  }
  rate_headers_.clear();
  limit::append_rate_limit_headers(ev_, snapshot_->policy.headers(), rate_headers_);

  if (ev_.result == limit::outcome::limited) {
    const int denying = ev_.applied[ev_.denying].limit;
    rm.blocked(ev_.route, mclass, denying);
    rm.blocked_by(denying);
    rm.tier_blocked(ev_.tier);
    services_.stats.record(admin::stats::result::limited, ev_.now / 1'000'000);
    services_.stats.record_denial(ev_.limit_of(ev_.applied[ev_.denying]).name, client_label());
    co_return co_await reject_limited();
  }
  rm.allowed(ev_.route, mclass);
  services_.stats.record(admin::stats::result::allowed, ev_.now / 1'000'000);
  co_return co_await forward();
}

// ---- step 4a: reject ----------------------------------------------------------------------

awaitable<bool> session::send_response(http::response<http::string_body>& res) {
  bool keep_alive = res.keep_alive();
  res.prepare_payload();
  // A response to HEAD announces its body's length but carries none; sending
  // it would be read as the start of the next response.
  if (parser_ && parser_->is_header_done() && parser_->get().method() == http::verb::head) {
    res.body().clear();
  }
  stream_.expires_after(snapshot_->config.server.server.idle_timeout);
  auto [ec, n] = co_await http::async_write(stream_, res, nothrow);
  record_.bytes_sent += n;
  record_.status = res.result_int();
  co_return keep_alive && !ec;
}

awaitable<bool> session::discard_request_body() {
  // Small bodies are read and dropped so the connection can be kept; larger ones
  // would cost more than a new connection.
  if (parser_->is_done()) co_return true;
  // A client waiting for 100 Continue sends no body: waiting for it would stall
  // the answer until the client gives up, so close after the answer instead.
  if (record_.awaiting_continue) co_return false;
  constexpr std::uint64_t discard_limit = 64 * 1024;
  auto length = parser_->content_length_remaining();
  if (!parser_->chunked() && (!length || *length > discard_limit)) co_return false;
  if (!relay_buffer_) relay_buffer_.reset(new char[relay_buffer_size]);
  std::uint64_t discarded = 0;
  while (!parser_->is_done() && discarded <= discard_limit) {
    auto& body = parser_->get().body();
    body.data = relay_buffer_.get();
    body.size = relay_buffer_size;
    stream_.expires_after(snapshot_->config.server.server.idle_timeout);
    auto [ec, n] = co_await http::async_read(stream_, buffer_, *parser_, nothrow);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return false;
    discarded += relay_buffer_size - body.size;
  }
  co_return parser_->is_done();
}

awaitable<bool> session::reject(gateway_error error, std::string_view message,
                                std::int64_t retry_after_s) {
  const int status = status_of(error);
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = error_body(error, message);
  // After an allowed decision (a 502/503/504 from the upstream step) the client
  // still learns where it stands (SPEC 5: headers on every limited-route response).
  for (const auto& f : rate_headers_)
    res.set(beast::string_view(f.name.data(), f.name.size()), f.value);
  if (retry_after_s > 0) res.set(http::field::retry_after, std::to_string(retry_after_s));
  const bool framing_error = error == gateway_error::bad_request ||
                             error == gateway_error::headers_too_large ||
                             error == gateway_error::payload_too_large;
  bool keep_alive = !framing_error && record_.client_keep_alive &&
                    !services_.draining.load(std::memory_order_relaxed);
  if (keep_alive) keep_alive = co_await discard_request_body();
  res.keep_alive(keep_alive);
  services_.metrics.count_http_error(status);
  co_return co_await send_response(res);
}

awaitable<bool> session::reject_limited() {
  bool keep_alive =
      record_.client_keep_alive && !services_.draining.load(std::memory_order_relaxed);
  if (keep_alive) keep_alive = co_await discard_request_body();
  record_.decision = "limited";
  // The same bytes Beast would write for this response, serialized by hand: through
  // http::response + async_write this 12-field response cost ~30,000 instructions.
  const std::string body = limit::rejection_body(ev_);
  auto& out = head_text_;
  out.clear();
  out.append("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n");
  for (const auto& f : rate_headers_) append_field(out, f.name, f.value);
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("Content-Length: ");
  out += std::to_string(body.size());
  out.append("\r\n\r\n");
  // A response to HEAD announces its body's length but carries none.
  if (parser_->get().method() != http::verb::head) out += body;
  auto [ec, n] =
      co_await write_all(stream_, asio::buffer(out), snapshot_->config.server.server.idle_timeout);
  record_.bytes_sent += n;
  record_.status = 429;
  co_return keep_alive && !ec;
}

// ---- step 4b: forward ---------------------------------------------------------------------

awaitable<bool> session::forward() {
  auto& req = parser_->get();
  const auto& cfg = snapshot_->config.server;
  record_.decision = decision_name(ev_.result);  // until a failure says otherwise

  std::int64_t retry_us = 0;
  if (!services_.breaker.allow(now_us(), retry_us)) {
    services_.metrics.upstream_error(admin::upstream_error_kind::circuit_open).Increment();
    co_return co_await reject(gateway_error::upstream_unavailable,
                              "Upstream unavailable (circuit breaker open)",
                              limit::ceil_seconds_min1(retry_us));
  }
  if (ev_.delay > 0) {
    // leaky_bucket shaping: the request was admitted for this later moment.
    if (!delay_timer_) delay_timer_.emplace(worker_.io);
    delay_timer_->expires_after(std::chrono::microseconds(ev_.delay));
    co_await delay_timer_->async_wait(nothrow);
  }

  const bool head_request = req.method() == http::verb::head;
  const bool has_body = request_has_body();
  const bool expects_continue = beast::iequals(req[http::field::expect], "100-continue");
  const unsigned client_version = req.version();
  const bool chunked_request = parser_->chunked();
  prepare_upstream_request(req.base(), {peer_text_, peer_trusted_, snapshot_->upstream_host});
  if (chunked_request) req.chunked(true);
  if (!has_body) {
    req.body().data = nullptr;
    req.body().size = 0;
    req.body().more = false;
  }
  if (has_body && !relay_buffer_) relay_buffer_.reset(new char[relay_buffer_size]);

  std::unique_ptr<upstream_connection> up;
  std::optional<response_parser> rp;
  upstream_failure failure = upstream_failure::none;
  const auto sent_at = steady::now();
  for (int attempt = 0; attempt < 2; ++attempt) {
    failure = upstream_failure::none;
    auto [connect_ec, conn] = co_await worker_.pool.acquire(snapshot_->upstream, attempt == 0,
                                                            /*may_resend=*/!has_body);
    if (connect_ec) {
      failure = upstream_failure::connect;
      break;
    }
    up = std::move(conn);
    // A reused connection the upstream closed meanwhile fails before any response
    // byte; such a request (without body) is sent once more on a new connection.
    const bool may_retry = up->reused && !has_body && attempt == 0;

    if (!has_body) {
      start_head(head_text_, req.base());
      head_text_.append("\r\n", 2);
      auto [ec, n] = co_await write_all(up->stream, asio::buffer(head_text_), cfg.upstream.timeout);
      if (ec) {
        failure = ec == beast::error::timeout ? upstream_failure::timeout : upstream_failure::reset;
        if (may_retry) continue;
        break;
      }
    } else {
      http::request_serializer<http::buffer_body> sr{req};
      up->stream.expires_after(cfg.upstream.timeout);
      auto [ec, n] = co_await http::async_write_header(up->stream, sr, nothrow);
      if (ec) {
        failure = upstream_failure::reset;
        break;
      }
      if (expects_continue) {
        stream_.expires_after(cfg.server.idle_timeout);
        auto [cec, cn] = co_await asio::async_write(stream_, asio::buffer(continue_line), nothrow);
        if (cec) co_return false;
        record_.awaiting_continue = false;
      }
      std::uint64_t uploaded = 0;
      auto r = co_await relay_body(stream_, buffer_, *parser_, up->stream, sr, relay_buffer_.get(),
                                   cfg.server.idle_timeout, cfg.upstream.timeout, uploaded);
      if (r.ec) {
        if (!r.read_side) {
          failure = upstream_failure::reset;
          break;
        }
        if (r.ec == http::error::body_limit) {
          co_return co_await reject(gateway_error::payload_too_large,
                                    "Request body exceeds server.max_body_bytes", 0);
        }
        if (is_parse_error(r.ec) && r.ec != http::error::partial_message) {
          co_return co_await reject(gateway_error::bad_request, "Malformed request body", 0);
        }
        co_return false;  // the client went away or stalled mid-body
      }
    }

    // The response head, skipping interim 1xx responses (Sluice answered
    // 100-continue itself; 103 Early Hints are not relayed).
    error_code ec;
    for (;;) {
      rp.emplace();
      rp->header_limit(static_cast<std::uint32_t>(config::defaults::upstream_max_header_bytes));
      rp->body_limit(boost::none);
      if (head_request) rp->skip(true);
      up->stream.expires_after(cfg.upstream.timeout);
      std::size_t n = 0;
      std::tie(ec, n) = co_await http::async_read_header(up->stream, up->buffer, *rp, nothrow);
      if (ec) break;
      const int status = rp->get().result_int();
      if (status < 100 || status >= 200 || status == 101) break;
    }
    if (ec) {
      if (ec == beast::error::timeout) {
        failure = upstream_failure::timeout;
      } else if (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                 ec == asio::error::eof) {
        failure = upstream_failure::reset;
        if (may_retry) continue;
      } else {
        failure = is_parse_error(ec) ? upstream_failure::invalid : upstream_failure::reset;
      }
    }
    break;
  }

  if (failure != upstream_failure::none) {
    admin::upstream_error_kind kind = admin::upstream_error_kind::connect;
    std::string_view message = "Upstream connection failed";
    gateway_error error = gateway_error::bad_gateway;
    switch (failure) {
      case upstream_failure::timeout:
        kind = admin::upstream_error_kind::timeout;
        message = "Upstream did not respond within upstream.timeout";
        error = gateway_error::gateway_timeout;
        break;
      case upstream_failure::reset:
        kind = admin::upstream_error_kind::reset;
        message = "Upstream closed the connection";
        break;
      case upstream_failure::invalid:
        kind = admin::upstream_error_kind::invalid;
        message = "Upstream sent an invalid response";
        break;
      default:
        break;
    }
    services_.metrics.upstream_error(kind).Increment();
    services_.breaker.record_failure(now_us());
    co_return co_await reject(error, message, 0);
  }

  // ---- step 5: the response head and body back to the client ----
  auto& res = rp->get();
  const int status = res.result_int();
  const double upstream_seconds = std::chrono::duration<double>(steady::now() - sent_at).count();
  record_.upstream_ms = upstream_seconds * 1000;
  snapshot_->metrics.upstream_duration(ev_.route, upstream_seconds);
  snapshot_->metrics.upstream_response(ev_.route, status);
  if (status >= 500) {
    services_.breaker.record_failure(now_us());
  } else {
    services_.breaker.record_success();
  }

  const bool upstream_keep_alive = res.keep_alive();
  const bool body_expected = !head_request && status != 204 && status != 304;
  const bool delimited = rp->chunked() || rp->content_length().has_value();
  prepare_client_response(res.base());
  bool keep_alive = record_.client_keep_alive && parser_->is_done() &&
                    !services_.draining.load(std::memory_order_relaxed);
  res.version(client_version == 10 ? 10 : 11);
  if (body_expected && (rp->chunked() || !delimited)) {
    // Re-frame for this hop: chunked for HTTP/1.1, end-of-connection for 1.0.
    if (client_version == 11) {
      res.chunked(true);
    } else {
      keep_alive = false;
    }
  }
  res.keep_alive(keep_alive);
  record_.status = status;
  if (!relay_buffer_) relay_buffer_.reset(new char[relay_buffer_size]);

  // Fast path: a Content-Length body already read with the head (a small response)
  // is parsed in place and goes out with the head in one write, one TCP segment.
  const auto length = rp->content_length();
  if (!rp->is_done() && body_expected && !rp->chunked() && length && *length <= up->buffer.size() &&
      *length <= relay_buffer_size) {
    auto& body = res.body();
    body.data = relay_buffer_.get();
    body.size = relay_buffer_size;
    error_code pec;
    up->buffer.consume(rp->put(up->buffer.data(), pec));
    if (pec == http::error::need_buffer) pec = {};
    if (pec || !rp->is_done()) co_return false;
  }
  if (rp->is_done()) {
    const std::size_t body_size = body_expected && length ? static_cast<std::size_t>(*length) : 0;
    // The rate-limit headers are appended as text (replacing any the upstream sent),
    // not set into Beast's fields: one allocation and one ordered lookup each.
    auto& out = head_text_;
    start_status(out, res.base());
    for (const auto& f : res) {
      if (!is_one_of(f.name_string(), rate_headers_)) append_field(out, f.name_string(), f.value());
    }
    for (const auto& h : rate_headers_) append_field(out, h.name, h.value);
    out.append("\r\n", 2);
    const std::array<asio::const_buffer, 2> pieces{asio::buffer(out),
                                                   asio::buffer(relay_buffer_.get(), body_size)};
    auto [wec, wn] = co_await write_all(stream_, pieces, cfg.server.idle_timeout);
    record_.bytes_sent += wn;
    if (wec) co_return false;
    if (upstream_keep_alive && parser_->is_done()) worker_.pool.release(std::move(up));
    co_return keep_alive;
  }

  // Otherwise Beast streams it: the head at once (a slow or endless body must not hold
  // it back), then the body piece by piece.
  for (const auto& f : rate_headers_) {
    res.set(beast::string_view(f.name.data(), f.name.size()), f.value);
  }
  http::response_serializer<http::buffer_body> rsr{res};
  stream_.expires_after(cfg.server.idle_timeout);
  auto [hec, hn] = co_await http::async_write_header(stream_, rsr, nothrow);
  record_.bytes_sent += hn;
  if (hec) co_return false;
  auto r = co_await relay_body(up->stream, up->buffer, *rp, stream_, rsr, relay_buffer_.get(),
                               cfg.upstream.timeout, cfg.server.idle_timeout, record_.bytes_sent);
  // A failure after the head went out can only be reported by closing.
  if (r.ec) co_return false;
  if (upstream_keep_alive && rp->is_done() && parser_->is_done()) {
    worker_.pool.release(std::move(up));
  }
  co_return keep_alive;
}

std::string session::client_label() const {
  // Who the dashboard shows as limited; API keys never appear in clear.
  if (!ev_.api_key.empty()) return "key:" + mask_secret_distinct(ev_.api_key);
  if (!ev_.user.empty()) return "user:" + std::string(ev_.user);
  return "ip:" + ev_.client_ip;
}

bool session::request_has_body() const {
  if (parser_->chunked()) return true;
  auto length = parser_->content_length();
  return length && *length > 0;
}

// ---- step 6: record -------------------------------------------------------------------------

void session::record() {
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
  r.bytes_sent = record_.bytes_sent;
  services_.log.write(r);
}

}  // namespace sluice::net
