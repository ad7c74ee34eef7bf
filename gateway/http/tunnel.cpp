#include "http/tunnel.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <optional>

#include "http/peer_stream.hpp"
#include "http/websocket_frames.hpp"

namespace sluice::net {
namespace {

using steady = std::chrono::steady_clock;

// Per direction: a tunnel is long-lived and rare next to requests; 16 KiB keeps an idle
// one cheap while a busy one still moves a WebSocket frame of typical size per read.
constexpr std::size_t pump_buffer_size = 16 * 1024;

void close_end(tcp::socket& s) {
  error_code ignored;
  s.close(ignored);
}
void close_end(peer_stream& s) {
  s.close();
}

void shutdown_send(tcp::socket& s) {
  error_code ignored;
  s.shutdown(tcp::socket::shutdown_send, ignored);
}
void shutdown_send(peer_stream& s) {
  s.shutdown_send();
}

template <class Stream>
void close_both(Stream& a, Stream& b) {
  close_end(a);
  close_end(b);
}

// The client's messages against server.websocket_messages.
struct message_pacing {
  message_counter counter;
  message_pacer pacer;
  std::uint64_t& delayed;
  std::optional<asio::steady_timer> timer;

  // Holds the messages ending in `bytes` as long as the limit says; false when the
  // wait was cut (the tunnel is closing). A hold counts as activity for the idle timer.
  awaitable<bool> hold(asio::const_buffer bytes, steady::time_point& last_active) {
    const std::size_t ended = counter.feed({static_cast<const char*>(bytes.data()), bytes.size()});
    const steady::duration wait = pacer.take(ended, steady::now());
    if (wait <= steady::duration::zero()) co_return true;
    delayed += ended;
    if (!timer) timer.emplace(co_await asio::this_coro::executor);
    timer->expires_after(wait);
    last_active = timer->expiry();
    auto [ec] = co_await timer->async_wait(nothrow);
    co_return !ec;
  }
};

// One direction: from -> to, until `from` ends its sending half (passed on as a
// half-close) or a socket fails (which ends the whole tunnel). `pacing`: the client's
// direction under a message limit.
template <class From, class To>
awaitable<void> pump(From& from, To& to, asio::const_buffer early, std::uint64_t& moved,
                     steady::time_point& last_active, message_pacing* pacing = nullptr) {
  if (early.size() > 0) {
    if (pacing != nullptr) {
      const bool go_on = co_await pacing->hold(early, last_active);
      if (!go_on) co_return;
    }
    auto [ec, n] = co_await asio::async_write(to, early, nothrow);
    if (ec) {
      close_both(from, to);
      co_return;
    }
    moved += n;
  }
  const std::unique_ptr<char[]> buffer(new char[pump_buffer_size]);
  for (;;) {
    auto [ec, n] =
        co_await from.async_read_some(asio::buffer(buffer.get(), pump_buffer_size), nothrow);
    if (ec == asio::error::eof) {
      shutdown_send(to);
      co_return;
    }
    if (ec) {
      close_both(from, to);
      co_return;
    }
    last_active = steady::now();
    if (pacing != nullptr) {
      const bool go_on = co_await pacing->hold(asio::buffer(buffer.get(), n), last_active);
      if (!go_on) co_return;
    }
    auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buffer.get(), n), nothrow);
    if (wec) {
      close_both(from, to);
      co_return;
    }
    moved += wn;
  }
}

// Closes both sockets once neither side sent anything for `idle_timeout`; ends early,
// cancelled, when the pumps are done.
template <class Stream>
awaitable<void> close_when_idle(Stream& a, Stream& b, const steady::time_point& last_active,
                                steady::duration idle_timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_at(last_active + idle_timeout);
    auto [ec] = co_await timer.async_wait(nothrow);
    if (ec) co_return;
    if (steady::now() >= last_active + idle_timeout) {
      close_both(a, b);
      co_return;
    }
  }
}

}  // namespace

template <class Stream>
awaitable<tunnel_result> run_tunnel(Stream& client, asio::const_buffer client_early,
                                    Stream& upstream, asio::const_buffer upstream_early,
                                    steady::duration idle_timeout,
                                    std::optional<config::websocket_message_limit> message_limit) {
  using namespace asio::experimental::awaitable_operators;
  tunnel_result result;
  steady::time_point last_active = steady::now();
  std::optional<message_pacing> pacing;
  if (message_limit) {
    pacing.emplace(
        message_pacing{message_counter{},
                       message_pacer(message_limit->per_second,
                                     static_cast<double>(message_limit->burst), last_active),
                       result.delayed_messages, std::nullopt});
  }
  co_await ((pump(client, upstream, client_early, result.to_upstream, last_active,
                  pacing ? &*pacing : nullptr) &&
             pump(upstream, client, upstream_early, result.to_client, last_active)) ||
            close_when_idle(client, upstream, last_active, idle_timeout));
  co_return result;
}

template awaitable<tunnel_result> run_tunnel<peer_stream>(
    peer_stream&, asio::const_buffer, peer_stream&, asio::const_buffer, steady::duration,
    std::optional<config::websocket_message_limit>);
template awaitable<tunnel_result> run_tunnel<tcp::socket>(
    tcp::socket&, asio::const_buffer, tcp::socket&, asio::const_buffer, steady::duration,
    std::optional<config::websocket_message_limit>);

}  // namespace sluice::net
