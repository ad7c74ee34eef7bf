#include "http/upstream_pool.hpp"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>

namespace sluice::net {
namespace {

// True when the upstream has not closed (or written to) an idle connection.
bool still_open(upstream_connection& c) {
  auto& socket = c.stream.socket();
  if (!socket.is_open() || c.buffer.size() != 0) return false;
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

awaitable<std::pair<error_code, std::unique_ptr<upstream_connection>>> upstream_pool::acquire(
    const upstream_target& target, bool allow_reuse, bool may_resend) {
  const auto now =
      may_resend ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  while (allow_reuse && !idle_.empty()) {
    std::unique_ptr<upstream_connection> c = std::move(idle_.back());
    idle_.pop_back();
    const bool fresh = may_resend && now - c->idle_since < skip_probe_idle;
    if (c->generation == target.generation &&
        (fresh ? c->stream.socket().is_open() && c->buffer.size() == 0 : still_open(*c))) {
      c->reused = true;
      co_return std::pair{error_code{}, std::move(c)};
    }
  }
  auto c = std::make_unique<upstream_connection>(io_);
  c->generation = target.generation;
  c->stream.expires_after(target.connect_timeout);
  auto [ec, endpoint] = co_await c->stream.async_connect(target.endpoints, nothrow);
  if (ec) co_return std::pair{ec, nullptr};
  c->stream.socket().set_option(tcp::no_delay(true), ec);
  c->stream.socket().non_blocking(true, ec);  // the session writes at once first
  co_return std::pair{error_code{}, std::move(c)};
}

void upstream_pool::release(std::unique_ptr<upstream_connection> c) {
  // Bytes after a complete response mean the upstream broke framing: drop it.
  if (idle_.size() >= max_idle_ || c->buffer.size() != 0) return;
  c->stream.expires_never();
  c->idle_since = std::chrono::steady_clock::now();
  idle_.push_back(std::move(c));
}

}  // namespace sluice::net
