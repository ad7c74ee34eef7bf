// One client connection, as a short sequence of named steps per request
// (STYLE 6, SPEC 4), after the TLS handshake on a TLS listener:
//   read_head -> identify -> decide -> respond: reject | forward (head, bodies) -> record
// Each step returns what the next needs; decide() only decides; the counting functions
// (together in session.cpp) count each fact when it is final; record() logs.
// Owned by its coroutine (started by the listener); runs on one I/O thread and is
// touched only from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "http/error_response.hpp"
#include "http/head_arena.hpp"
#include "http/peer_stream.hpp"
#include "http/response_head.hpp"
#include "http/upstream_pool.hpp"
#include "http/wire.hpp"
#include "limit/engine.hpp"
#include "limit/rate_limit_headers.hpp"
#include "limit/response_cost.hpp"
#include "net/asio.hpp"
#include "runtime/services.hpp"
#include "telemetry/metrics.hpp"

namespace sluice::net {

class session;

// One I/O thread: its io_context, its upstream pool and its open sessions. Used
// only from its own thread (drain requests are posted to it).
struct worker {
  explicit worker(std::size_t max_idle_upstream)
      : io(1), pool(io, max_idle_upstream), idle_sweep(io) {}
  // Declared first, destroyed last: sessions still suspended when the gateway stops
  // (cut by drain_timeout) are destroyed with `io`, and each erases itself here.
  std::unordered_set<session*> sessions;
  asio::io_context io;
  upstream_pool pool;
  // Ends keep-alive connections idle past server.idle_timeout (see start_session).
  asio::steady_timer idle_sweep;
  bool sweeping = false;
  // Closes sessions waiting for a next request since before their idle deadline
  // (by default: all of them, when draining); busy ones finish first.
  void close_idle_sessions(
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point::max());
  // Ends the upstream waits (response head, body piece) past their deadline.
  void cut_overdue_upstream_waits(std::chrono::steady_clock::time_point now);
};

// Which `listen` entry a connection came in on (its index in config.listen at start),
// and whether that entry speaks TLS.
struct listener_info {
  std::size_t index = 0;
  bool tls = false;
};

class session {
 public:
  session(tcp::socket socket, worker& w, app::services& s, listener_info listener = {});
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // Serves requests until the client leaves, an error closes the connection, or
  // the gateway drains.
  awaitable<void> run();

  // Called by worker::close_idle_sessions.
  void close_if_idle(std::chrono::steady_clock::time_point now);
  // Called by worker::cut_overdue_upstream_waits: closes the upstream connection this
  // session waits on once its deadline has passed.
  void cut_if_overdue(std::chrono::steady_clock::time_point now);

  // While waiting for a next request: when the idle sweep will close it. The
  // connection limit closes the earliest first (net::connection_limit).
  std::optional<std::chrono::steady_clock::time_point> idle_until() const {
    if (!idle_) return std::nullopt;
    return idle_until_;
  }

 private:
  // What reading a request head came to: a request to decide on, a connection to
  // close, a head still in pieces, or one Sluice refuses (head_refusal_ says how).
  enum class head_status { ok, closed, incomplete, refused };

  // What decide() concluded: how respond() answers the request.
  struct verdict {
    enum class action { forward, limited, refuse };
    action what = action::refuse;
    gateway_error error = gateway_error::bad_request;  // refuse: Sluice's own answer
    std::string_view message;
    std::int64_t retry_after_s = 0;
  };

  // Per-request facts gathered along the steps; record() counts and logs them, once.
  struct request_record {
    int status = 0;
    std::string_view decision = "error";
    std::uint64_t bytes_sent = 0;
    double upstream_ms = -1;
    bool decided = false;              // decide() reached a decision (counted per route)
    bool storage_unavailable = false;  // ... which the storage could not make
    double check_seconds = -1;         // how long the store's decision took, when it ran
    bool recorded = false;             // the access-log line is written
    bool client_keep_alive = false;
    bool awaiting_continue = false;  // Expect: 100-continue, and no 100 sent yet
    bool answered = false;           // response bytes went to the client
    unsigned client_version = 11;    // the request's HTTP version (10 or 11)
    bool upgrade = false;            // a WebSocket handshake, passed on with its Upgrade
  };

  // Before the first request on a TLS listener: the handshake, within header_timeout
  // of the accept (counted in gateway_tls_handshakes_total). False: close.
  awaitable<bool> handshake();

  // One request (run() calls them in this order): read_head -> identify -> decide ->
  // respond (reject | forward) -> record. The steps that never wait are plain
  // functions; a coroutine frame costs a request hundreds of instructions.
  void begin_request();
  // read_head: run() awaits the request's first bytes into start_idle_wait()'s buffer
  // and hands the result to end_idle_wait (false: the client left); parse_head parses
  // what was read, read_rest_of_head reads a head that came in pieces; both end in
  // check_head.
  asio::mutable_buffer start_idle_wait();
  bool end_idle_wait(const error_code& ec, std::size_t n);
  head_status parse_head();
  awaitable<head_status> read_rest_of_head();
  head_status check_head(const error_code& ec);
  head_status refuse_head(gateway_error error, std::string_view message);
  void identify();
  // The verdict, or nothing when the store answers later (Redis): ask_store() then.
  std::optional<verdict> decide();
  awaitable<verdict> ask_store();
  verdict conclude(app::store_verdict stored);
  // respond: forward(), or Sluice's own answer (a 429 or an error). start_answer
  // decides whether the connection stays open, writes the answer and sends what the
  // socket takes at once: all of it, nearly always. finish_answer does what must wait:
  // dropping a request body first, or sending the rest. reject() is both.
  struct answer_progress {
    bool keep_alive = false;
    bool written = false;  // head_text_ holds the answer (false: a body to drop first)
    std::size_t sent = 0;  // bytes of head_text_ the socket took
    bool done = false;     // all sent, or the write failed (then keep_alive is false)
  };
  awaitable<bool> reject(const verdict& v);
  answer_progress start_answer(const verdict& v);
  awaitable<bool> finish_answer(const verdict& v, answer_progress answer);
  void write_answer(const verdict& v, bool keep_alive);  // into head_text_
  void send_answer_at_once(answer_progress& answer);
  static verdict refusal(gateway_error error, std::string_view message, std::int64_t retry_after_s);

  // forward: write_upstream_head, then exchange (open_upstream -> send_head ->
  // relay_request_body -> read_response_head, retried once on a stale pooled
  // connection) -> relay_response, or tunnel() after a 101; a failure before the
  // response head is answered by reject().
  awaitable<bool> forward();
  bool write_upstream_head();  // into head_text_; false: a joined field too large
  awaitable<exchange_failure> exchange(std::unique_ptr<upstream_connection>& up,
                                       std::optional<response_parser>& rp);
  awaitable<exchange_failure> relay_request_body(upstream_connection& up);
  awaitable<exchange_failure> read_response_head(upstream_connection& up,
                                                 std::optional<response_parser>& rp);
  awaitable<bool> relay_response(std::unique_ptr<upstream_connection> up, response_parser& rp);
  // A 101 answering a passed-on handshake: the head to the client, then the connection
  // is a byte tunnel (http/tunnel.hpp) until it ends; never kept alive.
  awaitable<bool> tunnel(std::unique_ptr<upstream_connection> up, response_parser& rp);
  awaitable<bool> answer_failure(exchange_failure failure);

  awaitable<bool> discard_request_body();
  // The exchange of an admitted request ended: its concurrency slots go back and its
  // costs from the response are settled (decision_backend::finish). Once per exchange:
  // when the upstream's response is complete, else when forward() ends.
  void finish_exchange();
  void upstream_response_complete(const response_parser& rp);
  // Counting (metrics, stats), each when its fact is final, before the client sees
  // the answer it leads to.
  void count_decision();
  void count_upstream_response(int status, double seconds);
  void count_upstream_fault(admin::upstream_error_kind kind);
  // Writes the request's access-log line, once.
  void record();
  void write_access_log();

  bool request_has_body() const;
  bool is_head_request() const;
  std::string client_label() const;
  std::int64_t now_us() const;
  char* relay_buffer();

  peer_stream stream_;
  listener_info listener_;
  std::string client_cert_;  // the verified client certificate's name (mTLS), for `client_cert`
  worker& worker_;
  app::services& services_;
  beast::flat_buffer buffer_;
  head_arena request_arena_;   // the request head's fields (parser_)
  head_arena response_arena_;  // the upstream response head's fields
  std::optional<request_parser> parser_;
  std::shared_ptr<const app::snapshot> snapshot_;
  limit::evaluation ev_;
  std::chrono::steady_clock::time_point check_started_;  // when decide() began
  limit::header_list rate_headers_;
  // Costs from the response (limits with `cost:`) read as it goes by; feed_costs_: the
  // body is fed to them.
  limit::response_costs costs_;
  bool feed_costs_ = false;
  bool exchange_open_ = false;  // forward()'s slots and costs not yet given back
  wire_buffer head_text_;       // the message head (and small body) being sent
  text_buffer body_text_;       // the body of Sluice's own answer (a 429, an error)
  request_record record_;
  std::unique_ptr<char[]> relay_buffer_;
  std::optional<asio::steady_timer> delay_timer_;

  ip_address peer_;
  std::string peer_text_;
  bool peer_trusted_ = false;
  ip_address client_ip_;
  // The upstream read this session waits for and its deadline, swept by the worker
  // (no timer per read): await_upstream before the read, upstream_wait_overdue after
  // it says whether the sweep cut it.
  void await_upstream(upstream_connection& up, std::chrono::steady_clock::time_point deadline);
  bool upstream_wait_overdue();
  upstream_connection* awaited_upstream_ = nullptr;
  std::chrono::steady_clock::time_point upstream_deadline_;
  bool upstream_cut_ = false;

  bool first_request_ = true;
  // When the head being read began: the accept for a new connection's first request,
  // else its first byte (read only for a head in pieces; empty until then).
  // header_timeout runs from there.
  std::chrono::steady_clock::time_point head_started_;
  std::size_t head_bytes_ = 0;  // of the head being read, fed to the parser so far
  verdict head_refusal_;        // when read_head came to head_status::refused
  std::string refusal_text_;    // ... and its message, when not static text
  bool idle_ = false;           // waiting for the next request's first byte
  std::chrono::steady_clock::time_point idle_until_;  // ... at most until then
  std::chrono::steady_clock::time_point accepted_;
};

// Spawns a session for an accepted socket on worker `w`.
void start_session(tcp::socket socket, worker& w, app::services& s, listener_info listener = {});

}  // namespace sluice::net
